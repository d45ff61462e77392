"""The resumption store and the TCP helpers that need no network."""

import socket

from dprive.io import tcp
from dprive.tls.sessions import SessionStore


class FakeSession:
    """Stands in for ssl.SSLSession: only the attributes the store reads."""

    def __init__(self, session_id, has_ticket=True):
        self.id = session_id
        self.has_ticket = has_ticket


def test_store_keeps_the_newest_session_per_identity():
    store = SessionStore()
    a = ("192.0.2.1", 853, "dns.test", ())
    b = ("192.0.2.1", 853, "other.test", ())
    assert store.offer(a, FakeSession(b"1"))
    assert not store.offer(a, FakeSession(b"1")), "the same session is not stored twice"
    assert store.offer(a, FakeSession(b"2"))
    assert store.get(a).id == b"2"
    assert store.get(b) is None, "never offered to another identity"
    store.forget(a)
    assert store.get(a) is None


def test_store_ignores_sessions_that_cannot_resume():
    store = SessionStore()
    key = ("192.0.2.1", 853, "dns.test", ())
    assert not store.offer(key, None)
    assert not store.offer(key, FakeSession(b"", has_ticket=False))
    assert store.get(key) is None


def test_upstream_socket_has_the_recovery_options_set():
    keepalive = tcp.KeepaliveSettings(idle_s=25, interval_s=7, count=4, user_timeout_ms=21000)
    sock = tcp.upstream_socket("127.0.0.1", keepalive, fast_open=True)
    try:
        get = lambda level, opt: sock.getsockopt(level, opt)  # noqa: E731
        assert get(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert get(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert get(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 25
        assert get(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 7
        assert get(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
        assert get(socket.IPPROTO_TCP, tcp.TCP_USER_TIMEOUT) == 21000
        assert get(socket.IPPROTO_TCP, tcp.TCP_FASTOPEN_CONNECT) == 1
    finally:
        sock.close()


def test_probe_cost_per_hour():
    assert tcp.probe_bytes_per_hour(60) == 60 * tcp.PROBE_WIRE_BYTES
    assert tcp.probe_bytes_per_hour(7200) == tcp.PROBE_WIRE_BYTES // 2, "one probe every two hours"
