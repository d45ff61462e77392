"""Whole-home protection on the test network: a LAN client asks the router's
real dnsmasq, which forwards to dprive, which asks unbound over DoT across the
100 ms carrier NAT. No DNS leaves the router in cleartext, not even while
dprive is down.

dnsmasq's settings are the ones dprive's hook-up writes: /etc/init.d/dprive
start (force_dns on) runs under BusyBox ash on the OpenWrt tier's scratch
router (tests/openwrt/harness.py), and the DNS options of the dnsmasq section
it committed to /etc/config/dhcp are handed to Debian's dnsmasq as OpenWrt's
dnsmasq init script would (tests/tools/lan.py). The router's resolv file names
a cleartext resolver over the WAN (unbound's port 53), as an ISP's would: with
no-resolv dnsmasq must never use it.

A tshark capture on the router's wan0 (every frame, no capture filter) is read
back with display filters: port 53 over UDP or TCP must be absent, DoT to
unbound's port 853 present. The first test shows that the same capture does
see port 53 when the router sends some, so an empty count means something.
"""

import socket

import dns.message
import dns.rcode
import pytest

from tests.openwrt.harness import Router
from tests.tools import common
from tests.tools.capture import WanCapture
from tests.tools.lan import LanSide, NetnsDnsmasq, openwrt_dnsmasq_lines
from tests.tools.netlab import DOT_PORT, DPRIVE_PORT, PLAIN_PORT, ROUTER_IP, UPSTREAM_IP

CANARY = "use-application-dns.net"
CLEAR_DNS = "udp.port == 53 || tcp.port == 53"
# TLS 1.3 records carry the outer type in opaque_type; earlier versions in content_type.
DOT_DATA = "tcp.port == %d && (tls.record.opaque_type == 23 || tls.record.content_type == 23)" % (
    DOT_PORT)
TARGET = "127.0.0.1#%d" % DPRIVE_PORT


def _need(tool, package):
    if common.find_tool(tool) is None:
        pytest.skip("%s is not installed (apt-get install %s, or tests/tools/ensure-deps.sh)"
                    % (tool, package))


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tools():
    _need("tshark", "tshark")
    _need("dnsmasq", "dnsmasq-base")
    _need("busybox", "busybox")


@pytest.fixture(scope="module")
def hookup(tools, tmp_path_factory):
    """The first dnsmasq section of /etc/config/dhcp after `/etc/init.d/dprive
    start` with force_dns on, as {option: value or [values]}."""
    router = Router(tmp_path_factory.mktemp("openwrt-root"))
    router.set_main(force_dns="1")
    router.init("start")
    return router.dnsmasq()


@pytest.fixture(scope="module")
def lan(net, tools):
    side = LanSide(net).start()
    try:
        yield side
    finally:
        side.close()


@pytest.fixture(scope="module")
def dprive(net, tools):
    dp = net.start_dprive([net.unbound_upstream()], name="dprive-lan", port=DPRIVE_PORT)
    try:
        # its session up before a test's end flushes the NAT (clean_nat) mid-handshake
        common.wait_until(lambda: dp.upstream_status("unbound")["state"] == "open", 10,
                          what="dprive's session to unbound")
        yield dp
    finally:
        dp.stop()


@pytest.fixture(scope="module")
def dnsmasq(net, lan, dprive, hookup):
    workdir = net.workdir / "dnsmasq"
    workdir.mkdir(parents=True, exist_ok=True)
    resolv = workdir / "resolv.conf.auto"          # the ISP's resolver, in cleartext
    resolv.write_text("nameserver %s\n" % UPSTREAM_IP)
    server = NetnsDnsmasq(net, workdir, lan.router_ip,
                          openwrt_dnsmasq_lines(hookup, resolv_file=resolv))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _lan_query(net, lan, name, rdtype="A", timeout_s=5.0):
    return net.query(name, port=53, server=lan.router_ip, role=lan.ns, rdtype=rdtype,
                     timeout_s=timeout_s)


# ---------------------------------------------------------------- tests

def test_the_wan_capture_sees_cleartext_dns(net, tools):
    """The detector works: a query from the router to the WAN resolver's port 53 is caught."""
    with WanCapture(net, net.workdir / "control.pcap") as cap:
        res = net.query("a.test", port=PLAIN_PORT, server=UPSTREAM_IP, role="router")
    assert res.rcode == "NOERROR" and res.answers == ["192.0.2.1"], res
    clear = cap.frames(CLEAR_DNS)
    assert len(clear) >= 2, "the capture missed the query and its answer: %r" % (clear,)


def test_the_hookup_gives_dnsmasq_dprive_and_the_canary(hookup):
    assert hookup["server"] == [TARGET]
    assert hookup["noresolv"] == "1"
    assert "/%s/" % CANARY in hookup["address"]
    lines = openwrt_dnsmasq_lines(hookup, resolv_file="/resolv")
    for line in ("server=" + TARGET, "no-resolv", "address=/%s/" % CANARY, "resolv-file=/resolv"):
        assert line in lines, lines


def test_lan_client_goes_through_dnsmasq_and_dprive_over_tls(net, lan, dprive, dnsmasq, figures):
    conf = dnsmasq.conf_path.read_text().splitlines()
    assert "server=" + TARGET in conf and "no-resolv" in conf, conf
    before = dprive.counters()
    with WanCapture(net, net.workdir / "lan.pcap") as cap:
        answer = _lan_query(net, lan, "a.test")
        canary = _lan_query(net, lan, CANARY)
    assert answer.rcode == "NOERROR" and answer.answers == ["192.0.2.1"], answer
    assert canary.rcode == "NXDOMAIN" and canary.answers == [], canary

    clear, tls = cap.frames(CLEAR_DNS), cap.frames(DOT_DATA)
    assert clear == [], "DNS in cleartext left the router:\n%s" % "\n".join(clear)
    assert len(tls) >= 2, "no DoT query and answer on wan0 (port %d): %r" % (DOT_PORT, tls)

    log = dnsmasq.log_text()
    assert "forwarded a.test to %s" % TARGET in log, log
    forwarded = [line for line in log.splitlines() if " forwarded " in line]
    assert all(line.endswith(" to " + TARGET) for line in forwarded), forwarded
    assert "config %s is NXDOMAIN" % CANARY in log, log
    assert not any(CANARY in line for line in forwarded), "the canary must not be forwarded"
    after = dprive.counters()
    assert after["answers"] > before["answers"], (before, after)
    figures.append("dnsmasq LAN -> dprive -> unbound (DoT): a.test %.1f ms, canary %.1f ms "
                   "(NXDOMAIN from dnsmasq); wan0: %d TLS records, 0 port 53"
                   % (answer.latency_ms, canary.latency_ms, len(tls)))


def test_dprive_down_means_no_answer_not_cleartext(net, lan, dprive, dnsmasq, figures):
    """dprive dies with a query in flight (SIGKILL, as a crash before procd respawns it):
    that query and the next get no answer; nothing goes to the WAN resolver's port 53.
    When dprive is back, the LAN resolves again."""
    # The NAT was flushed after the last test (clean_nat): dprive finds its session
    # gone and opens a new one here, so the query below goes out on a live one.
    warm = _lan_query(net, lan, "a.test", rdtype="AAAA")
    assert warm.rcode == "NOERROR" and warm.answers == ["2001:db8::1"], warm
    query = dns.message.make_query("b.test", "A")
    sock = net.socket_in(lan.ns, socket.AF_INET, socket.SOCK_DGRAM)
    with WanCapture(net, net.workdir / "down.pcap") as cap:
        try:
            sock.settimeout(3.0)
            sock.sendto(query.to_wire(), (lan.router_ip, 53))
            # dnsmasq has passed it on and dprive has sent it over TLS: the answer is
            # a round trip (100 ms) away
            common.wait_until(lambda: dprive.upstream_status("unbound")["inflight"] >= 1,
                              2, interval_s=0.005, what="dprive to send b.test upstream")
            dprive.proc.kill()
            dprive.proc.wait(5)
            try:
                reply = dns.message.from_wire(sock.recv(65535))
            except socket.timeout:
                reply = None
        finally:
            sock.close()
        while_down = _lan_query(net, lan, "c.test", timeout_s=3.0)

        dprive.stop()              # reaps the killed one
        dprive.start()             # procd's respawn

        def answered():
            res = _lan_query(net, lan, "b.test", timeout_s=2.0)
            return res if res.rcode == "NOERROR" else None

        back = common.wait_until(answered, 15, interval_s=0.2, what="dnsmasq to answer again")

    if reply is not None:   # an error is fine, an answer is not
        assert reply.rcode() != dns.rcode.NOERROR or not reply.answer, reply
    assert while_down.answers == [] and while_down.rcode != "NOERROR", while_down
    assert back.answers == ["192.0.2.2"], back
    clear = cap.frames(CLEAR_DNS)
    assert clear == [], "DNS in cleartext left the router:\n%s" % "\n".join(clear)
    # b.test went out over TLS before the kill, and again after the restart
    sent = cap.frames("ip.src == %s && %s" % (ROUTER_IP, DOT_DATA))
    assert len(sent) >= 2, "b.test should have gone out over DoT twice: %r" % (sent,)
    log = dnsmasq.log_text()
    forwarded = [line for line in log.splitlines() if " forwarded " in line]
    assert all(line.endswith(" to " + TARGET) for line in forwarded), forwarded
    figures.append("dnsmasq with dprive killed: in-flight query %s, next query %s after %.0f ms; "
                   "wan0: 0 port 53"
                   % ("no answer" if reply is None else dns.rcode.to_text(reply.rcode()),
                      while_down.rcode or "no answer", while_down.latency_ms))
