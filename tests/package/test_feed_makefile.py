"""package/dprive/Makefile, the OpenWrt feed Makefile, read by GNU make with
stand-ins for OpenWrt's rules.mk and package.mk and openwrt/packages'
python3-package.mk (openwrt-stubs/): it reads nothing of the repository when
parsed, names the `make dist` tarball by its hash, and, taken through the
SDK's steps (hash check, unpack, Build/Compile, Package/<name>/install),
installs exactly what the .ipk of `make ipk` hold: paths, modes and bytes,
the .pyc included."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.package.ipkkit import (EPOCH, FEED_MAKEFILE, PACKAGES, ROOT, STUBS, load_builder,
                                  load_dist)

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="GNU make not installed")


def make(*args, makefile=FEED_MAKEFILE, check=True, **variables):
    """GNU make on the feed Makefile with the stand-ins; the finished process.
    The environment is the SDK's as far as it matters: SOURCE_DATE_EPOCH (rules.mk
    exports it) and PYTHONHASHSEED (see python3-package.mk's stand-in)."""
    cmd = ["make", "-s", "--no-print-directory", "-f", str(makefile),
           f"TOPDIR={STUBS}", f"INCLUDE_DIR={STUBS}", f"HOST_PYTHON3_BIN={sys.executable}"]
    cmd += [f"{k}={v}" for k, v in variables.items()]
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), PYTHONHASHSEED=str(EPOCH))
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120,
                          cwd="/", env=env)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def meta(name):
    fields = {}
    for line in make("meta-" + name).stdout.splitlines():
        key, _, value = line.partition("=")
        fields[key] = value
    return fields


def installed_tree(root):
    """{'/path': (mode, bytes)} of the regular files under root."""
    tree = {}
    for path in Path(root).rglob("*"):
        if path.is_file():
            tree["/" + path.relative_to(root).as_posix()] = (path.stat().st_mode & 0o7777,
                                                            path.read_bytes())
        else:
            assert path.stat().st_mode & 0o7777 == 0o755, path
    return tree


def ipk_tree(ipk):
    return {p: (mode, ipk.data_files["." + p]) for p, mode in ipk.data_modes().items()}


def dist_tarball(dl_dir, root=ROOT):
    """`make dist`'s tarball into dl_dir, made at the epoch the Makefile records."""
    dist = load_dist()
    _, _, epoch = dist.makefile_fields((root / "package/dprive/Makefile").read_text())
    path = Path(dl_dir) / dist.tarball_name(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dist.tarball(root, epoch))
    return path


def test_version_release_and_hash_are_those_of_the_sources(version):
    assert make("print-PKG_VERSION").stdout.strip() == version
    assert make("print-PKG_RELEASE").stdout.strip() == str(load_builder().release())
    stale = load_dist().stale()
    assert not stale, "; ".join(stale) + ": run `make dist` and commit package/dprive/Makefile"


def test_makefile_reads_nothing_at_parse_time_and_names_its_source():
    text = FEED_MAKEFILE.read_text()
    for forbidden in ("$(shell", "$(error", "$(wildcard", "find ", "DPRIVE_SRC", "../src"):
        assert forbidden not in text, forbidden
    fields = dict(re.findall(r"^(PKG_\w+):=(.*)$", text, re.M))
    assert fields["PKG_SOURCE"] == "$(PKG_NAME)-$(PKG_VERSION).tar.gz"
    assert fields["PKG_SOURCE_URL"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{64}", fields["PKG_HASH"])
    assert fields["PKG_LICENSE"] == load_builder().LICENSE
    assert re.fullmatch(r"[^<>]+ <[^@<>\s]+@[^@<>\s]+>", fields["PKG_MAINTAINER"])
    for name in fields["PKG_LICENSE_FILES"].split():
        assert name in load_dist().entries(), name          # shipped in the tarball
    assert "include $(TOPDIR)/feeds/packages/lang/python/python3-package.mk" in text
    assert "$(eval $(call Py3Package,dprive))" in text


def test_package_definitions_match_the_ipk_control(ipks):
    builder = load_builder()
    for name in PACKAGES:
        fields = meta(name)
        control = ipks[name].control()
        assert fields["PKGARCH"] == "all"
        assert fields["VERSION"] == control["Version"] == builder.full_version()
        assert fields["SECTION"] == control["Section"]
        assert fields["URL"] == control["URL"]
        assert fields["TITLE"] == builder.packages()[name]["title"]
        deps = fields["DEPENDS"].split()
        assert all(d.startswith("+") for d in deps)
        # package-defaults.mk puts libc first.
        assert ["libc"] + [d[1:] for d in deps] == control["Depends"].split(", ")
        assert fields["USERID"] == control.get("Require-User", "")
        conffiles = ipks[name].control_files.get("./conffiles", b"").decode().split()
        assert fields["CONFFILES"].split() == conffiles
    assert "+ca-bundle" in meta("dprive")["DEPENDS"].split()


def test_postinst_defines_are_the_ipks_postinst_pkg(ipks, tmp_path):
    """Package/<name>/postinst becomes postinst-pkg (package-pack.mk)."""
    for name in ("dprive", "dprive-dtls"):
        out = tmp_path / name
        make("postinst-" + name, STUB_OUT=out)
        assert out.read_bytes() == ipks[name].control_files["./postinst-pkg"], name
    assert "./postinst-pkg" not in ipks["dprive-src"].control_files


def test_sdk_steps_install_the_same_trees_as_the_ipks(ipks, tmp_path):
    """Download check, unpack, Build/Compile and install of every package
    give the ipk's data; a file under files/ the Makefile forgets fails here."""
    dl = tmp_path / "dl"
    dist_tarball(dl)
    where = dict(BUILD_DIR=tmp_path / "build", DL_DIR=dl, STUB_ROOT=tmp_path / "root")
    make("prepare", "compile", **where)
    make(*("install-" + name for name in PACKAGES), **where)
    for name in PACKAGES:
        tree, want = installed_tree(tmp_path / "root" / name), ipk_tree(ipks[name])
        assert sorted(set(want) - set(tree)) == [], f"{name}: not installed by the Makefile"
        assert sorted(set(tree) - set(want)) == [], f"{name}: not in the ipk"
        for path in want:
            assert tree[path] == want[path], path
    pyc = [p for p in installed_tree(tmp_path / "root" / "dprive") if p.endswith(".pyc")]
    assert "/usr/lib/dprive/dprive/__main__.pyc" in pyc


def test_a_tarball_that_is_not_the_one_hashed_is_refused(tmp_path):
    dl = tmp_path / "dl"
    path = dist_tarball(dl)
    path.write_bytes(path.read_bytes() + b"\0")
    proc = make("prepare", BUILD_DIR=tmp_path / "build", DL_DIR=dl, check=False)
    assert proc.returncode != 0
    assert "does not match" in proc.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() in proc.stderr
