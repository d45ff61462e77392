"""The ubus object `dprive`, against a thin stand-in for python3-ubus
(tests/standins/ubus.py: its API and its strict argument check; libubus and
ubusd cannot be built here). Calls are made the way LuCI (with
ubus_rpc_session) and `ubus call` (without) would make them."""

import pytest

from dprive import status_client

from tests.tools import common
from tests.tools.dprive_proc import DpriveProcess, upstream

STANDINS = common.REPO_ROOT / "tests" / "standins"
OK, INVALID_ARGUMENT = 0, 2


@pytest.fixture
def daemon(tmp_path, pki, unbound):
    dp = DpriveProcess(tmp_path / "dprive", pki.ca_cert, [upstream("local", unbound.tls_port)],
                       options={"log_level": "debug"})
    dp.ubus_path = str(tmp_path / "ubus.sock")
    dp.extra_env = {"PYTHONPATH": str(STANDINS), "DPRIVE_TEST_UBUS": dp.ubus_path}
    dp.start()
    try:
        common.wait_until(lambda: "ubus object dprive published" in dp.log_text(), 5,
                          what="the ubus object")
        yield dp
    finally:
        dp.stop()


def call(dp, method, args):
    """One call over the stand-in bus (one JSON line each way, like the control socket)."""
    answer = status_client.request(dp.ubus_path, {"object": "dprive", "method": method, "args": args}, 5)
    return answer["status"], answer["reply"]


def test_status_as_luci_calls_it(daemon):
    status, reply = call(daemon, "status", {"ubus_rpc_session": "0123abcd"})
    assert status == OK
    assert reply["version"] and [u["name"] for u in reply["upstreams"]] == ["local"]


def test_status_without_the_session_key_is_refused_as_python3_ubus_does(daemon):
    assert call(daemon, "status", {})[0] == INVALID_ARGUMENT
    assert call(daemon, "status", {"ubus_rpc_session": "s", "x": "1"})[0] == INVALID_ARGUMENT


def test_dump_for_the_command_line(daemon):
    status, reply = call(daemon, "dump", {})
    assert status == OK and reply["upstreams"][0]["name"] == "local"


def test_stats(daemon):
    status, reply = call(daemon, "stats", {"ubus_rpc_session": "s"})
    assert status == OK and "queries" in reply["counters"]


def test_reconnect_all_one_and_unknown(daemon):
    connects = daemon.upstream_status("local")["connects"]
    assert call(daemon, "reconnect", {"name": "", "ubus_rpc_session": "s"}) == (OK, {"ok": True})
    assert call(daemon, "reconnect", {"name": "local", "ubus_rpc_session": "s"}) == (OK, {"ok": True})
    status, reply = call(daemon, "reconnect", {"name": "nope", "ubus_rpc_session": "s"})
    assert status == OK and reply["ok"] is False and "nope" in reply["error"]
    common.wait_until(lambda: daemon.upstream_status("local")["connects"] >= connects + 2, 5,
                      what="two new sessions")
