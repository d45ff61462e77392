"""What the daemon opens, writes and calls: the list its procd jail is made from.

Runs `python -m dprive run` under strace -f in front of a local unbound
(DNS over TLS, or DTLS through a dprive gateway with --dtls), sends queries
over UDP and TCP, asks the status, rereads the config (SIGHUP) and stops it
(SIGTERM), then prints
  - every path it touched outside Python's own install and dprive's source
    (syscall, path, result), from `strace -e trace=file,network,%process`;
  - the distinct system calls of a second, identical run (`strace -c`), the
    list a seccomp filter would have to allow on this machine (glibc,
    this architecture; a router's musl and CPU differ).
files/usr/share/dprive/jail.sh says which of these the jail mounts.
Root not needed. Run: .venv/bin/python bench/jail_paths.py [--dtls]
"""

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tools import certs, clients, common  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.gateway_proc import GatewayProcess  # noqa: E402
from tests.tools.unbound import UnboundServer  # noqa: E402

CALL = re.compile(r'^\d+ +(\w+)\((?:[^"]*?)"([^"]*)".*\) += (-?\d+|\?)(?: (\w+))?')
OWN = (sys.prefix, sys.base_prefix, str(ROOT / "src"))


def exercise(workdir, pki, port, transport, strace_args):
    """One daemon run under strace: queries, status, SIGHUP, SIGTERM."""
    out = workdir / ("strace-%d.txt" % len(list(workdir.glob("strace-*"))))
    dp = DpriveProcess(workdir / ("dprive-%s" % out.stem), pki.ca_cert,
                       [upstream("u", port, spki=[pki.server_pin], transport=transport)],
                       argv_prefix=["strace", "-f", "-qq", *strace_args, "-o", str(out)])
    dp.start(timeout_s=60)
    try:
        for name, tcp in (("a.test", False), ("b.test", True), ("c.test", False)):
            assert clients.kdig(name, "A", port=dp.port, tcp=tcp).rcode == "NOERROR"
        pid = dp.status()["pid"]
        os.kill(pid, signal.SIGHUP)
        common.wait_until(lambda: "reading" in dp.log_text(), 10, what="the SIGHUP reload")
        assert clients.kdig("a.test", "AAAA", port=dp.port).rcode == "NOERROR"
        os.kill(pid, signal.SIGTERM)   # strace prints its -c table only when its child ends
        dp.proc.wait(30)
    finally:
        dp.stop()
    return out.read_text()


def touched(trace):
    rows = set()
    for line in trace.splitlines():
        m = CALL.match(line)
        if not m or not m.group(2).startswith("/") or m.group(2).startswith(OWN):
            continue
        result = m.group(4) or ("ok" if m.group(3) != "-1" else "fails")
        rows.add((m.group(2), m.group(1), result))
    return sorted(rows)


def syscalls(summary):
    names = []
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            names.append(fields[-1])
    return sorted(names)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtls", action="store_true", help="upstream over DTLS (a dprive gateway)")
    args = ap.parse_args(argv)
    missing = common.missing_tools(["strace", "unbound", "kdig"])
    if missing:
        print("missing: %s (sh tests/tools/ensure-deps.sh; apt-get install strace)" % " ".join(missing))
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="dprive-jail-paths-"))
    ub = gw = None
    try:
        pki = certs.make_test_pki(workdir / "pki")
        ub = UnboundServer(workdir / "unbound", pki)
        ub.start()
        port, transport = ub.tls_port, "tls"
        if args.dtls:
            gw = GatewayProcess(workdir / "gateway", pki, ub.plain_port)
            gw.start()
            port, transport = gw.port, "dtls"
        trace = exercise(workdir, pki, port, transport, ["-e", "trace=file,network,%process"])
        summary = exercise(workdir, pki, port, transport, ["-c"])
    finally:
        for proc in (gw, ub):
            if proc is not None:
                proc.stop()
    print("paths outside %s (the test's own files are under %s):" % (", ".join(OWN), workdir))
    print("%-64s %-12s %s" % ("path", "call", "result"))
    for path, call, result in touched(trace):
        print("%-64s %-12s %s" % (path.replace(str(workdir), "$TMP"), call, result))
    names = syscalls(summary)
    print("\n%d distinct system calls (%s):" % (len(names), transport))
    print(" ".join(names))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
