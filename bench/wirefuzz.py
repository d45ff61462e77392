"""`make fuzz-wire`: dprive's memory across a million hostile packets.

A real dprive on loopback in front of a real unbound, with a hostile DoT
upstream beside it (tests/tools/hostile_upstream.py: garbage, wrong IDs,
lying length prefixes, answers for other questions, 64 KB frames, resets,
silence, slow drips) that moves to another loopback address at every reload
(SIGHUP every --reload-every packets), so dprive keeps asking it afresh. The
hostile LAN client (tests/tools/wirefuzz.py) sends PACKETS mixed bad UDP
datagrams and TCP tactics with a good query every 50, each checked (ID,
question, address from unbound's static data).

Printed: VmRSS of the daemon before, at every 100k packets and after (once
it is quiet), the good queries answered right / wrong / lost, the table
sizes and the counters of `dprive status`, what the hostile upstream did
and how dprive counted it. The RSS must plateau: it is printed, not asserted
(tests/integration/test_wirefuzz.py asserts the structural bounds).
"""

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, common  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.hostile_upstream import HostileUpstream  # noqa: E402
from tests.tools.unbound import UnboundServer  # noqa: E402
from tests.tools.wirefuzz import WireFuzzer  # noqa: E402

HOSTILE_ADDRESSES = ["127.0.0.%d" % i for i in range(2, 10)]
UPSTREAM_COUNTERS = ("queries", "answers", "failures", "timeouts", "rsts", "unmatched",
                     "late_answers", "bad_answers", "replays", "connects")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=1000000)
    parser.add_argument("--every", type=int, default=100000, help="RSS row every this many packets")
    parser.add_argument("--reload-every", type=int, default=10000,
                        help="SIGHUP moving the hostile upstream every this many packets (0: never)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resumption", choices=("on", "off"), default="on",
                        help="tls_resumption of the daemon (each new upstream costs a session read)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dprive-wirefuzz-"))
    pki = certs.make_test_pki(workdir / "pki")
    ub = UnboundServer(workdir / "unbound", pki)
    hostile = HostileUpstream(pki, seed=args.seed, addresses=HOSTILE_ADDRESSES)
    dp = None
    try:
        ub.start()
        hostile.start()
        dp = DpriveProcess(workdir / "dprive", pki.ca_cert,
                           [upstream("hostile", hostile.port, address=HOSTILE_ADDRESSES[0]),
                            upstream("good", ub.tls_port)],
                           options={"max_tcp_clients": 32, "tcp_client_idle_ms": 2000,
                                    "attempt_min_ms": 200, "query_timeout_ms": 3000,
                                    "tls_resumption": args.resumption == "on",
                                    "log_level": "info"})
        dp.start()
        with WireFuzzer(dp.port, seed=args.seed) as warm:
            for _ in range(200):
                warm.good_query()
        rows = [("start (after 200 good queries)", 0, common.vm_kib(dp.pid), "")]
        reloads = [0]
        # A reload to a new address makes a new upstream (its counters start at 0): sum them.
        hostile_counted = dict.fromkeys(UPSTREAM_COUNTERS, 0)

        def add_hostile_counters():
            up = dp.upstream_status("hostile")
            for key in UPSTREAM_COUNTERS:
                hostile_counted[key] += up[key]
        next_reload = [args.reload_every]
        started = time.monotonic()

        def reload_if_due(report):
            if args.reload_every <= 0 or report.hostile < next_reload[0]:
                return
            next_reload[0] += args.reload_every
            reloads[0] += 1
            add_hostile_counters()
            address = HOSTILE_ADDRESSES[reloads[0] % len(HOSTILE_ADDRESSES)]
            dp.upstreams[0] = upstream("hostile", hostile.port, address=address)
            dp.write_config()
            dp.proc.send_signal(signal.SIGHUP)

        def progress(report):
            rows.append(("%d packets" % report.hostile, round(time.monotonic() - started),
                         common.vm_kib(dp.pid), report.line()))
            print("  %-10d %6d s  VmRSS %6d KiB  %s" % (report.hostile, rows[-1][1], rows[-1][2],
                                                      report.line()), flush=True)

        print("== %d hostile packets against dprive pid %d (port %d)" % (args.packets, dp.pid, dp.port))
        with WireFuzzer(dp.port, seed=args.seed) as fuzz:
            step = min(args.reload_every, args.every) if args.reload_every > 0 else args.every

            def tick(report):
                reload_if_due(report)
                if report.hostile % args.every < step and report.hostile >= args.every:
                    progress(report)
            fuzz.run(args.packets, progress=tick, progress_every=step)
            report = fuzz.report
        common.wait_until(lambda: dp.status()["tables"]["pending"] == 0, 15, what="quiet")
        time.sleep(3.0)   # the hostile TCP clients' idle time
        rows.append(("after (quiet)", round(time.monotonic() - started), common.vm_kib(dp.pid), ""))
        add_hostile_counters()
        status = dp.status()
        print()
        print("== VmRSS of the daemon")
        print("  %-32s %8s %10s" % ("when", "time s", "VmRSS KiB"))
        for when, t, rss, _ in rows:
            print("  %-32s %8d %10d" % (when, t, rss))
        print("  peak (VmHWM)                               %10d" % common.vm_kib(dp.pid, "VmHWM"))
        print()
        print("== good queries: %d sent, %d right, %d wrong, %d lost"
              % (report.good_sent, report.good_right, report.good_wrong, report.good_lost))
        for line in report.wrong[:10]:
            print("  ", line)
        print("== hostile packets sent, by kind (%d reloads)" % reloads[0])
        for kind, n in sorted(report.sent.items()):
            print("  %-22s %8d" % (kind, n))
        print("== tables (dprive status)")
        for key, value in status["tables"].items():
            print("  %-22s %8s" % (key, value))
        print("== counters (dprive status)")
        for key, value in status["counters"].items():
            print("  %-22s %8s" % (key, value))
        print("== the hostile upstream did / dprive counted")
        print("  did: " + ", ".join("%s %d" % kv for kv in sorted(hostile.faults.items())))
        print("  hostile (all %d of its addresses) " % len(HOSTILE_ADDRESSES)
              + ", ".join("%s %d" % (k, hostile_counted[k]) for k in UPSTREAM_COUNTERS))
        good = dp.upstream_status("good")
        print("  good     " + ", ".join("%s %d" % (k, good[k]) for k in UPSTREAM_COUNTERS))
        print("  daemon alive: %s; log lines: %d" % (dp.running(), len(dp.log_text().splitlines())))
        return 0 if report.good_wrong == 0 and report.good_lost == 0 and dp.running() else 1
    finally:
        if dp is not None:
            dp.stop()
        hostile.stop()
        ub.stop()


if __name__ == "__main__":
    sys.exit(main())
