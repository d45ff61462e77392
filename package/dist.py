#!/usr/bin/env python3
"""dprive's release tarball, the source package/dprive/Makefile builds from.

    python3 package/dist.py [--out build/dist] [--check]

writes build/dist/dprive-<version>.tar.gz: README.md, LICENSE, src/dprive,
files/ and luci-app/ under dprive-<version>/ (not package/: the feed Makefile
holds the tarball's hash, so it cannot be inside). Reproducible: sorted,
root:root, one mtime for every entry, gzip without name or time; files/ carry
the modes they are installed with (package/build_ipk.py's rule), the rest
0755 when executable in the tree, else 0644.

The mtime is SOURCE_DATE_EPOCH, else the time of the last commit that touched
the tarball's inputs. That epoch is written into the feed Makefile beside
PKG_HASH, so the hash can be checked again (tests/package) from the sources
alone, whatever git says later. Then the feed Makefile's PKG_VERSION and
PKG_HASH lines are rewritten; --check rewrites nothing and exits 1 when they
are stale. When the Makefile's hash is still that of the sources at its
recorded epoch, nothing changes (a new commit elsewhere does not churn it).
Python standard library only.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FEED_MAKEFILE = Path("package") / "dprive" / "Makefile"
# What the tarball holds: single files, then whole trees (as build_ipk walks them).
TOP_FILES = ("README.md", "LICENSE")
TREES = ("src/dprive", "files", "luci-app")
EPOCH_LINE = re.compile(r"^# PKG_HASH is of `make dist` at SOURCE_DATE_EPOCH=(\d+)\.$", re.M)


# package/build_ipk.py's helpers: version, walk, modes, tar, atomic writes.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_ipk  # noqa: E402


def tarball_name(root=ROOT):
    """PKG_SOURCE: $(PKG_NAME)-$(PKG_VERSION).tar.gz."""
    return f"dprive-{build_ipk.version(root)}.tar.gz"


def entries(root=ROOT):
    """{path in the tarball (without the top folder): (mode, bytes)}."""
    out = {}
    for name in TOP_FILES:
        path = root / name
        if path.is_file():
            out[name] = (0o755 if path.stat().st_mode & 0o100 else 0o644, path.read_bytes())
    for tree in TREES:
        top = root / tree
        if not top.is_dir():
            continue
        for rel, path in build_ipk._walk(top):
            src_mode = path.stat().st_mode
            if tree == "files":
                mode = build_ipk.file_mode(rel, src_mode)
            else:
                mode = 0o755 if src_mode & 0o100 else 0o644
            out[f"{tree}/{rel}"] = (mode, path.read_bytes())
    return out


def last_commit_epoch(root=ROOT):
    """SOURCE_DATE_EPOCH, else the time of the last commit touching the
    tarball's inputs, else 0 (no git)."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return int(env)
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct", "--",
                              *TOP_FILES, *TREES],
                             capture_output=True, text=True, check=True).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 0


def tarball(root=ROOT, epoch=None):
    """The tarball's bytes."""
    if epoch is None:
        epoch = last_commit_epoch(root)
    top = f"dprive-{build_ipk.version(root)}/"
    return build_ipk.tar_gz(entries(root), epoch, prefix=top)


def makefile_fields(text):
    """(PKG_VERSION, PKG_HASH, recorded epoch or None) of the feed Makefile."""
    def field(name):
        m = re.search(rf"^{name}:=(.*)$", text, re.M)
        if not m:
            raise SystemExit(f"{FEED_MAKEFILE}: no {name}:= line")
        return m.group(1).strip()
    m = EPOCH_LINE.search(text)
    return field("PKG_VERSION"), field("PKG_HASH"), int(m.group(1)) if m else None


def rewrite_makefile(text, version, digest, epoch):
    text = re.sub(r"^PKG_VERSION:=.*$", f"PKG_VERSION:={version}", text, count=1, flags=re.M)
    text = re.sub(r"^PKG_HASH:=.*$", f"PKG_HASH:={digest}", text, count=1, flags=re.M)
    line = f"# PKG_HASH is of `make dist` at SOURCE_DATE_EPOCH={epoch}."
    if EPOCH_LINE.search(text):
        return EPOCH_LINE.sub(line, text, count=1)
    return re.sub(r"^PKG_HASH:=", line + "\nPKG_HASH:=", text, count=1, flags=re.M)


def stale(root=ROOT):
    """What is out of date in the feed Makefile, as sentences (empty: nothing)."""
    text = (root / FEED_MAKEFILE).read_text()
    mk_version, mk_hash, mk_epoch = makefile_fields(text)
    problems = []
    if mk_version != build_ipk.version(root):
        problems.append(f"PKG_VERSION is {mk_version}, src/dprive says {build_ipk.version(root)}")
    if mk_epoch is None:
        problems.append("no SOURCE_DATE_EPOCH line above PKG_HASH")
    else:
        digest = hashlib.sha256(tarball(root, mk_epoch)).hexdigest()
        if digest != mk_hash:
            problems.append(f"PKG_HASH is {mk_hash}, the sources give {digest} "
                            f"(SOURCE_DATE_EPOCH={mk_epoch})")
    return problems


def dist(out_dir, root=ROOT, update=True):
    """Write the tarball; bring the feed Makefile up to date. Its path."""
    path = root / FEED_MAKEFILE
    text = path.read_text()
    _, _, mk_epoch = makefile_fields(text)
    epoch = mk_epoch if (mk_epoch is not None and not stale(root)
                         and "SOURCE_DATE_EPOCH" not in os.environ) else last_commit_epoch(root)
    blob = tarball(root, epoch)
    out = Path(out_dir) / tarball_name(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    build_ipk.write_atomically(out, blob)
    if update:
        new = rewrite_makefile(text, build_ipk.version(root), hashlib.sha256(blob).hexdigest(), epoch)
        if new != text:
            path.write_text(new)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "dist"),
                        help="output directory (default build/dist)")
    parser.add_argument("--root", default=str(ROOT),
                        help="the repository (default: the one this file is in)")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the feed Makefile's PKG_VERSION/PKG_HASH are current")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.check:
        problems = stale(root)
        for problem in problems:
            print(f"{FEED_MAKEFILE}: {problem}: run `make dist`", file=sys.stderr)
        return 1 if problems else 0
    out = dist(args.out, root)
    print(out)
    print(f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
