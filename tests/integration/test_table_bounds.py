"""Every table the daemon keeps has a bound, and a client or an upstream that
drives it past the bound finds it there (read from `dprive status`, its
"tables" object), with the daemon still answering.

| table (where)                              | bound                                         | test here |
|--------------------------------------------|-----------------------------------------------|-----------|
| Forwarder.pending (core/clients.py)        | max_pending_queries; more get SERVFAIL        | test_pending_queries_stay_at_max_pending |
| Forwarder.waiting                          | a subset of pending                           | same |
| Session.inflight / queued (core/upstream.py)| pending x MAX_ATTEMPTS; IDs < 65536          | same |
| Daemon.clients (io/daemon.py)              | pending (a reply goes for every query)        | same, and test_dropped_datagrams_leave_nothing_behind |
| TcpListenerFactory.active (io/lan.py)      | max_tcp_clients; the idle longest make room   | test_tcp_clients_held_open_stay_at_max_tcp_clients |
| TcpClient outstanding / backlog            | MAX_QUERIES_PER_TCP_CLIENT, then no reading   | test_pipelined_queries_of_one_tcp_client_stay_at_the_per_client_bound |
| TcpClient write buffer                     | WRITE_HIGH_BYTES pauses reading; past WRITE_HARD_LIMIT_BYTES dropped | test_client_that_never_reads_big_answers_is_dropped_at_the_write_limit |
| a TCP client that never reads              | dropped at tcp_client_idle_ms (abort: close would wait for the buffer) | test_client_that_pipelines_and_never_reads_is_bounded_then_dropped |
| a slow TCP message (slowloris)             | must be whole within tcp_client_idle_ms       | test_slowloris_is_disconnected_at_the_idle_time |
| FrameDecoder buffers (core/framing.py)     | one message, 65535 bytes                      | by construction |
| SessionStore (tls/sessions.py)             | one per configured upstream and transport (reload forgets the rest) | test_reloads_do_not_pile_up_tls_sessions |
| TLS session reads (gh-116810 leaks each)   | one per new upstream identity; none on resumption | test_reload_memory.py, test_resumed_reconnects_read_no_session_where_each_read_leaks |
| SSL objects, core upstreams after reloads  | what the configured upstreams need            | test_reload_memory.py (in-process Daemon) |
| Daemon.conns / dirty                       | upstream_connections + 2 per upstream (session and its extras, the one it replaces, TLS beside DTLS) | test_wirefuzz.py |
| Session.retired                            | RETIRED_IDS_KEPT (1024)                        | tests/unit (the core's own trim) |
| Upstream.recoveries                        | RECOVERIES_KEPT (10)                           | tests/unit |
| log lines (io/lograte.py)                  | per kind 5 then 1 per 10 s, all 10/s          | test_log_lines_of_a_flood_are_rate_limited |
| gateway sessions+pending+handshaking       | max_sessions                                  | test_gateway.py (sessions_full) |
| gateway per-session queries                | max_queries_per_client (REFUSED)              | test_gateway.py (queries_refused) |
| gateway AlertLimiter.last                  | 4096 peers, max_alerts_per_s                  | test_gateway.py (alerts_limited) |
| gateway ResolverClient.pending             | MAX_PENDING (60000 of 65536 IDs)              | by construction |
"""

import re
import signal
import socket
import struct
import time

from tests.tools import clients, common
from tests.tools.dprive_proc import upstream
from tests.tools.hostile_upstream import HostileUpstream
from tests.tools.rogue_upstream import RogueUpstream
from tests.tools.unbound import q_address, q_name as unbound_q

MAX_QUERIES_PER_TCP_CLIENT = 64        # io/lan.py
WRITE_HARD_LIMIT_BYTES = 256 * 1024    # io/lan.py
KEY_BURST, KEY_EVERY_S = 5, 10.0       # io/lograte.py


def _tables(dp):
    return dp.status()["tables"]


def _still_answers(dp):
    assert dp.running(), "dprive exited:\n" + dp.log_tail()
    res = clients.kdig("a.test", port=dp.port, timeout_s=3)
    assert res.addresses() == ["192.0.2.1"], res.describe()
    res = clients.kdig("b.test", port=dp.port, tcp=True, timeout_s=3)
    assert res.addresses() == ["192.0.2.2"], res.describe()


def test_pending_queries_stay_at_max_pending(make_dprive, unbound, pki):
    """A silent upstream first holds every query for attempt_min_ms: 200 at once
    fill pending to its bound, the rest get SERVFAIL at once (overload), and the
    held ones are answered by the good upstream afterwards."""
    with RogueUpstream(pki, "silent") as silent:
        dp = make_dprive([upstream("silent", silent.port), upstream("good", unbound.tls_port)],
                         max_pending_queries=16, attempt_min_ms=1500, query_timeout_ms=4000)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i in range(200):
                sock.sendto(clients.query_wire("q%d.test" % i, qid=i), ("127.0.0.1", dp.port))
            common.wait_until(lambda: dp.counters()["overload"] >= 150, 5, what="overload answers")
            t = _tables(dp)
            assert t["pending"] == 16, t
            assert t["clients"] <= 16 and t["waiting"] <= 16, t
            assert t["inflight"] + t["queued"] <= 16 * 4, t
        finally:
            sock.close()
        common.wait_until(lambda: _tables(dp)["pending"] == 0, 10, what="the held queries' answers")
        t = _tables(dp)
        assert t["clients"] == 0 and t["waiting"] == 0, t
        _still_answers(dp)


def test_tcp_clients_held_open_stay_at_max_tcp_clients(make_dprive, unbound):
    """Fifty connections held open for nothing against max_tcp_clients 8: the
    table stays at 8, and a newcomer with a query is served (the idle longest
    made room) instead of being refused until the idle time is up."""
    dp = make_dprive([upstream("u", unbound.tls_port)], max_tcp_clients=8, tcp_client_idle_ms=30000)
    held = []
    try:
        for _ in range(50):
            held.append(socket.create_connection(("127.0.0.1", dp.port), timeout=2))
        common.wait_until(lambda: dp.counters()["tcp_connections"] >= 8, 5, what="the connections")
        t = _tables(dp)
        assert t["tcp_clients"] <= 8, t
        with clients.TcpClient(dp.port) as conn:
            _q, resp = conn.query("c.test", timeout_s=3)
            assert resp is not None and clients.a_records(resp) == ["192.0.2.3"]
        assert _tables(dp)["tcp_clients"] <= 8
        assert dp.counters()["tcp_evicted"] >= 1
    finally:
        for sock in held:
            sock.close()
    _still_answers(dp)


def test_pipelined_queries_of_one_tcp_client_stay_at_the_per_client_bound(make_dprive, unbound, pki):
    """300 pipelined queries while the first upstream holds them (silent, for
    attempt_min_ms): the daemon takes MAX_QUERIES_PER_TCP_CLIENT at a time and
    reads the rest as answers go out (back-pressure, nothing lost): every
    answer comes back, right."""
    with RogueUpstream(pki, "silent") as silent:
        dp = make_dprive([upstream("silent", silent.port), upstream("good", unbound.tls_port)],
                         attempt_min_ms=1000, query_timeout_ms=8000, tcp_client_idle_ms=10000)
        with clients.TcpClient(dp.port, timeout_s=10) as conn:
            conn.send_raw(b"".join(struct.pack("!H", len(q)) + q for q in
                                   (clients.query_wire(unbound_q(i), qid=i) for i in range(300))))
            common.wait_until(lambda: _tables(dp)["tcp_outstanding_max"] > 0, 5, what="the queries")
            t = _tables(dp)
            assert 0 < t["tcp_outstanding_max"] <= MAX_QUERIES_PER_TCP_CLIENT, t
            assert t["pending"] <= MAX_QUERIES_PER_TCP_CLIENT, t
            answered = {}
            for _ in range(300):
                raw = conn.recv_msg(timeout_s=15)
                assert raw is not None, "closed after %d answers" % len(answered)
                msg = clients.parse(raw)
                answered[msg.id] = clients.a_records(msg)
        assert sorted(answered) == list(range(300))
        assert all(answered[i] == [q_address(i)] for i in range(300)), answered
        assert dp.counters()["tcp_paused"] >= 1
        _still_answers(dp)


def test_client_that_pipelines_and_never_reads_is_bounded_then_dropped(make_dprive, unbound):
    """Thousands of pipelined queries for a 2.4 kB answer, never read (more than
    the kernel's socket buffers hold): the daemon stops reading the client,
    keeps its write buffer under the hard limit, and the client is gone once
    idle for tcp_client_idle_ms or past the limit. close() alone would wait
    for the queued answers to drain, forever, and the client would keep its slot."""
    dp = make_dprive([upstream("u", unbound.tls_port)], max_tcp_clients=4, tcp_client_idle_ms=1500)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", dp.port))
    try:
        sock.setblocking(False)
        query = clients.query_wire("big.test", "TXT", qid=1)
        burst = (struct.pack("!H", len(query)) + query) * 8000
        deadline = time.monotonic() + 2.0
        while burst and time.monotonic() < deadline:
            try:
                burst = burst[sock.send(burst):]
            except BlockingIOError:
                time.sleep(0.01)
        common.wait_until(lambda: dp.counters()["tcp_paused"] >= 1, 5, what="reading paused")
        t = _tables(dp)
        assert t["tcp_outstanding_max"] <= MAX_QUERIES_PER_TCP_CLIENT, t
        assert t["tcp_write_buffer_max"] <= WRITE_HARD_LIMIT_BYTES + 65537, t
        common.wait_until(lambda: _tables(dp)["tcp_clients"] == 0, 8,
                          what="the never-reading client to be dropped")
        assert dp.counters()["tcp_idle_closed"] + dp.counters()["tcp_overrun"] >= 1
    finally:
        sock.close()
    _still_answers(dp)


def test_client_that_never_reads_big_answers_is_dropped_at_the_write_limit(make_dprive, pki):
    """Answers of 32 kB each (right ones, from an upstream that has them), asked
    in a pipeline and never read: the answers to the queries already taken
    would queue up to MAX_QUERIES_PER_TCP_CLIENT x 32 kB (2 MB) per client; past
    WRITE_HARD_LIMIT_BYTES the client is dropped instead."""
    with HostileUpstream(pki, honest_share=1.0, big_txt_bytes=32768) as big:
        dp = make_dprive([upstream("big", big.port)], tcp_client_idle_ms=5000)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", dp.port))
        try:
            query = clients.query_wire("big.test", "TXT", qid=2)
            sock.sendall((struct.pack("!H", len(query)) + query) * 200)
            worst = 0
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and dp.counters()["tcp_overrun"] == 0:
                worst = max(worst, _tables(dp)["tcp_write_buffer_max"])
                time.sleep(0.02)
            assert dp.counters()["tcp_overrun"] == 1, dp.counters()
            assert worst <= WRITE_HARD_LIMIT_BYTES + 65537, worst
            assert _tables(dp)["tcp_clients"] == 0
        finally:
            sock.close()
        res = clients.kdig("a.test", port=dp.port, timeout_s=3)
        assert res.addresses() == ["192.0.2.1"], res.describe()


def test_slowloris_is_disconnected_at_the_idle_time(make_dprive, unbound):
    """One byte every 0.3 s never finishes a message: without a deadline for the
    message as a whole, each byte would restart the idle timer for good."""
    dp = make_dprive([upstream("u", unbound.tls_port)], tcp_client_idle_ms=1500)
    wire = clients.query_wire("a.test", qid=0x5151)
    framed = struct.pack("!H", len(wire)) + wire
    with clients.TcpClient(dp.port) as conn:
        started = time.monotonic()
        closed = False
        for i in range(len(framed) - 1):
            try:
                conn.send_raw(framed[i:i + 1])
            except OSError:
                closed = True
                break
            if conn.closed_by_peer(0.3):
                closed = True
                break
        assert closed, "a client dripping a byte every 0.3 s was kept for %.1f s" % (
            time.monotonic() - started)
    assert dp.counters()["tcp_idle_closed"] >= 1
    _still_answers(dp)


def test_reloads_do_not_pile_up_tls_sessions(make_dprive, unbound, pki):
    """An upstream that moves (a new address at each reload) leaves its old
    session ticket behind: the store must hold only the configured upstreams'."""
    addresses = ["127.0.0.%d" % i for i in range(2, 8)]
    with HostileUpstream(pki, honest_share=1.0, addresses=addresses) as moving:
        dp = make_dprive([upstream("good", unbound.tls_port),
                          upstream("moving", moving.port, address=addresses[0])])
        for address in addresses:
            dp.upstreams[1] = upstream("moving", moving.port, address=address)
            dp.write_config()
            dp.proc.send_signal(signal.SIGHUP)
            common.wait_until(lambda: dp.upstream_status("moving")["address"] == address
                              and dp.upstream_status("moving")["state"] == "open", 5,
                              what="the moved upstream's session")
            common.wait_until(lambda: _tables(dp)["tls_sessions"] >= 2, 5, what="its ticket")
        t = _tables(dp)
        assert t["tls_sessions"] <= 2, t
        _still_answers(dp)


def test_log_lines_of_a_flood_are_rate_limited(make_dprive, unbound):
    """20000 bad datagrams at log_level debug: each would be a line ("dropped a
    client message"); the log holds a few, and says how many it held back."""
    dp = make_dprive([upstream("u", unbound.tls_port)], log_level="debug")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    started = time.monotonic()
    try:
        for i in range(20000):
            sock.sendto(b"\x12\x34\x56"[: 1 + i % 3], ("127.0.0.1", dp.port))
            if i % 200 == 199:
                time.sleep(0.005)
    finally:
        sock.close()
    common.wait_until(lambda: dp.counters()["dropped"] >= 19000, 15, what="the flood")
    elapsed = time.monotonic() - started
    lines = len(re.findall("dropped a client message", dp.log_text()))
    assert lines <= KEY_BURST + elapsed / KEY_EVERY_S + 2, "%d lines for %d datagrams" % (lines, 20000)
    assert dp.counters()["log_suppressed"] >= 10000
    assert "held back by the log rate limit" in dp.log_text() or lines <= KEY_BURST
    _still_answers(dp)


def test_resumed_reconnects_read_no_session_where_each_read_leaks(make_dprive, unbound):
    """CPython gh-116810 (3.11, OpenWrt 24.10's Python): each read of an
    SSLObject's session leaks a copy of it (6 kB). Twenty reconnects that
    resume must not read one; RSS grew by 7 kB per reconnect (bench/wirefuzz.py)."""
    from dprive.tls.engine_api import SESSION_READ_LEAKS
    dp = make_dprive([upstream("u", unbound.tls_port)])
    assert clients.kdig("a.test", port=dp.port).addresses() == ["192.0.2.1"]
    common.wait_until(lambda: _tables(dp)["tls_sessions"] == 1, 5, what="a ticket")
    reads = _tables(dp)["tls_session_reads"]
    for i in range(20):
        dp.control("reconnect")
        common.wait_until(lambda: dp.upstream_status("u")["state"] == "open", 5, what="the session")
        assert clients.kdig("b.test", port=dp.port).addresses() == ["192.0.2.2"]
    up = dp.upstream_status("u")
    assert up["resumptions_accepted"] >= 20, up
    grew = _tables(dp)["tls_session_reads"] - reads
    if SESSION_READ_LEAKS:
        assert grew == 0, "%d session reads for 20 resumed reconnects" % grew
    else:
        assert grew <= 20 * 4, grew     # TICKET_READS per connection (io/upstream_conn.py)
