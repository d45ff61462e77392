"""The soak: steady load through the router namespace while faults rotate.

On a tests.tools.netlab network (router -- carrier NAT -- upstream, 100 ms),
three forwarders run side by side in the router namespace, each fed the same
steady UDP load (tests.tools.soak_load) for the whole run:

  dprive       DNS over TLS to a DoT relay (tests.tools.dot_relay, :8853)
  dprive-dtls  `transport 'dtls tls'` to `dprive gateway` (UDP :8855), with a
               relay on TCP :8855 for the TLS it falls back to
  stubby       DNS over TLS to a relay of its own (:8857), so that relay's
               log counts stubby's handshakes (full or resumed) alone

The faults of tests.tools.soak_faults rotate, one per window; each window
records every forwarder's counters before and after (dprive's status;
stubby's relay log) and whether the fault reached it. Afterwards every query
is put in the window it was sent in, and rows (forwarder x fault) give
queries, answered, SERVFAIL, lost, latency percentiles, handshakes full and
resumed, handshakes per second and the fault's effect.

Used by bench/soak.py (`make soak`) and tests/netns/test_soak.py.
"""

import os
import re
import socket
import sys
import time

from tests.tools import common, flows, netlab, soak_faults
from tests.tools.dprive_proc import upstream
from tests.tools.soak_load import Load

RATE = 20                   # queries per second to each forwarder
CLIENT_TIMEOUT_S = 6.0      # longer than the forwarders' own 5 s, so their SERVFAIL is seen
DPRIVE_PORTS = {"dprive": netlab.DPRIVE_PORT, "dprive-dtls": netlab.DPRIVE_PORT + 2}
RELAY_PORTS = {"dprive": netlab.RELAY_PORT, "stubby": 8857, "dprive-dtls": netlab.GATEWAY_PORT}
DPRIVE_OPTIONS = {"log_level": "info"}
COUNTED = ("handshakes", "resumptions_accepted", "connects", "rsts", "failures", "timeouts",
           "alerts", "reconnects", "server_closes", "graceful_closes", "dtls_fallbacks")
_CONN = re.compile(r"^(\d+\.\d+) CONN peer=\S+ version=\S+ resumed=(\S+)", re.M)


class Window:
    def __init__(self, fault, start, end, before, after, evidence, effects):
        self.fault = fault
        self.start, self.end = start, end
        self.before, self.after = before, after
        self.evidence = evidence
        self.effects = effects          # kind -> text, None (not seen) or "n/a"


class Rig:
    """The servers and forwarders of one soak, on network `net`."""

    def __init__(self, net, kinds=soak_faults.ALL_KINDS):
        self.net = net
        self.kinds = [k for k in kinds if k != "dprive-dtls" or flows.gateway_python()]
        self.relays = {}
        self.gateway = None
        self.forwarders = {}
        self.storm_flows = {}

    def start(self):
        net = self.net
        net.start_unbound()
        for kind in self.kinds:
            port = RELAY_PORTS[kind]
            self.relays[kind] = net.relay if port == netlab.RELAY_PORT and net.relay else \
                net.start_relay(port=port)
        if "dprive-dtls" in self.kinds:
            self.gateway = net.start_gateway(netlab.GATEWAY_PORT, python=flows.gateway_python(),
                                             log_level="info")
        for kind in self.kinds:
            self.forwarders[kind] = self._start_forwarder(kind)
        return self

    def _start_forwarder(self, kind):
        pin = [self.net.pki.server_pin]
        if kind == "stubby":
            stubby = flows.NetnsStubby(self.net, self.net.workdir / "soak-stubby", self.net.pki,
                                       RELAY_PORTS["stubby"])
            self.net.track(stubby)
            return stubby.start()
        if kind == "dprive":
            base = [upstream("relay", RELAY_PORTS[kind], address=netlab.UPSTREAM_IP, spki=pin)]
        else:
            base = [upstream("gateway", RELAY_PORTS[kind], address=netlab.UPSTREAM_IP, spki=pin,
                             transport="dtls tls")]
        dp = self.net.start_dprive(base, options=DPRIVE_OPTIONS, name="soak-" + kind,
                                   port=DPRIVE_PORTS[kind])
        dp.base_upstreams = list(base)
        return dp

    def stop(self):
        for fwd in self.forwarders.values():
            fwd.stop()
        for kind, relay in self.relays.items():
            if relay is not self.net.relay:
                relay.stop()
        if self.gateway is not None:
            self.gateway.stop()

    def dprives(self):
        return [f for k, f in self.forwarders.items() if k != "stubby"]

    def extra_upstream(self):
        return upstream("unbound", netlab.DOT_PORT, address=netlab.UPSTREAM_IP,
                        spki=[self.net.pki.server_pin])

    def attacker_env(self):
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        env["PYTHONPATH"] = os.pathsep.join([str(common.REPO_ROOT), str(common.REPO_ROOT / "src")])
        return env

    def wait_status(self, dp, predicate, timeout_s=5.0):
        found = []

        def check():
            st = dp.status()
            if st and predicate(st):
                found.append(st)
                return True
            return False
        common.wait_until(check, timeout_s, interval_s=0.1, what="dprive's status to change")
        return found[0]

    def snapshot(self):
        """kind -> {upstream name -> counters} for dprive; for stubby its relay's
        handshakes so far, {"relay": {"handshakes": n, "resumptions_accepted": m}}."""
        snap = {}
        for kind, fwd in self.forwarders.items():
            if kind == "stubby":
                conns = _CONN.findall(_read(self.relays[kind].log_path))
                snap[kind] = {"relay": {"handshakes": len(conns),
                                        "resumptions_accepted": sum(r == "True" for _, r in conns)}}
                continue
            st = fwd.status() or {"upstreams": []}
            snap[kind] = dict((u["name"], dict((c, u.get(c, 0)) for c in COUNTED))
                              for u in st["upstreams"])
        return snap


def _read(path):
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def delta(before, after):
    """Summed counter growth over the upstreams present at the end of a window."""
    out = dict((c, 0) for c in COUNTED)
    for name, counters in after.items():
        for c, v in counters.items():
            out[c] += v - before.get(name, {}).get(c, 0)
    return out


def _window(rig, fault, window_s, log):
    start = time.monotonic()
    before = rig.snapshot()
    try:
        evidence = fault.inject(rig)
    except Exception as exc:  # noqa: BLE001 - a fault that could not be made is reported
        evidence = "inject failed: %s: %s" % (type(exc).__name__, exc)
    if fault.seconds is None:
        time.sleep(max(0.0, start + window_s - time.monotonic()))
    fault.restore(rig)
    end = time.monotonic()
    after = rig.snapshot()
    effects = {}
    for kind in rig.forwarders:
        try:
            effects[kind] = fault.effect(rig, kind, _flat(before[kind]), _flat(after[kind]),
                                         evidence)
        except Exception as exc:  # noqa: BLE001
            effects[kind] = None
            evidence = "%s; effect check failed for %s: %s" % (evidence, kind, exc)
    log("  %-12s %5.1f s  %s  | %s" % (fault.key, end - start, evidence, "; ".join(
        "%s: %s" % kv for kv in effects.items())))
    return Window(fault, start, end, before, after, evidence, effects)


def _flat(per_upstream):
    out = dict((c, 0) for c in COUNTED)
    for counters in per_upstream.values():
        for c, v in counters.items():
            out[c] += v
    return out


class Result:
    def __init__(self, rig, windows, samples):
        self.rig = rig
        self.windows = windows
        self.samples = samples          # kind -> [Sample]

    def rows(self):
        """[(kind, fault, Row)] in schedule order, windows of one fault merged."""
        from tests.tools.soak_report import Row
        out = []
        order = []
        for w in self.windows:
            if w.fault.key not in order:
                order.append(w.fault.key)
        for kind in self.rig.forwarders:
            for key in order:
                ws = [w for w in self.windows if w.fault.key == key]
                out.append((kind, ws[0].fault, Row.of(kind, ws, self.samples[kind])))
        return out


def run(net, window_s=6.0, rate=RATE, storm_s=8.0, storm_after_ms=250, cycles=1,
        kinds=soak_faults.ALL_KINDS, log=None):
    """Run the soak on `net`; returns a Result. The rig's forwarders are stopped after."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    rig = Rig(net, kinds).start()
    try:
        targets = dict((k, ("127.0.0.1", f.port)) for k, f in rig.forwarders.items())
        load = Load(lambda: net.socket_in("router", type=socket.SOCK_DGRAM), targets,
                    rate, timeout_s=CLIENT_TIMEOUT_S).start()
        time.sleep(2.0)     # warm: every session up, first tickets in
        faults = soak_faults.schedule(storm_s, storm_after_ms)
        rotating = [f for f in faults if f.seconds is None and f.key != "after-storm"]
        windows = []
        for _cycle in range(cycles):
            for fault in rotating:
                windows.append(_window(rig, fault, window_s, log))
        for fault in faults:
            if fault.seconds is not None or fault.key == "after-storm":
                windows.append(_window(rig, fault, window_s, log))
        samples = load.stop()
        return Result(rig, windows, samples)
    finally:
        rig.stop()
