"""`make bench-reload-memory`: what reloads that move an upstream cost in memory.

A real Daemon runs in this process (so its heap can be read: glibc's
mallinfo2, live Python objects by type); the hostile DoT upstream
(tests/tools/hostile_upstream.py, honest here) listens on --addresses
loopback addresses in a child process, and each reload moves the upstream
to the next one: a new identity, so a full handshake and a session read
for its ticket. With --fuzz N a second child (tests/tools/wirefuzz.py) sends
N hostile LAN packets between reloads, as `make fuzz-wire` does.

Printed every --every reloads: VmRSS, malloc's bytes in use (uordblks) and
its main heap (arena), session reads, live SSL/TLS/upstream objects; then
RSS after malloc_trim(0). In use growing by ~6 kB per read is CPython
gh-116810 (tls/dot.py); arena growing faster than in use is fragmentation.
Figures are printed, not asserted (tests/integration/test_reload_memory.py
asserts the structural bounds).
"""

import argparse
import collections
import ctypes
import gc
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

WATCH = ("SSLContext", "SSLSession", "TlsClient", "UpstreamConnection", "Upstream", "Session")


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallinfo2.restype = MallInfo2


def rss_kib():
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])


def live():
    gc.collect()
    count = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return " ".join("%s %d" % (k, count[k]) for k in WATCH)


def child_hostile(pki_dir, addresses):
    from tests.tools import certs
    from tests.tools.hostile_upstream import HostileUpstream
    pki = certs.make_test_pki(Path(pki_dir))
    hostile = HostileUpstream(pki, seed=5, addresses=addresses, honest_share=1.0).start()
    print(hostile.port, pki.ca_cert, flush=True)
    sys.stdin.read()


def child_fuzz(port):
    from tests.tools.wirefuzz import WireFuzzer
    fuzz = WireFuzzer(port, seed=1)
    for line in sys.stdin:
        fuzz.run(fuzz.report.hostile + int(line))
        print(fuzz.report.line(), flush=True)


def query(i):
    return (struct.pack("!6H", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + b"\x02q%d\x04test\x00" % (i % 10)
            + struct.pack("!HH", 1, 1))


def run(args, addresses, port, conf, dp, fuzz):
    from dprive.config import load_config
    from dprive.io.daemon import Daemon
    from dprive.io.loop import Loop
    from dprive.io.reload import reload
    from tests.tools.dprive_proc import upstream
    daemon = Daemon(load_config(str(conf)))
    loop = Loop()
    daemon.start(loop)

    def ask(n):
        answers = []
        daemon.client_query(query(n), answers.append, True)
        if not loop.run_until(lambda: answers, 5):
            raise TimeoutError("no answer to query %d" % n)
    try:
        ask(0)
        gc.collect()
        base = rss_kib()
        print("%8s %9s %8s %11s %10s %6s  %s" % ("reloads", "VmRSS KiB", "growth", "in use KiB",
                                                "arena KiB", "reads", "live objects"))
        for n in range(args.reloads + 1):
            if n:
                dp.upstreams[0] = upstream("h", port, address=addresses[n % len(addresses)])
                dp.write_config()
                assert reload(daemon)
                ask(n)
                if fuzz is not None:
                    fuzz.stdin.write("%d\n" % args.fuzz)
                    fuzz.stdin.flush()
                    # The fuzzer's LAN packets are answered while we wait for its line.
                    line = []
                    reader = threading.Thread(target=lambda: line.append(fuzz.stdout.readline()))
                    reader.start()
                    loop.run_until(lambda: line, 600)
                    reader.join()
                if args.trim:
                    LIBC.malloc_trim(0)
            if n % args.every == 0:
                gc.collect()
                mi = LIBC.mallinfo2()
                print("%8d %9d %+8d %11d %10d %6d  %s" % (n, rss_kib(), rss_kib() - base, mi.uordblks >> 10,
                                                         mi.arena >> 10, daemon.session_reads, live()),
                      flush=True)
        before = rss_kib()
        LIBC.malloc_trim(0)
        print("malloc_trim(0): VmRSS %d -> %d KiB" % (before, rss_kib()))
    finally:
        daemon.stop()
        loop.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reloads", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--addresses", type=int, default=8, help="loopback addresses to move among")
    parser.add_argument("--fuzz", type=int, default=0, help="hostile LAN packets between reloads")
    parser.add_argument("--resumption", choices=("on", "off"), default="on")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after every reload")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, rest = args.child[0], args.child[1:]
        return child_hostile(rest[0], rest[1:]) if kind == "hostile" else child_fuzz(int(rest[0]))
    from tests.tools.dprive_proc import DpriveProcess, upstream
    work = Path(tempfile.mkdtemp(prefix="dprive-reload-memory-"))
    addresses = ["127.0.0.%d" % i for i in range(2, 2 + args.addresses)]
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    hostile = subprocess.Popen(me + ["hostile", str(work / "pki")] + addresses,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    fuzz = None
    try:
        port, ca = hostile.stdout.readline().split()
        dp = DpriveProcess(work / "dprive", ca, [upstream("h", int(port), address=addresses[0])],
                           options={"tls_resumption": args.resumption == "on", "log_level": "error"})
        conf = dp.write_config()
        if args.fuzz:
            fuzz = subprocess.Popen(me + ["fuzz", str(dp.port)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
        print("== %d reloads moving an upstream among %d addresses, resumption %s, %d hostile LAN "
              "packets between reloads%s; Python %s" % (args.reloads, args.addresses, args.resumption,
                                                        args.fuzz, ", malloc_trim after each" if args.trim
                                                        else "", sys.version.split()[0]))
        run(args, addresses, int(port), conf, dp, fuzz)
    finally:
        for child in (fuzz, hostile):
            if child is not None:
                child.stdin.close()
                child.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
