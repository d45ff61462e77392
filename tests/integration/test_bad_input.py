"""Bad input from the LAN side: dropped or answered FORMERR, counted, never
fatal, and a stalled TCP client does not hold up anyone else."""

import socket
import struct
import time

import pytest

from tests.tools import clients

FORMERR = 1
QR = 0x8000
RD = 0x0100


def _header(qid, flags=RD, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def _question(name="a.test.", qtype=1, qclass=1):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + struct.pack("!HH", qtype, qclass)


def _counted(dp, before, names, at_least=1, timeout_s=3.0):
    """Wait until one of the counters `names` grew by at_least; return its name."""
    deadline = time.monotonic() + timeout_s
    while True:
        after = dp.counters()
        for name in names:
            if after.get(name, 0) - before.get(name, 0) >= at_least:
                return name
        if time.monotonic() > deadline:
            delta = {k: after.get(k, 0) - before.get(k, 0)
                     for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}
            raise AssertionError("none of %s grew by %d; counters that changed: %r; all: %r" % (
                names, at_least, delta, after))
        time.sleep(0.05)


def _still_answers(dp):
    assert dp.running(), "dprive exited:\n" + dp.log_tail()
    res = clients.kdig("a.test", port=dp.port)
    assert res.addresses() == ["192.0.2.1"], res
    res = clients.kdig("b.test", port=dp.port, tcp=True)
    assert res.addresses() == ["192.0.2.2"], res


@pytest.mark.parametrize("size", [0, 1, 5, 11])
def test_udp_shorter_than_header_dropped_and_counted(dprive, size):
    before = dprive.counters()
    assert clients.udp_exchange(b"\x12" * size, dprive.port, timeout_s=0.5) is None
    _counted(dprive, before, ("dropped",))
    _still_answers(dprive)


@pytest.mark.parametrize("body", [
    b"\xff\xff\xff",                 # a compression pointer in a query, past the end
    b"\x05ab",                       # a label longer than what is left
    b"\x01a\x00\x00",                # name, then a cut type/class
    b"\x3fabc" + b"\x00" * 4,        # label length 63, 3 bytes present
], ids=["pointer", "long-label", "cut-type", "cut-label"])
def test_udp_garbage_with_readable_header_formerr(dprive, body):
    before = dprive.counters()
    raw = clients.udp_exchange(_header(0x4242) + body, dprive.port, timeout_s=2)
    assert raw is not None, "no answer to a malformed query with a readable header"
    qid, flags, *_ = clients.header(raw)
    assert qid == 0x4242
    assert flags & QR, "answer without QR"
    assert clients.rcode_of(raw) == FORMERR, "rcode %d" % clients.rcode_of(raw)
    _counted(dprive, before, ("formerr",))
    _still_answers(dprive)


def test_udp_qdcount_lies_formerr(dprive):
    # says two questions, carries one
    msg = _header(0x1111, qd=2) + _question("a.test.")
    raw = clients.udp_exchange(msg, dprive.port, timeout_s=2)
    assert raw is not None, "no answer"
    assert clients.header(raw)[0] == 0x1111
    assert clients.rcode_of(raw) == FORMERR
    # says one answer record that is not there
    msg = _header(0x2222, an=1) + _question("a.test.")
    raw = clients.udp_exchange(msg, dprive.port, timeout_s=2)
    assert raw is not None, "no answer"
    assert clients.rcode_of(raw) == FORMERR
    _still_answers(dprive)


def test_dropped_datagrams_leave_nothing_behind(dprive):
    """A datagram the core drops gets no answer, and the daemon must let go of
    the client all the same: it kept every such reply callable (issue 10's
    memory growth under malformed LAN datagrams)."""
    before = dprive.counters()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(2000):
            sock.sendto(b"\x12\x34\x56"[: 1 + i % 3], ("127.0.0.1", dprive.port))
            sock.sendto(_header(i, flags=QR | RD) + _question("a.test."), ("127.0.0.1", dprive.port))
            if i % 100 == 99:
                time.sleep(0.01)          # stay within the socket buffers
    finally:
        sock.close()
    _counted(dprive, before, ("dropped",), at_least=3000, timeout_s=10)
    _still_answers(dprive)
    status = dprive.status()
    assert status["waiting_clients"] == status["pending"] == 0, status["waiting_clients"]


def test_udp_response_is_not_answered(dprive):
    """A message with QR set is not a query: answering it could start a
    loop between two forwarders."""
    before = dprive.counters()
    msg = _header(0x3333, flags=QR | RD) + _question("a.test.")
    assert clients.udp_exchange(msg, dprive.port, timeout_s=0.5) is None
    _counted(dprive, before, ("dropped",))
    _still_answers(dprive)


def test_tcp_garbage_formerr_connection_still_usable(dprive):
    with clients.TcpClient(dprive.port) as conn:
        conn.send_msg(_header(0x5151) + b"\x05ab")
        raw = conn.recv_msg(timeout_s=3)
        assert raw is not None, "connection closed instead of FORMERR"
        assert clients.header(raw)[0] == 0x5151 and clients.rcode_of(raw) == FORMERR
        _q, resp = conn.query("c.test", timeout_s=3)
        assert resp is not None and clients.a_records(resp) == ["192.0.2.3"]


def test_tcp_zero_length_prefix_closes_and_counts(dprive):
    before = dprive.counters()
    with clients.TcpClient(dprive.port) as conn:
        conn.send_raw(b"\x00\x00")
        assert conn.closed_by_peer(3.0), "connection not closed after a zero length prefix"
    _counted(dprive, before, ("tcp_zero_length",))
    _still_answers(dprive)


def test_tcp_length_past_end_then_close_counts(dprive):
    before = dprive.counters()
    with clients.TcpClient(dprive.port) as conn:
        conn.send_raw(struct.pack("!H", 100) + _header(0x6161) + b"\x01a")
        conn.shutdown_write()
        assert conn.closed_by_peer(3.0), "server kept the connection after the client's EOF"
    _counted(dprive, before, ("tcp_incomplete",))
    _still_answers(dprive)


def test_tcp_full_query_then_eof_still_answered(dprive):
    """A client may half-close right after its query (RFC 7766): it still
    gets the answer before the server closes."""
    with clients.TcpClient(dprive.port) as conn:
        conn.send_msg(clients.query_wire("a.test", qid=0x7777))
        conn.shutdown_write()
        raw = conn.recv_msg(timeout_s=3)
        assert raw is not None, "closed without answering"
        resp = clients.parse(raw)
        assert resp.id == 0x7777 and clients.a_records(resp) == ["192.0.2.1"]
        assert conn.closed_by_peer(3.0)


def test_stalled_tcp_client_does_not_stall_others(dprive):
    idle_s = dprive.options["tcp_client_idle_ms"] / 1000.0
    before = dprive.counters()
    stalled = [clients.TcpClient(dprive.port) for _ in range(5)]
    try:
        wire = clients.query_wire("a.test", qid=0x0101)
        for conn in stalled:
            conn.send_raw(struct.pack("!H", len(wire)) + wire[:len(wire) // 2])
        started = time.monotonic()
        # meanwhile others are served, over TCP and UDP, promptly
        with clients.TcpClient(dprive.port) as other:
            for name, addr in (("a.test", "192.0.2.1"), ("b.test", "192.0.2.2"),
                               ("c.test", "192.0.2.3")):
                _q, resp = other.query(name, timeout_s=1.5)
                assert resp is not None and clients.a_records(resp) == [addr]
        _q, resp = clients.udp_query("b.test", port=dprive.port, timeout_s=1.5)
        assert resp is not None and clients.a_records(resp) == ["192.0.2.2"]
        assert time.monotonic() - started < idle_s, "other clients waited for the stalled ones"
        # and the stalled ones are dropped once idle for tcp_client_idle_ms
        for conn in stalled:
            left = max(0.1, idle_s + 3.0 - (time.monotonic() - started))
            assert conn.closed_by_peer(left), "a stalled client was not disconnected"
    finally:
        for conn in stalled:
            conn.close()
    _counted(dprive, before, ("tcp_idle_closed",), at_least=len(stalled))
    _still_answers(dprive)


def test_many_idle_tcp_connections_do_not_block(dprive):
    """Fifty silent connections (below max_tcp_clients): others still served."""
    idle = []
    try:
        for _ in range(50):
            idle.append(clients.TcpClient(dprive.port))
        res = clients.kdig("c.test", port=dprive.port, tcp=True)
        assert res.addresses() == ["192.0.2.3"], res
    finally:
        for conn in idle:
            conn.close()
    _still_answers(dprive)


def test_after_everything_daemon_still_answers(dprive):
    """All of the above against one instance, then ordinary queries."""
    port = dprive.port
    for size in (0, 3, 11):
        clients.udp_exchange(b"\x00" * size, port, timeout_s=0.2)
    for body in (b"\xff\xff\xff", b"\x05ab", b"\x00" * 200):
        clients.udp_exchange(_header(0x0A0A) + body, port, timeout_s=0.5)
    clients.udp_exchange(_header(0x0B0B, qd=5) + _question(), port, timeout_s=0.5)
    for payload in (b"\x00\x00", struct.pack("!H", 500) + b"\x00" * 20, b"\xff"):
        with clients.TcpClient(port) as conn:
            conn.send_raw(payload)
            try:
                conn.shutdown_write()
            except OSError:
                pass
    # random junk of every length up to 64 over UDP
    for n in range(12, 64):
        clients.udp_exchange(bytes((i * 37 + n) & 0xFF for i in range(n)), port, timeout_s=0.05)
    # a client that connects and resets
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    _still_answers(dprive)
    st = dprive.status()
    assert st["upstreams"][0]["failures"] == 0, st
