"""`make bench`, third part: what DNS over DTLS costs in memory, per engine.

dprive idle with one DTLS upstream up (a `dprive gateway` in front of a
local unbound; a few queries, then quiet), RSS (VmRSS) read from /proc,
on each client engine this machine can run:
  - mbedTLS 2.28 (Debian 12's libmbedtls, what the loader finds by default),
  - mbedTLS 3.6 (DPRIVE_MBEDTLS_LIBDIR: Debian 13's build, and one built with
    OpenWrt's configuration when present),
  - pyOpenSSL (the venv's pyOpenSSL + cryptography),
and stubby beside it (one DNS-over-TLS upstream: stubby has no DTLS). Each
engine is proved by the library the daemon mapped (tests/tools/dtls_engine_pick.py).
Several runs each (the machine is shared and noisy); the table gives the median.
Run: .venv/bin/python bench/footprint_dtls.py [--runs N]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, clients, common, dtls_engine_pick  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.gateway_proc import GatewayProcess  # noqa: E402
from tests.tools.stubby import StubbyProcess  # noqa: E402
from tests.tools.unbound import UnboundServer  # noqa: E402

# Those that exist: `make mbedtls36`'s Debian 13 build, and one built with
# OpenWrt's configuration outside the repository, if there is one.
MBEDTLS_DIRS = (("mbedTLS 3.6 (Debian 13)", os.path.join(ROOT, "build", "mbedtls-3.6", "lib")),
                ("mbedTLS 3.6 (OpenWrt config)", "/opt/real/mbedtls-owrt/lib"))
SETTLE_S = 1.0


def variants():
    """(label, engine, DPRIVE_MBEDTLS_LIBDIR or None) this machine can run."""
    out = [("mbedTLS 2.28 (Debian 12)", dtls_engine_pick.MBEDTLS, None)]
    out += [(label, dtls_engine_pick.MBEDTLS, d) for label, d in MBEDTLS_DIRS
            if os.path.isdir(d)]
    out.append(("pyOpenSSL", dtls_engine_pick.PYOPENSSL, None))
    return out


def idle_rss_kib(proc, port, queries):
    for name in queries:
        clients.kdig(name, "A", port=port)
    time.sleep(SETTLE_S)
    return common.vm_kib(proc.pid, "VmRSS")


def dprive_run(workdir, pki, gateway_port, engine, libdir):
    dp = DpriveProcess(workdir, pki.ca_cert,
                       [upstream("gw", gateway_port, spki=[pki.server_pin], transport="dtls")],
                       options=dict({"log_level": "warning"},
                                    **dtls_engine_pick.options_for(engine)))
    dp.extra_env = dtls_engine_pick.env_for(engine)
    if libdir:
        dp.extra_env["DPRIVE_MBEDTLS_LIBDIR"] = libdir
    dp.start()
    try:
        kib = idle_rss_kib(dp, dp.port, ("a.test", "b.test", "c.test"))
        status = dp.status()
        ran = dtls_engine_pick.running(status["pid"], status)
        lib = dtls_engine_pick.libmbedtls_of(status["pid"])
        up = status["upstreams"][0]
        return kib, ran, lib, up.get("handshakes", 0) >= 1 and up.get("transport") == "dtls"
    finally:
        dp.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    missing = common.missing_tools(["unbound", "kdig"])
    if missing:
        print("missing: %s (sh tests/tools/ensure-deps.sh)" % " ".join(missing))
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="dprive-footprint-dtls-"))
    servers, rows = [], []
    try:
        pki = certs.make_test_pki(workdir / "pki")
        ub = UnboundServer(workdir / "unbound", pki, log_queries=False)
        ub.start()
        servers.append(ub)
        gw = GatewayProcess(workdir / "gateway", pki, ub.plain_port, {"log_level": "warning"})
        gw.start()
        servers.append(gw)
        gateway_engine = dtls_engine_pick.running(gw.proc.pid)
        for n, (label, engine, libdir) in enumerate(variants()):
            runs = []
            for r in range(args.runs):
                runs.append(dprive_run(workdir / ("dprive-%d-%d" % (n, r)), pki, gw.port,
                                       engine, libdir))
            kibs = [k for k, _, _, _ in runs]
            proved = all(ran == engine and up for _, ran, _, up in runs)
            lib = runs[0][2] if engine == dtls_engine_pick.MBEDTLS else "-"
            rows.append(("dprive, DTLS on " + label, statistics.median(kibs), min(kibs), max(kibs),
                         "yes" if proved else "NO: %r" % [(ran, up) for _, ran, _, up in runs],
                         lib or "?"))
        kibs = []
        for r in range(args.runs):
            st = StubbyProcess(workdir / ("stubby-%d" % r), pki, ub.tls_port)
            st.start()
            try:
                kibs.append(idle_rss_kib(st, st.port, ("a.test", "b.test", "c.test")))
            finally:
                st.stop()
        rows.append(("stubby, one DoT upstream", statistics.median(kibs), min(kibs), max(kibs),
                     "-", "-"))
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n== DTLS engines: %s" % " ".join([sys.executable] + sys.argv))
    print("== idle RSS with one upstream up (%d runs each; gateway on %s)" % (args.runs,
                                                                           gateway_engine))
    print("%-44s %10s %17s  %-10s %s" % ("", "RSS MiB", "min-max MiB", "engine ok", "libmbedtls"))
    for label, med, lo, hi, ok, lib in rows:
        print("%-44s %10.1f %8.1f-%-8.1f  %-10s %s" % (label, med / 1024.0, lo / 1024.0,
                                                       hi / 1024.0, ok, lib))
    print("(CPython %s, glibc, 64-bit: upper bounds for a router's musl build of the same code)"
          % sys.version.split()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
