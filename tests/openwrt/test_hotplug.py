"""The hotplug hooks: WAN and clock changes reconnect, never restart."""

import pytest


@pytest.fixture
def running(router):
    router.init("enable")
    router.init("start")
    router.set_wan("wan", "wan6")
    router.clear()
    return router


def signals(router):
    return router.calls("procd_send_signal")


@pytest.mark.parametrize("interface", ["wan", "wan6"])
def test_wan_up_reconnects(running, interface):
    running.hotplug("iface", ACTION="ifup", INTERFACE=interface)
    assert signals(running) == [("dprive", "*", "USR1")]
    assert running.calls("procd_kill") == [] and running.calls("procd_open_instance") == []


def test_the_interface_with_the_default_route_is_wan(running):
    running.set_wan("wwan", "")
    running.hotplug("iface", ACTION="ifup", INTERFACE="wwan")
    assert signals(running) == [("dprive", "*", "USR1")]


@pytest.mark.parametrize("env", [
    {"ACTION": "ifup", "INTERFACE": "lan"},
    {"ACTION": "ifup", "INTERFACE": "loopback"},
    {"ACTION": "ifdown", "INTERFACE": "wan"},
    {"ACTION": "ifupdate", "INTERFACE": "wan"},  # a renewal that changed nothing
    {"ACTION": "ifupdate", "INTERFACE": "wan", "IFUPDATE_ROUTES": "1"},
], ids=["lan", "loopback", "wan-down", "wan-renew", "wan-routes"])
def test_other_events_do_nothing(running, env):
    running.hotplug("iface", **env)
    assert signals(running) == []


def test_a_new_wan_address_reconnects(running):
    running.hotplug("iface", ACTION="ifupdate", INTERFACE="wan", IFUPDATE_ADDRESSES="1")
    assert signals(running) == [("dprive", "*", "USR1")]


def test_disabled_service_is_left_alone(running):
    running.init("disable")
    running.clear()
    running.hotplug("iface", ACTION="ifup", INTERFACE="wan")
    running.hotplug("ntp", ACTION="stratum", stratum="2")
    assert signals(running) == []


def test_clock_set_reconnects_once(running):
    running.hotplug("ntp", ACTION="stratum", stratum="16")  # not synchronised yet
    running.hotplug("ntp", ACTION="step", stratum="3")
    assert signals(running) == []
    running.hotplug("ntp", ACTION="stratum", stratum="3")
    assert signals(running) == [("dprive", "*", "USR1")]
    running.hotplug("ntp", ACTION="stratum", stratum="2")  # a better server: no new reconnect
    assert signals(running) == [("dprive", "*", "USR1")]
    assert running.calls("procd_kill") == []
