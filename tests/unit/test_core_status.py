# portable: runs under MicroPython too
"""The core's status as `dprive status --json` shows it: every field of an upstream,
with the value a scripted exchange gives it (the daemon, the LuCI view and ubus
read these names; a renamed or miscomputed field is a broken interface)."""

from coreharness import Harness, make_query
from testkit import eq

from dprive.core import forwarder as fw

UPSTREAM_COUNTERS = (
    "queries", "answers", "failures", "timeouts", "connects", "reconnects", "handshakes",
    "graceful_closes", "server_closes", "rsts", "replays", "probes_sent", "probe_failures",
    "tfo_used", "resumptions_offered", "resumptions_accepted", "keepwarm_queries", "alerts",
    "alerts_ignored", "false_starts", "dtls_fallbacks", "truncated_over_dtls", "unmatched",
    "late_answers", "bad_answers", "extra_connects")


def upstream_status(**fields):
    """An upstream's status: every counter 0 and the fields of a new upstream, then `fields`."""
    out = dict((name, 0) for name in UPSTREAM_COUNTERS)
    out.update({
        "enabled": True, "state": "idle", "srtt_ms": None, "rto_ms": 1000,
        "consecutive_failures": 0, "retry_in_ms": None, "last_close_reason": "",
        "inflight": 0, "server_idle_timeout_ms": None, "learned_idle_timeout_ms": None,
        "session_age_s": None, "tfo_enabled": True, "transports": ["tls"], "transport": "tls",
        "dtls_blocked": False, "recoveries": [], "connections": 0})
    out.update(fields)
    return out


def eq_dict(got, want, what):
    """Field by field, so a failure names the field."""
    eq(sorted(got), sorted(want), what + ": the fields")
    for key in sorted(want):
        eq(got[key], want[key], "%s: %s" % (what, key))


def test_a_fresh_forwarder_shows_every_upstream_idle_and_no_counts():
    h = Harness(names=("one", "two"))
    status = h.fwd.status(h.clock.now)
    eq(status["pending"], 0)
    eq(status["counters"], {"queries": 0, "answers": 0, "servfail": 0, "formerr": 0,
                            "notimp": 0, "dropped": 0, "truncated": 0, "overload": 0,
                            "retries": 0})
    eq_dict(status["upstreams"][0], upstream_status(name="one"), "one")
    eq_dict(status["upstreams"][1], upstream_status(name="two"), "two")


def test_status_of_a_failed_upstream_and_of_the_one_that_answered():
    h = Harness(names=("bad", "good"), config=fw.ForwarderConfig(tcp_fastopen=False))
    h.query("c1", make_query())                    # t=0: to "bad", neither measured yet
    h.tick(30)
    h.connect_failed(0, "connection refused")      # t=30: backoff 500 ms; c1 moves to "good"
    h.tick(20)
    h.connected(1)                                 # t=50
    h.tick(40)
    h.answer_all(1, keepalive_units=100)           # t=90: 40 ms after it left; 10 s idle timeout
    h.query("c2", make_query("b.test"))            # in flight on "good"
    h.tick(200)                                    # t=290
    status = h.fwd.status(h.clock.now)
    eq(status["pending"], 1, "c2")
    eq(status["counters"], {"queries": 2, "answers": 1, "servfail": 0, "formerr": 0,
                            "notimp": 0, "dropped": 0, "truncated": 0, "overload": 0,
                            "retries": 1})
    bad, good = status["upstreams"]
    eq_dict(bad, upstream_status(
        name="bad", state="backoff", queries=1, connects=1, failures=1, replays=1,
        consecutive_failures=1, last_close_reason="connection refused",
        retry_in_ms=240,                           # 30 + 500 - 290
        tfo_enabled=False), "bad")
    eq_dict(good, upstream_status(
        name="good", state="open", queries=2, answers=1, connects=1, handshakes=1,
        inflight=1, srtt_ms=40.0, connections=1,
        rto_ms=120.0,                              # srtt 40 + 4 x rttvar 20 (RFC 6298)
        server_idle_timeout_ms=10000,              # 100 units of 100 ms
        session_age_s=0.3,                         # asked for at t=30: 260 ms
        tfo_enabled=False, tls_version="TLSv1.3"), "good")
