"""The test network itself: a 100 ms round trip through a carrier NAT, the
servers behind it, each fault doing what it says, and dprive's first
figures on it (see README.md here)."""

import socket
import statistics
import struct
import time

import dns.message
import pytest

from tests.tools import netlab
from tests.tools.unbound import STATIC_A

REBIND_PORTS = (20000, 20999)     # below Linux's ephemeral range: never the router's own port


# ---------------------------------------------------------------- helpers

def reject_matches(net):
    """Packets the NAT's REJECT rule (invalid_policy("reject")) answered with a RST."""
    listing = net.iptables("-v", "-x", "-n", "-L", "FORWARD").stdout
    rows = [line.split() for line in listing.splitlines() if "REJECT" in line]
    return sum(int(row[0]) for row in rows)


def open_tcp(net, port=netlab.PLAIN_PORT):
    """A plain DNS-over-TCP connection router -> unbound through the NAT."""
    sock = net.socket_in("router")
    sock.settimeout(3.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((netlab.UPSTREAM_IP, port))
    return _Flow(sock)


class _Flow:
    """A socket that remembers its own port."""

    def __init__(self, sock):
        self.sock = sock
        self.router_port = sock.getsockname()[1]

    def __getattr__(self, name):
        return getattr(self.sock, name)


def tcp_exchange(sock, name="a.test", timeout_s=3.0):
    """Send one query on sock, return the answer (dnspython message).
    A RST shows as ConnectionResetError, a close as ConnectionError."""
    wire = dns.message.make_query(name, "A").to_wire()
    sock.settimeout(timeout_s)
    sock.sendall(struct.pack("!H", len(wire)) + wire)
    buf = b""
    while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
        # ACK the answer at once, not on the delayed-ACK timer (up to 200 ms, later
        # on a loaded machine): a late ACK crossing the NAT after a test's fault
        # would be the flow's next segment instead of the one the test sends.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(65535)
        if not chunk:
            raise ConnectionError("closed by the peer")
        buf += chunk
    return dns.message.from_wire(buf[2:])


def settle():
    """Let the last exchange's ACK (quick, see tcp_exchange) cross the NAT before
    a fault, so that the next segment on the flow is the one the test sends."""
    time.sleep(0.3)


def abort(sock):
    """Close without FIN and retransmissions lingering into the next test."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def flow_of(net, sock):
    """The NAT's conntrack entries for this router socket's flow (its port is
    read before any fault: a reset socket forgets it)."""
    sport = sock.router_port if hasattr(sock, "router_port") else sock.getsockname()[1]
    return [e for e in net.conntrack_entries() if e.get("sport") == sport]


def addresses(msg):
    return sorted(r.address for rrset in msg.answer for r in rrset)


# ---------------------------------------------------------------- the network

def test_one_exchange_is_one_round_trip_of_the_delay_line(net, figures):
    """The instrument every count of this tier rests on: the delay line holds
    each frame its whole delay (a lower bound: it never delivers early), and
    one exchange reads as one round trip of it. How far above 100 ms a ping
    comes back is a figure, not a test."""
    samples = net.measure_rtt(count=10)
    median = statistics.median(samples)
    figures.append("ping router -> upstream: median %.1f ms, min %.1f, max %.1f (%d samples)" % (
        median, min(samples), max(samples), len(samples)))
    assert min(samples) >= net.rtt_ms - 1, samples      # ping prints whole-ish ms
    assert [netlab.round_trips(ms, net.rtt_ms) for ms in samples] == [1] * len(samples), samples
    udp = [net.query("a.test", port=netlab.PLAIN_PORT, server=netlab.UPSTREAM_IP)
           for _ in range(3)]
    figures.append("UDP DNS query router -> unbound: %s ms" % ", ".join(
        "%.1f" % r.latency_ms for r in udp))
    for res in udp:
        assert res.rcode == "NOERROR" and res.answers == [STATIC_A["a.test."]]
        assert netlab.round_trips(res.latency_ms) == 1, udp


def test_unbound_answers_dot_through_the_nat(net):
    res = net.kdig("router", netlab.UPSTREAM_IP, netlab.DOT_PORT, "b.test")
    assert res.rcode == "NOERROR", res.describe()
    assert res.addresses() == [STATIC_A["b.test."]]
    # the flow went through the NAT: the upstream saw the NAT's outside address
    flows = [e for e in net.conntrack_entries()
             if e["src"] == netlab.ROUTER_IP and e["dport"] == netlab.DOT_PORT]
    assert flows, net.conntrack_entries()
    assert all(e["reply_dst"] == netlab.NAT_OUTSIDE_IP for e in flows), flows


def test_relay_answers_dot(net):
    res = net.kdig("router", netlab.UPSTREAM_IP, netlab.RELAY_PORT, "c.test")
    assert res.rcode == "NOERROR", res.describe()
    assert res.addresses() == [STATIC_A["c.test."]]
    peers = [c["peer"] for c in net.relay.connections()]
    assert peers and peers[-1].startswith(netlab.NAT_OUTSIDE_IP + ":"), peers
    big = net.dot_query("big.test", rdtype="TXT")      # truncated over UDP: the relay asks over TCP
    assert big.rcode == "NOERROR" and len(big.answers) == 12, big


def test_relay_costs_3_rtt_cold_and_2_with_tfo_and_psk(net, figures):
    """The relay answers without a Nagle stall: a client that sends its
    Finished with the query pays TCP + TLS 1.3 + query = 3 round trips, and
    with a Fast Open cookie and a ticket 2. unbound pays one more after a
    full handshake (the ticket held back by Nagle)."""
    passive_before = netlab.tcp_ext_counter(net.relay.proc.pid, "TCPFastOpenPassive")
    cold = net.dot_query("a.test", tfo=True)
    warm = net.dot_query("a.test", tfo=True, session=cold.session)
    passive_after = netlab.tcp_ext_counter(net.relay.proc.pid, "TCPFastOpenPassive")
    ub_cold = net.dot_query("a.test", port=netlab.DOT_PORT)
    ub_warm = net.dot_query("a.test", port=netlab.DOT_PORT, tfo=True, session=ub_cold.session)
    figures.append("relay, new connection: cold %.1f ms (%d RTT), TFO + PSK %.1f ms (%d RTT)" % (
        cold.latency_ms, netlab.round_trips(cold.latency_ms),
        warm.latency_ms, netlab.round_trips(warm.latency_ms)))
    figures.append("unbound, new connection: cold %.1f ms (%d RTT), TFO + PSK %.1f ms (%d RTT)" % (
        ub_cold.latency_ms, netlab.round_trips(ub_cold.latency_ms),
        ub_warm.latency_ms, netlab.round_trips(ub_warm.latency_ms)))
    for res in (cold, warm, ub_cold, ub_warm):
        assert res.rcode == "NOERROR" and res.answers == [STATIC_A["a.test."]], res
    assert not cold.reused and warm.reused and ub_warm.reused
    assert net.relay.connections()[-1]["resumed"] is True
    assert passive_after > passive_before, "the relay accepted no data in a SYN"
    assert netlab.round_trips(cold.latency_ms) == 3, cold
    assert netlab.round_trips(warm.latency_ms) == 2, warm
    assert netlab.round_trips(ub_cold.latency_ms) == 4, ub_cold


@pytest.mark.parametrize("graceful", [True, False], ids=["sigterm", "sigkill"])
def test_restart_unbound(net, graceful):
    """SIGTERM: unbound closes its connections (the client reads EOF).
    SIGKILL: nothing is closed; the next segment meets a RST. Either way the
    new unbound accepts tickets of the old one (tls-session-ticket-keys)."""
    before = net.dot_query("a.test", port=netlab.DOT_PORT)
    old = open_tcp(net)
    try:
        assert addresses(tcp_exchange(old)) == [STATIC_A["a.test."]]
        net.restart_unbound(graceful=graceful)
        if graceful:
            old.settimeout(2.0)
            assert old.recv(65535) == b"", "unbound did not close on SIGTERM"
        else:
            with pytest.raises(ConnectionResetError):
                tcp_exchange(old, timeout_s=2.0)
    finally:
        abort(old)
    after = net.dot_query("a.test", port=netlab.DOT_PORT, session=before.session)
    assert after.reused, "the restarted unbound did not resume the old ticket"
    assert after.answers == [STATIC_A["a.test."]]


# ---------------------------------------------------------------- NAT faults

def test_flush_with_reject_answers_rst(net, figures):
    sock = open_tcp(net)
    try:
        tcp_exchange(sock)
        assert [e["state"] for e in flow_of(net, sock)] == ["ESTABLISHED"]
        settle()
        net.conntrack_flush()
        net.invalid_policy("reject")
        start = time.monotonic()
        with pytest.raises(ConnectionResetError):
            tcp_exchange(sock, timeout_s=2.0)
        elapsed_ms = (time.monotonic() - start) * 1000
        figures.append("flush + reject: RST after %.1f ms (from the NAT, half way)" % elapsed_ms)
        # The RST is the NAT's own, counted on its REJECT rule in FORWARD.
        assert reject_matches(net) >= 1, net.iptables("-v", "-x", "-n", "-L", "FORWARD").stdout
        assert flow_of(net, sock) == []     # INVALID segments make no new entry
    finally:
        abort(sock)


def test_flush_with_drop_is_silent(net):
    sock = open_tcp(net)
    try:
        tcp_exchange(sock)
        settle()
        net.conntrack_flush()
        net.invalid_policy("drop")
        with pytest.raises(socket.timeout):
            tcp_exchange(sock, timeout_s=1.0)
        assert flow_of(net, sock) == []
    finally:
        abort(sock)


def test_flush_without_policy_the_server_answers_rst(net):
    """With tcp_loose 0 and no INVALID rule the segment leaves un-NATed: the
    upstream sees an unknown 4-tuple (198.18.0.2) and answers RST."""
    sock = open_tcp(net)
    try:
        tcp_exchange(sock)
        settle()
        net.conntrack_flush()
        start = time.monotonic()
        with pytest.raises(ConnectionResetError):
            tcp_exchange(sock, timeout_s=2.0)
        assert netlab.round_trips((time.monotonic() - start) * 1000) == 1
    finally:
        abort(sock)


def test_flush_with_loose_pickup_keeps_the_mapping(net):
    """A NAT that picks a forgotten flow up again with the same mapping: the
    old connection just goes on."""
    sock = open_tcp(net)
    try:
        tcp_exchange(sock)
        port_before = flow_of(net, sock)[0]["reply_dport"]
        settle()
        net.conntrack_flush()
        net.tcp_loose(True)
        assert addresses(tcp_exchange(sock)) == [STATIC_A["a.test."]]
        assert flow_of(net, sock)[0]["reply_dport"] == port_before
    finally:
        abort(sock)


def test_masquerade_ports_moves_new_flows(net):
    lo, hi = REBIND_PORTS
    net.masquerade_ports(lo, hi)
    net.conntrack_flush()
    sock = open_tcp(net)
    try:
        assert addresses(tcp_exchange(sock)) == [STATIC_A["a.test."]]
        [entry] = flow_of(net, sock)
        assert lo <= entry["reply_dport"] <= hi, entry["line"]
        assert entry["reply_dport"] != entry["sport"]
    finally:
        abort(sock)


def test_masquerade_ports_rebinds_an_old_flow_and_the_server_answers_rst(net, figures):
    """Rebinding: after the flush the NAT picks the flow up (tcp_loose) on a
    new outside port; the upstream does not know that 4-tuple and answers
    RST, which the NAT carries back to the router."""
    lo, hi = REBIND_PORTS
    sock = open_tcp(net)
    try:
        tcp_exchange(sock)
        old_port = flow_of(net, sock)[0]["reply_dport"]
        settle()
        net.conntrack_flush()
        net.masquerade_ports(lo, hi)
        net.tcp_loose(True)
        with net.conntrack_events() as events:
            start = time.monotonic()
            with pytest.raises(ConnectionResetError):
                tcp_exchange(sock, timeout_s=2.0)
            elapsed_ms = (time.monotonic() - start) * 1000
        figures.append("rebinding: RST from the upstream after %.1f ms" % elapsed_ms)
        assert netlab.round_trips(elapsed_ms) == 1
        # the only reply was a RST, so conntrack deleted the entry at once:
        # its NEW event shows the new mapping
        new = [e for e in events if e["event"] == "NEW" and e.get("sport") == sock.router_port]
        assert new, ("the NAT did not pick the flow up", sock.router_port, events)
        assert lo <= new[0]["reply_dport"] <= hi and new[0]["reply_dport"] != old_port, new
    finally:
        abort(sock)


# ---------------------------------------------------------------- dprive

@pytest.mark.parametrize("kind", ["relay", "unbound"])
def test_dprive_cold_and_warm(net, figures, kind):
    """dprive in the router namespace; the first query (cold) is reported,
    not asserted yet; a second one on the warm session costs 1 round trip."""
    up = net.relay_upstream() if kind == "relay" else net.unbound_upstream()
    dp = net.start_dprive([up], name="dprive-%s" % kind)
    try:
        cold = net.query("a.test", timeout_s=5.0)
        warm = net.query("b.test", timeout_s=5.0)
        figures.append("dprive -> %s: cold %.1f ms (%d RTT), warm %.1f ms (%d RTT)" % (
            kind, cold.latency_ms, netlab.round_trips(cold.latency_ms),
            warm.latency_ms, netlab.round_trips(warm.latency_ms)))
        assert cold.rcode == "NOERROR" and cold.answers == [STATIC_A["a.test."]], (
            cold, dp.log_tail())
        assert warm.rcode == "NOERROR" and warm.answers == [STATIC_A["b.test."]], (
            warm, dp.log_tail())
        assert netlab.round_trips(warm.latency_ms) == 1, (warm, dp.log_tail())
    finally:
        dp.stop()


# ---------------------------------------------------------------- clean-up

def test_close_removes_everything(netns_pki, tmp_path):
    """A network removes its namespaces, devices and delay line, and a new
    one removes what a dead run left behind."""
    reason = netlab.check_available()
    if reason:
        pytest.skip(reason)
    stale = "%s-4194305-1-router" % netlab.PREFIX     # above PID_MAX_LIMIT: never alive
    netlab._ip("netns", "add", stale)
    try:
        with netlab.TestNetwork(tmp_path, netns_pki, one_way_delay_ms=1) as other:
            assert stale not in netlab.list_netns()
            names = list(other.ns.values())
            assert set(names) <= set(netlab.list_netns())
            delayline = other.delayline
            assert other.measure_rtt(count=1)
    finally:
        netlab.delete_netns(stale)
    assert not set(names) & set(netlab.list_netns())
    assert delayline.poll() is not None
    links = netlab._ip("-o", "link", "show").stdout
    assert "d%ds%d" % (netlab.os.getpid() % 1000000, other.seq % 100) not in links
