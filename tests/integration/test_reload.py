"""SIGHUP rereads the config and keeps the sessions of upstreams that did not
change; SIGUSR1 (the init script's WAN hook) reconnects every session; a
config with mistakes is refused and the daemon runs on."""

import signal
import time

from tests.tools import clients, common
from tests.tools.dprive_proc import upstream


def _names(dp):
    return [u["name"] for u in dp.status()["upstreams"]]


def test_reload_keeps_unchanged_sessions_and_applies_the_rest(make_dprive, make_unbound):
    one, two, three = make_unbound(), make_unbound(), make_unbound()
    dp = make_dprive([upstream("one", one.tls_port), upstream("two", two.tls_port)])
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    before = dp.upstream_status("one")
    dp.upstreams = [upstream("three", three.tls_port), upstream("one-renamed", one.tls_port)]
    dp.write_config()
    dp.proc.send_signal(signal.SIGHUP)
    common.wait_until(lambda: _names(dp) == ["three", "one-renamed"], 5, what="the reload")
    kept = dp.upstream_status("one-renamed")
    assert kept["connects"] == before["connects"], "the unchanged upstream kept its session"
    assert kept["session_age_s"] >= before["session_age_s"], kept
    common.wait_until(lambda: dp.upstream_status("three")["state"] == "open", 5,
                      what="the new upstream's session")
    for name, address in (("b.test", "192.0.2.2"), ("c.test", "192.0.2.3")):
        assert clients.kdig(name, "A", port=dp.port).addresses() == [address]
    assert "configuration reloaded: 1 upstreams kept" in dp.log_text()


def test_reload_that_removes_the_last_upstream_of_the_list_applies_every_action(make_dprive, make_unbound):
    """The removed upstream's CLOSE used to carry its old index, which the new,
    shorter list did not have: IndexError in the reload task, and the actions
    after it (the "configuration reloaded" line among them) were lost."""
    one, two = make_unbound(), make_unbound()
    dp = make_dprive([upstream("one", one.tls_port), upstream("two", two.tls_port)])
    common.wait_until(lambda: dp.upstream_status("two")["state"] == "open", 5, what="two's session")
    dp.upstreams = [upstream("one", one.tls_port)]
    dp.write_config()
    dp.proc.send_signal(signal.SIGHUP)
    common.wait_until(lambda: "configuration reloaded: 1 upstreams kept" in dp.log_text(), 5,
                      what="the reload's last action")
    assert "Traceback" not in dp.log_text() and "never retrieved" not in dp.log_text(), dp.log_tail()
    assert _names(dp) == ["one"]
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]


def test_reload_with_a_broken_config_is_refused_and_nothing_changes(make_dprive, unbound):
    dp = make_dprive([upstream("u", unbound.tls_port)])
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    dp.conf_path.write_text(dp.conf_path.read_text() + "\n\toption bogus 'x'\n")
    dp.proc.send_signal(signal.SIGHUP)
    common.wait_until(lambda: "reload refused" in dp.log_text(), 5, what="the refusal")
    assert "option 'bogus'" in dp.log_text(), "the mistake is logged with its line"
    assert dp.running()
    assert clients.kdig("b.test", "A", port=dp.port).addresses() == ["192.0.2.2"]


def test_sigusr1_reconnects_every_session(make_dprive, unbound):
    dp = make_dprive([upstream("u", unbound.tls_port)])
    assert clients.kdig("a.test", "A", port=dp.port).addresses() == ["192.0.2.1"]
    connects = dp.upstream_status("u")["connects"]
    dp.proc.send_signal(signal.SIGUSR1)
    common.wait_until(lambda: dp.upstream_status("u")["connects"] == connects + 1, 5,
                      what="a new session")
    time.sleep(0.2)
    assert clients.kdig("b.test", "A", port=dp.port).addresses() == ["192.0.2.2"]
