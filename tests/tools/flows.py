"""The draft's DNS-over-TLS flows as scenarios on the netns test network.

Each scenario starts a fresh forwarder (dprive or stubby) in the router
namespace, brings its session to the state the figure starts from, injects
the fault, sends ONE query and measures it: latency, round trips (latency /
100 ms, rounded half up), the answer, and what a capture on the router's WAN
link saw during the fault and the query: SYNs carrying data (TCP Fast Open),
ClientHellos offering a PSK, ServerHellos accepting one.

Used by tests/netns/test_flows.py (which asserts dprive's counts) and by
bench/flows.py (`make flows`, dprive and stubby side by side).
"""

import os
import shutil
import subprocess
import time

from tests.tools import common, dtls_engine_pick, netlab
from tests.tools.capture import WanCapture
from tests.tools.dprive_proc import upstream
from tests.tools.netlab import RELAY_PORT, UPSTREAM_IP
from tests.tools.stubby import StubbyProcess

RTT_MS = 100.0
IDLE_RELAY_PORT = 8854          # a relay that closes sessions idle for IDLE_TIMEOUT_MS
IDLE_TIMEOUT_MS = 2000
OPEN_GATEWAY_PORT = 8856        # a gateway that does not demand the cookie exchange
DTLS_TARGETS = ("gateway", "gateway-open")
PROBE = {"keepalive_idle_s": 1, "keepalive_interval_s": 1, "keepalive_count": 2}
DPRIVE_OPTIONS = {"query_timeout_ms": 5000, "attempt_min_ms": 300, "log_level": "debug"}
# DPRIVE_TEST_TLS_ENGINE=mbedtls counts the TLS rows on the mbedTLS DoT engine (with
# DPRIVE_MBEDTLS_LIBDIR for the library), as it runs the integration tier there.
if os.environ.get("DPRIVE_TEST_TLS_ENGINE"):
    DPRIVE_OPTIONS["tls_engine"] = os.environ["DPRIVE_TEST_TLS_ENGINE"]
ANSWER = ("a.test", ["192.0.2.1"])


def round_trips(latency_ms):
    return int(latency_ms / RTT_MS + 0.5)


class Scenario:
    """One row: `fault(env)` runs after the warm-up; `wait_s` after the fault."""

    def __init__(self, key, title, figure, target, expect, fault=None, wait_s=0.0,
                 warm=True, probe=False, deadline=False, options=None):
        self.key = key
        self.title = title
        self.figure = figure        # the draft's figure this row stands for
        self.target = target        # "relay" (answers at once) or "unbound" (Nagle stall)
        self.expect = expect        # dprive's round trips (after the deadline, if `deadline`)
        self.fault = fault
        self.wait_s = wait_s
        self.warm = warm
        self.probe = probe          # dprive probes every second for this row
        self.deadline = deadline    # the count starts after dprive's RTT-derived deadline
        self.options = options or {}   # dprive main options for this row

    @property
    def dtls(self):
        return self.target in DTLS_TARGETS


def _restart(graceful):
    return lambda env: env.net.restart_unbound(graceful=graceful)


def _nat_lost(policy):
    def fault(env):
        env.net.conntrack_flush()
        env.net.invalid_policy(policy)
    return fault


def _rebind(env):
    env.net.masquerade_ports(20000, 20999)
    env.net.tcp_loose(True)
    env.net.conntrack_flush()


def _idle(env):
    pass   # the wait does it: longer than the server's idle timeout


def _gateway_lost_state(env):
    """The gateway dies without a word (SIGKILL: UDP sends nothing) and comes back
    with the same ticket keys."""
    gateway = env.net.gateways[env.scenario.target]
    gateway.proc.kill()
    gateway.proc.wait(5)
    gateway.start()


def _udp_binding_lost(env):
    env.net.conntrack_flush()   # MASQUERADE keeps the source port: the same mapping


def _udp_new_mapping(env):
    env.net.masquerade_ports(20000, 20999)
    env.net.conntrack_flush()


ENGINE_TAGS = {dtls_engine_pick.MBEDTLS: "mb", dtls_engine_pick.PYOPENSSL: "py"}
DTLS_QUIET = {"dtls_probe_interval_s": 0, "dtls_resume_after_s": 0}
DTLS_PROBED = {"dtls_probe_interval_s": 1, "dtls_resume_after_s": 0}
DTLS_FALSE_START = {"dtls_probe_interval_s": 0, "dtls_resume_after_s": 2}


SCENARIOS = [
    Scenario("cold", "cold start", "-", "relay", 3, warm=False),
    Scenario("warm", "warm connection", "-", "relay", 1),
    Scenario("idle", "idle past the server's idle timeout", "TLS 1.3 resumption + TFO",
             "idle-relay", 2, fault=_idle, wait_s=IDLE_TIMEOUT_MS / 1000.0 + 1.0),
    Scenario("restart", "upstream restarted (SIGTERM)", "Server State Loss, TLS",
             "unbound", 1, fault=_restart(True), wait_s=2.5),
    Scenario("crash", "upstream lost state, undetected", "Server State Loss, TLS with TFO",
             "unbound", 3 + 1, fault=_restart(False)),   # + unbound's ticket stall
    Scenario("crash-probed", "upstream lost state, found by a probe", "Probing for Server State Loss",
             "unbound", 1, fault=_restart(False), wait_s=4.0, probe=True),
    Scenario("nat-rst", "NAT lost the flow, firewall answers RST", "NAT/Firewall State Loss, TLS with TFO",
             "relay", 3, fault=_nat_lost("reject")),
    Scenario("nat-rst-probed", "NAT lost the flow (RST), found by a probe", "Probing for Server State Loss",
             "relay", 1, fault=_nat_lost("reject"), wait_s=4.0, probe=True),
    Scenario("nat-drop", "NAT lost the flow, firewall drops silently", "NAT/Firewall State Loss, TLS",
             "relay", 2, fault=_nat_lost("drop"), deadline=True),
    Scenario("nat-rebind", "NAT rebinds to a new port, server answers RST",
             "NAT/Firewall State Loss, TLS with TFO", "relay", 3, fault=_rebind),
    # DNS over DTLS, to `dprive gateway`. "gateway" demands the cookie exchange
    # of every new client (the default: spoofed ClientHellos cost it nothing),
    # "gateway-open" does not; each costs one round trip more with the cookie.
    Scenario("dtls-warm", "DTLS: warm session", "-", "gateway", 1, options=DTLS_QUIET),
    Scenario("dtls-restart", "DTLS: gateway lost state, undetected", "Server State Loss, DTLS",
             "gateway", 4, fault=_gateway_lost_state, options=DTLS_QUIET),
    Scenario("dtls-restart-open", "DTLS: gateway lost state, undetected, no cookie",
             "Server State Loss, DTLS", "gateway-open", 3, fault=_gateway_lost_state,
             options=DTLS_QUIET),
    Scenario("dtls-restart-probed", "DTLS: gateway lost state, found by a probe",
             "Probing for Server State Loss", "gateway", 1, fault=_gateway_lost_state,
             wait_s=4.0, options=DTLS_PROBED),
    Scenario("dtls-false-start", "DTLS: quiet past dtls_resume_after", "Server State Loss, DTLS False Start",
             "gateway-open", 2, wait_s=3.0, options=DTLS_FALSE_START),
    Scenario("dtls-nat-same", "DTLS: NAT lost the binding, made the same one",
             "NAT/Firewall State Loss, DTLS", "gateway", 1, fault=_udp_binding_lost,
             options=DTLS_QUIET),
    Scenario("dtls-nat-new", "DTLS: NAT made a new mapping, gateway alerts",
             "NAT/Firewall State Loss, DTLS, changed mapping", "gateway-open", 3,
             fault=_udp_new_mapping, options=DTLS_QUIET),
    Scenario("dtls-nat-new-probed", "DTLS: new NAT mapping, found by a probe",
             "Probing for Server State Loss", "gateway-open", 1, fault=_udp_new_mapping,
             wait_s=4.0, options=DTLS_PROBED),
]
BY_KEY = dict((s.key, s) for s in SCENARIOS)


class FlowResult:
    def __init__(self, scenario, forwarder, latency_ms, rcode, answers, wire, deadline_ms=None,
                 status=None, engine=None, gateway_engine=None):
        self.scenario = scenario
        self.forwarder = forwarder
        self.engine = engine                  # DTLS rows: the client's engine, seen in its maps
        self.gateway_engine = gateway_engine  # DTLS rows: the gateway's, after the query
        self.latency_ms = latency_ms
        self.rcode = rcode
        self.answers = answers
        self.wire = wire                  # Capture.counts()
        self.deadline_ms = deadline_ms    # dprive's attempt deadline, for the silent-drop row
        self.status = status              # dprive's status of the upstream, after the query

    @property
    def correct(self):
        return self.rcode == "NOERROR" and self.answers == ANSWER[1]

    @property
    def rtts(self):
        if self.latency_ms is None:
            return None
        return round_trips(self.latency_ms - (self.deadline_ms or 0))

    def __repr__(self):
        return "FlowResult(%s, %s%s, %s ms, %s RTT%s, %s %s, wire %s)" % (
            self.scenario.key, self.forwarder,
            " on %s (gateway %s)" % (self.engine, self.gateway_engine) if self.scenario.dtls else "",
            self.latency_ms, self.rtts,
            " after a %s ms deadline" % self.deadline_ms if self.deadline_ms else "",
            self.rcode, self.answers, self.wire)


class Capture:
    """The WAN capture of a scenario: what went over the wire between start and stop."""

    FILTERS = {
        "syn_data": "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.len > 0",
        "psk_offered": "tls.handshake.type == 1 && tls.handshake.extension.type == 41",
        "psk_accepted": "tls.handshake.type == 2 && tls.handshake.extension.type == 41",
    }

    def __init__(self, net, path):
        self.capture = WanCapture(net, path) if self.available() else None
        self.running = False

    @staticmethod
    def available():
        return shutil.which("tshark") is not None

    def start(self):
        if self.capture is not None:
            self.capture.__enter__()
            self.running = True
        return self

    def stop(self):
        if self.running:
            self.running = False
            self.capture.__exit__(None, None, None)

    def counts(self):
        if self.capture is None:
            return None
        return dict((name, len(self.capture.frames(expr))) for name, expr in self.FILTERS.items())


class Environment:
    """What a scenario's steps need: the network, the scenario, the forwarder under test."""

    def __init__(self, net, scenario, forwarder):
        self.net = net
        self.scenario = scenario
        self.forwarder = forwarder


def upstream_port(target):
    return {"relay": RELAY_PORT, "idle-relay": IDLE_RELAY_PORT, "unbound": netlab.DOT_PORT,
            "gateway": netlab.GATEWAY_PORT, "gateway-open": OPEN_GATEWAY_PORT}[target]


def ensure_servers(net):
    """unbound, the relays, and the two gateways (with and without the cookie exchange)."""
    net.start_unbound()
    if net.relay is None:
        net.start_relay()
    if not getattr(net, "idle_relay", None):
        net.idle_relay = net.start_relay(port=IDLE_RELAY_PORT, idle_timeout_ms=IDLE_TIMEOUT_MS)
    if not getattr(net, "gateways", None) and gateway_python():
        engine = dtls_engine_pick.gateway_options_keeping_tickets()
        net.gateways = {
            "gateway": net.start_gateway(netlab.GATEWAY_PORT, python=gateway_python(),
                                         require_cookie="1", **engine),
            "gateway-open": net.start_gateway(OPEN_GATEWAY_PORT, python=gateway_python(),
                                              require_cookie="0", **engine),
        }


def gateway_python():
    """Debian's python3 with its python3-openssl: a shared libssl, so the gateway can
    keep its ticket keys in a file across a restart (the venv's wheel cannot); on
    mbedTLS 3.6 (ticket_rotate) it keeps them on either engine."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        return None
    ok = subprocess.run([python, "-c", "import OpenSSL"], capture_output=True).returncode == 0
    return python if ok else None


def start_forwarder(net, kind, scenario, name, engine=None):
    """`engine`: the DTLS client engine of a DTLS row (tests/tools/dtls_engine_pick.py)."""
    port = upstream_port(scenario.target)
    if kind == "dprive":
        extra = dict(PROBE if scenario.probe else {})
        if scenario.dtls:
            extra["transport"] = "dtls"
        else:
            engine = None
        up = upstream(scenario.target, port, address=UPSTREAM_IP, spki=[net.pki.server_pin], **extra)
        options = dict(DPRIVE_OPTIONS, **scenario.options)
        options.update(dtls_engine_pick.options_for(engine))
        return net.start_dprive([up], options=options, name=name,
                                env=dtls_engine_pick.env_for(engine))
    stubby = NetnsStubby(net, net.workdir / name, net.pki, port)
    net.track(stubby)
    return stubby.start()


class NetnsStubby(StubbyProcess):
    """stubby in the router namespace, ready when it answers there."""

    def __init__(self, net, workdir, pki, tls_port):
        self.net = net
        super().__init__(workdir, pki, tls_port, port=netlab.DPRIVE_PORT + 1,
                         upstream_address=UPSTREAM_IP, argv_prefix=net.exec_prefix("router"))

    def wait_ready(self, timeout_s):
        """Listening in the router namespace. No query: it would open the session."""
        def ready():
            if self.proc.poll() is not None:
                raise common.StopWaiting("stubby exited with status %s; log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            return netlab.listening_in(self.proc.pid, self.port, "udp")

        common.wait_until(ready, timeout_s, interval_s=0.05, what="stubby to listen")


def run(net, scenario, kind, name=None, engine=None):
    """Run `scenario` against a new forwarder of `kind` ("dprive" or "stubby");
    a DTLS row's dprive on DTLS client `engine` ('mbedtls', 'pyopenssl', None: its default)."""
    ensure_servers(net)
    net.reset_nat()
    engine = engine if scenario.dtls and kind == "dprive" else None
    # dprive on an engine: "mb-"/"py-" instead of "dprive-", since the control
    # socket's path (work dir/name/name.sock) must stay under AF_UNIX's 108 bytes.
    name = name or "%s-%s" % (ENGINE_TAGS.get(engine, kind), scenario.key)
    capture = Capture(net, net.workdir / ("%s.pcap" % name))
    forwarder = None
    try:
        if not scenario.warm:
            # Cold: no TFO cookie either; the forwarder's own start is the event.
            net.run("router", ["ip", "tcp_metrics", "flush", "all"], check=False)
            capture.start()
        forwarder = start_forwarder(net, kind, scenario, name, engine)
        if scenario.warm:
            for qname in ("b.test", "c.test", "b.test"):
                net.query(qname, port=forwarder.port, timeout_s=6.0)
            time.sleep(0.5)   # TLS 1.3 tickets arrive after the first answer
        deadline_ms = None
        if scenario.deadline and kind == "dprive":
            up = forwarder.status()["upstreams"][0]
            deadline_ms = max(DPRIVE_OPTIONS["attempt_min_ms"], up["rto_ms"])
        if scenario.warm:
            capture.start()
        try:
            if scenario.fault is not None:
                scenario.fault(Environment(net, scenario, forwarder))
            if scenario.wait_s:
                time.sleep(scenario.wait_s)
            res = net.query(ANSWER[0], port=forwarder.port, timeout_s=20.0)
        finally:
            capture.stop()
        full = forwarder.status() if kind == "dprive" else None
        status = full["upstreams"][0] if full else None
        engines = (None, None)
        if scenario.dtls and full:
            gateway = net.gateways[scenario.target]
            engines = (dtls_engine_pick.running(full["pid"], full),
                       dtls_engine_pick.running(gateway.proc.pid))
        return FlowResult(scenario, kind, res.latency_ms, res.rcode, res.answers, capture.counts(),
                          deadline_ms, status, *engines)
    finally:
        capture.stop()
        if forwarder is not None:
            forwarder.stop()
        net.reset_nat()
