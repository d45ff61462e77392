"""`make bench` (root): one round trip under steady load, dprive against stubby.

On the netns test network (tests/tools/netlab.py: router -- carrier NAT --
upstream, 100 ms round trip), each forwarder in the router namespace gets a
steady UDP load (tests/tools/soak_load.py, --rate queries a second, about
--seconds per run) towards two DoT servers in the upstream namespace
(--connections 1,6: one dprive per upstream_connections value, side by side):

  unbound  198.19.0.2:853   no TCP_NODELAY: Nagle holds a small answer while an
                            earlier one is unacknowledged
  relay    198.19.0.2:8853  tests/tools/dot_relay.py, TCP_NODELAY
  gateway  198.19.0.2:8855  `dprive gateway`, DNS over DTLS (--dtls; dprive only)

The forwarders run side by side for the whole bench; the runs are
interleaved (every target once, then again, --runs times), each after a
second of load not counted (sessions warm). The table gives, per target,
median, p90 and p99 latency over every answered query of every run, the
median in round trips (the RTT measured by ping), queries lost (no answer
within --timeout), and the spread of the per-run medians (min..max).
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, flows, netlab  # noqa: E402
from tests.tools.dprive_proc import upstream  # noqa: E402
from tests.tools.soak_load import Load  # noqa: E402
from tests.tools.soak_report import percentile  # noqa: E402

WARM_S = 1.0


def start_targets(net, args):
    """label -> (forwarder, port); the DoT servers first."""
    net.start_unbound()
    net.start_relay()
    pin = [net.pki.server_pin]
    settings = [None] if args.connections is None else [int(n) for n in args.connections.split(",")]
    servers = {"unbound": (netlab.DOT_PORT, "tls"), "relay": (netlab.RELAY_PORT, "tls")}
    if args.dtls and flows.gateway_python():
        net.start_gateway(netlab.GATEWAY_PORT, python=flows.gateway_python(), log_level="info")
        servers["gateway"] = (netlab.GATEWAY_PORT, "dtls")
    targets = {}
    port = netlab.DPRIVE_PORT
    for server, (server_port, transport) in servers.items():
        up = upstream(server, server_port, address=netlab.UPSTREAM_IP, spki=pin, transport=transport)
        for n in settings:
            options = dict(log_level="info")
            label, name = "dprive->" + server, "lat-dprive-" + server
            if n is not None:
                options["upstream_connections"] = n
                if len(settings) > 1:
                    label, name = "dprive%d->%s" % (n, server), "%s-%d" % (name, n)
            dp = net.start_dprive([up], options=options, name=name, port=port)
            targets[label] = (dp, port)
            port += 1
        if transport != "tls" or args.no_stubby:
            continue
        stubby = flows.NetnsStubby(net, net.workdir / ("lat-stubby-" + server), net.pki, server_port)
        stubby.port = port
        net.track(stubby)
        stubby.start()
        targets["stubby->" + server] = (stubby, port)
        port += 1
    return targets


def one_run(net, port, seconds, rate, timeout_s):
    """The samples of one run (after WARM_S of load not counted)."""
    def factory():
        import socket
        return net.socket_in("router", socket.AF_INET, socket.SOCK_DGRAM)

    load = Load(factory, {"t": ("127.0.0.1", port)}, rate, timeout_s=timeout_s).start()
    time.sleep(WARM_S)
    begin = time.monotonic()
    time.sleep(seconds)
    samples = load.stop()["t"]
    return [s for s in samples if s.sent_at >= begin and s.sent_at < begin + seconds]


def row(label, runs, rtt_ms):
    answered = [s.latency_ms for run in runs for s in run if s.latency_ms is not None and s.correct]
    lost = sum(1 for run in runs for s in run if s.latency_ms is None)
    wrong = sum(1 for run in runs for s in run if s.latency_ms is not None and not s.correct)
    medians = [statistics.median([s.latency_ms for s in run if s.latency_ms is not None])
               for run in runs if any(s.latency_ms is not None for s in run)]
    med = percentile(answered, 50)
    return "%-16s %7d %7.1f %7.1f %7.1f %6.2f %5d %5d   %s" % (
        label, sum(len(r) for r in runs), med, percentile(answered, 90), percentile(answered, 99),
        med / rtt_ms, lost, wrong, " ".join("%.1f" % m for m in medians))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=40.0, help="queries/s")
    parser.add_argument("--timeout", type=float, default=3.0, help="lost after this many s")
    parser.add_argument("--connections", default=None,
                        help="dprive's upstream_connections option (default: its own default); "
                             "a comma-separated list: one dprive per value (rows dprive<N>->...)")
    parser.add_argument("--dtls", action="store_true", help="dprive over DTLS to the gateway too")
    parser.add_argument("--no-stubby", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated labels to run")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    reason = netlab.check_available()
    if reason:
        # skipped, as the network tier skips itself: `make bench` goes on without it
        print("bench/latency.py skipped: it needs the netns test network: %s" % reason)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="dprive-latency-"))
    try:
        pki = certs.make_test_pki(workdir / "pki")
        with netlab.TestNetwork(workdir, pki) as net:
            targets = start_targets(net, args)
            if args.only:
                keep = set(args.only.split(","))
                targets = dict((k, v) for k, v in targets.items() if k in keep)
            rtts = net.measure_rtt(count=10, interval_s=0.1)
            rtt_ms = statistics.median(rtts)
            runs = dict((label, []) for label in targets)
            for n in range(args.runs):
                for label, (_, port) in targets.items():
                    runs[label].append(one_run(net, port, args.seconds, args.rate, args.timeout))
                    print("run %d %s done" % (n + 1, label), file=sys.stderr, flush=True)
            status = {}
            for label, (fwd, _) in targets.items():
                if label.startswith("dprive"):
                    ups = fwd.status().get("upstreams", [])
                    status[label] = ups[0] if ups else {}
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("latency: %.0f q/s, %d runs of %.0f s each (interleaved), ping RTT %.1f ms "
          "(min %.1f, max %.1f)" % (args.rate, args.runs, args.seconds, rtt_ms, min(rtts), max(rtts)))
    print("%-16s %7s %7s %7s %7s %6s %5s %5s   %s" % (
        "target", "queries", "p50 ms", "p90 ms", "p99 ms", "p50/RTT", "lost", "wrong",
        "per-run p50 ms"))
    for label in targets:
        print(row(label, runs[label], rtt_ms))
    for label, up in status.items():
        print("%s at the end: connections open %s, handshakes %s, answers %s" % (
            label, up.get("connections", 1), up.get("handshakes"), up.get("answers")))
    print("(lost: no answer within %.1f s; wrong: an answer not the name's own address)"
          % args.timeout)
    print("command: %s" % " ".join(sys.argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
