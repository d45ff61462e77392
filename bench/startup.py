"""Start-up time of the daemon under the router's Python, dprive's modules with
and without compiled bytecode.

    .venv/bin/python bench/startup.py [--runs 5] [--branch 24.10]

The interpreter is tests/tools/router_python.py's root for dprive's DEPENDS
(stdlib as .pyc only, as OpenWrt's packages ship it). dprive's own code is a
copy of src/dprive: as the feed Makefile installs it today (.py only; OpenWrt's
Python never writes bytecode, so each start compiles every module again), and
compiled by compileall into __pycache__. Time: from spawning
`python3 -m dprive run` to the "started" line in its log (polled every 2 ms),
with one upstream on a closed loopback port (start-up sends nothing).
"""

import argparse
import compileall
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import common, router_python  # noqa: E402
from tests.tools.dprive_proc import config_text, upstream  # noqa: E402


def started_after(python, conf, log_path, timeout_s=30.0):
    """Seconds from spawn to the daemon's "started" log line."""
    log_path.unlink(missing_ok=True)
    t0 = time.monotonic()
    proc = common.spawn([python, "-m", "dprive", "run", "--config", str(conf)], log_path, cwd="/")
    try:
        while time.monotonic() - t0 < timeout_s:
            if " started, profile " in log_path.read_text(errors="replace"):
                return time.monotonic() - t0
            if proc.poll() is not None:
                raise RuntimeError("dprive exited: %s" % common.tail(log_path))
            time.sleep(0.002)
        raise TimeoutError("no start line in %.0f s" % timeout_s)
    finally:
        common.stop_process(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--branch", default="24.10", choices=sorted(router_python.BRANCH_VERSIONS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dprive-startup-"))
    try:
        source, compiled = work / "py" / "src", work / "pyc" / "src"
        for dest in (source, compiled):
            shutil.copytree(ROOT / "src" / "dprive", dest / "dprive",
                            ignore=shutil.ignore_patterns("__pycache__"))
        packages = router_python.declared_depends(ROOT / "package" / "dprive" / "Makefile")["dprive"]
        roots = {}
        for name, code in (("without .pyc", source), ("with .pyc", compiled)):
            roots[name] = router_python.build_root(work / ("root-" + name.split()[0]), packages,
                                                   args.branch, extra_paths=[code])
        if not compileall.compile_dir(str(compiled), quiet=1):
            raise SystemExit("compileall failed")
        # compileall ran under this Python: the bytecode must be for the router root's.
        tag = "cpython-%s" % roots["with .pyc"].version.replace(".", "")
        assert any(compiled.rglob("*.%s.pyc" % tag)), "no %s bytecode: run under Python %s" % (
            tag, roots["with .pyc"].version)
        conf = work / "dprive.conf"
        port = common.free_port()
        conf.write_text(config_text({
            "listen_address": ["127.0.0.1"], "listen_port": port, "profile": "strict",
            "ca_bundle": "/etc/ssl/certs/ca-certificates.crt", "log_level": "info",
            "control_socket": str(work / "control.sock")},
            [upstream("closed", common.free_port())]))
        print("dprive start-up under OpenWrt %s's Python (%s), %d runs each, exec -> 'started':"
              % (args.branch, roots["with .pyc"].version, args.runs))
        for name, rp in roots.items():
            times = [started_after(rp.python, conf, work / "dprive.log") * 1000 for _ in range(args.runs)]
            print("  %-13s median %6.1f ms  min %6.1f  max %6.1f  (%s)" % (
                name, statistics.median(times), min(times), max(times),
                " ".join("%.0f" % t for t in times)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
