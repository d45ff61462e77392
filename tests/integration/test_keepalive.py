"""edns-tcp-keepalive (RFC 7828): dprive asks for the server's idle timeout,
learns it from the answer, and closes the idle session just before the server
would; that close is graceful, not a failure, and the next query reconnects."""

import time

from tests.tools import clients
from tests.tools.dprive_proc import upstream


def _session(dp):
    return dp.upstream_status("short-idle")


def test_server_idle_timeout_learned_and_honoured(make_unbound, make_dprive):
    server = make_unbound(keepalive_timeout_ms=1500)
    dp = make_dprive([upstream("short-idle", server.tls_port)])
    _q, resp = clients.udp_query("a.test", port=dp.port, timeout_s=3)
    assert clients.a_records(resp) == ["192.0.2.1"]
    up = _session(dp)
    assert up["server_idle_timeout_ms"] == 1500, up
    assert up["state"] == "open", up

    deadline = time.monotonic() + 5
    while _session(dp)["state"] == "open" and time.monotonic() < deadline:
        time.sleep(0.1)
    up = _session(dp)
    assert up["state"] == "idle", "the idle session should have been closed: %r" % up
    assert up["graceful_closes"] == 1, up
    assert up["failures"] == 0, "closing on the server's idle timeout is no failure: %r" % up
    assert "idle" in up["last_close_reason"], up

    _q, resp = clients.udp_query("b.test", port=dp.port, timeout_s=3)
    assert clients.a_records(resp) == ["192.0.2.2"]
    up = _session(dp)
    assert up["state"] == "open" and up["reconnects"] == 1, up
    assert up["failures"] == 0, up


def test_keep_warm_holds_the_session_past_the_server_idle_timeout(make_unbound, make_dprive):
    server = make_unbound(keepalive_timeout_ms=1500)
    dp = make_dprive([upstream("short-idle", server.tls_port)], keep_warm="1")
    _q, resp = clients.udp_query("a.test", port=dp.port, timeout_s=3)
    assert clients.a_records(resp) == ["192.0.2.1"]
    time.sleep(4.0)                            # more than two idle timeouts
    up = _session(dp)
    assert up["state"] == "open" and up["reconnects"] == 0, up
    assert up["keepwarm_queries"] >= 2, up
    assert up["graceful_closes"] == 0 and up["failures"] == 0, up
    assert dp.counters()["answers"] == 1, "keep-warm answers are not client answers"
