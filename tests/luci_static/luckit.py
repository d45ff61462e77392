"""Helpers of the static tier (tests/luci_static)."""

import ast
import json
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP = ROOT / "luci-app"
RESOURCES = APP / "htdocs" / "luci-static" / "resources"
VIEW_DIR = RESOURCES / "view" / "dprive"
SCHEMA_JS = RESOURCES / "dprive" / "schema.js"
MENU = APP / "root" / "usr" / "share" / "luci" / "menu.d" / "luci-app-dprive.json"
ACL = APP / "root" / "usr" / "share" / "rpcd" / "acl.d" / "luci-app-dprive.json"
UBUS_OBJECT = ROOT / "src" / "dprive" / "ubus_object.py"
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


def ubus_methods(path=UBUS_OBJECT):
    """{method: [signature keys]} of the `ubus.add(OBJECT, {...})` call in
    ubus_object.py, read from its syntax tree; and the object's name."""
    tree = ast.parse(Path(path).read_text())
    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
    for node_ in ast.walk(tree):
        if (isinstance(node_, ast.Call) and isinstance(node_.func, ast.Attribute)
                and node_.func.attr == "add" and len(node_.args) == 2
                and isinstance(node_.args[1], ast.Dict)):
            name = node_.args[0]
            obj = consts[name.id] if isinstance(name, ast.Name) else name.value
            methods = {}
            for key, value in zip(node_.args[1].keys, node_.args[1].values):
                # python3-ubus's form {"signature": {arg: type}, "method": fn}, written out
                # or made by ubus_object._method(handler, ubus, *arg_names)
                if isinstance(value, ast.Dict):
                    entry = dict(zip((k.value for k in value.keys), value.values))
                    methods[key.value] = [k.value for k in entry["signature"].keys]
                else:
                    assert isinstance(value, ast.Call) and value.func.id == "_method", ast.dump(value)
                    methods[key.value] = [a.value for a in value.args[2:]]
            return obj, methods
    raise AssertionError(f"no ubus.add(OBJECT, {{...}}) in {path}")


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
