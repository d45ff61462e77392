"""The daemon's idle footprint: VmRSS with one upstream, after start and after a
few queries (the session up), and whether asyncio is on its import path.

    python bench/idle_rss.py [--rounds N]

Loopback only: one local DoT unbound, one dprive. The figure is this machine's
CPython (64-bit, glibc): an upper bound for a router's.
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

from tests.tools import certs, clients, common  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.unbound import UnboundServer  # noqa: E402


def modules_of(pid):
    """Shared objects mapped by the process (asyncio's C part is _asyncio)."""
    with open("/proc/%d/maps" % pid) as fh:
        return set(line.split()[-1].rsplit("/", 1)[-1] for line in fh if ".so" in line)


def one_round(workdir, pki, ub):
    dp = DpriveProcess(workdir, pki.ca_cert, [upstream("u", ub.tls_port)], options={"log_level": "warning"})
    dp.start()
    try:
        time.sleep(0.5)
        started = common.vm_kib(dp.pid, "VmRSS")
        answered = sum(clients.kdig("a.test", "A", port=dp.port, timeout_s=4, check=False).rcode == "NOERROR"
                       for n in range(5))
        if not answered:
            raise RuntimeError("no answer from dprive; its log:\n%s" % dp.log_tail())
        time.sleep(0.5)
        idle = common.vm_kib(dp.pid, "VmRSS")
        asyncio_loaded = any(name.startswith("_asyncio") for name in modules_of(dp.pid))
    finally:
        dp.stop()
    return started, idle, asyncio_loaded


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dprive-idle-"))
    try:
        pki = certs.make_test_pki(workdir / "pki")
        ub = UnboundServer(workdir / "unbound", pki, log_queries=False)
        ub.start()
        try:
            rounds = [one_round(workdir / ("dp%d" % n), pki, ub) for n in range(args.rounds)]
        finally:
            ub.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for label, index in (("after start", 0), ("idle, session up", 1)):
        values = sorted(r[index] / 1024.0 for r in rounds)
        print("VmRSS %-17s median %.1f MiB (%s)" % (label, statistics.median(values),
                                                   ", ".join("%.1f" % v for v in values)))
    print("_asyncio mapped: %s   (CPython %s)" % (sorted(set(r[2] for r in rounds)), sys.version.split()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
