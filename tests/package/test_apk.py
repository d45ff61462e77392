"""The .apk files of `make apk` (apk-tools 3, OpenWrt 25.12+), read with our
own reader (apkkit.py): names and versions, the package info, the scripts
package-pack.mk generates, OpenWrt's lists under /lib/apk/packages, and every
file with its mode and content equal to what build_ipk's packages() says."""

import hashlib
import struct
import subprocess
import sys
import zlib

import pytest

from tests.package.apkkit import APK_BUILDER, Apk, ApkError, load_apk_builder
from tests.package.ipkkit import ALL_PACKAGES, EPOCH, ROOT, load_builder, run_builder
from tests.tools import router_python

# `make apk` without a CPython 3.13 ships dprive's sources, so there is no dprive-src.
APK_PACKAGES = tuple(n for n in ALL_PACKAGES if n != "dprive-src")

DB = "/lib/apk/packages/"
WRAPPER_HEAD = ('#!/bin/sh\n[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n'
                '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n'
                '. ${IPKG_INSTROOT}/lib/functions.sh\n'
                'export root="${IPKG_INSTROOT}"\n')


@pytest.fixture(scope="module")
def packages():
    return load_apk_builder().apk_packages()


@pytest.fixture(scope="module")
def full_version():
    return load_apk_builder().full_version()


@pytest.fixture(scope="module")
def apk_paths(tmp_path_factory):
    return run_builder(tmp_path_factory.mktemp("apk"), builder=APK_BUILDER)


@pytest.fixture(scope="module")
def apks(apk_paths):
    return {p.name.rsplit("-", 2)[0]: Apk(p) for p in apk_paths}


def without_shebang(script):
    return "".join(line for line in script.splitlines(keepends=True)
                   if not line.lstrip().startswith("#!"))


def test_names_carry_the_sdk_version(apks, full_version):
    ipk_version = load_builder().version()
    assert full_version == ipk_version + "-r1"
    assert sorted(apks) == sorted(APK_PACKAGES)
    for name, apk in apks.items():
        assert apk.path.name == f"{name}-{full_version}.apk"
        assert apk.info["name"] == name
        assert apk.info["version"] == full_version


def test_two_builds_are_byte_identical(apk_paths, tmp_path):
    again = run_builder(tmp_path, builder=APK_BUILDER)
    assert [p.name for p in again] == [p.name for p in apk_paths]
    for first, second in zip(apk_paths, again):
        assert first.read_bytes() == second.read_bytes(), first.name


@pytest.mark.parametrize("name", APK_PACKAGES)
def test_container_is_unsigned_adb_with_a_valid_package_id(apks, name):
    apk = apks[name]
    assert apk.block_types[0] == 0 and 1 not in apk.block_types    # ADB, no SIG
    assert set(apk.block_types[1:]) <= {2}                          # DATA only
    assert len(apk.info["hashes"]) == 40                            # 20 bytes
    assert apk.package_id_ok()


@pytest.mark.parametrize("name", APK_PACKAGES)
def test_info_fields(apks, packages, name):
    ipk, info, pkg = load_builder(), apks[name].info, packages[name]
    assert info["arch"] == "noarch"
    assert info["license"] == ipk.LICENSE == "GPL-2.0-only"
    assert info["maintainer"] == ipk.MAINTAINER
    assert info["origin"] == pkg.get("source", ipk.SOURCE)
    # $(strip) of the Makefile's description: one line, without the title.
    assert info["description"] == " ".join(pkg["description"].split())
    assert "\n" not in info["description"] and not info["description"].startswith(pkg["title"])
    # apk keeps dependencies sorted (adb_wa_sort_unique), unversioned here.
    assert apks[name].depends() == sorted(pkg["depends"])
    assert all(set(d) == {"name"} for d in info["depends"])
    assert info["installed-size"] == sum(len(d) for _, d in apks[name].files.values())


@pytest.mark.parametrize("name", APK_PACKAGES)
def test_every_file_has_the_payloads_mode_and_content(apks, packages, name):
    shipped = {p: v for p, v in apks[name].files.items() if not p.startswith(DB)}
    want = {"/" + p: v for p, v in packages[name]["payload"].items()}
    assert sorted(shipped) == sorted(want)
    for path, (mode, data) in want.items():
        assert shipped[path] == (mode, data), path
    assert not [p for p in shipped if p.endswith((".pyc", ".pyo"))]
    if name == "dprive":
        assert shipped["/usr/sbin/dprive"][0] == 0o755
        assert "/usr/lib/dprive/dprive/__init__.py" in shipped


@pytest.mark.parametrize("name", APK_PACKAGES)
def test_directories_and_owners(apks, name):
    apk = apks[name]
    names = [d.get("name", "") for d in apk.dirs]
    assert names[0] == "" and names == [""] + sorted(names[1:], key=str.encode)
    for d in apk.dirs:
        assert d["acl"] == {"mode": 0o755, "user": "root", "group": "root"}, d.get("name")
        parent = d.get("name", "").rpartition("/")[0]
        assert parent in names
        for f in d.get("files", []):
            assert (f["acl"]["user"], f["acl"]["group"]) == ("root", "root")
            assert f["mtime"] == EPOCH


@pytest.mark.parametrize("name", APK_PACKAGES)
def test_openwrt_file_list(apks, name):
    files = apks[name].files
    listed = files[DB + name + ".list"][1].decode().splitlines()
    own_lists = {DB + name + s for s in (".list", ".conffiles", ".conffiles_static")}
    assert listed == sorted((p for p in files if p not in own_lists), key=str.encode)


def test_conffiles_and_the_dprive_user(apks, packages):
    files = apks["dprive"].files
    conffiles = files[DB + "dprive.conffiles"][1].decode().splitlines()
    assert conffiles == packages["dprive"]["conffiles"]
    assert "/etc/config/dprive" in conffiles
    static = [line.split(" ") for line in files[DB + "dprive.conffiles_static"][1].decode().splitlines()]
    assert [p for p, _ in static] == conffiles
    for path, digest in static:
        assert digest == hashlib.sha256(files[path][1]).hexdigest(), path
    assert files[DB + "dprive.rusers"][1] == b"dprive=5453:dprive=5453\n"
    for other in ("dprive-dtls", "luci-app-dprive"):
        assert not [p for p in apks[other].files if p.endswith((".conffiles", ".rusers"))]


@pytest.mark.parametrize("name", APK_PACKAGES)
def test_scripts_are_openwrts_wrappers_around_the_packages_own(apks, packages, name):
    scripts, own = apks[name].scripts, packages[name]["scripts"]
    assert set(scripts) == {"post-install", "post-upgrade", "pre-deinstall"}
    post = scripts["post-install"]
    assert post.startswith(WRAPPER_HEAD + f'export pkgname="{name}"\n'
                           "add_group_and_user\ndefault_postinst\n")
    # the Makefile's own postinst (build_ipk's postinst-pkg) follows default_postinst
    assert post.endswith("default_postinst\n" + without_shebang(own.get("postinst-pkg", "")))
    assert scripts["post-upgrade"] == "#!/bin/sh\nexport PKG_UPGRADE=1\n" + without_shebang(post)
    pre = scripts["pre-deinstall"]
    assert pre.startswith("#!/bin/sh\n") and "\ndefault_prerm\n" in pre
    assert f'export pkgname="{name}"\n' in pre
    assert pre.endswith("\ndefault_prerm\n")     # dprive's packages have no prerm of their own
    for text in scripts.values():
        assert text.count("#!") == 1 and text.startswith("#!/bin/sh\n")


def test_with_python_3_13_dprive_ships_its_bytecode_and_the_sources_go_to_dprive_src(tmp_path):
    python = router_python.find_python("3.13")
    if not python:
        pytest.skip("no CPython 3.13 on this machine")
    paths = run_builder(tmp_path, builder=APK_BUILDER, extra=["--python", str(python)])
    apks = {p.name.rsplit("-", 2)[0]: Apk(p) for p in paths}
    assert sorted(apks) == sorted(ALL_PACKAGES)
    magic = subprocess.run([str(python), "-c", "import importlib.util, sys; "
                            "sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
                           capture_output=True, text=True, check=True).stdout
    main, src = apks["dprive"].files, apks["dprive-src"].files
    pyc = [p for p in main if p.endswith(".pyc")]
    assert "/usr/lib/dprive/dprive/__init__.pyc" in pyc and not [p for p in main if p.endswith(".py")]
    assert all(main[p][1][:4].hex() == magic for p in pyc), "a .pyc not made by Python 3.13"
    assert sorted(p[:-1] for p in pyc) == sorted(p for p in src if not p.startswith(DB))


def test_a_python_other_than_3_13_is_refused_by_name(tmp_path):
    proc = subprocess.run([sys.executable, str(APK_BUILDER), "--out", str(tmp_path),
                           "--python", sys.executable], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode != 0 and "runs 3.13" in proc.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("bad", ["0.2.0rc1", "0.2.0-1", "v1.0"])
def test_versions_apk_refuses_are_refused_by_name(bad):
    with pytest.raises(SystemExit, match=f"{bad!r} is not a valid apk version"):
        load_apk_builder().check_version(bad)


def test_names_apk_refuses_are_refused_by_name(packages):
    builder = load_apk_builder()
    with pytest.raises(SystemExit, match="package name '-dprive' is not a valid apk name"):
        builder.build_one("-dprive", packages["dprive-dtls"], "1-r1", EPOCH)
    pkg = dict(packages["dprive-dtls"], depends=["python3 light"])
    with pytest.raises(SystemExit, match="dependency name 'python3 light' is not a valid apk name"):
        builder.build_one("dprive-dtls", pkg, "1-r1", EPOCH)


def test_good_versions_pass():
    check = load_apk_builder().check_version
    for good in ("0.1.0-r1", "0.2.0_rc1-r1", "1.2.3a_p2~0abc-r10"):
        assert check(good) == good


def test_reader_refuses_a_file_whose_content_was_changed(apks, tmp_path):
    """The reader's hash check can fail: one byte of the last DATA block flipped."""
    stream = bytearray(apks["dprive-dtls"].stream)
    stream[-9] ^= 0xff                      # inside the last file (8-byte padding at most 7)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"ADBd" + z.compress(bytes(stream)) + z.flush())
    with pytest.raises(ApkError, match="sha256"):
        Apk(bad)


def test_reader_refuses_a_field_outside_the_schema(apks, tmp_path):
    """A slot the schema does not have (as a wrong field tag would make) is
    named: a new root object with a value in slot 6 (the package has 5)."""
    apk = apks["dprive-dtls"]
    adb = bytearray(apk.adb.raw)
    slots = apk.adb.slots(apk.adb.root)
    new = slots + [0] * (5 - len(slots)) + [0x10000001]
    adb.extend(b"\0" * (-len(adb) % 4))
    struct.pack_into("<I", adb, 4, 0xe0000000 | len(adb))
    adb.extend(struct.pack(f"<{len(new) + 1}I", len(new) + 1, *new))
    old_size = 4 + len(apk.adb.raw)
    rest = apk.stream[8 + old_size + (-old_size % 8):]
    block = struct.pack("<I", 4 + len(adb)) + bytes(adb)
    block += b"\0" * (-len(block) % 8)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"ADBd" + z.compress(b"ADB.pckg" + block + rest) + z.flush())
    with pytest.raises(ApkError, match="field 6 is not in the schema"):
        Apk(bad)
