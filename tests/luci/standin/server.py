"""The stand-in for uhttpd + rpcd that the LuCI browser tests talk to, on 127.0.0.1.

Serves:
  GET  /cgi-bin/luci/admin/services/dprive/<page>   a page shell that loads the stand-in
                                                    runtime (standin/luci.js) and the REAL
                                                    view file from luci-app/htdocs
  GET  /luci-static/resources/...                   luci-app/htdocs (views, dprive/schema.js)
  POST /ubus                                        ubus over HTTP, JSON-RPC 2.0
                                                    {"method":"call","params":[sid,obj,method,args]}
                                                    (one frame or a batch array)
  POST /cgi-bin/luci/admin/uci/apply_rollback|apply_unchecked|confirm

What it reproduces (notes/luci.md §0-§5):
  - uhttpd: error frames -32700/-32600/-32601/-32602/-32000/-32002; the access check of
    every call against the session's ACL, which is built from the REAL acl.d file of
    luci-app/ (deny whatever is not granted; write implies read); the client may not
    send ubus_rpc_session itself, the server adds it.
  - the `uci` object's ubus methods, which a login gets from luci-base's ACL group
    (without it: -32002, Backend(luci_base=False)), with rpcd's per-config `uci` scope
    check on top (read for get/changes, write for the rest) taken from our ACL file;
    `uci order` as rpcd's rpc_uci_order (one unknown section: nothing staged).
  - rpcd's uci: Save stages changes in memory for the session, the file is untouched;
    Apply writes the config file and fires the reload (on_apply: the tests send the
    daemon SIGHUP, as procd's reload trigger + the init script's reload would).
  - `dprive.*`: forwarded to the REAL daemon's UbusObject through tests/standins/ubus.py
    (the python3-ubus stand-in the daemon loads in tests), which applies python3-ubus's
    strict signature check; ubus status codes come back as LuCI's legacy [code, data].
Not reproduced: login, session expiry, the `unauthenticated` group, the rollback timer
(confirm always arrives), uci revert, translations, the `uci get luci` and
`luci getFeatures` calls real luci.js makes on every page.
"""

import copy
import fnmatch
import json
import os
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dprive import status_client
from dprive.uci import parse_uci

HERE = Path(__file__).resolve().parent
SESSION_ID = "0123456789abcdef0123456789abcdef"

# The ubus methods of object `uci` come from luci-base's ACL group "luci-base"
# (openwrt/luci modules/luci-base/root/usr/share/rpcd/acl.d/luci-base.json: read
# ubus uci [changes, get], write [add, apply, confirm, delete, order, rename, set]),
# not from the app's ACL; uhttpd (ubus.c uh_ubus_allowed) refuses a session
# without it with -32002, seen in the real stack here: a login needs luci-base
# read and write besides luci-app-dprive. Then rpcd (uci.c) checks the config
# against the "uci" scope of the app's ACL (read for get/changes, write for the rest).
UCI_READ = {"get", "changes"}
UCI_WRITE = {"set", "add", "delete", "order", "rename"}

E_PARSE, E_INVALID_REQ, E_NO_METHOD, E_INVALID_PARAMS = -32700, -32600, -32601, -32602
E_NO_OBJECT, E_ACCESS = -32000, -32002
UBUS_OK, UBUS_INVALID_ARGUMENT, UBUS_METHOD_NOT_FOUND, UBUS_NOT_FOUND = 0, 2, 3, 4


class Acl:
    """The access groups of one acl.d file, granted to the session at `level`."""

    def __init__(self, path, level="write"):
        self.groups = json.loads(Path(path).read_text())
        self.level = level

    def _grants(self):
        for group in self.groups.values():
            yield group.get("read", {})
            if self.level == "write":
                yield group.get("write", {})

    def ubus(self, obj, method):
        for grant in self._grants():
            for pattern, methods in grant.get("ubus", {}).items():
                if fnmatch.fnmatchcase(obj, pattern) and any(
                        fnmatch.fnmatchcase(method, m) for m in methods):
                    return True
        return False

    def uci(self, config, perm):
        for group in self.groups.values():
            if config in group.get("write", {}).get("uci", []) and self.level == "write":
                return True
            if perm == "read" and config in group.get("read", {}).get("uci", []):
                return True
        return False


def uci_quote(value):
    value = str(value)
    if "\n" in value:
        raise ValueError("a UCI value cannot span lines")
    return "'" + value.replace("'", "'\\''") + "'"


class UciConfig:
    """One config file: the committed sections (from the file) and the session's staged copy."""

    def __init__(self, path):
        self.path = Path(path)
        self.load()

    def load(self):
        sections = []
        for i, sec in enumerate(parse_uci(self.path.read_text(), str(self.path))):
            opts = {}
            for opt in sec.options:
                if opt.is_list:
                    existing = opts.get(opt.name)
                    opts[opt.name] = (existing if isinstance(existing, list) else []) + [opt.value]
                else:
                    opts[opt.name] = opt.value
            sid = sec.name or "cfg%02x%04x" % (i, zlib.crc32(sec.type.encode()) & 0xFFFF)
            sections.append({"name": sid, "type": sec.type, "anonymous": sec.name is None,
                             "options": opts})
        self.staged = sections
        self.changes = []
        self.counter = len(sections)

    def find(self, sid):
        for sec in self.staged:
            if sec["name"] == sid:
                return sec
        return None

    def values(self):
        out = {}
        for i, sec in enumerate(self.staged):
            item = {".anonymous": sec["anonymous"], ".type": sec["type"], ".name": sec["name"],
                    ".index": i}
            item.update(copy.deepcopy(sec["options"]))
            out[sec["name"]] = item
        return out

    def add(self, type_, name=None, values=None):
        sid = name or "cfg%02x%04x" % (self.counter, zlib.crc32(type_.encode()) & 0xFFFF)
        self.counter += 1
        self.staged.append({"name": sid, "type": type_, "anonymous": not name, "options": {}})
        self.changes.append(["add", sid, type_])
        if values:
            self.set(sid, values)
        return sid

    def set(self, sid, values):
        sec = self.find(sid)
        if sec is None:
            return False
        for key, value in values.items():
            sec["options"][key] = [str(v) for v in value] if isinstance(value, list) else str(value)
            self.changes.append(["set", sid, key, value])
        return True

    def delete(self, sid, options=None):
        sec = self.find(sid)
        if sec is None:
            return False
        if options is None:
            self.staged.remove(sec)
            self.changes.append(["remove", sid])
        else:
            for key in options:
                sec["options"].pop(key, None)
                self.changes.append(["remove", sid, key])
        return True

    def order(self, sids):
        """rpcd uci.c rpc_uci_order(): the listed sections go to positions 0, 1, ...
        (uci_reorder_section), the others follow; but when one entry is not a
        string (UBUS_STATUS_INVALID_ARGUMENT) or names no section
        (UBUS_STATUS_NOT_FOUND), uci_save() is skipped and nothing is staged."""
        by_name = {sec["name"]: sec for sec in self.staged}
        if not all(isinstance(s, str) for s in sids):
            return UBUS_INVALID_ARGUMENT
        if not all(s in by_name for s in sids):
            return UBUS_NOT_FOUND
        ordered = [by_name[s] for s in sids]
        rest = [sec for sec in self.staged if sec["name"] not in sids]
        self.staged = ordered + rest
        self.changes.append(["order", list(sids)])
        return UBUS_OK

    def text(self):
        out = []
        for sec in self.staged:
            head = "config %s" % sec["type"]
            if not sec["anonymous"]:
                head += " %s" % uci_quote(sec["name"])
            lines = [head]
            for key, value in sec["options"].items():
                for item in (value if isinstance(value, list) else [value]):
                    kind = "list" if isinstance(value, list) else "option"
                    lines.append("\t%s %s %s" % (kind, key, uci_quote(item)))
            out.append("\n".join(lines) + "\n")
        return "\n".join(out)

    def commit(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.text())
        os.replace(tmp, self.path)
        self.load()


class Backend:
    def __init__(self, acl_path, configs, ubus_socket, on_apply=None, acl_level="write",
                 luci_base=True):
        self.acl = Acl(acl_path, acl_level)
        self.luci_base = luci_base     # the session also holds luci-base's group
        self.configs = {name: UciConfig(path) for name, path in configs.items()}
        self.ubus_socket = ubus_socket
        self.on_apply = on_apply
        self.calls = []          # every JSON-RPC call: (object, method, args as received)
        self.applied = 0
        self.lock = threading.Lock()

    # -- JSON-RPC ------------------------------------------------------------
    def handle(self, body):
        try:
            request = json.loads(body)
        except ValueError:
            return self.error(None, E_PARSE, "Parse error")
        if isinstance(request, list):
            return [self.handle_one(r) for r in request]
        return self.handle_one(request)

    @staticmethod
    def error(rid, code, message):
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}

    @staticmethod
    def result(rid, code, data=None):
        return {"jsonrpc": "2.0", "id": rid, "result": [code] if data is None else [code, data]}

    def handle_one(self, req):
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or req.get("method") != "call":
            return self.error(rid, E_INVALID_REQ, "Invalid request")
        params = req.get("params")
        if not isinstance(params, list) or len(params) != 4 or not isinstance(params[3], dict):
            return self.error(rid, E_INVALID_PARAMS, "Invalid parameters")
        sid, obj, method, args = params
        with self.lock:
            self.calls.append((obj, method, copy.deepcopy(args)))
        if sid != SESSION_ID:
            return self.error(rid, E_ACCESS, "Access denied")
        if "ubus_rpc_session" in args:
            return self.error(rid, E_INVALID_PARAMS, "Invalid parameters")
        if obj == "uci":
            with self.lock:
                return self.call_uci(rid, method, args)
        if not self.acl.ubus(obj, method):
            return self.error(rid, E_ACCESS, "Access denied")
        return self.call_daemon(rid, obj, method, dict(args, ubus_rpc_session=sid))

    # -- uci (rpcd) ----------------------------------------------------------
    def call_uci(self, rid, method, args):
        if not self.luci_base or method not in UCI_READ | UCI_WRITE:
            return self.error(rid, E_ACCESS, "Access denied")
        if method == "changes":
            return self.result(rid, UBUS_OK, {"changes": {
                n: c.changes for n, c in self.configs.items() if c.changes and self.acl.uci(n, "read")}})
        name = args.get("config")
        perm = "read" if method in UCI_READ else "write"
        if not self.acl.uci(name, perm):
            return self.result(rid, 6)                    # UBUS_STATUS_PERMISSION_DENIED
        conf = self.configs.get(name)
        if conf is None:
            return self.result(rid, UBUS_NOT_FOUND)
        if method == "get":
            return self.result(rid, UBUS_OK, {"values": conf.values()})
        if method == "add":
            return self.result(rid, UBUS_OK, {"section": conf.add(args["type"], args.get("name"), args.get("values"))})
        if method == "set":
            ok = conf.set(args.get("section"), args.get("values") or {})
        elif method == "delete":
            options = args.get("options") if args.get("options") is not None else (
                [args["option"]] if args.get("option") else None)
            ok = conf.delete(args.get("section"), options)
        else:
            sections = args.get("sections")
            if not isinstance(sections, list):
                return self.result(rid, UBUS_INVALID_ARGUMENT)
            return self.result(rid, conf.order(sections))
        return self.result(rid, UBUS_OK if ok else UBUS_NOT_FOUND)

    def apply(self):
        """`uci apply`: commit every config with staged changes, then the reload trigger."""
        with self.lock:
            changed = [n for n, c in self.configs.items() if c.changes]
            for name in changed:
                self.configs[name].commit()
            self.applied += 1
        if changed and self.on_apply:
            self.on_apply(changed)
        return changed

    # -- the daemon's ubus object ------------------------------------------------
    def call_daemon(self, rid, obj, method, args):
        try:
            # The stand-in bus speaks the control socket's framing: one JSON line each way.
            answer = status_client.request(str(self.ubus_socket),
                                           {"object": obj, "method": method, "args": args}, 5)
        except (OSError, ValueError):
            return self.error(rid, E_NO_OBJECT, "Object not found")   # the daemon is not on the bus
        status = answer["status"]
        if status == UBUS_NOT_FOUND:
            return self.error(rid, E_NO_OBJECT, "Object not found")
        if status == UBUS_METHOD_NOT_FOUND:
            return self.error(rid, E_NO_METHOD, "Method not found")
        return self.result(rid, status, answer.get("reply") if status == UBUS_OK else None)


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>dprive - LuCI stand-in</title>
<style>
body {{ font: 13px sans-serif; margin: 12px; color: #222; }}
.cbi-input-invalid {{ border: 2px solid #c00 !important; background: #fee; }}
.alert-message {{ padding: 6px 10px; margin: 6px 0; border: 1px solid #bbb; background: #f6f6f6; }}
.alert-message.danger, .alert-message.error {{ background: #fdd; }}
.alert-message.warning {{ background: #ffd; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: 3px 5px; text-align: left; }}
.cbi-value {{ margin: 4px 0; display: flex; align-items: flex-start; }}
.cbi-value-title {{ flex: none; width: 220px; padding-top: 3px; }}
.cbi-value-field {{ flex: 1; }} td.cbi-value-field {{ display: table-cell; }} .cbi-value-description {{ color: #666; font-size: 11px; }}
.cbi-section-table input[type=text] {{ width: 110px; }}
#modal_overlay {{ position: fixed; inset: 0; background: rgba(0,0,0,.3); overflow: auto; }}
body:not(.modal-overlay-active) #modal_overlay {{ display: none; }}
.modal {{ background: #fff; margin: 40px auto; width: 640px; padding: 12px; }}
</style></head>
<body><div id="maincontent"><div id="view"></div></div>
<script>window.LUCI_ENV = {env};</script>
<script src="/luci-static/resources/luci.js"></script>
<script>L.ui.instantiateView({view});</script>
</body></html>
"""


class StandinServer:
    def __init__(self, backend, htdocs):
        self.backend = backend
        self.htdocs = Path(htdocs)
        self.httpd = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def page_url(self, page):
        return "%s/cgi-bin/luci/admin/services/dprive/%s" % (self.url, page)

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code, body, ctype="application/json"):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path.startswith("/cgi-bin/luci/admin/services/dprive/"):
                    page = path.rsplit("/", 1)[1]
                    env = {"sessionid": SESSION_ID, "token": "standin", "pollinterval": 5,
                           "ubuspath": "/ubus/", "resource": "/luci-static/resources",
                           "scriptname": "/cgi-bin/luci"}
                    return self.send(200, PAGE.format(env=json.dumps(env), view=json.dumps("dprive/" + page)),
                                     "text/html; charset=utf-8")
                if path == "/luci-static/resources/luci.js":
                    return self.send(200, (HERE / "luci.js").read_bytes(), "application/javascript")
                if path.startswith("/luci-static/resources/") and path.endswith(".js"):
                    rel = path[len("/luci-static/resources/"):]
                    target = (server.htdocs / "luci-static" / "resources" / rel).resolve()
                    if server.htdocs.resolve() in target.parents and target.is_file():
                        return self.send(200, target.read_bytes(), "application/javascript")
                return self.send(404, "not found", "text/plain")

            def do_POST(self):
                path = self.path.split("?", 1)[0]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if path in ("/ubus", "/ubus/"):
                    return self.send(200, json.dumps(server.backend.handle(body)))
                if path in ("/cgi-bin/luci/admin/uci/apply_rollback", "/cgi-bin/luci/admin/uci/apply_unchecked"):
                    server.backend.apply()
                    return self.send(200, json.dumps({"token": "standin-apply"}))
                if path == "/cgi-bin/luci/admin/uci/confirm":
                    return self.send(204, b"")
                return self.send(404, "not found", "text/plain")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="luci-standin", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
