"""/etc/init.d/dprive under busybox ash: what it tells procd, uci and dnsmasq."""

import re
import subprocess

import pytest

from tests.openwrt.harness import BUSYBOX, FILES, REAL_DPRIVE

# The daemon reads root's copy of the config (files/usr/share/dprive/jail.sh).
CMD = ("command", "/usr/sbin/dprive", "run", "--config", "/var/etc/dprive/dprive")
SERVER = "127.0.0.1#5453"


def instance_params(router):
    return [c for c in router.calls("procd_set_param")]


def firewall_rules(router):
    """The objects of the firewall array in procd's data, as dicts."""
    rules, current, inside = [], None, False
    for what, *args in router.records():
        if what == "json_add_array" and args == ["firewall"]:
            inside = True
        elif inside and what == "json_add_object":
            current = {}
        elif inside and what == "json_add_string" and current is not None:
            current[args[0]] = args[1]
        elif inside and what == "json_close_object":
            rules.append(current)
            current = None
        elif what == "json_close_array":
            inside = False
    return rules


def test_scripts_parse_under_busybox_ash(router):
    for path in ("etc/init.d/dprive", "usr/share/dprive/dnsmasq.sh",
                 "etc/hotplug.d/iface/95-dprive", "etc/hotplug.d/ntp/95-dprive"):
        done = subprocess.run([BUSYBOX, "ash", "-n", str(FILES / path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, (path, done.stderr)
    text = (FILES / "etc/init.d/dprive").read_text()
    assert text.startswith("#!/bin/sh /etc/rc.common\n")
    assert re.search(r"(?m)^USE_PROCD=1$", text)
    # Before dnsmasq (S19; S19dnsmasq sorts before S19dprive).
    assert int(re.search(r"(?m)^START=(\d+)$", text).group(1)) < 19


def test_start_tells_procd_the_instance_and_triggers(router):
    router.init("start")
    # The jail's parameters follow (tests/openwrt/test_jail.py).
    assert instance_params(router)[:7] == [
        CMD, ("user", "dprive"), ("group", "dprive"), ("respawn",), ("stdout", "1"),
        ("stderr", "1"), ("file", "/etc/config/dprive")]
    assert router.calls("procd_open_instance") == [("dprive",)]
    assert router.calls("procd_add_reload_trigger") == [("dprive",)]
    assert router.calls("chown") == [("dprive:dprive", "/var/run/dprive")]
    assert (router.root / "var/run/dprive").is_dir()
    assert firewall_rules(router) == []  # force_dns is off by default
    assert router.init("status").stdout.strip() == "running"


def test_config_is_checked_and_dnsmasq_hooked_before_the_instance(router):
    router.init("start")
    order = [r[0] for r in router.records()]
    check = router.records().index(("dprive", "check", "--config", "/etc/config/dprive"))
    commit = router.records().index(("uci", "commit", "dhcp"))
    restart = router.records().index(("dnsmasq", "restart"))
    assert check < commit < restart < order.index("procd_open_instance")
    assert router.dnsmasq()["server"] == [SERVER]
    assert router.dnsmasq()["noresolv"] == "1"


@pytest.mark.parametrize("own", [
    {},  # OpenWrt's default: no server, noresolv unset
    {"server": ["192.0.2.53", "/corp.example/10.0.0.1"], "noresolv": "0"},
    {"server": ["198.51.100.1"], "noresolv": "1"},
    {"noresolv": "0"},
], ids=["default", "own-servers", "own-noresolv", "noresolv-0-only"])
def test_stop_restores_dnsmasq_exactly(router, own):
    lines = []
    for value in own.get("server", []):
        lines.append("\tlist server '%s'" % value)
    if "noresolv" in own:
        lines.append("\toption noresolv '%s'" % own["noresolv"])
    dhcp = router.root / "etc/config/dhcp"
    dhcp.write_text(dhcp.read_text().replace("\toption localservice '1'\n",
                                             "\toption localservice '1'\n" + "".join(
                                                 line + "\n" for line in lines)))
    before = router.config("dhcp")
    router.init("start")
    assert router.dnsmasq()["server"] == [SERVER]
    assert router.dnsmasq()["noresolv"] == "1"
    # A second start (boot after a reboot, `start` by hand) must not take
    # dprive's own settings for dnsmasq's: nothing changes, no dnsmasq restart.
    router.clear()
    router.init("start")
    assert router.calls("dnsmasq") == [] and router.calls("uci") == []
    router.init("stop")
    assert router.config("dhcp") == before
    assert router.calls("dnsmasq") == [("restart",)]
    assert ("commit", "dhcp") in router.calls("uci")
    assert not (router.root / "tmp/.uci/dhcp").exists()  # nothing left staged


def test_restart_keeps_dnsmasq_on_dprive(router):
    router.init("start")
    hooked = router.config("dhcp")
    router.clear()
    router.init("restart")
    assert router.config("dhcp") == hooked
    assert router.calls("dnsmasq") == []
    assert router.calls("procd_kill") and router.calls("procd_open_instance")


def test_disable_restores_dnsmasq(router):
    before = router.config("dhcp")
    router.init("enable")
    assert (router.root / "etc/rc.d/S18dprive").is_symlink()
    router.init("start")
    router.init("disable")
    assert not (router.root / "etc/rc.d/S18dprive").exists()
    assert router.config("dhcp") == before


def test_dnsmasq_option_off_leaves_dnsmasq_alone(router):
    router.set_main(dnsmasq="0")
    before = router.config("dhcp")
    router.init("start")
    router.init("stop")
    assert router.config("dhcp") == before
    assert router.calls("dnsmasq") == []
    assert router.calls("procd_open_instance") == [("dprive",)]


def test_listen_port_and_address_reach_dnsmasq(router):
    router.set_main(listen_port="5300")
    router.init("start")
    assert router.dnsmasq()["server"] == ["127.0.0.1#5300"]
    # Only ::1: dnsmasq is pointed there.
    text = (router.root / "etc/config/dprive").read_text()
    (router.root / "etc/config/dprive").write_text(
        text.replace("\tlist listen_address '127.0.0.1'\n", ""))
    router.init("reload")
    assert router.dnsmasq()["server"] == ["::1#5300"]


def test_force_dns_firewall_data_and_canary(router):
    router.set_main(force_dns="1")
    before = router.config("dhcp")
    router.init("start")
    rules = firewall_rules(router)
    assert {r["proto"] for r in rules} == {"udp", "tcp"}
    for rule in rules:
        assert (rule["type"], rule["target"], rule["src"], rule["src_dport"], rule["dest_port"]) \
            == ("redirect", "DNAT", "lan", "53", "53")
        assert "dest_ip" not in rule  # no address: the router itself
    assert router.calls("procd_open_data") == [()]
    assert router.dnsmasq()["address"] == ["/use-application-dns.net/"]
    router.init("stop")
    assert router.config("dhcp") == before


def test_force_dns_keeps_a_users_own_canary_entry(router):
    dhcp = router.root / "etc/config/dhcp"
    dhcp.write_text(dhcp.read_text().replace(
        "\toption localservice '1'\n",
        "\toption localservice '1'\n\tlist address '/use-application-dns.net/'\n"
        "\tlist address '/ads.example/'\n"))
    before = router.config("dhcp")
    router.set_main(force_dns="1", dnsmasq="0")
    router.init("start")
    assert router.dnsmasq()["address"] == ["/use-application-dns.net/", "/ads.example/"]
    router.init("stop")
    assert router.config("dhcp") == before


def test_broken_config_no_instance_and_the_reason_in_log_and_status(router):
    router.set_main(listen_port="99999")
    expected = subprocess.run([str(REAL_DPRIVE), "check", "--config",
                               str(router.root / "etc/config/dprive")],
                              capture_output=True, text=True)
    assert expected.returncode == 2
    message = expected.stderr.strip().replace(router.rootstr, "")
    assert "/etc/config/dprive:" in message
    before = router.config("dhcp")
    router.init("start", check=False)
    assert router.calls("procd_open_instance") == []
    logged = [c[2] for c in router.calls("logger") if c[0] == "dprive" and c[1] == "daemon.err"]
    assert "\n".join(logged[:-1]) == message
    assert "not started" in logged[-1]
    assert router.config("dhcp") == before  # dnsmasq untouched
    status = router.init("status", check=False)
    assert status.returncode != 0
    assert message in status.stdout.replace(router.rootstr, "")
    # Fixed and applied (LuCI's Save & Apply runs reload): now it starts.
    router.set_main(listen_port="5453")
    router.clear()
    router.init("reload")
    assert router.calls("procd_open_instance") == [("dprive",)]
    assert router.init("status").stdout.strip() == "running"


def test_reload_sends_hup_and_keeps_the_instance(router):
    router.init("start")
    router.clear()
    router.init("reload")
    assert router.calls("procd_send_signal") == [("dprive", "*", "HUP")]
    assert router.calls("procd_open_instance") == [] and router.calls("procd_kill") == []
    assert router.calls("dprive") == [("check", "--config", "/etc/config/dprive")]


def test_reload_with_a_broken_config_keeps_the_running_daemon(router):
    router.init("start")
    router.clear()
    router.set_main(profile="paranoid")
    assert router.init("reload", check=False).returncode != 0
    assert router.calls("procd_send_signal") == []
    assert router.calls("procd_kill") == [] and router.calls("procd_open_instance") == []
    assert any("profile" in c[2] for c in router.calls("logger"))


def test_reload_applies_a_force_dns_change(router):
    router.init("start")
    router.clear()
    router.set_main(force_dns="1")
    router.init("reload")
    assert {r["proto"] for r in firewall_rules(router)} == {"udp", "tcp"}
    assert router.dnsmasq()["address"] == ["/use-application-dns.net/"]
    router.clear()
    router.set_main(force_dns="0")
    router.init("reload")
    assert firewall_rules(router) == [] and router.calls("procd_open_instance")
    assert "address" not in router.dnsmasq()


def test_reconnect_command_sends_usr1(router):
    router.init("start")
    router.clear()
    router.init("reconnect")
    assert router.calls("procd_send_signal") == [("dprive", "*", "USR1")]
