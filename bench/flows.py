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
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dprive.tls import mbedtls_lib  # noqa: E402
from tests.tools import certs, dtls_engine_pick, flows, netlab  # noqa: E402

# Columns: (label, forwarder, DTLS client engine). TLS rows fill the first
# dprive column; DTLS rows run once per client engine (stubby has no DTLS).
COLUMNS = (("dprive (DTLS on mbedTLS)", "dprive", dtls_engine_pick.MBEDTLS),
           ("dprive, DTLS on pyOpenSSL", "dprive", dtls_engine_pick.PYOPENSSL),
           ("stubby", "stubby", None))


def engine_unavailable(engine):
    """Why this machine cannot run the client on `engine`, or None."""
    if engine == dtls_engine_pick.MBEDTLS:
        return mbedtls_lib.unavailable_reason()
    try:
        importlib.import_module("OpenSSL")
    except ImportError as err:
        return "pyOpenSSL cannot be imported: %s" % err
    return None


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
    rows, gateways, wrong = [], {}, []
    try:
        pki = certs.make_test_pki(workdir / "pki")
        with netlab.TestNetwork(workdir, pki) as net:
            rtt = sorted(net.measure_rtt(5))[2]
            print("network: router -- carrier NAT -- upstream, ping median %.1f ms" % rtt, flush=True)
            for scenario in scenarios:
                results = {}
                for label, kind, engine in COLUMNS:
                    if scenario.dtls and (kind == "stubby" or not flows.gateway_python()
                                          or engine_unavailable(engine)):
                        continue   # stubby speaks no DNS over DTLS
                    if not scenario.dtls and engine != dtls_engine_pick.MBEDTLS and kind == "dprive":
                        continue   # TLS rows: one dprive run (no DTLS engine involved)
                    res = results[label] = flows.run(net, scenario, kind, engine=engine)
                    print("  %-19s %-22s %s" % (scenario.key, label, cell(res)), flush=True)
                    if res.gateway_engine:
                        gateways[res.gateway_engine] = gateways.get(res.gateway_engine, 0) + 1
                    if res.engine and res.engine != engine:
                        wrong.append("%s %s ran on %s" % (scenario.key, label, res.engine))
                rows.append((scenario, results))
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    table = [("scenario (upstream)", "draft figure")]
    table[0] += sum(((label, "wire") for label, _, _ in COLUMNS), ())
    for scenario, results in rows:
        line = ("%s (%s)" % (scenario.title, scenario.target), scenario.figure)
        for label, _, engine in COLUMNS:
            res = results.get(label)
            # A TLS row has no DTLS engine: its pyOpenSSL cell stays empty, not "n/a".
            blank = res is None and not scenario.dtls and engine == dtls_engine_pick.PYOPENSSL
            line += ("" if blank else cell(res), wire(res))
        table.append(line)
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
    print("(DTLS client engine as asked, proved by the library mapped in the daemon "
          "(/proc/PID/maps)%s; mbedTLS: %s; the gateway ran on: %s)" % (
              "" if not wrong else ": NOT SO for " + ", ".join(wrong),
              engine_unavailable(dtls_engine_pick.MBEDTLS) or mbedtls_lib.load().version_text,
              ", ".join("%s (%d rows)" % kv for kv in sorted(gateways.items())) or "-"))
    if dtls_engine_pick.gateway_options_keeping_tickets():
        print("(the gateways on pyOpenSSL: this mbedTLS has no mbedtls_ssl_ticket_rotate, so its "
              "ticket keys would not outlive the restart rows' restart)")
    print("(unbound rows: unbound holds its second TLS 1.3 ticket behind Nagle, which may cost "
          "one round trip after a handshake)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
