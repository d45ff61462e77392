"""TLS session resumption against a real unbound: a reconnect offers the ticket
of the previous session and the server accepts it (TLS 1.3 PSK); with
`tls_resumption 0` nothing is offered. Pins are still enforced on resumed
sessions, since a session is only kept after its pins matched."""

import time

import pytest

from tests.tools import clients
from tests.tools.dprive_proc import upstream


def _reconnect_and_query(dp, times):
    for _ in range(times):
        dp.control("reconnect")
        time.sleep(0.3)
        res = clients.kdig("b.test", "A", port=dp.port, timeout_s=3)
        assert res.addresses() == ["192.0.2.2"], res


@pytest.mark.parametrize("pinned", [False, True])
def test_reconnect_resumes_the_session(make_dprive, unbound, pki, pinned):
    pins = [pki.server_pin] if pinned else []
    dp = make_dprive([upstream("u", unbound.tls_port, spki=pins)])
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    time.sleep(0.3)                            # the TLS 1.3 tickets arrive after the handshake
    _reconnect_and_query(dp, 2)
    up = dp.upstream_status("u")
    assert up["resumptions_offered"] == 2, up
    assert up["resumptions_accepted"] == 2, up
    assert up["resumed"] is True and up["failures"] == 0, up


def test_resumption_can_be_turned_off(make_dprive, unbound):
    dp = make_dprive([upstream("u", unbound.tls_port)], tls_resumption="0")
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    time.sleep(0.3)
    _reconnect_and_query(dp, 1)
    up = dp.upstream_status("u")
    assert up["resumptions_offered"] == 0 and up["resumed"] is False, up


def test_refused_resumption_falls_back_to_a_full_handshake_without_a_failed_query(
        make_unbound, make_dprive):
    server = make_unbound()                    # no ticket keys: a restart forgets every ticket
    dp = make_dprive([upstream("u", server.tls_port)])
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    time.sleep(0.3)
    server.stop()
    server.start()
    time.sleep(1.5)                            # dprive reconnects on its own after the close
    res = clients.kdig("b.test", "A", port=dp.port, timeout_s=3)
    assert res.rcode == "NOERROR" and res.addresses() == ["192.0.2.2"], res
    up = dp.upstream_status("u")
    assert up["resumptions_offered"] >= 1, up
    assert up["resumptions_accepted"] == 0, "the new unbound cannot know the old ticket: %r" % up
    assert up["resumed"] is False and up["state"] == "open", up
    assert dp.counters()["servfail"] == 0


def test_tcp_fastopen_0_connects_without_it_and_the_status_says_so(make_dprive, unbound):
    dp = make_dprive([upstream("u", unbound.tls_port)], tcp_fastopen=False)
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    assert dp.upstream_status("u")["tfo_enabled"] is False
    assert "connecting to 127.0.0.1 port %d, Fast Open" % unbound.tls_port not in dp.log_text()
