"""`make bench`, second part: dprive's footprint on a router.

- the installed size of each package's payload (the ipk's Installed-Size),
- the OpenWrt packages each pulls (its Depends),
- the daemon's peak RSS (VmHWM) with three upstreams after 10,000 queries,
  next to its RSS right after start, on loopback against three local unbounds.
This machine's Python is not a router's: the RSS is an upper bound for the
same code (64-bit, glibc); the package sizes are exact.
"""

import argparse
import io
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "package"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import build_ipk  # noqa: E402
from tests.tools import certs, clients, common  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.unbound import UnboundServer, q_name  # noqa: E402


def control_fields(ipk):
    with tarfile.open(ipk, "r:gz") as outer:
        control = outer.extractfile("./control.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(control), mode="r:gz") as inner:
        text = inner.extractfile("./control").read().decode()
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dprive-footprint-"))
    servers = []
    try:
        print("\n== footprint: %s" % " ".join([sys.executable] + sys.argv))
        print("== packages (make ipk)")
        for ipk in build_ipk.build(workdir / "ipk"):
            fields = control_fields(ipk)
            print("   %-12s installed %6.1f KiB   ipk %6.1f KiB   pulls: %s" % (
                fields["Package"], int(fields["Installed-Size"]) / 1024.0,
                ipk.stat().st_size / 1024.0, fields.get("Depends", "-")))
        print("== dprive with three upstreams, %d queries" % args.queries)
        pki = certs.make_test_pki(workdir / "pki")
        ups = []
        for n in range(3):
            ub = UnboundServer(workdir / ("unbound%d" % n), pki, name="unbound%d" % n, log_queries=False)
            ub.start()
            servers.append(ub)
            ups.append(upstream("u%d" % n, ub.tls_port))
        dp = DpriveProcess(workdir / "dprive", pki.ca_cert, ups, options={"log_level": "warning"})
        dp.start()
        servers.append(dp)
        time.sleep(0.5)
        started_kib = common.vm_kib(dp.pid, "VmRSS")
        datafile = clients.write_dnsperf_file(workdir / "q.txt", [q_name(i % 1000) for i in range(args.queries)])
        res = clients.dnsperf(dp.port, datafile, outstanding=50, clients=2)
        print("   answered %s of %d; RSS after start %.1f MiB, peak RSS (VmHWM) %.1f MiB, now %.1f MiB"
              % (res.completed, args.queries, started_kib / 1024.0, common.vm_kib(dp.pid, "VmHWM") / 1024.0,
                 common.vm_kib(dp.pid, "VmRSS") / 1024.0))
        print("   (CPython %s on this machine; the interpreter and its ssl/asyncio imports are most of it)"
              % sys.version.split()[0])
        return 0
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
