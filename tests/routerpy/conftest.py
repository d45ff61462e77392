"""Fixtures for the router's-Python tier: dprive under the stdlib as OpenWrt's
split python3 packages install it, with exactly the packages
package/dprive/Makefile declares (tests/tools/router_python.py).

- declared (session): {"dprive": [...], "dprive-dtls": [...]}, the python3-*
  names of each package's DEPENDS line in the feed Makefile (dprive-dtls
  includes dprive's, as its +dprive pulls them in).
- branch (session, parametrized): "24.10" (CPython 3.11) and "25.12" (3.13,
  skipped when this machine has no CPython 3.13).
- site_dirs (session): where third-party packages come from, per Python version
  (the venv's; for 3.13 what `make routerpy-site` installed).
- make_root (session): make_root(name, packages, branch, only_sites=None) ->
  RouterPython, cached per arguments.
- main_root / dtls_root: the roots for dprive's and dprive-dtls's DEPENDS.
- pki, unbound: as in tests/integration (one DoT unbound, local data only;
  that tier's conftest is not imported: its hooks would run twice).
"""

import sys
import sysconfig
from pathlib import Path

import pytest

from tests.tools import certs, common, router_python
from tests.tools.unbound import UnboundServer

FEED_MAKEFILE = common.REPO_ROOT / "package" / "dprive" / "Makefile"
REQUIRED_TOOLS = ["unbound", "kdig", "openssl"]


def pytest_collection_modifyitems(config, items):
    missing = common.missing_tools(REQUIRED_TOOLS)
    here = Path(__file__).resolve().parent
    for item in items:     # this hook sees every tier's items: only ours
        if Path(str(item.fspath)).resolve().parent == here and missing:
            item.add_marker(pytest.mark.skip(reason="the router's-Python tier needs %s (`make deps`)"
                                             % ", ".join(missing)))


@pytest.fixture(scope="session")
def declared():
    deps = router_python.declared_depends(FEED_MAKEFILE)
    assert {"dprive", "dprive-dtls"} <= set(deps), "no DEPENDS for dprive/dprive-dtls in %s" % FEED_MAKEFILE
    return deps


@pytest.fixture(scope="session", params=["24.10", "25.12"])
def branch(request):
    version = router_python.BRANCH_VERSIONS[request.param]
    if router_python.find_python(version) is None:
        pytest.skip("no CPython %s on this machine (OpenWrt %s's Python)" % (version, request.param))
    return request.param


@pytest.fixture(scope="session")
def site_dirs():
    """{Python version: [dirs]} the third-party packages (pyOpenSSL & co) come from:
    the venv the tests run in, and for another version what `make routerpy-site`
    installed (binary modules only load into the Python they were built for)."""
    dirs = {"%d.%d" % sys.version_info[:2]: [sysconfig.get_paths()["purelib"]]}
    for version in router_python.BRANCH_VERSIONS.values():
        extra = common.REPO_ROOT / "build" / "routerpy" / ("site-packages-" + version)
        if version not in dirs and extra.is_dir():
            dirs[version] = [str(extra)]
    return dirs


@pytest.fixture(scope="session")
def make_root(tmp_path_factory, site_dirs):
    made = {}

    def make(name, packages, branch, only_sites=None):
        key = (name, tuple(sorted(packages)), branch)
        if key not in made:
            version = router_python.BRANCH_VERSIONS[branch]
            sites = only_sites if only_sites is not None else site_dirs.get(version, [])
            made[key] = router_python.build_root(
                tmp_path_factory.mktemp("root-%s-%s" % (name, branch)), packages, branch,
                site_dirs=sites, extra_paths=[common.REPO_ROOT / "src"])
        return made[key]

    return make


@pytest.fixture(scope="session")
def main_root(make_root, declared, branch):
    return make_root("dprive", declared["dprive"], branch)


@pytest.fixture(scope="session")
def dtls_root(make_root, declared, branch):
    return make_root("dprive-dtls", declared["dprive-dtls"], branch)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def unbound(tmp_path_factory, pki):
    server = UnboundServer(tmp_path_factory.mktemp("unbound"), pki, q_names=10)
    server.start()
    try:
        yield server
    finally:
        server.stop()
