"""The static tier of luci-app-dprive (tests/luci_static): no browser, no
router. The views are parsed with acorn and linted with ESLint (Node, pinned
in package-lock.json here; `make test` runs `npm ci`), and checked against
the files they depend on: the menu (menu.d), the rpcd ACL (acl.d), the
daemon's ubus object (src/dprive/ubus_object.py) and its config schema
(src/dprive/schema.py). Helpers live in luckit.py."""

import shutil

import pytest

from tests.luci_static import luckit


@pytest.fixture(scope="session")
def node():
    """The node binary with this tier's node_modules installed."""
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs npm; `make deps` says so)")
    if not luckit.NODE_MODULES.is_dir():
        luckit.npm_ci()
    return exe


@pytest.fixture(scope="session")
def views(node):
    """{'settings': info, 'status': info} of the views that exist (acorn)."""
    files = [luckit.VIEW_DIR / f"{name}.js" for name in luckit.VIEWS]
    present = [f for f in files if f.is_file()]
    return {luckit.Path(i["file"]).stem: i for i in luckit.js_info(*present)} if present else {}


@pytest.fixture(scope="session")
def recorded(node):
    """{'settings': record, 'status': record}: what each view declares and
    binds when run against the recording stand-ins (record_view.mjs)."""
    out = {}
    for name in luckit.VIEWS:
        path = luckit.VIEW_DIR / f"{name}.js"
        if path.is_file():
            out[name] = luckit.record_view(path, render=(name == "settings"))
    return out
