"""The procd jail of the daemon (files/usr/share/dprive/jail.sh): what the
init script declares, and that it follows the config through reloads.
tests/openwrt/test_jail_run.py runs the daemon in it."""

import json
import os

import pytest

from tests.openwrt.harness import FILES
from tests.openwrt.jail import declared_jail

RUN_DIR = "/var/run/dprive"
CONFIG_COPY = "/var/etc/dprive/dprive"
CAPS = "/etc/capabilities/dprive.json"
CA_DEFAULT = "/etc/ssl/certs/ca-certificates.crt"


def test_start_puts_the_instance_in_a_read_only_jail_without_privileges(router):
    router.init("start")
    jail = declared_jail(router)
    assert jail.name == "dprive"
    # ronly: / read-only. Not 'ubus' (ubusd's directory is mounted instead,
    # test_jail_ubus.py). No procfs, sysfs or /dev/log: dprive opens none of them.
    assert set(jail.flags) == {"ronly"}
    assert jail.params["user"] == ("dprive",) and jail.params["group"] == ("dprive",)
    assert jail.params["no_new_privs"] == ("1",)
    assert jail.params["capabilities"] == (CAPS,)
    # Written: only RUN_DIR (the control socket).
    assert jail.rw == [RUN_DIR]
    # Read: the config copy the daemon is pointed at, the CA bundle, TZ, Python.
    assert jail.command == ("/usr/sbin/dprive", "run", "--config", CONFIG_COPY)
    assert jail.system_ro() == ["/var/etc/dprive", CA_DEFAULT, "/etc/TZ", "/etc/localtime",
                                "/var/run/ubus"]
    assert jail.router_python() == ["/usr/sbin/dprive", "/usr/bin/python3", "/usr/lib/python3*",
                                    "/usr/lib/dprive"]


def test_the_jail_follows_the_ca_bundle_of_the_config(router):
    router.set_main(ca_bundle="/etc/dprive/my-ca.pem")
    router.init("start")
    assert declared_jail(router).system_ro() == ["/var/etc/dprive", "/etc/dprive/my-ca.pem",
                                                 "/etc/TZ", "/etc/localtime", "/var/run/ubus"]


def test_every_python_extension_module_is_mounted_for_its_libraries(router):
    # ujail mounts what a given ELF file links (libssl for _ssl, libubus for
    # ubus): a module only seen through its directory would fail to load.
    modules = ["usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so",
               "usr/lib/python3.11/site-packages/ubus.cpython-311.so",
               "usr/lib/python3.11/site-packages/cryptography/hazmat/bindings/_rust.abi3.so"]
    for rel in modules:
        path = router.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x7fELF")
    router.init("start")
    assert sorted(p for p in declared_jail(router).ro if p.endswith(".so")) == sorted(
        "/" + rel for rel in modules)


def test_libmbedtls_is_mounted_for_dtls_since_ctypes_loads_it_by_name(router):
    # No extension module links libmbedtls (ctypes dlopen()s it: tls/mbedtls_lib.py),
    # so without its own mounts the jailed DTLS daemon would find no engine.
    # The router's files: soname links to the versioned files (package libmbedtls).
    libs = {"libmbedtls.so.21": "libmbedtls.so.3.6.6", "libmbedx509.so.7": "libmbedx509.so.3.6.6",
            "libmbedcrypto.so.16": "libmbedcrypto.so.3.6.6"}
    usr_lib = router.root / "usr/lib"
    usr_lib.mkdir(parents=True, exist_ok=True)
    for link, target in libs.items():
        (usr_lib / target).write_bytes(b"\x7fELF")
        (usr_lib / link).symlink_to(target)
    (usr_lib / "libubox.so.20240329").write_bytes(b"\x7fELF")   # not ours: not mounted
    router.init("start")
    mounted = sorted(p for p in declared_jail(router).ro if "/libmbed" in p)
    assert mounted == sorted("/usr/lib/" + name for pair in libs.items() for name in pair)
    assert not [p for p in declared_jail(router).ro if "libubox" in p]


def test_capabilities_file_drops_every_capability():
    # ujail (jail/capabilities.c, parseOCIcapabilities): a set left out keeps
    # every capability, so all five are given, and empty.
    caps = json.loads((FILES / "etc/capabilities/dprive.json").read_text())
    assert caps == {name: [] for name in ("bounding", "effective", "ambient", "permitted",
                                          "inheritable")}


def test_the_daemon_reads_a_copy_of_the_config(router):
    router.init("start")
    copy = router.root / CONFIG_COPY.lstrip("/")
    assert copy.read_text() == (router.root / "etc/config/dprive").read_text()
    assert copy.stat().st_mode & 0o777 == 0o644   # the dprive user reads it


def test_reload_after_a_uci_commit_gives_the_daemon_the_new_config(router):
    """uci commit writes a new file and renames it over /etc/config/dprive: a
    jail mount of that file would keep showing the old one to the SIGHUP."""
    router.init("start")
    router.clear()
    config = router.root / "etc/config/dprive"
    new = config.with_name("dprive.uci-tmp")      # a new file renamed over the old, as uci does
    new.write_text(config.read_text().replace("option query_timeout_ms '5000'",
                                              "option query_timeout_ms '4000'"))
    os.replace(new, config)
    router.init("reload")
    assert "option query_timeout_ms '4000'" in (router.root / CONFIG_COPY.lstrip("/")).read_text()
    assert router.calls("procd_send_signal") == [("dprive", "*", "HUP")]
    assert router.calls("procd_open_instance") == []


def test_reload_with_another_ca_bundle_restarts_the_instance_in_a_new_jail(router):
    router.init("start")
    router.clear()
    router.set_main(ca_bundle="/etc/dprive/my-ca.pem")
    router.init("reload")
    # A HUP would leave the new bundle outside the jail: the instance is declared again.
    assert router.calls("procd_send_signal") == []
    assert "/etc/dprive/my-ca.pem" in declared_jail(router).ro
    router.clear()
    router.init("reload")
    assert router.calls("procd_send_signal") == [("dprive", "*", "HUP")]


def test_stop_forgets_the_jail_state(router):
    router.init("start")
    state = router.root / "var/run/dprive.jail"
    assert state.read_text().replace(router.rootstr, "") == CA_DEFAULT + "\n"
    router.init("stop")
    assert not state.exists()


def test_a_ca_bundle_path_the_jail_cannot_mount_is_refused_with_the_reason(router):
    # procd.sh would split it at the blank: the jailed daemon would find no
    # CA bundle and respawn, logging a missing file that is there.
    router.set_main(ca_bundle="/etc/ssl/my ca.pem")
    before = router.config("dhcp")
    router.init("start")
    assert router.calls("procd_open_instance") == []
    assert router.config("dhcp") == before    # dnsmasq untouched
    why = "option ca_bundle '/etc/ssl/my ca.pem': procd's jail cannot mount a path"
    assert any(why in c[2] for c in router.calls("logger"))
    assert why in router.init("status", check=False).stdout


def test_a_reload_to_such_a_path_keeps_the_running_daemon(router):
    router.init("start")
    router.clear()
    router.set_main(ca_bundle="/etc/ssl/*.pem")
    assert router.init("reload", check=False).returncode != 0
    # Not a start without an instance (procd would stop the daemon), no HUP.
    assert router.calls("procd_open_instance") == [] and router.calls("procd_kill") == []
    assert router.calls("procd_send_signal") == []
    assert any("option ca_bundle '/etc/ssl/*.pem'" in c[2] for c in router.calls("logger"))
    assert router.init("status").stdout.startswith("running")


@pytest.mark.parametrize("where", ["/tmp/dprive.sock", "/var/run/dprive/sub/control.sock"])
def test_a_control_socket_outside_run_dir_is_refused_with_the_reason(router, where):
    # The jail's one writable directory is RUN_DIR: elsewhere the daemon
    # could not create its socket.
    router.set_main(control_socket=router.rootstr + where)
    router.init("start")
    assert router.calls("procd_open_instance") == []
    why = "option control_socket '%s': in procd's jail dprive can write only in %s/" % (
        where, RUN_DIR)
    assert why in router.init("status", check=False).stdout.replace(router.rootstr, "")


def test_a_config_copy_that_fails_is_refused_with_the_reason(router):
    # /var/etc/dprive taken by a file: mkdir and cp fail (as on a full /tmp).
    (router.root / "var/etc").mkdir(parents=True)
    (router.root / "var/etc/dprive").write_text("not a directory")
    router.init("start")
    assert router.calls("procd_open_instance") == []
    status = router.init("status", check=False).stdout.replace(router.rootstr, "")
    assert "cannot copy /etc/config/dprive to %s: " % CONFIG_COPY in status
