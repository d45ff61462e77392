"""`make flows`: the draft's DNS-over-TLS figures, dprive and stubby side by side.

On the netns test network (router -- carrier NAT -- upstream, 100 ms round
trip; root only), every scenario of tests/tools/flows.py runs once against
dprive and once against stubby, each with a fresh forwarder, and the table
shows for each: the latency of the one query sent after the fault, that
latency in round trips, whether the answer was right (or SERVFAIL, or
nothing), and what a capture on the router's WAN link saw meanwhile: SYNs
carrying data (TFO) and PSK offered/accepted (TLS 1.3 resumption).
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, flows, netlab  # noqa: E402

FORWARDERS = ("dprive", "stubby")


def cell(result):
    if result is None:
        return "n/a"
    if result.latency_ms is None:
        return "-"
    if result.rcode is None:
        return "no answer (%.0f ms)" % result.latency_ms
    if not result.correct:
        return "%s %.0f ms" % (result.rcode, result.latency_ms)
    extra = " +%d ms deadline" % result.deadline_ms if result.deadline_ms else ""
    return "%d RTT %.0f ms%s" % (result.rtts, result.latency_ms, extra)


def wire(result):
    if result is None:
        return ""
    if result.scenario.dtls:
        return "resumed" if result.status and result.status.get("resumed") else "-"
    if not result.wire:
        return "?"
    return "%s/%s" % ("TFO" if result.wire["syn_data"] else "-",
                      "PSK" if result.wire["psk_accepted"] else
                      ("psk?" if result.wire["psk_offered"] else "-"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(flows.BY_KEY), action="append",
                        help="run only these scenarios (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, pcaps)")
    args = parser.parse_args(argv)
    reason = netlab.check_available()
    if reason:
        print("make flows needs the netns test network: %s" % reason, file=sys.stderr)
        return 2
    scenarios = [s for s in flows.SCENARIOS if not args.only or s.key in args.only]
    workdir = Path(tempfile.mkdtemp(prefix="dprive-flows-"))
    rows = []
    try:
        pki = certs.make_test_pki(workdir / "pki")
        with netlab.TestNetwork(workdir, pki) as net:
            rtt = sorted(net.measure_rtt(5))[2]
            print("network: router -- carrier NAT -- upstream, ping median %.1f ms" % rtt, flush=True)
            for scenario in scenarios:
                results = {}
                for kind in FORWARDERS:
                    if scenario.dtls and kind == "stubby":
                        continue   # stubby speaks no DNS over DTLS
                    if scenario.dtls and not flows.gateway_python():
                        continue
                    results[kind] = flows.run(net, scenario, kind)
                    print("  %-19s %-7s %s" % (scenario.key, kind, cell(results[kind])), flush=True)
                rows.append((scenario, results))
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    table = [("scenario (upstream)", "draft figure", "dprive", "wire", "stubby", "wire")]
    for scenario, results in rows:
        table.append(("%s (%s)" % (scenario.title, scenario.target), scenario.figure,
                      cell(results.get("dprive")), wire(results.get("dprive")),
                      cell(results.get("stubby")), wire(results.get("stubby"))))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip())
        if n == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("(RTT: latency / %.0f ms, rounded; 'wire': TFO = a SYN carried data, PSK = the server "
          "accepted a TLS 1.3 PSK, seen by tshark on the router's WAN link; DTLS rows: whether "
          "the session was resumed, from dprive's status; stubby speaks no DTLS)" % flows.RTT_MS)
    print("(gateway: demands the RFC 6347 cookie of new clients, one round trip more; "
          "gateway-open: does not)")
    print("(unbound rows: unbound holds its second TLS 1.3 ticket behind Nagle, which may cost "
          "one round trip after a handshake)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
