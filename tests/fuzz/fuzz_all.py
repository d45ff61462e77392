"""`make fuzz`: every target under atheris in turn, then one table.

    .venv/bin/python tests/fuzz/fuzz_all.py [--seconds S] [--runs N] [--targets a,b]
                                           [--out build/fuzz] [--merge]

One target at a time (the machine is shared). Each starts from its working
corpus (build/fuzz/<target>/corpus, kept between runs), the seeds and the
regressions; libFuzzer adds what reaches new coverage to the working corpus,
writes findings to build/fuzz/<target>/findings/ and its log to
build/fuzz/<target>/log.txt. The table gives, per target: runs executed,
seconds, libFuzzer's coverage figures (cov: instrumented edges reached in
dprive's modules, ft: features), the working corpus's size and the findings.
--merge then adds to tests/fuzz/corpus/<target>/ the working-corpus inputs
that reach coverage the seeds do not (libFuzzer -merge=1: minimised).
Exit status 1 if anything was found.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import targets

STATUS_RE = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/", re.M)
UNITS_RE = re.compile(r"stat::number_of_executed_units: (\d+)")
FINDING_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


def run_target(name, out, seconds, runs, python):
    base = out / name
    corpus, findings = base / "corpus", base / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(findings))
    cmd = [python, str(targets.HERE / "run.py"), name, str(corpus), str(targets.CORPUS / name),
           "-artifact_prefix=%s/" % findings, "-print_final_stats=1", "-timeout=60",
           "-rss_limit_mb=2048", "-max_len=16384"]
    if targets.write_dictionary(name, base / "dict"):
        cmd.append("-dict=%s" % (base / "dict"))
    if (targets.REGRESSIONS / name).is_dir():
        cmd.append(str(targets.REGRESSIONS / name))
    if seconds:
        cmd.append("-max_total_time=%d" % seconds)
    if runs:
        cmd.append("-runs=%d" % runs)
    started = time.monotonic()
    with open(base / "log.txt", "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    text = (base / "log.txt").read_text(errors="replace")
    status = STATUS_RE.findall(text)
    units = UNITS_RE.findall(text)
    new = sorted(f for f in set(os.listdir(findings)) - before if f.startswith(FINDING_PREFIXES))
    return {
        "target": name, "rc": rc, "seconds": elapsed,
        "runs": int(units[-1]) if units else (int(status[-1][0]) if status else 0),
        "cov": int(status[-1][1]) if status else 0, "ft": int(status[-1][2]) if status else 0,
        "corpus": len(os.listdir(corpus)), "findings": new,
    }


def merge(name, out, python):
    """Add the working corpus's new coverage to the committed seeds (minimised)."""
    cmd = [python, str(targets.HERE / "run.py"), name, "-merge=1", str(targets.CORPUS / name),
           str(out / name / "corpus")]
    subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=0, help="per target (libFuzzer -max_total_time)")
    parser.add_argument("--runs", type=int, default=0, help="per target (libFuzzer -runs)")
    parser.add_argument("--targets", default=",".join(targets.NAMES))
    parser.add_argument("--out", default=str(targets.ROOT / "build" / "fuzz"))
    parser.add_argument("--merge", action="store_true")
    args = parser.parse_args(argv)
    if not args.seconds and not args.runs:
        args.seconds = 60
    out = Path(args.out)
    rows = []
    for name in args.targets.split(","):
        row = run_target(name, out, args.seconds, args.runs, sys.executable)
        rows.append(row)
        print("%s: %d runs in %.0f s, cov %d ft %d, corpus %d, findings: %s"
              % (name, row["runs"], row["seconds"], row["cov"], row["ft"], row["corpus"],
                 ", ".join(row["findings"]) or "none"), flush=True)
        if args.merge and not row["findings"]:
            merge(name, out, sys.executable)
    print()
    print("%-9s %10s %8s %6s %7s %7s %9s  %s" % ("target", "runs", "seconds", "cov", "ft", "corpus",
                                               "exec/s", "findings"))
    for row in rows:
        print("%-9s %10d %8.0f %6d %7d %7d %9.0f  %s" % (
            row["target"], row["runs"], row["seconds"], row["cov"], row["ft"], row["corpus"],
            row["runs"] / max(row["seconds"], 0.001),
            " ".join(str(out / row["target"] / "findings" / f) for f in row["findings"]) or "none"))
    return 1 if any(row["findings"] or row["rc"] not in (0,) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
