"""The .ipk files of `make ipk`: outer layout, control, scripts, data tree,
and dprive run from the data tree extracted into a scratch root."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.package.ipkkit import (ALL_PACKAGES, EPOCH, PACKAGES, ROOT, Ipk, load_builder,
                                  run_builder)

MAIN_DEPENDS = ["python3-light", "python3-asyncio", "python3-openssl",
                "python3-logging", "python3-codecs", "python3-ubus"]
CONTROL_FIELDS = ["Package", "Version", "Depends", "Source", "Section", "Architecture",
                  "Installed-Size", "Description", "Maintainer", "License"]


def repo_payload():
    """What the main package must install, worked out from the repository:
    {installed path: source Path or None for the generated wrapper}."""
    want = {"/usr/sbin/dprive": None}
    for top, prefix in ((ROOT / "src" / "dprive", "/usr/lib/dprive/dprive/"),
                        (ROOT / "files", "/")):
        for path in top.rglob("*"):
            rel = path.relative_to(top)
            if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
                continue
            if any(p.startswith(".") for p in rel.parts) or path.name.endswith("~"):
                continue
            want[prefix + rel.as_posix()] = path
    return want


def test_all_packages_are_built_with_the_version_in_their_names(ipks, version):
    assert sorted(ipks) == sorted(ALL_PACKAGES)
    for name, ipk in ipks.items():
        assert ipk.path.name == f"{name}_{version}_all.ipk"


@pytest.mark.parametrize("name", ALL_PACKAGES)
def test_outer_layout_is_that_of_ipkg_build(ipks, name):
    ipk = ipks[name]
    assert [m.name for m in ipk.outer] == ["./debian-binary", "./control.tar.gz", "./data.tar.gz"]
    assert ipk.parts["./debian-binary"] == b"2.0\n"
    for m in ipk.outer:
        assert m.isfile() and m.mode == 0o644 and (m.uid, m.gid) == (0, 0), m.name
    assert ipk.path.read_bytes()[:2] == b"\x1f\x8b"         # gzip, not ar


@pytest.mark.parametrize("name", PACKAGES)
def test_control_fields(ipks, version, name):
    ipk = ipks[name]
    control = ipk.control()
    for field in CONTROL_FIELDS:
        assert control.get(field), field
    assert control["Package"] == name
    assert control["Version"] == version
    assert control["Architecture"] == "all"
    assert control["Section"] == "net"
    assert control["Source"] == "package/dprive"
    assert int(control["Installed-Size"]) == sum(len(d) for d in ipk.data_files.values())
    depends = control["Depends"].split(", ")
    if name == "dprive":
        assert depends == MAIN_DEPENDS
        assert "ubus" in control["Description"]
    else:
        assert depends[:2] == ["dprive", "python3-pyopenssl"]
    assert len(control["Description"].splitlines()) >= 2    # title, then a text


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
        want = 0o755 if m.isdir() or m.name in ("./postinst", "./prerm") else 0o644
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


def test_main_scripts_enable_start_stop_disable_the_service(ipks):
    postinst = script(ipks, "dprive", "postinst")
    prerm = script(ipks, "dprive", "prerm")
    for text in (postinst, prerm):
        assert subprocess.run(shell() + ["-n", "-c", text]).returncode == 0
    guard = postinst.index('[ -n "$root" ] && exit 0')
    assert postinst.index("/etc/init.d/dprive enable") > guard
    assert postinst.index("/etc/init.d/dprive start") > postinst.index("/etc/init.d/dprive enable")
    assert prerm.index('[ -n "${IPKG_INSTROOT}" ] && exit 0') < prerm.index("/etc/init.d/dprive stop")
    assert prerm.index("/etc/init.d/dprive stop") < prerm.index("/etc/init.d/dprive disable")


def test_prerm_stops_then_disables_and_does_nothing_in_an_image(ipks, tmp_path):
    log = tmp_path / "calls"
    initd = tmp_path / "initd"
    initd.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    initd.chmod(0o755)
    prerm = script(ipks, "dprive", "prerm").replace("/etc/init.d/dprive", str(initd))

    assert run_script(prerm, tmp_path, {"IPKG_INSTROOT": str(tmp_path / "img")}).returncode == 0
    assert not log.exists()
    assert run_script(prerm, tmp_path, {}).returncode == 0
    assert log.read_text().split() == ["stop", "disable"]


def test_postinst_in_an_image_adds_the_user_once_and_starts_nothing(ipks, tmp_path):
    img = tmp_path / "img"
    (img / "etc").mkdir(parents=True)
    (img / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/ash\n")
    # gid 5453 taken: the next free one is used.
    (img / "etc" / "group").write_text("root:x:0:\nother:x:5453:\n")
    (img / "etc" / "shadow").write_text("root:::0:99999:7:::\n")
    postinst = script(ipks, "dprive", "postinst")
    for _ in range(2):
        proc = run_script(postinst, tmp_path, {"IPKG_INSTROOT": str(img)})
        assert proc.returncode == 0, proc.stderr
    passwd = (img / "etc" / "passwd").read_text().splitlines()
    group = (img / "etc" / "group").read_text().splitlines()
    assert [l for l in group if l.startswith("dprive:")] == ["dprive:x:5454:"]
    assert [l for l in passwd if l.startswith("dprive:")] == \
        ["dprive:x:5454:5454:dprive:/var/run/dprive:/bin/false"]
    assert sum(l.startswith("dprive:") for l in (img / "etc" / "shadow").read_text().splitlines()) == 1
    assert sorted(p.name for p in img.rglob("*")) == ["etc", "group", "passwd", "shadow"]


def test_dtls_postinst_is_a_no_op_in_an_image(ipks, tmp_path):
    postinst = script(ipks, "dprive-dtls", "postinst")
    assert '[ -n "${IPKG_INSTROOT}" ] && exit 0' in postinst
    assert run_script(postinst, tmp_path, {"IPKG_INSTROOT": str(tmp_path)}).returncode == 0
    assert "./prerm" not in ipks["dprive-dtls"].control_files


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
        if not path.startswith(("/etc/init.d/", "/usr/sbin/", "/usr/bin/", "/usr/libexec/")):
            src = want[path]
            assert mode == (0o755 if src.stat().st_mode & 0o100 else 0o644), path
    assert "/usr/lib/dprive/dprive/__main__.py" in modes
    assert not [p for p in modes if "__pycache__" in p or p.endswith(".pyc")]


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
    assert Path(proc.stdout.strip()) == scratch_root / "usr/lib/dprive/dprive/__init__.py"


def test_check_from_the_scratch_root_reports_a_broken_config(scratch_root, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text((scratch_root / "etc/config/dprive").read_text()
                   .replace("option listen_port '5453'", "option listen_port 'x'"))
    proc = subprocess.run([str(scratch_root / "usr/sbin/dprive"), "check", "--config", str(bad)],
                          env=wrapper_env(scratch_root, tmp_path), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert str(bad) in proc.stdout + proc.stderr
