"""The sans-I/O core's cost per query: the Forwarder alone, driven in-process.

One upstream, its session up; then rounds of BATCH client queries in, their
Sends taken, an answer to each fed back (received), the Replies collected.
The clock is fake and advances 1 ms per batch. Answers are made before the
clock starts from templates, so the figure is the core's: client_query,
received and what they call.

  cpu       (default) CPU microseconds per query (time.process_time over
            --queries queries), median [min-max] of --runs runs
  callgrind instructions per query under valgrind --tool=callgrind: two
            runs of this script (N/5 and 6N/5 queries), the difference of
            their totals over N, so start-up and set-up cancel out; median
            of --runs such pairs

The queries carry EDNS (an OPT, 1232 bytes, as dnsmasq sends) unless --plain.
    PYTHONPATH=$PWD/src python bench/core_cost.py [--callgrind] [--plain]
"""

import argparse
import os
import re
import struct
import subprocess
import sys
import time

from dprive.core import forwarder as fw
from dprive.core import wire

BATCH = 50      # queries in flight at once, as under dnsperf
NAMES = 1000    # distinct names, cycled


def encode_name(text):
    out = b""
    for label in text.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def client_queries(plain):
    """NAMES client queries (IDs set per use), with or without an OPT."""
    out = []
    for i in range(NAMES):
        msg = (wire.Header(0, wire.RD, 1, 0, 0, 0).pack() + encode_name("q%d.test" % i)
               + struct.pack("!HH", wire.TYPE_A, wire.CLASS_IN))
        if not plain:
            msg = wire.replace_opt(msg, wire.Opt(1232), None)
        out.append(msg)
    return out


def answer_template(query):
    """The upstream's answer to `query` (as sent upstream) less its first two bytes (the ID)."""
    question = wire.read_question(query)
    body = bytes(query[wire.HEADER_LEN:question.end])
    body += b"\xc0\x0c" + struct.pack("!HHIH", wire.TYPE_A, wire.CLASS_IN, 300, 4) + b"\xc6\x12\x00\x01"
    opt = wire.Opt(1232, 0, 0, 0, [(wire.OPT_TCP_KEEPALIVE, struct.pack("!H", 300))])
    msg = wire.Header(0, wire.QR | wire.RA | wire.RD, 1, 1, 0, 1).pack() + body + opt.pack()
    return msg[2:]


class Driver:
    def __init__(self, plain):
        state = [1]

        def rand16():
            state[0] = (state[0] * 25173 + 13849) & 0xFFFF
            return state[0]

        self.now = 1000000.0
        self.fwd = fw.Forwarder(fw.ForwarderConfig(), ["up"], rand16)
        actions = self.fwd.start(self.now)
        self.handle = [a for a in actions if isinstance(a, fw.Connect)][0].handle
        self.fwd.connected(self.handle, self.now, {"tls_version": "TLSv1.3"})
        self.queries = client_queries(plain)
        self.templates = {}    # question name (wire) -> answer template
        self.replies = 0
        self.next_name = 0
        self.run(NAMES)       # warm: every template made, the tables at their steady size
        self.replies = 0

    def run(self, count):
        fwd = self.fwd
        handle = self.handle
        queries = self.queries
        templates = self.templates
        Send = fw.Send
        Reply = fw.Reply
        done = 0
        while done < count:
            sends = []
            n = min(BATCH, count - done)
            for i in range(n):
                msg = queries[self.next_name]
                self.next_name = (self.next_name + 1) % NAMES
                key = done + i
                for action in fwd.client_query(key, struct.pack("!H", key & 0xFFFF) + msg[2:], self.now):
                    if type(action) is Send:
                        sends.append(action.msg)
            for sent in sends:
                name_end = sent.index(b"\x00", wire.HEADER_LEN) + 1
                name = sent[wire.HEADER_LEN:name_end]
                template = templates.get(name)
                if template is None:
                    template = templates[name] = answer_template(sent)
                for action in fwd.received(handle, sent[:2] + template, self.now):
                    if type(action) is Reply:
                        self.replies += 1
            done += n
            self.now += 1
        if self.replies != count:
            raise SystemExit("%d replies to %d queries" % (self.replies, count))


def cpu(args):
    figures = []
    for _ in range(args.runs):
        driver = Driver(args.plain)
        start = time.process_time()
        driver.run(args.queries)
        figures.append((time.process_time() - start) * 1e6 / args.queries)
    figures.sort()
    print("core CPU us/query: %.1f [%.1f-%.1f] (median [min-max] of %d runs of %d queries%s)"
          % (figures[len(figures) // 2], figures[0], figures[-1], args.runs, args.queries,
             ", no EDNS" if args.plain else ""))


def collected(count, plain):
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, os.path.abspath(__file__), "--once", str(count)]
    if plain:
        cmd.append("--plain")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise SystemExit("callgrind failed:\n" + proc.stderr[-2000:])
    return int(match.group(1))


def callgrind(args):
    small = args.queries // 5
    figures = []
    for _ in range(args.runs):
        low = collected(small, args.plain)
        high = collected(small * 6, args.plain)
        figures.append((high - low) / (small * 5.0))
    figures.sort()
    print("core instructions/query: %.0f [%.0f-%.0f] (median [min-max] of %d runs, %d vs %d queries%s)"
          % (figures[len(figures) // 2], figures[0], figures[-1], args.runs, small, small * 6,
             ", no EDNS" if args.plain else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--plain", action="store_true", help="queries without EDNS")
    parser.add_argument("--queries", type=int, help="default 50000; under callgrind 2500 (500 vs 3000)")
    parser.add_argument("--runs", type=int, help="default 5; under callgrind 3")
    parser.add_argument("--once", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once is not None:
        Driver(args.plain).run(args.once)
    elif args.callgrind:
        args.queries = args.queries or 2500
        args.runs = args.runs or 3
        callgrind(args)
    else:
        args.queries = args.queries or 50000
        args.runs = args.runs or 5
        cpu(args)


if __name__ == "__main__":
    main()
