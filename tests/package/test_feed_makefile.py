"""package/dprive/Makefile, the OpenWrt feed Makefile: read by GNU make with
stand-ins for OpenWrt's rules.mk and package.mk (openwrt-stubs/), it must
parse, carry the version of src/dprive, and install exactly what the .ipk of
`make ipk` holds, with the same modes and contents."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.package.ipkkit import EPOCH, FEED_MAKEFILE, PACKAGES, ROOT, STUBS, Ipk, load_builder

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="GNU make not installed")


def make(*args, src=ROOT, build_dir=ROOT, dry=False):
    """GNU make on the feed Makefile with the stand-ins; stdout."""
    cmd = ["make", "-s", "--no-print-directory", "-f", str(FEED_MAKEFILE),
           f"TOPDIR={STUBS}", f"INCLUDE_DIR={STUBS}", f"PKG_BUILD_DIR={build_dir}"]
    if src != ROOT:
        cmd.append(f"DPRIVE_SRC={src}")
    if dry:
        cmd.append("-n")
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert not proc.stderr, proc.stderr
    return proc.stdout


def meta(name):
    fields = {}
    for line in make("meta-" + name).splitlines():
        key, _, value = line.partition("=")
        fields[key] = value
    return fields


def install_commands(root, **kw):
    """`make -n install-<pkg>` for both packages, $(1) = root/<pkg>."""
    targets = ["install-" + p for p in PACKAGES]
    return make(f"STUB_ROOT={root}", *targets, dry=True, **kw)


def listed_files(commands, root):
    """{package: {'/path': mode}} named by the printed install commands:
    `install -mMODE SRC DEST` (not -d), and `printf ... > DEST` followed by
    `chmod MODE DEST`."""
    listed = {p: {} for p in PACKAGES}
    for line in commands.splitlines():
        for command in filter(None, (c.strip() for c in line.split(";"))):
            words = shlex.split(command)
            if words[0] == "install" and "-d" not in words:
                mode = next(w for w in words if w.startswith("-m"))[2:]
                dest, value = words[-1], int(mode, 8)
            elif words[0] == "printf":
                dest, value = words[words.index(">") + 1], None
            elif words[0] == "chmod":
                dest, value = words[2], int(words[1], 8)
            else:
                continue
            pkg, _, path = Path(dest).relative_to(root).as_posix().partition("/")
            listed[pkg]["/" + path] = value
    return listed


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


def test_version_is_that_of_the_python_package(version):
    assert make("print-PKG_VERSION").strip() == version
    assert make("print-PKG_NAME").strip() == "dprive"
    assert make("print-PKG_RELEASE").strip().isdigit()


def test_package_definitions_match_the_ipk_control(ipks):
    for name in PACKAGES:
        fields = meta(name)
        control = ipks[name].control()
        assert fields["PKGARCH"] == "all"
        assert fields["SECTION"] == control["Section"]
        assert fields["TITLE"] == control["Description"].splitlines()[0]
        deps = fields["DEPENDS"].split()
        assert all(d.startswith("+") for d in deps)
        assert [d[1:] for d in deps] == control["Depends"].split(", ")
        conffiles = ipks[name].control_files.get("./conffiles", b"").decode().split()
        assert fields["CONFFILES"].split() == conffiles
    assert meta("dprive")["USERID"].split(":")[0].split("=")[0] == "dprive"
    assert meta("dprive")["USERID"].split(":")[1].split("=")[0] == "dprive"


def test_make_n_lists_exactly_the_files_of_the_ipks(ipks, tmp_path):
    root = tmp_path / "root"
    listed = listed_files(install_commands(root), root)
    for name in PACKAGES:
        assert set(listed[name]) == set(ipks[name].data_modes()), name
        for path, mode in listed[name].items():
            if mode is not None:
                assert mode == ipks[name].data_modes()[path], path


def test_install_commands_build_the_same_tree_as_the_ipks(ipks, tmp_path):
    """The printed commands, run (PKG_BUILD_DIR is the repository, the layout
    Build/Prepare makes), give the ipk's data: paths, modes and bytes."""
    root = tmp_path / "root"
    commands = install_commands(root)
    proc = subprocess.run(["sh", "-e", "-c", commands], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    for name in PACKAGES:
        assert installed_tree(root / name) == ipk_tree(ipks[name]), name


def test_makefile_and_builder_agree_on_files_added_later(tmp_path):
    """files/ grows (init script, hotplug hooks, usr/share/...): both the feed
    Makefile and the builder pick every file up, with the same modes."""
    src = tmp_path / "repo"
    shutil.copytree(ROOT / "src" / "dprive", src / "src" / "dprive",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (src / "src" / "dprive" / "__pycache__").mkdir()
    (src / "src" / "dprive" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"x")
    for rel, mode in {"etc/config/dprive": 0o644, "etc/init.d/dprive": 0o644,
                      "etc/hotplug.d/iface/30-dprive": 0o644,
                      "etc/hotplug.d/ntp/30-dprive": 0o644,
                      "usr/share/dprive/dnsmasq.sh": 0o755,
                      "usr/share/rpcd/acl.d/luci-app-dprive.json": 0o644,
                      "etc/init.d/.dprive.swp": 0o644}.items():
        path = src / "files" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel + "\n")
        os.chmod(path, mode)
    out = load_builder().build(tmp_path / "ipk", root=src, mtime=EPOCH)
    ipk = {p.name.split("_")[0]: Ipk(p) for p in out}

    root = tmp_path / "root"
    commands = install_commands(root, src=src, build_dir=src)
    assert subprocess.run(["sh", "-e", "-c", commands], timeout=30).returncode == 0
    tree = installed_tree(root / "dprive")
    assert tree == ipk_tree(ipk["dprive"])
    assert tree["/etc/init.d/dprive"][0] == 0o755
    assert tree["/etc/hotplug.d/ntp/30-dprive"][0] == 0o644
    assert tree["/usr/share/dprive/dnsmasq.sh"][0] == 0o755
    assert not [p for p in tree if ".swp" in p or "__pycache__" in p]


def test_wrong_source_directory_is_a_clear_error(tmp_path):
    proc = subprocess.run(["make", "-s", "-f", str(FEED_MAKEFILE), f"TOPDIR={STUBS}",
                           f"INCLUDE_DIR={STUBS}", f"DPRIVE_SRC={tmp_path}", "print-PKG_VERSION"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "set DPRIVE_SRC" in proc.stderr
