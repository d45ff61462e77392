"""What an answer waited for at the DoT server, from a capture on its eth0.

    bench/nagle_trace.py --pcap FILE [--port 853]   read a capture
    bench/nagle_trace.py [--seconds 10] [--rate 40] [--connections N] [--server unbound|relay]
                                                    (root) capture a dprive run on the
                                                    netns network, then read it

Per TCP connection to the server port, every TLS application-data record is
one DNS message once the handshake is over: the client's records of the
commonest length are its queries, the server's its answers (its
post-handshake tickets have another length). Queries and answers are paired
in order (unbound answers these names from memory, in order). Per answer:
the time from its query's arrival to its departure, and whether data the
server had sent before was still unacknowledged when the query arrived (by
the query segment's own ACK): then Nagle (Linux: Minshall's variant) may hold
the small answer until that ACK comes. An answer "left at an ACK" left within
1 ms after a client segment that acknowledged new server data, and not within
1 ms of its query.
"""

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIELDS = ["frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.ack",
          "tcp.len", "tls.record.content_type", "tls.record.opaque_type", "tls.record.length"]
AT_ONCE_MS = 1.0


class Segment:
    __slots__ = ("t", "stream", "from_client", "seq", "ack", "length", "records")


def read_segments(pcap, port):
    res = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-d", "tcp.port==%d,tls" % port, "-Y", "tcp.port==%d" % port,
         "-o", "tcp.relative_sequence_numbers:TRUE", "-T", "fields", "-E", "occurrence=a",
         "-E", "aggregator=,"] + sum((["-e", f] for f in FIELDS), []),
        capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError("tshark: %s" % res.stderr[-2000:])
    out = []
    for line in res.stdout.splitlines():
        f = line.split("\t")
        if len(f) < len(FIELDS) or not f[0]:
            continue
        s = Segment()
        s.t = float(f[0]) * 1000.0
        s.stream = int(f[1])
        s.from_client = int(f[3]) == port
        s.seq, s.ack, s.length = int(f[4] or 0), int(f[5] or 0), int(f[6] or 0)
        # TLS 1.3 records are shown with opaque_type once the handshake was seen,
        # else (a capture begun mid-connection) as TLS 1.2 records with content_type.
        types = [x for x in (f[7] + "," + f[8]).split(",") if x]
        lengths = [int(x) for x in f[9].split(",") if x]
        s.records = [n for ty, n in zip(types, lengths) if ty == "23"]
        out.append(s)
    return out


def commonest(values):
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=counts.get) if counts else None


def analyse(segments):
    """One dict per answer: delay_ms (query arrival -> answer departure), unacked (bytes
    of server data not acknowledged when the query arrived), at_ack (left at an ACK)."""
    q_len = commonest([n for s in segments if s.from_client for n in s.records])
    a_len = commonest([n for s in segments if not s.from_client for n in s.records])
    answers = []
    by_stream = {}
    for s in segments:
        by_stream.setdefault(s.stream, []).append(s)
    for segs in by_stream.values():
        queries = []       # (arrival, unacked at arrival)
        sent_end = 0       # highest server sequence sent
        acked = 0          # highest ACK from the client
        last_ack_advance = None
        for s in segs:
            if s.from_client:
                if s.ack > acked:
                    acked = s.ack
                    last_ack_advance = s.t
                for n in s.records:
                    if n == q_len:
                        queries.append((s.t, max(0, sent_end - acked)))
            else:
                for n in s.records:
                    if n == a_len and queries:
                        arrived, unacked = queries.pop(0)
                        delay = s.t - arrived
                        at_ack = (last_ack_advance is not None and s.t - last_ack_advance <= AT_ONCE_MS
                                  and delay > AT_ONCE_MS)
                        answers.append({"delay_ms": delay, "unacked": unacked, "at_ack": at_ack})
                if s.length:
                    sent_end = max(sent_end, s.seq + s.length)
    return answers, q_len, a_len, len(by_stream)


def report(answers, q_len, a_len, streams):
    def line(label, rows):
        if not rows:
            return "%-44s %5d" % (label, 0)
        d = sorted(r["delay_ms"] for r in rows)
        return "%-44s %5d   median %6.1f ms  p90 %6.1f ms  max %6.1f ms" % (
            label, len(rows), statistics.median(d), d[int(0.9 * (len(d) - 1))], d[-1])
    held = [r for r in answers if r["unacked"]]
    free = [r for r in answers if not r["unacked"]]
    print("connections %d; query records %s bytes, answer records %s bytes" % (streams, q_len, a_len))
    print("at the server, query arrival -> answer departure:")
    print(line("all answers", answers))
    print(line("server data unacked when the query came", held))
    print(line("  of which left at an incoming ACK", [r for r in held if r["at_ack"]]))
    print(line("nothing unacked when the query came", free))
    print(line("  of which left at an incoming ACK", [r for r in free if r["at_ack"]]))
    print(line("answers out within %.0f ms of the query" % AT_ONCE_MS,
               [r for r in answers if r["delay_ms"] <= AT_ONCE_MS]))


def capture_run(args, workdir):
    from tests.tools import certs, common, netlab
    from tests.tools.dprive_proc import upstream
    from tests.tools.soak_load import Load

    pki = certs.make_test_pki(workdir / "pki")
    pcap = workdir / "upstream-eth0.pcap"
    port = netlab.DOT_PORT if args.server == "unbound" else netlab.RELAY_PORT
    with netlab.TestNetwork(workdir, pki) as net:
        net.start_unbound()
        if args.server == "relay":
            net.start_relay()
        options = {"log_level": "info"}
        if args.connections is not None:
            options["upstream_connections"] = args.connections
        dp = net.start_dprive([upstream(args.server, port, address=netlab.UPSTREAM_IP,
                                        spki=[pki.server_pin])], options=options, name="trace")
        proc = net.popen("upstream", ["tshark", "-n", "-i", "eth0", "-w", str(pcap),
                                      "-f", "tcp port %d" % port], workdir / "tshark.log")
        time.sleep(2.0)      # dumpcap live (the first seconds are warm-up anyway)
        load = Load(lambda: net.socket_in("router", socket.AF_INET, socket.SOCK_DGRAM),
                    {"t": ("127.0.0.1", dp.port)}, args.rate, timeout_s=3.0).start()
        time.sleep(args.seconds)
        samples = load.stop()["t"]
        time.sleep(0.5)
        common.stop_process(proc, term_timeout_s=5)
        lat = sorted(s.latency_ms for s in samples if s.latency_ms is not None)
        print("client side: %d queries, median %.1f ms, lost %d; dprive connections %s" % (
            len(samples), statistics.median(lat), len(samples) - len(lat),
            dp.upstream_status(args.server).get("connections", 1)))
    return pcap, port


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pcap", help="read this capture instead of making one")
    parser.add_argument("--port", type=int, default=853)
    parser.add_argument("--server", choices=("unbound", "relay"), default="unbound")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.pcap:
        pcap, port = Path(args.pcap), args.port
        report(*analyse(read_segments(pcap, port)))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="dprive-nagle-"))
    try:
        pcap, port = capture_run(args, workdir)
        report(*analyse(read_segments(pcap, port)))
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
