"""The faults the soak rotates through, each with the proof that it happened.

A Fault has a key, the forwarder kinds it applies to ("dprive", "dprive-dtls",
"stubby"; the others get "n/a" rows), `inject(rig)` (run at the start of its
window; returns evidence, e.g. what the attacker sent), `restore(rig)` (at the
end of the window: the network as built, without a conntrack flush, which
would be a fault of its own) and `effect(rig, kind, before, after)`: whether
the fault reached that forwarder, from its status counters (before/after the
window) or from the upstream's own log, as text (None: not seen).
rig is a tests.tools.soak.Rig.
"""

import json
import signal
import subprocess
import sys
import time

from tests.tools import common, netlab

TLS_KINDS = ("dprive", "stubby")
ALL_KINDS = ("dprive", "dprive-dtls", "stubby")
DPRIVE_KINDS = ("dprive", "dprive-dtls")
WAN_DOWN_S = 2.0


def _delta(before, after, *names):
    return dict((n, after.get(n, 0) - before.get(n, 0)) for n in names)


def _counters_effect(names, dtls=None):
    """Effect seen if any of these dprive counters went up in the window
    (`dtls`: another check for the DTLS forwarder)."""
    def effect(rig, kind, before, after):
        if kind == "stubby":
            return _stubby_reconnected(before, after)
        if kind == "dprive-dtls" and dtls is not None:
            return dtls(rig)
        d = _delta(before, after, *names)
        seen = dict((k, v) for k, v in d.items() if v > 0)
        return ", ".join("%s +%d" % kv for kv in sorted(seen.items())) if seen else None
    return effect


def _stubby_reconnected(before, after):
    n = after.get("handshakes", 0) - before.get("handshakes", 0)
    return "relay saw %d new TLS connection(s)" % n if n > 0 else None


class Fault:
    def __init__(self, key, title, kinds, inject, effect, restore=None, seconds=None):
        self.key = key
        self.title = title
        self.kinds = kinds
        self._inject = inject
        self._effect = effect
        self._restore = restore
        self.seconds = seconds      # a window of its own length (the storm), else the rig's

    def applies(self, kind):
        return kind in self.kinds

    def inject(self, rig):
        return self._inject(rig) if self._inject else None

    def restore(self, rig):
        if self._restore:
            self._restore(rig)

    def effect(self, rig, kind, before, after, evidence):
        if not self.applies(kind):
            return "n/a"
        return self._effect(rig, kind, before, after, evidence) if self._effect else "-"


# ---------------------------------------------------------------- upstreams

def crash_server(net, server, port):
    """A silent crash of a TCP server in the upstream namespace (as NetnsUnbound.crash:
    no FIN; its connections' next segment from the client meets a RST)."""
    rule = ["OUTPUT", "-p", "tcp", "--sport", str(port), "-j", "DROP"]
    net.run("upstream", ["iptables", "-w", "-I", *rule])
    try:
        server.proc.kill()
        server.proc.wait(5)
        net.run("upstream", ["ss", "-K", "-t", "-n", "state", "all", "( sport = :%d )" % port],
                check=False)
    finally:
        net.run("upstream", ["iptables", "-w", "-D", *rule])


def _restart_upstreams(graceful):
    def inject(rig):
        for relay in rig.relays.values():
            if graceful:
                relay.stop()
            else:
                crash_server(rig.net, relay, relay.port)
            relay.start()
        if rig.gateway is not None:
            if graceful:
                rig.gateway.stop()
            else:
                rig.gateway.proc.kill()
                rig.gateway.proc.wait(5)
            rig.gateway.start()
        return "relays%s restarted" % (" and gateway" if rig.gateway else "")
    return inject


# ---------------------------------------------------------------- the NAT

def _nat_lost(policy):
    def inject(rig):
        flows = len(rig.net.conntrack_entries("tcp")) + len(rig.net.conntrack_entries("udp"))
        rig.net.conntrack_flush()
        rig.net.invalid_policy(policy)
        return "%d flows flushed, INVALID TCP: %s" % (flows, policy)
    return inject


def _udp_mapping_remade(rig):
    """After a flush with plain MASQUERADE the next datagram makes the same
    mapping again: the gateway sees the same address and port, nothing is lost."""
    port = rig.gateway.port
    for e in rig.net.conntrack_entries("udp"):
        if e.get("dport") == port and e.get("reply_dport") == e.get("sport"):
            return "UDP binding flushed, same mapping remade (port %d)" % e["sport"]
    return None


def _restore_nat(rig):
    rig.net.invalid_policy(None)
    rig.net.masquerade_ports(None)
    rig.net.tcp_loose(False)


def _rebind(rig):
    rig.net.masquerade_ports(20000, 20999)
    rig.net.tcp_loose(True)
    rig.net.conntrack_flush()
    return "new mappings from ports 20000-20999"


# ---------------------------------------------------------------- the WAN

def _wan_down_up(rig):
    """wan0 down for WAN_DOWN_S, up again, the route and neighbour back as netifd
    would set them, then what files/etc/hotplug.d/iface/95-dprive does on ifup:
    `/etc/init.d/dprive reconnect`, which is procd_send_signal dprive USR1."""
    net = rig.net
    net.run("router", ["ip", "link", "set", "wan0", "down"])
    time.sleep(WAN_DOWN_S)
    net.run("router", ["ip", "link", "set", "wan0", "up"])
    net.run("router", ["ip", "neigh", "replace", netlab.NAT_INSIDE_IP, "lladdr",
                       net._mac("nat", "in0"), "dev", "wan0", "nud", "permanent"])
    net.run("router", ["ip", "route", "replace", "default", "via", netlab.NAT_INSIDE_IP])
    for dp in rig.dprives():
        dp.proc.send_signal(signal.SIGUSR1)
    state = net.run("router", ["ip", "-o", "link", "show", "wan0"]).stdout
    return "wan0 down %.0f s, up (%s), SIGUSR1 sent" % (WAN_DOWN_S, "UP" if "UP" in state else "?")


def _reload(add):
    def inject(rig):
        for dp in rig.dprives():
            dp.upstreams = dp.base_upstreams + ([rig.extra_upstream()] if add else [])
            dp.write_config()
            dp.proc.send_signal(signal.SIGHUP)
        return "SIGHUP with %s upstream 'unbound'" % ("an added" if add else "the removed")
    return inject


def _reload_effect(add):
    def effect(rig, kind, before, after, evidence):
        dp = rig.forwarders[kind]
        names = [u["name"] for u in rig.wait_status(dp, lambda st: (
            any(u["name"] == "unbound" for u in st["upstreams"]) == add))["upstreams"]]
        want = ("unbound" in names) == add
        return ("upstreams now %s" % ",".join(names)) if want else None
    return effect


# ---------------------------------------------------------------- the attacker

def run_attacker(rig, mode, ports, timeout_s=30, **opts):
    """tests.tools.wire_attacker in the nat namespace; its JSON events."""
    argv = [sys.executable, "-m", "tests.tools.wire_attacker", mode,
            "--peer-mac", rig.net._mac("router", "wan0"), "--client", netlab.ROUTER_IP,
            "--ports", ",".join(str(p) for p in ports)]
    for key, value in opts.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    env = rig.attacker_env()
    res = subprocess.run(rig.net.exec_prefix("nat") + argv, capture_output=True, text=True,
                         timeout=timeout_s, env=env, cwd=str(common.REPO_ROOT))
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    if not events or events[-1].get("event") != "done":
        raise RuntimeError("wire_attacker %s: %s" % (mode, res.stderr.strip()[-1000:]))
    return events


def _forged_rst(rig):
    ports = [rig.relays[k].port for k in TLS_KINDS if k in rig.forwarders]
    events = run_attacker(rig, "rst", ports, flows=len(ports), timeout=8)
    rsts = [e for e in events if e["event"] == "rst"]
    return "%d forged RSTs to ports %s" % (len(rsts), sorted({e["client_port"] for e in rsts}))


def _forged_alert(rig):
    events = run_attacker(rig, "dtls-alert", [rig.gateway.port], count=1, timeout=8)
    return "%d forged alerts" % sum(1 for e in events if e["event"] == "alert")


def rst_storm(seconds, after_ms):
    def inject(rig):
        ports = [rig.relays[k].port for k in TLS_KINDS if k in rig.forwarders]
        events = run_attacker(rig, "storm", ports, seconds=seconds, after_ms=after_ms,
                              timeout_s=seconds + 20)
        done = events[-1]
        rig.storm_flows = done["flows_per_port"]
        return "%d connections reset, %d RSTs" % (done["flows"], done["rsts"])
    return inject


def _storm_effect(rig, kind, before, after, evidence):
    port = rig.relays[kind].port
    n = rig.storm_flows.get(str(port), 0)
    return "%d connections reset" % n if n else None


def schedule(storm_s, storm_after_ms):
    """The rotation, in order; the storm comes last (it has its own table rows).
    The upstream restarts come late: after one, a 'dtls tls' upstream may use
    TLS for a while (its DTLS handshake met the closed port), and the DTLS
    faults before it need a DTLS session."""
    lost_tls = _counters_effect(("rsts", "failures", "timeouts", "alerts", "reconnects"))
    lost_tcp = _counters_effect(("rsts", "failures", "timeouts", "alerts", "reconnects"),
                                dtls=_udp_mapping_remade)
    return [
        Fault("baseline", "no fault", ALL_KINDS, None, lambda *a: "-"),
        Fault("forged-alert", "forged DTLS alert (on-path)", ("dprive-dtls",), _forged_alert,
              _wrap(_counters_effect(("alerts",)))),
        Fault("forged-rst", "forged TCP RST (on-path)", TLS_KINDS, _forged_rst,
              _wrap(_counters_effect(("rsts",)))),
        Fault("nat-rst", "NAT state lost, RST", ALL_KINDS, _nat_lost("reject"), _wrap(lost_tcp),
              _restore_nat),
        Fault("nat-drop", "NAT state lost, silent drop", ALL_KINDS, _nat_lost("drop"),
              _wrap(lost_tcp), _restore_nat),
        Fault("nat-rebind", "NAT rebinding (new mapping)", ALL_KINDS, _rebind, _wrap(lost_tls),
              _restore_nat),
        Fault("wan-down", "WAN down/up + hotplug reconnect", ALL_KINDS, _wan_down_up,
              _wrap(_counters_effect(("reconnects", "failures")))),
        Fault("reload-add", "SIGHUP: upstream added", DPRIVE_KINDS, _reload(True), _reload_effect(True)),
        Fault("reload-del", "SIGHUP: upstream removed", DPRIVE_KINDS, _reload(False),
              _reload_effect(False)),
        Fault("restart", "upstream graceful restart", ALL_KINDS, _restart_upstreams(True),
              _wrap(_counters_effect(("server_closes", "graceful_closes", "rsts", "alerts",
                                      "reconnects", "dtls_fallbacks")))),
        Fault("crash", "upstream silent crash", ALL_KINDS, _restart_upstreams(False),
              _wrap(lost_tls)),
        Fault("rst-storm", "forged-RST storm, %g s" % storm_s, TLS_KINDS,
              rst_storm(storm_s, storm_after_ms), _storm_effect, seconds=storm_s),
        Fault("after-storm", "recovery after the storm", ALL_KINDS, None, lambda *a: "-"),
    ]


def _wrap(effect):
    """Adapt effect(rig, kind, before, after) to the Fault signature (evidence unused)."""
    return lambda rig, kind, before, after, evidence: effect(rig, kind, before, after)
