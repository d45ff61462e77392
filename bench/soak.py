"""`make soak`: dprive (TLS and DTLS) and stubby under steady load while faults rotate.

On the netns test network (root only), tests/tools/soak.py feeds each
forwarder the same steady UDP load for about --seconds, one fault per window
(upstream restart and crash, NAT state loss with RST and with silent drop,
NAT rebinding, WAN down/up with the hotplug reconnect, SIGHUP reloads that add
and remove an upstream, a forged TCP RST and a forged DTLS alert from an
on-path attacker), then a forged-RST storm and the recovery after it. The
table has one row per forwarder and fault: queries, answered (right
answer), SERVFAIL, lost (no answer within the client's 6 s), latency
percentiles, handshakes (full/resumed: dprive's status, the relay's log for
stubby), handshakes per second, and what showed the fault reached it.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, netlab, soak, soak_faults, soak_report  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="about how long the run takes")
    parser.add_argument("--rate", type=float, default=30.0, help="queries/s to each forwarder")
    parser.add_argument("--storm-seconds", type=float, default=20.0)
    parser.add_argument("--storm-after-ms", type=float, default=250.0,
                        help="the storm resets a connection at its first server segment this "
                             "long after the SYN-ACK (0: at the SYN-ACK)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    reason = netlab.check_available()
    if reason:
        print("make soak needs the netns test network: %s" % reason, file=sys.stderr)
        return 2
    rotating = [f for f in soak_faults.schedule(1, 0) if f.seconds is None]
    window_s = max(5.0, (args.seconds - args.storm_seconds) / len(rotating))
    workdir = Path(tempfile.mkdtemp(prefix="dprive-soak-"))
    try:
        pki = certs.make_test_pki(workdir / "pki")
        with netlab.TestNetwork(workdir, pki) as net:
            net.start_unbound()
            net.start_relay()
            print("soak: %d windows of %.0f s, %.0f q/s per forwarder, storm %.0f s" % (
                len(rotating), window_s, args.rate, args.storm_seconds), flush=True)
            result = soak.run(net, window_s=window_s, rate=args.rate, storm_s=args.storm_seconds,
                              storm_after_ms=args.storm_after_ms, log=print)
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(soak_report.table(result))
    print()
    for kind, row in soak_report.totals(result).items():
        print("total %-12s queries %d, answered %d, SERVFAIL %d, lost %d, handshakes %d full / %d "
              "resumed" % (kind, row.queries, row.answered, row.servfail, row.lost, row.full,
                           row.resumed))
    print("(a window's queries are those sent in it; lost: no answer within %.0f s; stubby's "
          "handshakes are those its relay accepted; n/a: the fault does not apply: stubby has no "
          "DTLS and no reload of our config, the DTLS flow has no TCP to reset)" %
          soak.CLIENT_TIMEOUT_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
