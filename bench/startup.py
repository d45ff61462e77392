"""Start-up of the daemon under the router's Python: exec -> first answer, with
and without compiled bytecode, the import time left, and a slow-CPU estimate.

    .venv/bin/python bench/startup.py [--runs 3] [--branch 24.10]

The interpreter is tests/tools/router_python.py's root for dprive's DEPENDS
(stdlib as .pyc only, as OpenWrt's packages ship it). dprive's own code is a
copy of src/dprive: as the feed Makefile installs it today (.py only; OpenWrt's
Python never writes bytecode, so each start compiles every module again), and
compiled by compileall into __pycache__. One DoT upstream: a local unbound.

From spawning `python3 -m dprive run` a UDP query for a.test goes to the listen
port every INTERVAL_S; the time is that of the first NOERROR answer (so it holds
the TLS handshake with the upstream), beside the time of the "started" log line
(polled as often). The CPU time is the process's own (schedstat, ns) at that
answer. The x10 estimate for a router CPU ten times slower: CPU time x 10 plus
the rest of the wall time (waits: the loopback handshake, the polling), which
does not scale; flash reads and a remote upstream's round trips are not in it.
Import time: `-X importtime` in separate runs of each variant, up to the first
answer (the sum of the top-level imports' cumulative times; it slows what it
measures, so it is only shown beside the plain runs).
"""

import argparse
import compileall
import select
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, common, router_python  # noqa: E402
from tests.tools.dprive_proc import config_text, upstream  # noqa: E402
from tests.tools.unbound import UnboundServer  # noqa: E402

INTERVAL_S = 0.002
STARTED = " started, profile "


def query(qid):
    """A DNS query for a.test A IN, recursion desired."""
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x01a\x04test\x00\x00\x01\x00\x01"


def cpu_ns(pid):
    """Time on a CPU of all the process's threads (asyncio may start some)."""
    total = 0
    for task in Path("/proc/%d/task" % pid).iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def first_answer(argv, log_path, port, timeout_s=30.0):
    """(seconds to "started", seconds to the first NOERROR answer, CPU seconds then)."""
    log_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    t0 = time.monotonic()
    proc = common.spawn(argv, log_path, cwd="/")
    started = None
    qid = 0
    try:
        while time.monotonic() - t0 < timeout_s:
            qid = (qid + 1) & 0xFFFF
            try:
                sock.sendto(query(qid), ("127.0.0.1", port))
            except OSError:      # ICMP port unreachable of an earlier query: not listening yet
                pass
            deadline = time.monotonic() + INTERVAL_S
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    break
                try:
                    data = sock.recv(4096)
                except OSError:
                    continue
                if len(data) >= 12 and data[2] & 0x80 and data[3] & 0x0F == 0:
                    now = time.monotonic() - t0
                    cpu = cpu_ns(proc.pid) / 1e9
                    return started or now, now, cpu
            if started is None and STARTED in log_path.read_text(errors="replace"):
                started = time.monotonic() - t0
            if proc.poll() is not None:
                raise RuntimeError("dprive exited: %s" % common.tail(log_path))
        raise TimeoutError("no answer in %.0f s: %s" % (timeout_s, common.tail(log_path)))
    finally:
        sock.close()
        common.stop_process(proc)


def import_ms(log_path):
    """Sum of the top-level imports' cumulative times, and the heaviest five."""
    top = []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):       # one space: imported by no other module
            top.append((int(cumulative) / 1000.0, name.strip()))
    top.sort(reverse=True)
    return sum(ms for ms, _ in top), top[:5]


def spread(values, spec=".1f"):
    return "%s [%s-%s]" % tuple(format(v, spec) for v in
                                (statistics.median(values), min(values), max(values)))


def build(work, branch):
    source, compiled = work / "py" / "src", work / "pyc" / "src"
    for dest in (source, compiled):
        shutil.copytree(ROOT / "src" / "dprive", dest / "dprive",
                        ignore=shutil.ignore_patterns("__pycache__"))
    packages = router_python.declared_depends(ROOT / "package" / "dprive" / "Makefile")["dprive"]
    roots = {}
    for name, code in (("without .pyc", source), ("with .pyc", compiled)):
        roots[name] = router_python.build_root(work / ("root-" + name.split()[0]), packages,
                                               branch, extra_paths=[code])
    if not compileall.compile_dir(str(compiled), quiet=1):
        raise SystemExit("compileall failed")
    # compileall ran under this Python: the bytecode must be for the router root's.
    tag = "cpython-%s" % roots["with .pyc"].version.replace(".", "")
    assert any(compiled.rglob("*.%s.pyc" % tag)), "no %s bytecode: run under Python %s" % (
        tag, roots["with .pyc"].version)
    return roots


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--branch", default="24.10", choices=sorted(router_python.BRANCH_VERSIONS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dprive-startup-"))
    ub = None
    try:
        roots = build(work, args.branch)
        pki = certs.make_test_pki(work / "pki")
        ub = UnboundServer(work / "unbound", pki, q_names=0, log_queries=False)
        ub.start()
        conf = work / "dprive.conf"
        port = common.free_port()
        conf.write_text(config_text({
            "listen_address": ["127.0.0.1"], "listen_port": port, "profile": "strict",
            "ca_bundle": str(pki.ca_cert), "log_level": "info",
            "control_socket": str(work / "control.sock")},
            [upstream("unbound", ub.tls_port)]))
        log = work / "dprive.log"
        print("\n== start-up: %s" % " ".join([sys.executable] + sys.argv))
        print("OpenWrt %s's Python (%s), one local DoT upstream, %d runs each; median [min-max];"
              " exec -> first answer: a query every %.0f ms from the spawn" % (
                  args.branch, roots["with .pyc"].version, args.runs, INTERVAL_S * 1000))
        print("%-13s %21s %21s %21s %21s %19s" % ("dprive code", "'started' ms", "first answer ms",
                                                 "CPU ms", "x10 CPU estimate ms", "imports ms"))
        heavy = {}
        for name, rp in roots.items():
            argv = [str(rp.python), "-m", "dprive", "run", "--config", str(conf)]
            runs = [first_answer(argv, log, port) for _ in range(args.runs)]
            started, answer, cpu = ([r[i] * 1000 for r in runs] for i in range(3))
            estimate = [c * 10 + (a - c) for a, c in zip(answer, cpu)]
            imports = []
            for _ in range(args.runs):
                first_answer([str(rp.python), "-X", "importtime"] + argv[1:], log, port)
                total, heavy[name] = import_ms(log)
                imports.append(total)
            print("%-13s %21s %21s %21s %21s %19s" % (name, spread(started), spread(answer),
                                                      spread(cpu), spread(estimate, ".0f"),
                                                      spread(imports, ".0f")))
        print("heaviest top-level imports with .pyc (cumulative ms, last -X importtime run): " + ", ".join(
            "%s %.1f" % (mod, ms) for ms, mod in heavy["with .pyc"]))
        print("(x10 estimate: the CPU ms x 10 plus the wall time that is not CPU; flash reads"
              " and a remote upstream's round trips are not in it)")
    finally:
        if ub is not None:
            ub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
