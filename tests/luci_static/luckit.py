"""Helpers of the static tier (tests/luci_static)."""

import json
import subprocess
from pathlib import Path

import pytest

from dprive import ubus_object
from tests.tools.ubusd_proc import published_methods

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP = ROOT / "luci-app"
RESOURCES = APP / "htdocs" / "luci-static" / "resources"
VIEW_DIR = RESOURCES / "view" / "dprive"
SCHEMA_JS = RESOURCES / "dprive" / "schema.js"
MENU = APP / "root" / "usr" / "share" / "luci" / "menu.d" / "luci-app-dprive.json"
ACL = APP / "root" / "usr" / "share" / "rpcd" / "acl.d" / "luci-app-dprive.json"
NODE_MODULES = HERE / "node_modules"
ESLINT = NODE_MODULES / ".bin" / "eslint"
ESLINT_CONFIG = HERE / "eslint.config.mjs"
VIEWS = ("settings", "status")
ACL_GROUP = "luci-app-dprive"
CONFIG = "dprive"

# The modules LuCI's luci-base provides to L.require(), and ours.
LUCI_MODULES = {"baseclass", "dom", "firewall", "form", "fs", "network", "poll", "request",
                "rpc", "uci", "ui", "validation", "view", "tools.widgets", "tools.views"}
OUR_MODULES = {"dprive.schema"}


def npm_ci():
    proc = subprocess.run(["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund",
                           "--loglevel=error"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail("npm ci in tests/luci_static failed (`make test` installs it):\n" + proc.stderr)


def node(script, *args):
    proc = subprocess.run(["node", str(HERE / script), *map(str, args)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def js_info(*files):
    """jsinfo.mjs info: header, rpc.declare, form options, strings... per file."""
    return node("jsinfo.mjs", "info", *files)


def eval_schema(path=SCHEMA_JS):
    return node("jsinfo.mjs", "eval-schema", path)


def record_view(path, render=False):
    return node("record_view.mjs", path, SCHEMA_JS, *(["--render"] if render else []))


def eslint(*paths, env=None, cwd=ROOT):
    return subprocess.run([str(ESLINT), "-c", str(ESLINT_CONFIG), "--max-warnings", "0",
                           "--format", "json", *map(str, paths)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=env)


def load_json(path):
    return json.loads(Path(path).read_text())


def ubus_methods():
    """{method: [signature keys]} of the table the daemon gives ubus.add()
    (UbusObject.method_table, python3-ubus's {"signature", "method"} form), and
    the object's name."""
    table = published_methods()
    return ubus_object.OBJECT, {name: list(entry["signature"]) for name, entry in table.items()}


def acl_grants(acl):
    """[(level, scope, object, method-or-permission)] of the ACL file."""
    out = []
    for group in acl.values():
        for level in ("read", "write"):
            for scope, grants in group.get(level, {}).items():
                if isinstance(grants, dict):
                    for obj, names in grants.items():
                        out += [(level, scope, obj, n) for n in names]
                else:
                    out += [(level, scope, g, None) for g in grants]
    return out
