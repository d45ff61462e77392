"""A stand-in for python3-ubus, derived from CZ-NIC/python-ubus ubus_python.c
(git v0.1.2 = fdf442e; the PyPI sdist ubus 0.1.3 differs only in one error
path of add()), and checked against that module built here on the real
libubox, libubus and ubusd (openwrt/ubus 3cc98db).

It talks to the fake ubusd of tests/standins/ubusd.py (one JSON object a line
instead of blobmsg) and keeps what dprive relies on, each with the C function
it mirrors: connect(), add(), loop(), disconnect(), objects(),
get_connected(), get_socket_path(), the handler's reply(), the strict
signature check made before a handler runs, what a handler's return value and
exceptions do, and what a dead ubusd looks like from here. call(), send() and
listen() are not stood in (dprive uses none of them).

Like libubus, it is not thread-safe: every call must come from the thread that
runs loop(). loop() releases the GIL while it waits (Py_BEGIN_ALLOW_THREADS in
ubus_python_loop(); select() does the same here) and a handler runs with the
GIL taken back (PyGILState_Ensure() in ubus_python_method_handler()).

The socket is libubus's compiled-in UBUS_UNIX_SOCKET unless connect() is
given one; $DPRIVE_TEST_UBUS stands in for that compile-time default.
"""

import json
import operator
import os
import select
import socket
import sys
import time
import traceback

BLOBMSG_TYPE_UNSPEC = 0
BLOBMSG_TYPE_ARRAY = 1
BLOBMSG_TYPE_TABLE = 2
BLOBMSG_TYPE_STRING = 3
BLOBMSG_TYPE_INT64 = 4
BLOBMSG_TYPE_INT32 = 5
BLOBMSG_TYPE_INT16 = 6
BLOBMSG_TYPE_INT8 = 7
BLOBMSG_TYPE_BOOL = 7            # libubox blobmsg.h: BOOL = INT8
BLOBMSG_TYPE_DOUBLE = 8
_BLOBMSG_TYPE_LAST = 8

# libubus.c __ubus_strerror[]
_STRERROR = ["Success", "Invalid command", "Invalid argument", "Method not found", "Not found",
             "No response", "Permission denied", "Request timed out", "Operation not supported",
             "Unknown error", "Connection failed", "Out of memory", "Parsing message data failed",
             "System error"]
_OK, _INVALID_ARGUMENT, _METHOD_NOT_FOUND, _NOT_FOUND, _UNKNOWN_ERROR = 0, 2, 3, 4, 9

# ubus_python.c's messages
MSG_ADD_SIGNATURE_INVALID = (
    "Incorrect method arguments!\nExpected:\n\t(<obj_name>, { "
    "<method_name>: {'signature': <method_signature>, 'method': <callable>}, ...})")
MSG_JSON_TO_UBUS_FAILED = "Failed to create json for ubus."
MSG_NOT_CONNECTED = "You are not connected to ubus."
MSG_ALREADY_CONNECTED = "You are already connected to ubus."

# The module's globals, as in ubus_python.c (ctx, socket_path, objects).
_state = {"conn": None, "socket_path": None, "objects": {}}


def _strerror(status):
    """ubus_strerror()."""
    return _STRERROR[status] if 0 <= status < len(_STRERROR) else "Unknown error: %d" % status


def _blobmsg_type(value):
    """The type a JSON value gets on its way into a blob: libubox
    blobmsg_add_json_element(), which `ubus call` and rpcd use."""
    if isinstance(value, bool):
        return BLOBMSG_TYPE_INT8
    if isinstance(value, int):
        return BLOBMSG_TYPE_INT32 if -2 ** 31 <= value < 2 ** 31 else BLOBMSG_TYPE_INT64
    if isinstance(value, float):
        return BLOBMSG_TYPE_DOUBLE
    if isinstance(value, str):
        return BLOBMSG_TYPE_STRING
    if isinstance(value, dict):
        return BLOBMSG_TYPE_TABLE
    if isinstance(value, list):
        return BLOBMSG_TYPE_ARRAY
    return BLOBMSG_TYPE_UNSPEC       # null


def _test_policies(signature, args):
    """test_policies(): every argument sent must be in the signature with its
    type (UNSPEC takes any), and every signature key must be sent."""
    for name, value in args.items():
        if name not in signature:
            return False
        if signature[name] != BLOBMSG_TYPE_UNSPEC and signature[name] != _blobmsg_type(value):
            return False
    return len(args) == len(signature)


def _test_methods_argument(methods):
    """test_methods_argument(): {name: {"signature": {arg: type}, "method": callable}}, nothing more."""
    for name, value in methods.items():
        if not isinstance(name, str) or not isinstance(value, dict) or len(value) != 2:
            return False
        signature = value.get("signature")
        if not isinstance(signature, dict):
            return False
        for arg, kind in signature.items():
            # PyLong_Check: a bool passes too
            if not isinstance(arg, str) or not isinstance(kind, int) or not 0 <= kind <= _BLOBMSG_TYPE_LAST:
                return False
        if not callable(value.get("method")):
            return False
    return True


class _Connection:
    """The ubus_context: one stream to ubusd, and the invokes that came in
    while we waited for an answer (ubus_queue_msg())."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""
        self.queued = []
        self.dead = False

    def send(self, message):
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            self.dead = True
        return not self.dead

    def read_messages(self):
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.dead = True
            return []
        self.buffer += chunk
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop()
        return [json.loads(line) for line in lines if line]

    def request(self, message):
        """Send one request and wait for its status. On a connection ubusd has
        closed, every request fails with INVALID_ARGUMENT while the module
        still says it is connected: seen with the real build (ubus.objects()
        and ubus.add() raise "ubus error occured: Invalid argument" after
        ubusd was killed, get_connected() stays True)."""
        if self.dead or not self.send(message):
            return {"status": _INVALID_ARGUMENT}
        while not self.dead:
            for msg in self.read_messages():
                if msg.get("op") == "status" and "seq" not in msg:
                    return msg
                self.queued.append(msg)
        return {"status": _INVALID_ARGUMENT}


def _connection():
    if _state["conn"] is None:
        raise RuntimeError(MSG_NOT_CONNECTED)
    return _state["conn"]


def connect(socket_path=None):
    """ubus_python_connect()."""
    if _state["conn"] is not None:
        raise RuntimeError(MSG_ALREADY_CONNECTED)
    path = socket_path or os.environ.get("DPRIVE_TEST_UBUS", "/var/run/ubus/ubus.sock")
    try:
        _state["conn"] = _Connection(path)
    except OSError:
        raise OSError("Failed to connect to the ubus socket '%s'\n" % path) from None
    _state.update(socket_path=path, objects={})
    return True


def get_connected():
    """ubus_python_get_connected(): whether connect() succeeded; it stays True after ubusd is gone."""
    return _state["conn"] is not None


def get_socket_path():
    return _state["socket_path"]


def disconnect(deregister=True):
    """ubus_python_disconnect() -> dispose_connection(). Closing the stream is
    enough for ubusd to drop the objects (ubusd_proto_free_client())."""
    conn = _connection()
    if not isinstance(deregister, bool):       # "|O!" with PyBool_Type
        raise TypeError("disconnect() argument 1 must be bool, not %s" % type(deregister).__name__)
    conn.sock.close()
    _state.update(conn=None, socket_path=None, objects={})


def add(object_name, methods):
    """ubus_python_add()."""
    conn = _connection()
    if not isinstance(object_name, str):
        raise TypeError(MSG_ADD_SIGNATURE_INVALID)
    if not isinstance(methods, dict):
        # PyDict_Next() finds nothing to refuse in a non-dict, then PyDict_Size()
        # fails inside the C function: this is what the real module raises.
        raise SystemError("<built-in function add> returned a result with an exception set")
    if not _test_methods_argument(methods):
        raise TypeError(MSG_ADD_SIGNATURE_INVALID)
    signature = dict((name, dict(value["signature"])) for name, value in methods.items())
    status = conn.request({"op": "add", "path": object_name, "signature": signature})["status"]
    if status != _OK:
        raise RuntimeError("ubus error occured: %s" % _strerror(status))
    _state["objects"][object_name] = methods
    return None


def objects(path="*"):
    """ubus_python_objects(): {path: {method: {arg: type}}}; nothing found is {}."""
    answer = _connection().request({"op": "lookup", "path": path})
    if answer["status"] not in (_OK, _NOT_FOUND):
        raise RuntimeError("ubus error occured: %s" % _strerror(answer["status"]))
    return answer.get("objects") or {}


class __ResponseHandler:
    """ubus_ResponseHandler: given to a method's callable; linked to its call
    only while the callable runs (ubus_python_method_handler() NULLs req and
    ctx afterwards)."""

    def __init__(self):
        self._call = None

    def reply(self, data):
        """ubus_ResponseHandler_reply(): json.dumps, then a JSON object only."""
        if _state["conn"] is None:
            raise RuntimeError(MSG_NOT_CONNECTED)
        text = json.dumps(data)
        if not isinstance(json.loads(text), dict):     # blobmsg_add_json_from_string()
            raise TypeError(MSG_JSON_TO_UBUS_FAILED)
        if self._call is None:
            raise RuntimeError("Handler is not linked to a call response.")
        return _state["conn"].send({"op": "data", "seq": self._call, "data": json.loads(text)})


_ResponseHandler = __ResponseHandler


def _invoke(conn, msg):
    """libubus ubus_process_invoke() (an unknown method is METHOD_NOT_FOUND
    before Python is asked), then ubus_python_method_handler()."""
    methods = _state["objects"].get(msg.get("path"), {})
    entry = methods.get(msg.get("method"))
    args = msg.get("args") or {}
    if entry is None:
        status = _METHOD_NOT_FOUND
    elif not _test_policies(entry["signature"], args):
        status = _INVALID_ARGUMENT
    else:
        status = _OK
        handler = _ResponseHandler()
        handler._call = msg["seq"]
        try:
            entry["method"](handler, args)     # the return value is ignored
        except Exception:
            traceback.print_exc(file=sys.stderr)   # PyErr_Print()
            status = _UNKNOWN_ERROR
        handler._call = None
    conn.send({"op": "status", "seq": msg["seq"], "status": status})


def _dispatch(conn, messages):
    for msg in messages:
        if msg.get("op") == "invoke":
            _invoke(conn, msg)


def loop(timeout=-1):
    """ubus_python_loop(): timeout 0 handles what is there and returns;
    timeout > 0 runs for that many ms (uloop_run() until the timer ends it,
    however many calls came in); < 0 runs for ever. A dead ubusd does not
    end it early (seen with the real build)."""
    conn = _connection()
    timeout = operator.index(timeout)          # "|i"
    deadline = None if timeout < 0 else time.monotonic() + timeout / 1000.0
    queued, conn.queued = conn.queued, []
    _dispatch(conn, queued)
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if conn.dead:
            time.sleep(wait if wait is not None else 3600)
        elif select.select([conn.sock], [], [], wait)[0]:
            _dispatch(conn, conn.read_messages())
            if timeout == 0:
                return None
            continue
        if deadline is not None and time.monotonic() >= deadline:
            return None
