"""A thin stand-in for python3-ubus (the CZ-NIC python-ubus 0.1.1 API that
OpenWrt packages), because libubus and ubusd cannot be built or run here.

It keeps what matters to dprive's adapter: connect/add/loop/disconnect, the
handler object with reply(), and the binding's strict argument check (every
key sent must be in the method's signature and every signature key must be
sent, else UBUS_STATUS_INVALID_ARGUMENT), a reply that must be a dict, and a
handler exception turned into UBUS_STATUS_UNKNOWN_ERROR. In place of ubusd,
calls come over a Unix socket whose path is in $DPRIVE_TEST_UBUS: one JSON
line {"object", "method", "args"} in, one {"status", "reply"} out.
"""

import json
import os
import select
import socket

BLOBMSG_TYPE_STRING = 3
BLOBMSG_TYPE_INT32 = 5
BLOBMSG_TYPE_BOOL = 7

STATUS_OK = 0
STATUS_INVALID_ARGUMENT = 2
STATUS_METHOD_NOT_FOUND = 3
STATUS_NOT_FOUND = 4
STATUS_UNKNOWN_ERROR = 9

_state = {"server": None, "objects": {}, "clients": []}


class _Handler:
    def __init__(self):
        self.replies = []

    def reply(self, data):
        if not isinstance(data, dict):
            raise TypeError("ubus replies must be JSON objects")
        self.replies.append(json.loads(json.dumps(data)))


def connect(socket_path=None):
    if _state["server"] is not None:
        raise RuntimeError("already connected")
    path = os.environ["DPRIVE_TEST_UBUS"]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    _state["server"] = server


def add(name, methods):
    if _state["server"] is None:
        raise RuntimeError("not connected")
    if name in _state["objects"]:
        raise RuntimeError("object %s exists" % name)
    for method, entry in methods.items():
        if (not isinstance(entry, dict) or set(entry) != {"signature", "method"}
                or not callable(entry["method"]) or not isinstance(entry["signature"], dict)):
            raise TypeError("Incorrect method arguments!")
    _state["objects"][name] = dict((m, (e["method"], e["signature"])) for m, e in methods.items())


def _call(request):
    methods = _state["objects"].get(request.get("object"))
    if methods is None:
        return STATUS_NOT_FOUND, None
    entry = methods.get(request.get("method"))
    if entry is None:
        return STATUS_METHOD_NOT_FOUND, None
    handler, signature = entry
    args = request.get("args") or {}
    if set(args) != set(signature):
        return STATUS_INVALID_ARGUMENT, None
    replier = _Handler()
    try:
        handler(replier, args)
    except Exception:
        return STATUS_UNKNOWN_ERROR, None
    return STATUS_OK, replier.replies[0] if replier.replies else None


def loop(timeout=-1):
    server = _state["server"]
    wait = None if timeout < 0 else timeout / 1000.0
    readable, _, _ = select.select([server] + _state["clients"], [], [], wait)
    for sock in readable:
        if sock is server:
            _state["clients"].append(server.accept()[0])
            continue
        line = b""
        while not line.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            line += chunk
        if not line:
            _state["clients"].remove(sock)
            sock.close()
            continue
        status, reply = _call(json.loads(line))
        sock.sendall(json.dumps({"status": status, "reply": reply}).encode() + b"\n")


def disconnect():
    for sock in _state["clients"]:
        sock.close()
    if _state["server"] is not None:
        _state["server"].close()
    _state.update(server=None, objects={}, clients=[])
