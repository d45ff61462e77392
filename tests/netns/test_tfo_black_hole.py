"""A path that drops SYNs carrying data (some middleboxes do): Linux resends
the SYN without the data after its SYN timeout, the session comes up a second
late, and dprive turns Fast Open off for that upstream for a while, so the
next reconnect does not pay that second again."""

import time

from tests.tools import flows
from tests.tools.dprive_proc import upstream
from tests.tools.netlab import RELAY_PORT, UPSTREAM_IP

# A SYN without data is 60 bytes (IPv4 + TCP with options); one with a ClientHello is hundreds.
DROP_SYN_WITH_DATA = ["FORWARD", "-p", "tcp", "--syn", "-m", "length", "--length", "200:65535",
                      "-j", "DROP"]


def _up(dp):
    return dp.status()["upstreams"][0]


def test_syn_data_dropped_on_the_path_turns_fast_open_off(net):
    flows.ensure_servers(net)
    dp = net.start_dprive([upstream("relay", RELAY_PORT, address=UPSTREAM_IP,
                                    spki=[net.pki.server_pin])], name="dprive-tfo")
    try:
        for name in ("a.test", "b.test"):
            assert net.query(name, port=dp.port, timeout_s=5).rcode == "NOERROR"
        dp.control("reconnect")               # the second session uses the cookie: TFO works here
        time.sleep(0.5)
        assert _up(dp)["tfo_used"] >= 1, _up(dp)
        assert _up(dp)["tfo_enabled"] is True

        net.iptables("-I", *DROP_SYN_WITH_DATA)
        try:
            dp.control("reconnect")
            deadline = time.monotonic() + 8
            while _up(dp)["tfo_enabled"] and time.monotonic() < deadline:
                time.sleep(0.2)
            up = _up(dp)
            assert up["tfo_enabled"] is False, "Fast Open should be off after a dropped SYN: %r" % up
            assert up["state"] == "open", up
            assert "Fast Open off" in dp.log_text()
            res = net.query("c.test", port=dp.port, timeout_s=5)
            assert res.rcode == "NOERROR" and res.answers == ["192.0.2.3"], res
            dp.control("reconnect")           # without TFO: no second lost to the drop
            time.sleep(0.5)
            res = net.query("a.test", port=dp.port, timeout_s=5)
            assert res.rcode == "NOERROR" and flows.round_trips(res.latency_ms) == 1, res
        finally:
            net.iptables("-D", *DROP_SYN_WITH_DATA)
    finally:
        dp.stop()
