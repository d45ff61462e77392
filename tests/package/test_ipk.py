"""The .ipk files of `make ipk`: SDK names, outer layout, control, scripts,
data tree (.pyc as Py3Package installs them), and dprive run from the data
tree extracted into a scratch root. How the scripts behave on install,
upgrade and removal: test_maintainer_scripts.py."""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.package.ipkkit import (ALL_PACKAGES, EPOCH, ROOT, Ipk, load_builder,
                                  run_builder)

# package-pack.mk's order of the control fields (those dprive's packages have).
CONTROL_ORDER = ["Package", "Version", "Depends", "Source", "SourceName", "License",
                 "LicenseFiles", "Section", "Require-User", "SourceDateEpoch", "URL",
                 "Maintainer", "Architecture", "Installed-Size", "Description"]


def repo_payload():
    """What the main package must install, worked out from the repository:
    {installed path: source Path, or None for the generated wrapper and the
    .pyc of a source}."""
    want = {"/usr/sbin/dprive": None}
    for top, prefix in ((ROOT / "src" / "dprive", "/usr/lib/dprive/dprive/"),
                        (ROOT / "files", "/")):
        for path in top.rglob("*"):
            rel = path.relative_to(top)
            if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
                continue
            if any(p.startswith(".") for p in rel.parts) or path.name.endswith("~"):
                continue
            if path.suffix == ".py":
                want[prefix + rel.as_posix() + "c"] = None
            else:
                want[prefix + rel.as_posix()] = path
    return want


def test_packages_are_named_as_the_sdk_names_them(ipks, version):
    """ipkg-build: <Package>_<Version>_<arch>.ipk, Version being
    PKG_VERSION-rPKG_RELEASE (package-defaults.mk)."""
    assert sorted(ipks) == sorted(ALL_PACKAGES)
    for name, ipk in ipks.items():
        assert ipk.path.name == f"{name}_{version}-r1_all.ipk"
        assert ipk.control()["Version"] == f"{version}-r1"


@pytest.mark.parametrize("name", ALL_PACKAGES)
def test_outer_layout_is_that_of_ipkg_build(ipks, name):
    ipk = ipks[name]
    assert [m.name for m in ipk.outer] == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    assert ipk.parts["./debian-binary"] == b"2.0\n"
    for m in ipk.outer:
        assert m.isfile() and m.mode == 0o644 and (m.uid, m.gid) == (0, 0), m.name
    assert ipk.path.read_bytes()[:2] == b"\x1f\x8b"         # gzip, not ar


@pytest.mark.parametrize("name", ALL_PACKAGES)
def test_control_fields(ipks, version, name):
    ipk = ipks[name]
    control = ipk.control()
    assert list(control) == [f for f in CONTROL_ORDER if f in control]
    assert control["Package"] == name
    assert control["Architecture"] == "all"
    assert control["Section"] == ("luci" if name == "luci-app-dprive" else "net")
    assert control["Maintainer"].endswith(">") and "@" in control["Maintainer"]
    assert control["License"] == "GPL-2.0-only" and control["LicenseFiles"] == "LICENSE"
    assert int(control["SourceDateEpoch"]) == EPOCH
    # ipkg-build: the size of the uncompressed data tar.
    assert int(control["Installed-Size"]) == len(gzip.decompress(ipk.parts["./data.tar.gz"]))
    depends = control["Depends"].split(", ")
    assert depends[0] == "libc"                          # package-defaults.mk adds it
    if name == "dprive":
        assert "ca-bundle" in depends and "python3-ubus" in depends
        # DoT and DTLS on libmbedtls through ctypes; python3-openssl optional (tls_engine)
        assert "python3-ctypes" in depends and "libmbedtls" in depends
        assert "python3-openssl" not in depends and "python3-asyncio" not in depends
        assert control["Require-User"] == "dprive=5453:dprive=5453"
        assert "ubus" in control["Description"]
    elif name == "dprive-dtls":
        # what only the gateway still uses; pyOpenSSL is optional, never pulled in.
        assert depends[1:] == ["dprive", "python3-asyncio", "python3-logging"]
        assert "python3-pyopenssl" in control["Description"]   # how to choose it instead
    elif name == "dprive-src":
        assert depends == ["libc"]
    assert control["Description"].startswith(" ")      # package-pack.mk's sed


def test_conffiles_keep_the_users_settings(ipks):
    main = ipks["dprive"]
    conffiles = main.control_files["./conffiles"].decode().splitlines()
    assert "/etc/config/dprive" in conffiles
    shipped = set(main.data_modes())
    assert set(conffiles) <= shipped
    assert set(conffiles) == {p for p in shipped if p.startswith("/etc/config/")}
    if "/etc/config/dprive-gateway" in shipped:
        assert "/etc/config/dprive-gateway" in conffiles
    assert "./conffiles" not in ipks["dprive-dtls"].control_files   # it ships no config


@pytest.mark.parametrize("name", ALL_PACKAGES)
def test_control_tar_members(ipks, name):
    ipk = ipks[name]
    names = [m.name for m in ipk.control_members]
    assert names == sorted(names) and names[0] == "."    # "./" (tarfile drops the "/")
    for m in ipk.control_members:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), m.name
        assert m.mtime == EPOCH
        want = 0o755 if m.isdir() or m.name in ("./postinst", "./postinst-pkg", "./prerm") \
            else 0o644
        assert m.mode == want, m.name


def script(ipks, name, which):
    text = ipks[name].control_files["./" + which].decode()
    assert text.startswith("#!/bin/sh\n")
    return text


def shell():
    """BusyBox ash when there (as on OpenWrt), else /bin/sh."""
    busybox = shutil.which("busybox")
    return [busybox, "ash"] if busybox else ["/bin/sh"]


def run_script(text, tmp_path, env_extra):
    path = tmp_path / "script"
    path.write_text(text)
    env = {"PATH": os.environ["PATH"], **env_extra}
    return subprocess.run(shell() + [str(path)], env=env, capture_output=True, text=True,
                          timeout=10)


@pytest.mark.parametrize("name", ALL_PACKAGES)
def test_postinst_and_prerm_are_the_sdks(ipks, name):
    """Every package gets package-pack.mk's postinst and prerm, which hand
    over to /lib/functions.sh; its own part is postinst-pkg."""
    builder = load_builder()
    files = ipks[name].control_files
    assert files["./postinst"].decode() == builder.POSTINST_DEFAULT
    assert files["./prerm"].decode() == builder.PRERM_DEFAULT
    assert "default_postinst $0 $@" in builder.POSTINST_DEFAULT
    for script in ("./postinst", "./prerm", "./postinst-pkg"):
        if script in files:
            assert subprocess.run(shell() + ["-n", "-c", files[script].decode()]).returncode == 0


def test_dprive_postinst_pkg_hups_ubusd_on_a_running_system(ipks, tmp_path):
    text = script(ipks, "dprive", "postinst-pkg")
    log = tmp_path / "calls"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "killall").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bindir / "killall").chmod(0o755)
    path = {"PATH": f"{bindir}:" + os.environ["PATH"]}
    assert run_script(text, tmp_path, path).returncode == 0
    assert log.read_text().split() == ["-HUP", "ubusd"]
    log.unlink()
    assert run_script(text, tmp_path, {**path, "IPKG_INSTROOT": str(tmp_path)}).returncode == 0
    assert not log.exists()


def test_dtls_postinst_pkg_is_a_no_op_in_an_image(ipks, tmp_path):
    postinst = script(ipks, "dprive-dtls", "postinst-pkg")
    assert '[ -n "${IPKG_INSTROOT}" ] && exit 0' in postinst
    assert run_script(postinst, tmp_path, {"IPKG_INSTROOT": str(tmp_path)}).returncode == 0


def test_data_tree_paths_modes_owners_and_contents(ipks):
    ipk = ipks["dprive"]
    want = repo_payload()
    modes = ipk.data_modes()
    assert set(modes) == set(want)
    for path, src in want.items():
        if src is not None:
            assert ipk.data_files["." + path] == src.read_bytes(), path
    for m in ipk.data_members:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), m.name
        assert m.mtime == EPOCH, m.name
        assert m.isdir() or m.isfile(), m.name
        assert m.mode in (0o755, 0o644), (m.name, oct(m.mode))
        if m.isdir():
            assert m.mode == 0o755, m.name
    names = [m.name for m in ipk.data_members]
    assert names[0] == "." and names == sorted(names, key=lambda n: n.split("/"))
    for path, mode in modes.items():
        if path.startswith(("/usr/lib/dprive/", "/etc/config/")):
            assert mode == 0o644, path
        if path.startswith(("/etc/init.d/", "/usr/sbin/", "/usr/bin/")):
            assert mode == 0o755, path
        if not path.startswith(("/etc/init.d/", "/usr/sbin/", "/usr/bin/", "/usr/libexec/",
                                 "/usr/lib/dprive/")):
            src = want[path]
            assert mode == (0o755 if src.stat().st_mode & 0o100 else 0o644), path
    assert "/usr/lib/dprive/dprive/__main__.pyc" in modes
    assert not [p for p in modes if "__pycache__" in p or p.endswith(".py")]


def test_pyc_are_for_the_routers_python_and_name_router_paths(ipks):
    """Legacy .pyc (compileall -b) of Python 3.11, hash-checked (SOURCE_DATE_EPOCH
    set, as in the SDK), their code naming /usr/lib/dprive/... (-d /)."""
    import importlib.util
    import marshal
    ipk = ipks["dprive"]
    blob = ipk.data_files["./usr/lib/dprive/dprive/__init__.pyc"]
    assert sys.version_info[:2] == (3, 11)
    assert blob[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(blob[4:8], "little") == 0b11      # hash-based, checked
    source = (ROOT / "src/dprive/__init__.py").read_bytes()
    assert blob[8:16] == importlib.util.source_hash(source)
    assert marshal.loads(blob[16:]).co_filename == "/usr/lib/dprive/dprive/__init__.py"


def test_src_package_holds_the_sources(ipks):
    data = ipks["dprive-src"].data_files
    want = {"./usr/lib/dprive/dprive/" + p.relative_to(ROOT / "src/dprive").as_posix(): p
            for p in (ROOT / "src/dprive").rglob("*.py") if "__pycache__" not in p.parts}
    assert set(data) == set(want)
    for member, path in want.items():
        assert data[member] == path.read_bytes(), member


def test_builder_refuses_a_python_that_is_not_the_routers(tmp_path):
    """A .pyc of 3.13 is refused by 24.10's Python 3.11: the builder says so."""
    fake = tmp_path / "python3.13"
    fake.write_text("#!/bin/sh\necho 3 13\n")
    fake.chmod(0o755)
    proc = subprocess.run([sys.executable, str(load_builder().__file__), "--out",
                           str(tmp_path / "out"), "--python", str(fake)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "must be made by Python 3.11" in proc.stderr and "is Python 3.13" in proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_dtls_package_holds_only_its_marker(ipks):
    assert set(ipks["dprive-dtls"].data_modes()) == {"/usr/share/dprive-dtls/README"}


def test_build_is_reproducible(ipks, tmp_path):
    again = {p.name: p.read_bytes() for p in run_builder(tmp_path)}
    assert again == {ipk.path.name: ipk.path.read_bytes() for ipk in ipks.values()}
    later = run_builder(tmp_path / "later", epoch=EPOCH + 1)
    assert Ipk(later[0]).outer[0].mtime == EPOCH + 1


def test_builder_picks_up_new_files_with_openwrt_modes(tmp_path):
    """What the engineer adds under files/ is shipped: init scripts 0755 even
    when not executable in the tree, sourced hotplug hooks 0644, executables
    0755, editor leftovers and bytecode not at all."""
    builder = load_builder()
    src = tmp_path / "repo"
    shutil.copytree(ROOT / "src" / "dprive", src / "src" / "dprive")
    (src / "src" / "dprive" / "__pycache__").mkdir(exist_ok=True)
    (src / "src" / "dprive" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    add = {"etc/init.d/dprive": 0o644, "etc/hotplug.d/ntp/25-dprive": 0o644,
           "usr/share/dprive/hook.sh": 0o755, "etc/config/dprive": 0o644,
           "etc/init.d/.dprive.swp": 0o644, "etc/config/dprive~": 0o644}
    for rel, mode in add.items():
        path = src / "files" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
        path.chmod(mode)
    out = builder.build(tmp_path / "out", root=src, mtime=EPOCH)
    main = Ipk(next(p for p in out if p.name.startswith("dprive_")))
    modes = {p: m for p, m in main.data_modes().items() if not p.startswith("/usr/lib/")}
    assert modes == {"/etc/init.d/dprive": 0o755, "/etc/hotplug.d/ntp/25-dprive": 0o644,
                     "/usr/share/dprive/hook.sh": 0o755, "/etc/config/dprive": 0o644,
                     "/usr/sbin/dprive": 0o755}
    assert main.control_files["./conffiles"] == b"/etc/config/dprive\n"


@pytest.fixture
def scratch_root(ipks, tmp_path):
    return ipks["dprive"].extract_data(tmp_path / "root")


def wrapper_env(root, tmp_path):
    """Run <root>/usr/sbin/dprive as on the router, with two substitutions:
    `python3` on PATH is a shim that runs this venv's interpreter with -S (no
    site-packages, so not the editable dprive of the venv: only the standard
    library and what PYTHONPATH names, as on a router), and that prefixes
    the wrapper's PYTHONPATH (/usr/lib/dprive) with the scratch root, since
    the wrapper names the router's absolute path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "python3"
    shim.write_text('#!/bin/sh\n'
                    f'PYTHONPATH="{root}$PYTHONPATH" exec "{sys.executable}" -S "$@"\n')
    shim.chmod(0o755)
    return {"PATH": f"{bindir}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}


def test_wrapper_runs_dprive_from_the_scratch_root(scratch_root, tmp_path, version):
    wrapper = scratch_root / "usr" / "sbin" / "dprive"
    assert wrapper.read_text().startswith("#!/bin/sh\n")
    assert os.access(wrapper, os.X_OK)
    env = wrapper_env(scratch_root, tmp_path)

    proc = subprocess.run([str(wrapper), "--version"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"dprive {version}"

    config = scratch_root / "etc" / "config" / "dprive"
    proc = subprocess.run([str(wrapper), "check", "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{config}: OK" in proc.stdout

    # The dprive that ran is the one of the scratch root, nothing else.
    proc = subprocess.run(
        ["python3", "-c", "import dprive, sys; print(dprive.__file__)"],
        env={**env, "PYTHONPATH": "/usr/lib/dprive"}, capture_output=True, text=True,
        timeout=30)
    assert proc.returncode == 0, proc.stderr
    # Only the .pyc are there, and they are what runs.
    assert Path(proc.stdout.strip()) == scratch_root / "usr/lib/dprive/dprive/__init__.pyc"


def test_check_from_the_scratch_root_reports_a_broken_config(scratch_root, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text((scratch_root / "etc/config/dprive").read_text()
                   .replace("option listen_port '5453'", "option listen_port 'x'"))
    proc = subprocess.run([str(scratch_root / "usr/sbin/dprive"), "check", "--config", str(bad)],
                          env=wrapper_env(scratch_root, tmp_path), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert str(bad) in proc.stdout + proc.stderr


def test_pyc_are_hash_checked_without_source_date_epoch_in_the_environment(monkeypatch):
    """`make ipk` run by hand (no SOURCE_DATE_EPOCH): still the SDK's kind of .pyc."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    out = load_builder().compiled_payload({"usr/lib/dprive/x.py": (0o644, b"A = {'a', 'b'}\n")},
                                          EPOCH)
    assert set(out) == {"usr/lib/dprive/x.pyc"}
    assert int.from_bytes(out["usr/lib/dprive/x.pyc"][1][4:8], "little") == 0b11
