"""The control scripts of the .ipk of `make ipk`, run as opkg runs them
(opkgkit.py) under BusyBox ash, on the scratch router of tests/openwrt with
its stand-ins (the real init script, rc.common, procd) and a stand-in of
/lib/functions.sh's default_postinst / default_prerm
(openwrt-stubs/lib/functions-pkg.sh): fresh install, upgrade, removal."""

import shutil
import subprocess

import pytest

from tests.openwrt.harness import BUSYBOX, Router
from tests.package.ipkkit import STUBS
from tests.package.opkgkit import Opkg

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")

ENABLED = "etc/rc.d/S18dprive"


@pytest.fixture
def router(tmp_path):
    router = Router(tmp_path / "root")
    with open(router.root / "lib/functions.sh", "a") as out:
        out.write("\n" + (STUBS / "lib" / "functions-pkg.sh").read_text())
    killall = router.root / "bin" / "killall"
    killall.write_text('#!/bin/sh\n# Test stand-in for killall: records the call.\n'
                       '. "$DPRIVE_ROOT/lib/record.sh"\nrecord killall "$@"\n')
    killall.chmod(0o755)
    (router.root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/ash\n")
    (router.root / "etc/group").write_text("root:x:0:\n")
    (router.root / "etc/shadow").write_text("root:::0:99999:7:::\n")
    return router


def calls(router):
    """The calls that matter here, in order: killall, procd start and stop
    (the service's name only)."""
    out = []
    for what, *args in router.records():
        if what == "killall":
            out.append((what, *args))
        elif what in ("procd_open_service", "procd_kill"):
            out.append((what, args[0]))
    return out


def test_fresh_install_adds_the_user_hups_ubusd_then_enables_and_starts(router, ipks):
    Opkg(router).install("dprive", ipks["dprive"])
    assert (router.root / ENABLED).is_symlink()
    assert calls(router)[:2] == [("killall", "-HUP", "ubusd"), ("procd_open_service", "dprive")]
    passwd = (router.root / "etc/passwd").read_text().splitlines()
    assert "dprive:x:5453:5453:dprive:/var/run/dprive:/bin/false" in passwd
    assert "dprive:x:5453:dprive" in (router.root / "etc/group").read_text().splitlines()


def test_upgrade_keeps_a_disabled_service_disabled_and_stopped(router, ipks):
    """default_postinst does not enable on an upgrade but starts every init
    script; the init script itself stays down when disabled, so dnsmasq keeps
    the upstreams the user went back to."""
    opkg = Opkg(router)
    opkg.install("dprive", ipks["dprive"])
    router.init("stop")
    router.init("disable")
    assert not (router.root / ENABLED).exists()
    restored = router.dnsmasq()
    router.clear()
    opkg.upgrade("dprive", ipks["dprive"])
    assert not (router.root / ENABLED).exists()      # not enabled again
    assert ("killall", "-HUP", "ubusd") in calls(router)
    assert router.calls("procd_open_instance") == []
    assert router.dnsmasq() == restored


def test_upgrade_of_an_enabled_service_stops_and_starts_it_and_keeps_it_enabled(router, ipks):
    opkg = Opkg(router)
    opkg.install("dprive", ipks["dprive"])
    router.clear()
    opkg.upgrade("dprive", ipks["dprive"])
    assert (router.root / ENABLED).is_symlink()
    order = calls(router)
    assert order.index(("procd_kill", "dprive")) < order.index(("procd_open_service", "dprive"))


def test_removal_stops_and_disables(router, ipks):
    opkg = Opkg(router)
    opkg.install("dprive", ipks["dprive"])
    router.clear()
    opkg.remove("dprive")
    assert not (router.root / ENABLED).exists()
    assert ("procd_kill", "dprive") in calls(router)
    assert not [c for c in calls(router) if c[0] == "procd_open_service"]


def test_postinst_pkg_does_nothing_in_an_image_build(ipks, tmp_path):
    """IPKG_INSTROOT set (an image build): no HUP, no restart."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "log"
    (bindir / "killall").write_text(f'#!/bin/sh\necho killall "$@" >> {log}\n')
    (bindir / "killall").chmod(0o755)
    for name in ("dprive", "dprive-dtls"):
        script = tmp_path / f"{name}.postinst-pkg"
        script.write_bytes(ipks[name].control_files["./postinst-pkg"])
        env = {"PATH": f"{bindir}:/usr/bin:/bin", "IPKG_INSTROOT": str(tmp_path / "img")}
        done = subprocess.run([BUSYBOX, "ash", str(script)], env=env, capture_output=True,
                              text=True, timeout=10)
        assert done.returncode == 0 and not done.stdout and not done.stderr, name
    assert not log.exists()
    shutil.rmtree(bindir)
