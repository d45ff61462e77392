# portable: runs under MicroPython too
"""The DTLS flows at their edges: DTLS tried again only once the TLS session
that stood in for it is idle (nothing in flight, nothing queued); the kept old
session dying or being replaced leaves no stale attempt behind that could time
out later; the False Start's cause as the status shows it; the Close actions
name their session and upstream; the fallback warns (and says for how long);
and the Connect actions carry Fast Open and the offer of a stored TLS session
as the config says, for an upstream's session and the TLS one beside DTLS."""

from coreharness import (Harness, dtls_harness, make_answer, make_query, truncated, upstream_status,
                         well_formed)
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire
from dprive.core.actions import INFO, WARNING
from dprive.core.dtls_flows import DTLS_BLOCKED_MS, DTLS_RETRY_MS

RTT = 100


def logs(actions):
    return [a for a in actions if isinstance(a, fw.Log)]


def closes(actions):
    return [a for a in actions if isinstance(a, fw.Close)]


def connects(actions):
    return [a for a in actions if isinstance(a, fw.Connect)]


# ---- DTLS blocked, and DTLS again -----------------------------------------------------


def test_dtls_blocked_warns_and_says_for_how_long():
    h = dtls_harness(("dtls", "tls"))
    h.query("c1", make_query())
    actions = well_formed(h.connect_failed(0, "DTLS handshake timed out"))
    warnings = [a for a in logs(actions) if a.level == WARNING]
    eq(len(warnings), 1, "a fallback to TLS is worth a warning")
    ok(("%d s" % (DTLS_BLOCKED_MS // 1000)) in warnings[0].text, warnings[0].text)


def fallen_back_after_dtls_worked():
    """DTLS worked, then a handshake failed: TLS for DTLS_RETRY_MS; the TLS session is up."""
    h = dtls_harness(("dtls", "tls"))
    h.warm(RTT)
    h.closed(0, "server gone")
    h.connect_failed(0, "Connection refused (ICMP)")
    h.connected()
    eq(h.transports_used, ["dtls", "dtls", "tls"])
    return h


def test_dtls_is_not_tried_again_while_a_query_is_in_flight_on_the_tls_session():
    h = fallen_back_after_dtls_worked()
    h.tick(DTLS_RETRY_MS - 100)
    h.query("c1", make_query())
    eq(len(h.outstanding()), 1)
    h.clock.advance(200)                       # past the retry time; the query still out
    actions = well_formed(h.run(h.fwd.timer(h.clock.now)))
    eq(connects(actions), [], "the busy TLS session stays")
    eq(h.transports_used[-1], "tls")
    h.answer_all()
    eq(len(h.replies["c1"]), 1)
    h.clock.advance(10)
    actions = well_formed(h.run(h.fwd.timer(h.clock.now)))
    eq(h.transports_used[-1], "dtls", "once idle, it makes way for DTLS")
    infos = [a for a in logs(actions) if a.level == INFO]
    ok(len(infos) >= 1, "DTLS tried again is said at INFO")


def test_dtls_is_not_tried_again_while_a_query_waits_for_the_tls_handshake():
    h = dtls_harness(("dtls", "tls"))
    h.warm(RTT)
    h.closed(0, "server gone")
    h.connect_failed(0, "Connection refused (ICMP)")     # TLS handshaking now
    h.query("c1", make_query())                          # queued on it
    h.clock.advance(DTLS_RETRY_MS + 10)
    h.run(h.fwd.timer(h.clock.now))
    ok("dtls" not in h.transports_used[3:], "no DTLS while the query waits")


# ---- the kept old session ------------------------------------------------------------


def test_no_attempt_on_the_dead_old_session_times_out_while_the_new_one_handshakes():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.query("c1", make_query("x.test"))
    h.alert()
    h.closed(0, "gone", gen=old)
    eq(h.fwd.upstreams[0].previous, None)
    h.clock.advance(1000)                       # past the old attempt's deadline
    h.run(h.fwd.timer(h.clock.now))
    eq(upstream_status(h)["timeouts"], 0, "the attempt on the dead session is gone")
    h.connected()
    h.answer_all()
    eq(len(h.replies["c1"]), 1)


def test_the_replaced_session_is_closed_by_handle_and_its_attempts_forgotten():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.query("c1", make_query("x.test"))
    h.alert()
    actions = well_formed(h.connected())
    got = closes(actions)
    eq([(c.handle, c.name) for c in got], [(old, "one")])
    eq(h.fwd.upstreams[0].previous, None)
    h.clock.advance(1000)                       # past the old attempt's deadline
    h.run(h.fwd.timer(h.clock.now))
    eq(upstream_status(h)["timeouts"], 1, "only the replay on the new session timed out")


def test_the_alert_and_the_failed_resumption_are_logged_at_their_levels():
    h = dtls_harness()
    h.warm(RTT)
    h.query("c1", make_query("x.test"))
    eq([a.level for a in logs(well_formed(h.alert()))], [INFO])
    actions = well_formed(h.connect_failed(0, "handshake timed out"))
    eq([a.level for a in logs(actions)], [WARNING])


# ---- False Start --------------------------------------------------------------------


def test_a_false_start_records_how_long_the_session_was_quiet():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=60000)
    h = dtls_harness(config=config)
    h.warm(RTT)                                  # quiet since the answer
    h.tick(60000)                                # quiet 61 s (60 s would be 61000 // 1001)
    h.query("c1", make_query())
    h.connected()
    h.answer_all()
    recs = upstream_status(h)["recoveries"]
    eq(len(recs), 1)
    eq(recs[0]["cause"], "quiet for 61 s")


# ---- the TLS session beside DTLS ----------------------------------------------------


def test_the_tls_session_beside_dtls_that_never_connects_is_closed_by_name():
    h = dtls_harness(("dtls", "tls"))
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    side = h.connects[-1]
    h.clock.advance(3000)
    actions = well_formed(h.run(h.fwd.timer(h.clock.now)))
    eq([(c.handle, c.name) for c in closes(actions)], [(side[1], "one")])
    eq([a.level for a in logs(actions)], [INFO])
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "the truncated answer")


def test_the_tls_session_beside_dtls_coming_up_sends_its_queries_with_keepalive_counting():
    # probe_idle_ms (the kernel's TCP keepalive idle time) makes every send
    # count the keepalive probes the quiet since the last one cost: the
    # session's quiet starts when it comes up, not before.
    h = dtls_harness(("dtls", "tls"))
    h.fwd.upstreams[0].probe_idle_ms = 50
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    side = h.connects[-1]
    h.clock.advance(120)                         # the TLS handshake takes 120 ms
    before = upstream_status(h)["probes_sent"]
    h.connected(side[0], gen=side[1])
    eq(len(h.sent[side]), 1, "the queued query goes out")
    eq(upstream_status(h)["probes_sent"], before, "no quiet time on a session just up")
    h.deliver(0, make_answer(h.sent[side][0], extra_txt=6), gen=side[1])
    eq(wire.parse_header(h.reply("c1")).ancount, 7)


def test_the_tls_session_beside_dtls_failing_waits_for_another_upstream_still_asked():
    # c1 timed out on a live "one" and went to "two" too; "one" then answers it
    # truncated, asked again over TLS. That TLS session failing hands out the
    # truncated answer only if nothing else is in flight: "two" still is.
    config = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)
    h = Harness(names=("one", "two"), config=config, transports=[("dtls", "tls"), ("dtls",)])
    h.query("w", make_query("warm.test"))
    h.connected(0)
    h.query("c1", make_query("big.test"), udp=False)
    h.clock.advance(10)
    h.deliver(0, make_answer(h.outstanding(0)[0]))
    h.tick(1000)
    eq(h.counter("timeouts", 0), 1)
    h.connected(1)
    eq(len(h.outstanding(1)), 1, "c1 went to two as well")
    h.deliver(0, truncated(h.outstanding(0)[1]))
    side = h.connects[-1]
    eq(h.transports_used[-1], "tls")
    h.closed(side[0], "reset", gen=side[1])
    eq(h.replies.get("c1"), None, "two may still give the whole answer")
    h.deliver(1, make_answer(h.outstanding(1)[0], extra_txt=6))
    eq(wire.parse_header(h.reply("c1")).ancount, 7)


def test_a_second_up_report_for_the_tls_session_beside_dtls_is_ignored():
    # The core takes stale or repeated events from the shell without harm.
    h = dtls_harness(("dtls", "tls"))
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    eq(well_formed(h.connected(side[0], gen=side[1])), [])
    eq(len(h.sent[side]), 1, "the query went once")


# ---- what a Connect asks for ----------------------------------------------------------


def side_connect(config):
    h = dtls_harness(("dtls", "tls"), config)
    h.query("c1", make_query(), udp=False)
    h.connected()
    side = connects(h.deliver(0, truncated(h.outstanding()[0])))
    eq(len(side), 1)
    return side[0]


def test_the_tls_session_beside_dtls_asks_for_fast_open_and_resumption():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)
    side = side_connect(config)
    eq((side.transport, side.tfo, side.resume), ("tls", True, True))


def test_the_tls_session_beside_dtls_follows_the_config_without_them():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0,
                                tcp_fastopen=False, tls_resumption=False)
    side = side_connect(config)
    eq((side.transport, side.tfo, side.resume), ("tls", False, False))


def test_an_upstream_session_connect_carries_fast_open_and_resumption():
    h = Harness()
    got = connects(h.query("c1", make_query()))
    eq([(c.transport, c.tfo, c.resume) for c in got], [("tls", True, True)])
    h = Harness(config=fw.ForwarderConfig(tcp_fastopen=False, tls_resumption=False))
    got = connects(h.query("c1", make_query()))
    eq([(c.transport, c.tfo, c.resume) for c in got], [("tls", False, False)])
    h = dtls_harness()
    got = connects(h.query("c1", make_query()))
    eq([(c.transport, c.tfo, c.resume) for c in got], [("dtls", False, True)])
