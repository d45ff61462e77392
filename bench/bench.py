"""`make bench`: dprive, stubby and unbound as a DoT forwarder, side by side, on loopback.

One local unbound (the upstream) serves q0.test..q{N-1}.test over DNS-over-TLS.
Every round starts each forwarder fresh (bench/fwd_targets.py) and measures:

  throughput  dnsperf saturating it (-q outstanding, -c sockets): q/s, and the
              forwarder's CPU time per answered query (utime+stime)
  latency     dnsperf at a steady -Q 2000 q/s: p50 and p99 of dnsperf -v's
              per-query latencies, and what the forwarder adds: its p50/p99 minus
              direct UDP's (dnsperf to the upstream's plain port) in the same round
              (direct DoT is no baseline: dnsperf's own DoT client is slower at a
              fixed rate than the forwarders, 2 ms p50 against 0.6)
  memory      idle RSS (VmRSS after start, three queries and a quiet second)
              and loaded RSS (VmHWM after both loads)

Each table gives median [min-max] over the rounds. Names are never repeated
within a run, and the unbound forwarder's cache is off (cache-max-ttl 0, no
cache memory): the footnote checks from unbound-control's counters, the
forwarder's and the upstream's, that every query it got went upstream.
Nothing leaves the machine: every address is 127.0.0.1.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fwd_targets  # noqa: E402
from spread import median, percentile, ratio, spread  # noqa: E402
from tests.tools import certs, clients, common  # noqa: E402
from tests.tools.gateway_proc import GatewayProcess  # noqa: E402
from tests.tools.stubby import IDLE_TIMEOUT_MS  # noqa: E402
from tests.tools.unbound import UnboundServer, q_name  # noqa: E402


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds."""
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average():
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def shown(argv):
    """dnsperf's command line as the tables print it (port and mode vary per target)."""
    out = list(argv)
    out[0] = os.path.basename(out[0])
    out[out.index("-p") + 1] = "PORT"
    out[out.index("-m") + 1] = "MODE"
    out[out.index("-d") + 1] = "NAMES"
    return " ".join(out)


class Bench:
    def __init__(self, args, env, datafile):
        self.args, self.env, self.datafile = args, env, datafile
        self.rec = {}        # label -> list of per-round dicts
        self.argv = {}       # "throughput"/"steady" -> dnsperf argv shown
        self.fwd_check = {"queries": 0, "cachehits": 0, "cachemiss": 0, "upstream": 0}
        self.load_start = load_average()

    def run(self, target, kind, rnd):
        a = self.args
        port, pid = fwd_targets.port_of(target), target.pid
        if kind == "throughput":
            extra, limit = (), a.time_limit
        else:
            extra, limit = ("-Q", str(a.rate)), a.steady_seconds
        fwd = target.server if isinstance(target, fwd_targets.UnboundFwd) else None
        before = (fwd.stats(), self.env["upstream"].stats()) if fwd else None
        cpu0 = cpu_seconds(pid) if pid else None
        res = clients.dnsperf(port, self.datafile, mode=target.mode, outstanding=a.concurrency,
                              clients=a.clients, maxruns=1, timelimit_s=limit, timeout_s=5,
                              verbose=True, extra=extra, run_timeout_s=limit + 30)
        if res.sent is None:
            raise RuntimeError("dnsperf failed: %s" % res.describe())
        self.argv.setdefault(kind, shown(res.argv))
        fig = self.rec.setdefault(target.label, [{} for _ in range(a.rounds)])[rnd]
        lat = sorted(res.latencies_s)
        fig[kind] = {"qps": res.qps, "lost": res.lost, "completed": res.completed,
                     "p50": percentile(lat, 50) * 1e3 if lat else None,
                     "p99": percentile(lat, 99) * 1e3 if lat else None,
                     "bad": {k: v for k, v in res.rcodes.items() if k != "NOERROR"}}
        if pid:
            cpu = cpu_seconds(pid) - cpu0
            fig[kind]["cpu_us_q"] = cpu / res.completed * 1e6 if res.completed else None
        if fwd:
            after = (fwd.stats(), self.env["upstream"].stats())
            for key, stat in (("queries", "total.num.queries"), ("cachehits", "total.num.cachehits"),
                              ("cachemiss", "total.num.cachemiss")):
                self.fwd_check[key] += int(after[0][stat] - before[0][stat])
            self.fwd_check["upstream"] += int(after[1]["total.num.queries"]
                                              - before[1]["total.num.queries"])
        print("   %-15s %-10s %8.0f q/s  p50 %7.3f ms  p99 %7.3f ms  lost %d%s" % (
            target.label, kind, res.qps or 0, fig[kind]["p50"] or 0, fig[kind]["p99"] or 0,
            res.lost or 0, " %s" % fig[kind]["bad"] if fig[kind]["bad"] else ""), flush=True)

    def round(self, rnd, targets, workdir):
        # a different order each round, so that a noisy moment does not always hit one target
        order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
        try:
            fwd_targets.start_round(order, workdir, self.env)
            for kind in ("throughput", "steady"):
                for t in order:
                    self.run(t, kind, rnd)
            for t in order:
                fig = self.rec[t.label][rnd]
                fig["idle_kib"] = t.idle_rss_kib
                fig["hwm_kib"] = common.peak_rss_kib(t.pid) if t.pid else None
        except Exception:
            for t in order:     # the logs go with the temp dir: show them first
                if t.server is not None:
                    print("-- %s log tail:\n%s" % (t.label, common.tail(t.server.log_path)),
                          file=sys.stderr)
            raise
        finally:
            for t in order:
                t.stop()

    def series(self, label, kind, key):
        return [r.get(kind, {}).get(key) if kind else r.get(key) for r in self.rec.get(label, [])]


def print_tables(b, targets, args):
    labels = [t.label for t in targets]
    print()
    print("command: %s" % " ".join([sys.executable] + sys.argv))
    print("%d rounds, each target started fresh per round; median [min-max] over the rounds;"
          " upstream unbound %d thread(s); %d CPUs" % (args.rounds, args.unbound_threads,
                                                         os.cpu_count()))
    print("load average (1, 5, 15 min) at the start %s, at the end %s (the machine is shared)"
          % (b.load_start, load_average()))
    print("\n== throughput, saturated: %s" % b.argv.get("throughput"))
    print("%-15s %-26s %-5s %21s %17s %8s" % ("target", "path", "mode", "q/s", "CPU us/query", "lost"))
    for t in targets:
        lost = sum(v or 0 for v in b.series(t.label, "throughput", "lost"))
        print("%-15s %-26s %-5s %s %s %8d" % (t.label, t.path, t.mode,
                                              spread(b.series(t.label, "throughput", "qps")),
                                              spread(b.series(t.label, "throughput", "cpu_us_q"),
                                                     width=17), lost))
    qps = {lb: median(b.series(lb, "throughput", "qps")) for lb in labels}
    cpu = {lb: median(b.series(lb, "throughput", "cpu_us_q")) for lb in labels}
    for other, goal in (("unbound fwd", 1.0), ("stubby", 1.5)):
        if "dprive" in qps and other in qps:
            r = ratio(qps["dprive"], qps[other])
            print("dprive / %-11s q/s %.2f (goal >= %.1f: %s), CPU per query %.2f" % (
                other, r, goal, "met" if r >= goal else "NOT met",
                ratio(cpu["dprive"], cpu[other]) or 0))

    print("\n== latency at a steady %d q/s: %s" % (args.rate, b.argv.get("steady")))
    print("%-15s %21s %21s %21s %21s %6s" % ("target", "p50 ms", "p99 ms", "added p50 ms",
                                            "added p99 ms", "lost"))
    direct = "direct UDP" if "direct UDP" in labels else None
    added = {}
    for t in targets:
        row = []
        for key in ("p50", "p99"):
            mine = b.series(t.label, "steady", key)
            base = b.series(direct, "steady", key) if direct else [None] * len(mine)
            added[(t.label, key)] = [m - d if m is not None and d is not None and t.forwarder
                                     else None for m, d in zip(mine, base)]
            row.append(spread(mine, ".3f"))
        lost = sum(v or 0 for v in b.series(t.label, "steady", "lost"))
        print("%-15s %s %s %s %s %6d" % (t.label, row[0], row[1],
                                         spread(added[(t.label, "p50")], ".3f"),
                                         spread(added[(t.label, "p99")], ".3f"), lost))
    if ("dprive", "p50") in added and ("stubby", "p50") in added and direct:
        verdict = []
        for key in ("p50", "p99"):
            d, s = median(added[("dprive", key)]), median(added[("stubby", key)])
            verdict.append("%s %+.3f vs %+.3f ms: %s" % (key, d, s, "met" if d <= s else "NOT met"))
        print("dprive added <= stubby added: " + "; ".join(verdict))
    print("(added: the forwarder's percentile minus direct UDP's, dnsperf to the upstream's"
          " plain port, in the same round: the forwarder, its DoT hop and unbound's TLS side)")

    print("\n== RSS: idle (VmRSS after start, %d queries, %.0f s quiet), loaded (VmHWM after"
          " both loads)" % (len(fwd_targets.WARM_NAMES), fwd_targets.SETTLE_S))
    print("%-15s %21s %21s" % ("target", "idle MiB", "loaded MiB"))
    for t in targets:
        if t.forwarder:
            print("%-15s %s %s" % (t.label, spread([k / 1024 if k else None for k in
                                                     b.series(t.label, None, "idle_kib")], ".1f"),
                                   spread([k / 1024 if k else None for k in
                                           b.series(t.label, None, "hwm_kib")], ".1f")))
    print("(CPython %s, glibc, 64-bit here: a router's musl build of the same code is smaller)"
          % sys.version.split()[0])
    c = b.fwd_check
    if "unbound fwd" in labels:
        every = c["cachehits"] == 0 and c["cachemiss"] == c["queries"] and c["upstream"] >= c["queries"]
        print("\nnote: unbound fwd (forward-tls-upstream, cache-max-ttl 0, caches 0 bytes, names not"
              " repeated in a run): %d queries in its runs, %d cache hits, %d cache misses; the"
              " upstream got %d queries meanwhile (unbound-control stats_noreset of both): %s" % (
                  c["queries"], c["cachehits"], c["cachemiss"], c["upstream"],
                  "every query went upstream" if every else "NOT every query went upstream"))
    for t in targets:
        for kind in ("throughput", "steady"):
            bad = [r.get(kind, {}).get("bad") for r in b.rec.get(t.label, [])]
            if any(bad):
                print("note: %s %s answers other than NOERROR: %s" % (t.label, kind, bad))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=50000,
                        help="queries per saturated run, all distinct names (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100, help="dnsperf -q (default %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="dnsperf -c (default %(default)s)")
    parser.add_argument("--rate", type=int, default=2000, help="steady dnsperf -Q (default %(default)s)")
    parser.add_argument("--steady-seconds", type=int, default=10, help="steady run, dnsperf -l")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--unbound-threads", type=int, default=1)
    parser.add_argument("--time-limit", type=int, default=30, help="dnsperf -l of a saturated run")
    parser.add_argument("--only", choices=sorted(fwd_targets.ALL), action="append",
                        help="these targets only (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with logs")
    args = parser.parse_args(argv)
    names = args.only or ["direct-udp", "direct-dot", "dprive", "dprive-mbedtls", "stubby", "unbound",
                          "dtls"]
    targets = [fwd_targets.ALL[n]() for n in names]
    if args.steady_seconds * args.rate > args.queries:
        parser.error("--queries must cover --rate x --steady-seconds distinct names")
    need = ["unbound", "unbound-control", "dnsperf", "kdig", "openssl"] + (
        ["stubby"] if "stubby" in names else [])
    missing = common.missing_tools(need)
    if missing:
        print("missing tools: %s (run `make deps`)" % ", ".join(missing), file=sys.stderr)
        return 1
    common.exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="dprive-bench-"))
    servers, status, started = [], 1, time.monotonic()
    try:
        print("== setup: certificates, upstream unbound (DoT on loopback, local data only)", flush=True)
        pki = certs.make_test_pki(workdir / "pki")
        ub = UnboundServer(workdir / "unbound", pki, q_names=args.queries, threads=args.unbound_threads,
                           log_queries=False, keepalive_timeout_ms=IDLE_TIMEOUT_MS, control=True)
        ub.start()
        servers.append(ub)
        env = {"pki": pki, "upstream": ub}
        if "dtls" in names:
            gw = GatewayProcess(workdir / "gateway", pki, ub.plain_port, {"log_level": "warning"})
            gw.start()
            servers.append(gw)
            env["gateway"] = gw
        datafile = clients.write_dnsperf_file(workdir / "queries.txt",
                                              [q_name(i) for i in range(args.queries)])
        b = Bench(args, env, datafile)
        for rnd in range(args.rounds):
            print("== round %d of %d" % (rnd + 1, args.rounds), flush=True)
            b.round(rnd, targets, workdir / ("round%d" % rnd))
        print_tables(b, targets, args)
        status = 0
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for t in targets:
            t.stop()
        for server in reversed(servers):
            server.stop()
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("(bench took %.0f s; everything it started is stopped)" % (time.monotonic() - started))
    return status


if __name__ == "__main__":
    sys.exit(main())
