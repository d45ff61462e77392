"""`make dist` (package/dist.py): the release tarball the feed Makefile
builds from, byte for byte the same on every run, and the feed Makefile's
PKG_VERSION / PKG_HASH kept in step with the sources."""

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile

from tests.package.ipkkit import DIST, EPOCH, ROOT, load_dist


def run_dist(out, epoch=EPOCH):
    """package/dist.py as `make dist` runs it, in its own process, on a copy of
    the repository's inputs (so the real feed Makefile is not rewritten)."""
    repo = out / "repo"
    if not repo.exists():
        copy_repo(repo)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    proc = subprocess.run([sys.executable, str(DIST), "--out", str(out), "--root", str(repo)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return out / load_dist().tarball_name()


def copy_repo(dest):
    """The tarball's inputs and the feed Makefile, copied (mode bits kept)."""
    dest.mkdir(parents=True)
    for name in ("README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    for tree in ("src/dprive", "files", "luci-app"):
        shutil.copytree(ROOT / tree, dest / tree, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "package" / "dprive").mkdir(parents=True)
    shutil.copy2(ROOT / "package/dprive/Makefile", dest / "package/dprive/Makefile")
    return dest


def test_two_runs_make_the_same_bytes(tmp_path, version):
    a = run_dist(tmp_path / "a")
    b = run_dist(tmp_path / "b")
    assert a.name == f"dprive-{version}.tar.gz"
    assert a.read_bytes() == b.read_bytes()
    assert run_dist(tmp_path / "c", EPOCH + 1).read_bytes() != a.read_bytes()


def test_layout_owners_times_and_what_is_left_out(tmp_path, version):
    blob = load_dist().tarball(ROOT, EPOCH)
    assert blob[3] & 0x08 == 0                                 # gzip: no file name
    assert int.from_bytes(blob[4:8], "little") == EPOCH         # gzip: the fixed time
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        members = tar.getmembers()
    top = f"dprive-{version}"
    names = [m.name for m in members]
    assert names[0] == top and all(n == top or n.startswith(top + "/") for n in names)
    assert names == sorted(names, key=lambda n: n.split("/"))
    for m in members:
        assert (m.uid, m.gid, m.mtime) == (0, 0, EPOCH), m.name
        assert m.isdir() or m.isfile(), m.name
    rel = {m.name[len(top) + 1:]: m for m in members if m.isfile()}
    for must in ("README.md", "LICENSE", "src/dprive/__init__.py", "src/dprive/__main__.py",
                 "files/etc/config/dprive", "luci-app/Makefile",
                 "luci-app/htdocs/luci-static/resources/view/dprive/settings.js"):
        assert must in rel, must
    assert rel["files/etc/init.d/dprive"].mode == 0o755
    assert rel["files/etc/config/dprive"].mode == 0o644
    assert not [n for n in rel if n.startswith("package/") or "__pycache__" in n
                or n.endswith(".pyc") or "egg-info" in n]
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        got = tar.extractfile(f"{top}/src/dprive/__init__.py").read()
    assert got == (ROOT / "src/dprive/__init__.py").read_bytes()
    assert gzip.decompress(blob)                               # one clean gzip member


def test_dist_rewrites_a_stale_makefile_then_leaves_it_alone(tmp_path):
    dist = load_dist()
    repo = copy_repo(tmp_path / "repo")
    makefile = repo / "package/dprive/Makefile"
    assert dist.stale(repo) == []
    init = repo / "src/dprive/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.', 1))
    problems = dist.stale(repo)
    assert any("PKG_VERSION" in p for p in problems) and any("PKG_HASH" in p for p in problems)

    out = dist.dist(tmp_path / "out", root=repo)
    assert out.name.startswith("dprive-9.")
    assert dist.stale(repo) == []
    text = makefile.read_text()
    fields = dist.makefile_fields(text)
    assert fields[0].startswith("9.")
    assert fields[1] == hashlib.sha256(out.read_bytes()).hexdigest()
    dist.dist(tmp_path / "again", root=repo)
    assert makefile.read_text() == text                        # nothing new: nothing rewritten


def test_check_names_what_is_stale(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    (repo / "files/etc/config/dprive").write_text("changed\n")
    proc = subprocess.run([sys.executable, str(DIST), "--check", "--root", str(repo)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "PKG_HASH is" in proc.stderr and "run `make dist`" in proc.stderr
