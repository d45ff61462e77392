"""`make bench`: dprive against stubby, side by side, on loopback (and dprive over DTLS).

One local unbound serves q0.test..q{N-1}.test over DNS-over-TLS. dnsperf
sends the same fixed number of queries three ways:

  unbound direct   dnsperf -m dot straight to unbound (the ceiling)
  dprive           dnsperf UDP -> dprive -> DoT -> unbound
  stubby           dnsperf UDP -> stubby -> DoT -> unbound
  dprive DTLS      dnsperf UDP -> dprive -> DTLS -> `dprive gateway` -> unbound
                   (the gateway's load test; stubby has no DTLS to compare)

and the table shows queries per second, p50 and p99 latency, queries lost,
peak RSS (VmHWM from /proc/PID/status) and CPU time of each forwarder, then
the dprive/stubby ratios.

Latency percentiles come from dnsperf's own per-query lines (`dnsperf -v`
prints `> NOERROR name type SECONDS` for every answered query), not from a
separate sampler. Both forwarders get the same certificate check (name
dns.test, the test CA), padding to 128 bytes, a single upstream, and an idle
timeout longer than the run so neither reconnects during it.

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

from tests.tools import certs, clients, common  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.gateway_proc import GatewayProcess  # noqa: E402
from tests.tools.stubby import IDLE_TIMEOUT_MS, StubbyProcess  # noqa: E402
from tests.tools.unbound import UnboundServer, q_name  # noqa: E402



# ---------------------------------------------------------------- measuring

def cpu_seconds(pid):
    """utime + stime of a live process, in seconds."""
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(sorted_values, pct):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class Row:
    """One target over all rounds: q/s is the median of the rounds, the
    latency percentiles are over every answered query of every round."""

    def __init__(self, label, path):
        self.label = label
        self.path = path
        self.results = []
        self.cpu_s = None
        self.rss_kib = None

    def add(self, result, cpu_s=None):
        self.results.append(result)
        if cpu_s is not None:
            self.cpu_s = (self.cpu_s or 0.0) + cpu_s

    @property
    def qps(self):
        values = sorted(r.qps for r in self.results if r.qps is not None)
        return values[len(values) // 2] if values else None

    def _latencies(self):
        lat = []
        for r in self.results:
            lat.extend(r.latencies_s)
        return sorted(lat)

    @property
    def p50_ms(self):
        lat = self._latencies()
        return percentile(lat, 50) * 1000 if lat else None

    @property
    def p99_ms(self):
        lat = self._latencies()
        return percentile(lat, 99) * 1000 if lat else None

    @property
    def lost(self):
        return sum(r.lost or 0 for r in self.results)

    @property
    def completed(self):
        return sum(r.completed or 0 for r in self.results)

    def rcodes(self):
        out = {}
        for r in self.results:
            for k, v in r.rcodes.items():
                out[k] = out.get(k, 0) + v
        return out


def run_dnsperf(row, port, mode, datafile, args, pid=None):
    print("-- %s: %d queries, %s, %d outstanding over %d client sockets ..." % (
        row.label, args.queries, mode, args.concurrency, args.clients), end="", flush=True)
    cpu0 = cpu_seconds(pid) if pid else None
    res = clients.dnsperf(port, datafile, mode=mode, outstanding=args.concurrency,
                          clients=args.clients, maxruns=1, timelimit_s=args.time_limit,
                          timeout_s=5, verbose=True, run_timeout_s=args.time_limit + 30)
    if res.sent is None:
        raise RuntimeError("dnsperf failed: %s" % res.describe())
    row.add(res, cpu_seconds(pid) - cpu0 if pid else None)
    if pid:
        row.rss_kib = common.peak_rss_kib(pid)
    print(" %.0f q/s, lost %d%s%s" % (
        res.qps or 0, res.lost,
        "" if set(res.rcodes) <= {"NOERROR"} else ", %s" % res.rcodes,
        "" if res.sent >= args.queries else
        " (only %d sent: stopped by --time-limit %d s)" % (res.sent, args.time_limit)),
        flush=True)


def fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def print_table(rows, args):
    print()
    print("dnsperf: %d rounds of %d queries per target, %d outstanding, %d client sockets;"
          " unbound %d thread(s); %d CPUs" % (args.rounds, args.queries, args.concurrency,
                                              args.clients, args.unbound_threads, os.cpu_count()))
    print("q/s: median round; latency: percentiles of dnsperf -v per-query latencies,"
          " all rounds pooled (answered queries only)")
    head = "%-16s %-22s %9s %8s %8s %6s %10s %8s %10s" % (
        "target", "path", "q/s", "p50 ms", "p99 ms", "lost", "peak RSS", "CPU s", "us CPU/q")
    print(head)
    print("-" * len(head))
    for r in rows:
        per_q = r.cpu_s / r.completed * 1e6 if r.cpu_s is not None and r.completed else None
        print("%-16s %-22s %9s %8s %8s %6s %10s %8s %10s" % (
            r.label, r.path, fmt(r.qps, ".0f"), fmt(r.p50_ms, ".3f"), fmt(r.p99_ms, ".3f"),
            r.lost, fmt(r.rss_kib / 1024 if r.rss_kib else None, ".1f") + (" MiB" if r.rss_kib else ""),
            fmt(r.cpu_s, ".2f"), fmt(per_q, ".0f")))
    by = {r.label: r for r in rows}
    d, s = by.get("dprive"), by.get("stubby")
    if d and s:
        def cpu_per_q(r):
            return r.cpu_s / r.completed if r.cpu_s and r.completed else None
        print("%-16s %-22s %9s %8s %8s %6s %10s %8s %10s" % (
            "dprive/stubby", "(ratio)", fmt(ratio(d.qps, s.qps), ".2f"),
            fmt(ratio(d.p50_ms, s.p50_ms), ".2f"), fmt(ratio(d.p99_ms, s.p99_ms), ".2f"), "",
            fmt(ratio(d.rss_kib, s.rss_kib), ".2f"), fmt(ratio(d.cpu_s, s.cpu_s), ".2f"),
            fmt(ratio(cpu_per_q(d), cpu_per_q(s)), ".2f")))
    print("(q/s and latency: higher q/s and lower ms are better; peak RSS is VmHWM of the"
          " forwarder process, CPU is its utime+stime during the run)")
    for r in rows:
        other = {k: v for k, v in r.rcodes().items() if k != "NOERROR"}
        if other or r.lost:
            print("note: %s lost %d queries; answers other than NOERROR: %s" % (
                r.label, r.lost, other or "none"))


TARGETS = ("direct", "dprive", "stubby", "dtls")


def main(argv=None):
    parser = argparse.ArgumentParser(description="dprive vs stubby vs direct DoT, on loopback")
    parser.add_argument("--queries", type=int, default=20000, help="queries per target (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=100,
                        help="queries outstanding at once, dnsperf -q (default %(default)s)")
    parser.add_argument("--clients", type=int, default=4,
                        help="dnsperf client sockets, -c (default %(default)s)")
    parser.add_argument("--names", type=int, default=1000, help="distinct q*.test names (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs per target, interleaved (default %(default)s)")
    parser.add_argument("--unbound-threads", type=int, default=1)
    parser.add_argument("--time-limit", type=int, default=20,
                        help="seconds each dnsperf run may take at most (default %(default)s)")
    parser.add_argument("--only", choices=TARGETS, action="append",
                        help="run only these targets (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with logs")
    args = parser.parse_args(argv)
    targets = args.only or list(TARGETS)

    need = ["unbound", "dnsperf", "kdig", "openssl"] + (["stubby"] if "stubby" in targets else [])
    missing = common.missing_tools(need)
    if missing:
        print("missing tools: %s (run `make deps`)" % ", ".join(missing), file=sys.stderr)
        return 1

    common.exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="dprive-bench-"))
    ub = dp = st = gw = dpd = None
    rows = []
    status = 1
    started = time.monotonic()
    try:
        print("== setup: certificates, unbound (DoT on loopback, local data only)", flush=True)
        pki = certs.make_test_pki(workdir / "pki")
        ub = UnboundServer(workdir / "unbound", pki, q_names=args.names, threads=args.unbound_threads,
                           log_queries=False, keepalive_timeout_ms=IDLE_TIMEOUT_MS)
        ub.start()
        datafile = clients.write_dnsperf_file(
            workdir / "queries.txt", [q_name(i % args.names) for i in range(args.queries)])
        print("   unbound pid %d, DoT 127.0.0.1:%d" % (ub.pid, ub.tls_port), flush=True)

        direct = Row("unbound direct", "dnsperf DoT")
        dprive_row = Row("dprive", "UDP -> dprive -> DoT")
        stubby_row = Row("stubby", "UDP -> stubby -> DoT")
        dtls_row = Row("dprive DTLS", "UDP -> dprive -> DTLS gateway")
        if "dtls" in targets:
            print("== dprive over DTLS to `dprive gateway` in front of unbound", flush=True)
            gw = GatewayProcess(workdir / "gateway", pki, ub.plain_port, {"log_level": "warning"})
            gw.start()
            dpd = DpriveProcess(workdir / "dprive-dtls", pki.ca_cert,
                                [upstream("gateway", gw.port, transport="dtls")],
                                options={"log_level": "warning"}, name="dprive-dtls")
            dpd.start()
            for _ in range(3):
                clients.kdig("a.test", port=dpd.port, timeout_s=3)
            print("   gateway pid %d on UDP 127.0.0.1:%d, dprive pid %d on 127.0.0.1:%d"
                  % (gw.pid, gw.port, dpd.pid, dpd.port), flush=True)
        if "dprive" in targets:
            print("== dprive in front of unbound", flush=True)
            dp = DpriveProcess(workdir / "dprive", pki.ca_cert,
                               [upstream("unbound", ub.tls_port)],
                               options={"log_level": "warning"})
            dp.start()
            for _ in range(3):   # the session is up before measuring
                clients.kdig("a.test", port=dp.port, timeout_s=3)
            print("   dprive pid %d on 127.0.0.1:%d" % (dp.pid, dp.port), flush=True)
        if "stubby" in targets:
            print("== stubby in front of unbound", flush=True)
            st = StubbyProcess(workdir / "stubby", pki, ub.tls_port)
            st.start()
            for _ in range(3):
                clients.kdig("a.test", port=st.port, timeout_s=3)
            print("   stubby pid %d on 127.0.0.1:%d" % (st.pid, st.port), flush=True)
        # rounds interleave the targets, so that a noisy moment hits all of them
        for rnd in range(args.rounds):
            print("== round %d of %d" % (rnd + 1, args.rounds), flush=True)
            if "direct" in targets:
                run_dnsperf(direct, ub.tls_port, "dot", datafile, args)
            if "dprive" in targets:
                run_dnsperf(dprive_row, dp.port, "udp", datafile, args, pid=dp.pid)
            if "stubby" in targets:
                run_dnsperf(stubby_row, st.port, "udp", datafile, args, pid=st.pid)
            if "dtls" in targets:
                run_dnsperf(dtls_row, dpd.port, "udp", datafile, args, pid=dpd.pid)
        rows = [r for r, t in ((direct, "direct"), (dprive_row, "dprive"), (stubby_row, "stubby"),
                               (dtls_row, "dtls")) if t in targets]
        print_table(rows, args)
        status = 0
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    except Exception as exc:  # noqa: BLE001 - reported, then cleanup
        print("\nERROR: %s" % exc, file=sys.stderr, flush=True)
        if dp is not None:
            print("dprive log tail:\n" + dp.log_tail(), file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for proc in (dp, st, dpd, gw, ub):
            if proc is not None:
                proc.stop()
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("(bench took %.0f s; everything it started is stopped)" % (time.monotonic() - started))
    return status


if __name__ == "__main__":
    sys.exit(main())
