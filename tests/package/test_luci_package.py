"""luci-app-dprive: the .ipk of `make ipk` and the luci.mk-style feed
Makefile luci-app/Makefile, read by GNU make with stand-ins for OpenWrt's
rules.mk, package.mk and LuCI's luci.mk (openwrt-stubs/). Both install
luci-app/htdocs under /www and luci-app/root under /, nothing else."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.package.ipkkit import LUCI_MAKEFILE, LUCI_PACKAGE, ROOT, STUBS, load_builder
from tests.package.test_feed_makefile import installed_tree, ipk_tree

APP = ROOT / "luci-app"
needs_make = pytest.mark.skipif(not shutil.which("make"), reason="GNU make not installed")


def app_files():
    """{'/installed/path': source Path} worked out from luci-app/."""
    want = {}
    for top, prefix in ((APP / "htdocs", "/www/"), (APP / "root", "/")):
        for path in top.rglob("*"):
            rel = path.relative_to(top)
            if path.is_file() and not any(p.startswith(".") for p in rel.parts) \
                    and not path.name.endswith("~"):
                want[prefix + rel.as_posix()] = path
    return want


@pytest.fixture(scope="module")
def luci(ipks):
    return ipks[LUCI_PACKAGE]


def test_control(luci, version):
    control = luci.control()
    assert control["Package"] == LUCI_PACKAGE
    assert control["Version"] == f"{version}-r1"
    assert control["Depends"] == "libc, luci-base, dprive"
    assert control["Architecture"] == "all"
    assert control["Section"] == "luci"
    assert control["Source"] == "feeds/luci/applications/luci-app-dprive"
    assert control["SourceName"] == LUCI_PACKAGE
    assert "./conffiles" not in luci.control_files


def test_data_is_htdocs_under_www_and_root_under_slash(luci):
    want = app_files()
    modes = luci.data_modes()
    assert set(modes) == set(want)
    for path, src in want.items():
        assert luci.data_files["." + path] == src.read_bytes(), path
        assert modes[path] == 0o644, path
    for m in luci.data_members:
        assert (m.uid, m.gid) == (0, 0) and m.mode in (0o644, 0o755), m.name
    for path in ("/www/luci-static/resources/view/dprive/settings.js",
                 "/www/luci-static/resources/view/dprive/status.js",
                 "/www/luci-static/resources/dprive/schema.js",
                 "/usr/share/luci/menu.d/luci-app-dprive.json",
                 "/usr/share/rpcd/acl.d/luci-app-dprive.json"):
        assert path in modes, path
    # Not shipped: the feed Makefile, the README, the translation template.
    assert not [p for p in modes if p.endswith((".pot", ".po", "Makefile", "README.md"))]


def test_postinst_pkg_is_luci_mks_and_is_a_no_op_in_an_image(luci, tmp_path):
    text = luci.control_files["./postinst-pkg"].decode()
    assert subprocess.run(["sh", "-n", "-c", text]).returncode == 0
    out = tmp_path / "postinst"
    in_app("postinst-" + LUCI_PACKAGE, STUB_OUT=out)
    assert out.read_text() == text
    guard = text.index('[ -n "${IPKG_INSTROOT}" ] ||')
    assert guard < text.index("/tmp/luci-indexcache") < text.index("killall -HUP rpcd")
    proc = subprocess.run(["sh", "-c", text], env={"PATH": "/usr/bin:/bin",
                                                   "IPKG_INSTROOT": str(tmp_path)},
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and not proc.stdout and not proc.stderr


def test_builder_leaves_the_app_out_of_a_tree_without_it(tmp_path):
    src = tmp_path / "repo"
    shutil.copytree(ROOT / "src" / "dprive", src / "src" / "dprive",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert LUCI_PACKAGE in load_builder().packages(ROOT)
    assert LUCI_PACKAGE not in load_builder().packages(src)


def luci_make(*args, cwd, dry=False, **vars_):
    cmd = ["make", "-s", "--no-print-directory", "-f", str(vars_.pop("makefile", LUCI_MAKEFILE)),
           f"TOPDIR={STUBS}", f"INCLUDE_DIR={STUBS}"]
    cmd += [f"{k}={v}" for k, v in vars_.items()]
    if dry:
        cmd.append("-n")
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert not proc.stderr, proc.stderr
    return proc.stdout


def in_app(*args, **kw):
    """As the SDK runs it: from the package's folder (luci.mk's LUCI_SRC is
    the current directory), luci.mk named by LUCI_MK."""
    return luci_make(*args, cwd=APP, LUCI_MK=STUBS / "luci.mk", **kw)


@needs_make
def test_makefile_names_the_package_and_its_version(version):
    assert in_app("print-PKG_NAME").strip() == LUCI_PACKAGE
    assert in_app("print-PKG_VERSION").strip() == version      # that of src/dprive
    assert in_app("print-PKG_RELEASE").strip() == str(load_builder().release())
    text = LUCI_MAKEFILE.read_text()
    assert "LUCI_DEPENDS:=+luci-base +dprive\n" in text
    assert "LUCI_NAME:=luci-app-dprive\n" in text
    assert "# call BuildPackage - OpenWrt buildroot signature" in text
    for forbidden in ("$(shell", "$(error", "../src", "DPRIVE_SRC"):
        assert forbidden not in text, forbidden


def translations(app):
    """The packages luci.mk (stand-in) makes for an app folder with po/de."""
    (app / "po" / "de").mkdir(parents=True)
    (app / "po" / "de" / "dprive.po").write_text('msgid ""\nmsgstr ""\n')
    return luci_make("print-LUCI_BUILD_PACKAGES", cwd=app, makefile=app / "Makefile",
                     LUCI_MK=STUBS / "luci.mk").split()


@needs_make
def test_translations_are_named_after_dprive(tmp_path):
    """po/<lang>/ becomes luci-i18n-dprive-<lang>, also from a folder named luci-app."""
    app = tmp_path / "luci-app"
    app.mkdir()
    shutil.copy(LUCI_MAKEFILE, app / "Makefile")
    assert translations(app) == [LUCI_PACKAGE, "luci-i18n-dprive-de"]


@needs_make
def test_without_luci_name_the_folder_names_package_and_translations(tmp_path):
    """Why LUCI_NAME is set: luci.mk takes the folder's name, here luci-app."""
    app = tmp_path / "luci-app"
    app.mkdir()
    (app / "Makefile").write_text(LUCI_MAKEFILE.read_text().replace("LUCI_NAME:=luci-app-dprive\n", ""))
    assert translations(app) == ["luci-app", "luci-i18n-luci-app-de"]


@needs_make
def test_makefile_definition_matches_the_ipk_control(luci):
    fields = dict(line.partition("=")[::2] for line in in_app("meta-" + LUCI_PACKAGE).splitlines())
    control = luci.control()
    assert fields["PKGARCH"] == "all"
    assert fields["SECTION"] == control["Section"] == "luci"
    assert fields["CATEGORY"] == "LuCI"
    assert fields["TITLE"] == load_builder().TITLE_LUCI
    assert fields["VERSION"] == control["Version"]
    assert ["libc"] + [d.lstrip("+") for d in fields["DEPENDS"].split()] == \
        control["Depends"].split(", ")
    assert all(d.startswith("+") for d in fields["DEPENDS"].split())


@needs_make
def test_install_commands_build_the_same_tree_as_the_ipk(luci, tmp_path):
    root = tmp_path / "root"
    commands = in_app("install-" + LUCI_PACKAGE, dry=True, STUB_ROOT=root)
    proc = subprocess.run(["sh", "-e", "-c", commands], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert installed_tree(root / LUCI_PACKAGE) == ipk_tree(luci)


@needs_make
def test_luci_mk_is_found_where_a_luci_tree_keeps_it(tmp_path, version):
    """Copied into LuCI's tree as applications/luci-app-dprive/: ../../luci.mk."""
    app = tmp_path / "luci" / "applications" / "luci-app-dprive"
    app.mkdir(parents=True)
    shutil.copy(LUCI_MAKEFILE, app / "Makefile")
    shutil.copy(STUBS / "luci.mk", tmp_path / "luci" / "luci.mk")
    out = luci_make("print-PKG_NAME", "print-PKG_VERSION", cwd=app,
                    makefile=app / "Makefile")
    assert out.split() == [LUCI_PACKAGE, version]
    # From a feed of our own: the luci feed's copy under $(TOPDIR)/feeds/luci.
    topdir = tmp_path / "sdk"
    (topdir / "feeds" / "luci").mkdir(parents=True)
    for name in ("rules.mk", "package.mk"):
        shutil.copy(STUBS / name, topdir / name)
    shutil.copy(STUBS / "luci.mk", topdir / "feeds" / "luci" / "luci.mk")
    proc = subprocess.run(["make", "-s", "--no-print-directory", "-f", str(LUCI_MAKEFILE),
                           f"TOPDIR={topdir}", f"INCLUDE_DIR={topdir}", "print-LUCI_MK"],
                          cwd=APP, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == topdir / "feeds" / "luci" / "luci.mk"
