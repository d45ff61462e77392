"""The python3-ubus stand-in and the fake ubusd (tests/standins/) against what
the C sources do: CZ-NIC/python-ubus ubus_python.c and openwrt/ubus
ubusd_acl.c, ubusd_obj.c (each test names the function). The expected texts
are the ones the real module, built on the real libubus and ubusd, gave."""

import contextlib
import importlib.util
import os
import pwd
import sys
import threading

import pytest

from tests.tools.ubusd_proc import (INVALID_ARGUMENT, METHOD_NOT_FOUND, NOT_FOUND, OK, STANDINS,
                                    UNKNOWN_ERROR, FakeUbusd)

sys.path.insert(0, str(STANDINS))
import ubusd as fake_ubusd  # noqa: E402  (tests/standins/ubusd.py, for its ACL functions)

sys.path.remove(str(STANDINS))


@pytest.fixture
def ubus():
    """A fresh copy of the stand-in module (its state is module-global, as in the C)."""
    spec = importlib.util.spec_from_file_location("ubus_standin", STANDINS / "ubus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    if module.get_connected():
        module.disconnect()


@pytest.fixture
def bus(tmp_path):
    with FakeUbusd(tmp_path / "ubusd") as b:
        yield b


@contextlib.contextmanager
def serving(ubus):
    """loop() in a thread of its own, as dprive runs it; no other module call meanwhile."""
    running = [True]

    def run():
        while running[0]:
            ubus.loop(100)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        running[0] = False
        thread.join(5)


def method(fn, **signature):
    return {"signature": signature, "method": fn}


def test_every_call_needs_a_connection(ubus):
    # ubus_python_loop(), _add(), _objects(), _disconnect(): `if (!CONNECTED)`
    for call in (lambda: ubus.loop(0), lambda: ubus.add("x", {}), ubus.objects, ubus.disconnect):
        with pytest.raises(RuntimeError, match="^You are not connected to ubus.$"):
            call()


def test_connect_absent_twice_and_disconnect(ubus, bus, tmp_path):
    # ubus_python_connect(): ubus_connect() NULL -> IOError; CONNECTED -> RuntimeError
    absent = str(tmp_path / "absent.sock")
    with pytest.raises(OSError) as err:
        ubus.connect(absent)
    assert str(err.value) == "Failed to connect to the ubus socket '%s'\n" % absent
    assert ubus.get_connected() is False and ubus.get_socket_path() is None
    assert ubus.connect(bus.socket_path) is True
    assert ubus.get_socket_path() == bus.socket_path
    with pytest.raises(RuntimeError, match="^You are already connected to ubus.$"):
        ubus.connect(bus.socket_path)
    with pytest.raises(TypeError):                  # "|O!" with PyBool_Type
        ubus.disconnect(1)
    ubus.disconnect()
    assert ubus.get_connected() is False


@pytest.mark.parametrize("methods", [
    {"status": [print, {}]},                                          # dprive's old list form
    {"status": print},
    {"status": {"signature": {}, "method": print, "x": 1}},           # PyDict_Size != 2
    {"status": {"signature": [], "method": print}},
    {"status": {"signature": {"a": 9}, "method": print}},             # > BLOBMSG_TYPE_LAST
    {"status": {"signature": {"a": "3"}, "method": print}},
    {"status": {"signature": {}, "method": 1}},                       # not callable
    {1: {"signature": {}, "method": print}},
])
def test_add_refuses_a_wrong_method_table(ubus, bus, methods):
    # ubus_python_add() -> test_methods_argument()
    ubus.connect(bus.socket_path)
    with pytest.raises(TypeError) as err:
        ubus.add("t", methods)
    assert str(err.value).startswith("Incorrect method arguments!\nExpected:\n")
    assert bus.lookup("t") == {}


def test_add_takes_the_right_table_and_refuses_a_taken_name(ubus, bus):
    ubus.connect(bus.socket_path)
    assert ubus.add("t", {"m": method(print, a=ubus.BLOBMSG_TYPE_DOUBLE, b=True)}) is None
    assert ubus.objects("t") == {"t": {"m": {"a": 8, "b": True}}}      # PyLong_Check takes a bool
    with pytest.raises(TypeError, match="^Incorrect method arguments!"):
        ubus.add(1, {})
    with pytest.raises(SystemError):                # a list is not refused by the check itself
        ubus.add("u", [])
    # ubusd_create_object(): avl_insert() fails -> ubusd_handle_add_object() INVALID_ARGUMENT
    with pytest.raises(RuntimeError, match="^ubus error occured: Invalid argument$"):
        ubus.add("t", {"m": method(print)})


def test_signatures_are_checked_before_the_handler_runs(ubus, bus):
    # test_policies(): exact keys, and the blobmsg type json gave each value
    seen = []
    S, I32, B, U = ubus.BLOBMSG_TYPE_STRING, ubus.BLOBMSG_TYPE_INT32, ubus.BLOBMSG_TYPE_BOOL, 0

    def echo(handler, data):
        seen.append(data)
        handler.reply({"got": data})
    ubus.connect(bus.socket_path)
    ubus.add("t", {"s": method(echo, a=S, ubus_rpc_session=S), "none": method(echo),
                   "i": method(echo, a=I32), "b": method(echo, a=B), "u": method(echo, a=U)})
    with serving(ubus):
        assert bus.call("t", "s", {"a": "x", "ubus_rpc_session": "s"}) == (
            OK, {"got": {"a": "x", "ubus_rpc_session": "s"}})
        assert bus.call("t", "s", {"a": "x"})[0] == INVALID_ARGUMENT
        assert bus.call("t", "s", {"a": "x", "ubus_rpc_session": "s", "z": 1})[0] == INVALID_ARGUMENT
        assert bus.call("t", "s", {"a": 1, "ubus_rpc_session": "s"})[0] == INVALID_ARGUMENT
        assert bus.call("t", "none", {})[0] == OK
        assert bus.call("t", "none", {"x": 1})[0] == INVALID_ARGUMENT
        assert bus.call("t", "i", {"a": 5})[0] == OK
        assert bus.call("t", "i", {"a": 5000000000})[0] == INVALID_ARGUMENT   # INT64
        assert bus.call("t", "b", {"a": True})[0] == OK
        assert bus.call("t", "b", {"a": 1})[0] == INVALID_ARGUMENT
        assert bus.call("t", "u", {"a": None})[0] == OK
        assert bus.call("t", "nope", {})[0] == METHOD_NOT_FOUND     # libubus ubus_process_invoke()
        assert bus.call("nope", "x", {})[0] == NOT_FOUND
    assert len(seen) == 5


def test_what_handlers_return_raise_and_reply(ubus, bus, capfd):
    # ubus_python_method_handler() and ubus_ResponseHandler_reply()
    errors, kept = {}, []

    def attempt(name, handler, value):
        try:
            handler.reply(value)
        except Exception as err:
            errors[name] = (type(err), str(err))
    table = {
        "boom": lambda h, d: 1 / 0,
        "rr": lambda h, d: (h.reply({"partial": True}), 1 / 0),
        "retval": lambda h, d: 5,
        "twice": lambda h, d: (h.reply({"n": 1}), h.reply({"n": 2})),
        "list": lambda h, d: attempt("list", h, [1, 2]),
        "set": lambda h, d: attempt("set", h, {1, 2}),
        "keep": lambda h, d: kept.append(h),
    }
    ubus.connect(bus.socket_path)
    ubus.add("t", dict((name, method(fn)) for name, fn in table.items()))
    with serving(ubus):
        assert bus.call("t", "boom") == (UNKNOWN_ERROR, None)
        assert bus.call("t", "rr") == (UNKNOWN_ERROR, {"partial": True})
        assert bus.call("t", "retval") == (OK, None)            # the return value is ignored
        assert bus.call("t", "twice") == (OK, {"n": 1})
        assert bus.call("t", "list") == (OK, None)
        assert bus.call("t", "set") == (OK, None)
        assert bus.call("t", "keep") == (OK, None)
    assert "ZeroDivisionError" in capfd.readouterr().err        # PyErr_Print()
    assert errors["list"] == (TypeError, "Failed to create json for ubus.")
    assert errors["set"][0] is TypeError and "not JSON serializable" in errors["set"][1]
    with pytest.raises(RuntimeError, match="^Handler is not linked to a call response.$"):
        kept[0].reply({"late": 1})


def test_a_dead_ubusd_looks_connected_and_every_request_fails(ubus, tmp_path):
    # seen with the real module: get_connected() stays True, lookups and adds fail
    bus = FakeUbusd(tmp_path / "ubusd").start()
    ubus.connect(bus.socket_path)
    ubus.add("t", {"m": method(print)})
    bus.stop()
    ubus.loop(100)
    assert ubus.get_connected() is True
    for call in (lambda: ubus.objects("t"), lambda: ubus.add("t2", {})):
        with pytest.raises(RuntimeError, match="^ubus error occured: Invalid argument$"):
            call()
    with pytest.raises(TypeError):
        ubus.loop(0.5)                              # "|i"
    ubus.disconnect(deregister=False)
    bus.start()
    try:
        ubus.connect(bus.socket_path)
        ubus.add("t", {"m": method(print)})
        assert "t" in bus.lookup("t")
    finally:
        bus.stop()


# -- the fake ubusd's ACLs (ubusd_acl.c) ---------------------------------------------

class Client:
    def __init__(self, uid, gids=()):
        self.uid, self.gids = uid, set(gids)


def write_acl(acl_dir, name, text, mode=0o644):
    path = acl_dir / name
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_acl_files_are_loaded_as_ubusd_acl_load_does(tmp_path):
    owner = os.getuid()            # the files' owner counts as root's (--superuser-uid)
    nobody = pwd.getpwnam("nobody").pw_uid
    write_acl(tmp_path, "a.json", '{"user": "nobody", "publish": ["dprive", "pre*"]}')
    write_acl(tmp_path, "writable.json", '{"user": "nobody", "publish": ["w"]}', 0o664)
    write_acl(tmp_path, "broken.json", '{"user": ')
    write_acl(tmp_path, "nouser.json", '{"publish": ["n"]}')
    write_acl(tmp_path, "unknown.json", '{"user": "no-such-user-here", "publish": ["u"]}')
    if owner == 0:      # only root can give a file away
        os.chown(write_acl(tmp_path, "owned.json", '{"user": "nobody", "publish": ["o"]}'), nobody, -1)
    entries = fake_ubusd.load_acls(str(tmp_path), owner, [])
    # superuser_uid -2: no uid passes every check, so uid 0 is judged by the ACLs too
    allows = lambda uid, obj: fake_ubusd.acl_allows(entries, Client(uid), obj, publish=True,
                                                    superuser_uid=-2)
    assert allows(nobody, "dprive") and allows(nobody, "prefix") and not allows(nobody, "dprivex")
    assert not allows(nobody + 1, "dprive")
    assert not allows(nobody, "w")                # group-writable file skipped
    assert not allows(nobody, "n")                # no user or group: nothing
    assert not allows(nobody, "o")                # not owned by root: skipped
    assert allows(0, "u") and not allows(nobody, "u")    # unknown user: uid 0
    # no *.json left: glob() fails and the loaded ACLs stay
    for path in tmp_path.iterdir():
        path.unlink()
    assert fake_ubusd.load_acls(str(tmp_path), owner, entries) is entries


def test_access_acl_and_the_superuser(tmp_path):
    entries = fake_ubusd.acl_entries({"group": "root", "access": {"dprive": {"methods": ["status"]}}})
    check = lambda uid, gids, m: fake_ubusd.acl_allows(entries, Client(uid, gids), "dprive", m,
                                                       superuser_uid=0)
    assert check(0, (), "anything")                # ubusd_acl_check(): `if (!cl->uid) return 0`
    assert check(1000, (0,), "status") and not check(1000, (0,), "reconnect")
    assert not check(1000, (1000,), "status")
