# portable: runs under MicroPython too
"""Recovery edges of core/sessions.py, core/reload.py and the Forwarder's
arguments (each pins a mutant of issue 12's run 2 that no test killed): which
session a Close names when we end one (a reconnect while a resumed session
replaces the kept one, a connect timeout, the server's idle timeout, DTLS
tried again), where the queries of a dropped or removed session go and that
none is sent twice, sessions that keep dying young, a session reported failed
after it was up, garbage during a handshake, a late message, and the probe
idle time an upstream is given. The reload's edges: test_reload_recovery_edges.py."""

from coreharness import Harness, make_answer, make_query, rcode
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire
from dprive.core.upstream import BACKOFF, CONNECTING, IDLE, OPEN, REPLACING

QUIET = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)


def test_a_reconnect_while_a_resumed_session_replaces_the_kept_one_closes_both_and_loses_nothing():
    h = Harness(config=QUIET, transports=[("dtls",)])
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    old = h.gen()
    h.query("c1", make_query())
    h.alert()
    up = h.fwd.upstreams[0]
    resumed = h.gen()
    eq(up.state, REPLACING)
    h.run(h.fwd.reconnect(h.clock.now))
    eq(sorted(c[:2] for c in h.closes), sorted([(0, old), (0, resumed)]), "the kept one and its successor")
    eq((up.previous, up.state), (None, CONNECTING), "a fresh session is under way")
    ok(h.gen() not in (old, resumed))
    h.connected()
    eq(h.answer_all(), 1, "the query went out once on the fresh session")
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_a_reconnect_sends_the_queries_in_flight_again_on_the_new_session_to_the_same_upstream():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    first = h.gen()
    eq(len(h.outstanding()), 1)
    h.run(h.fwd.reconnect(h.clock.now))
    eq([c[:2] for c in h.closes], [(0, first)])
    eq(h.fwd.upstreams[0].last_close_reason, "reconnect requested", "the status says why it ended")
    h.connected()
    eq(h.answer_all(), 1, "the same upstream may take it again: we dropped the session, it did not fail")
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq((h.counter("failures", 0), h.counter("replays", 0)), (0, 1))


def test_a_reconnect_by_name_leaves_the_other_upstreams_alone():
    h = Harness(names=("a", "b"))
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    b = h.gen(1)
    h.run(h.fwd.reconnect(h.clock.now, "a"))
    eq([c[0] for c in h.closes], [0])
    eq((h.gen(1), h.fwd.upstreams[1].state), (b, OPEN))


def test_a_connect_timeout_closes_the_handshaking_session_and_backs_off():
    h = Harness()
    h.query("c1", make_query())
    stuck = h.gen()
    h.tick(h.fwd.config.connect_timeout_ms)
    eq([c[:2] for c in h.closes], [(0, stuck)], "the shell is told to close that very handle")
    up = h.fwd.upstreams[0]
    eq((up.state, up.auth_failed), (BACKOFF, False), "a silent server is no authentication failure")
    ok(str(h.fwd.config.connect_timeout_ms) in up.last_close_reason, up.last_close_reason)


def test_the_servers_idle_timeout_closes_that_session_and_opens_none():
    h = Harness(config=QUIET)
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    idle = h.gen()
    up = h.fwd.upstreams[0]
    up.learned_idle_ms = 5000
    h.run(h.fwd.timer(h.clock.now))      # arms the expiry
    quiet = up.session.idle_expiry(5000) - up.session.last_activity
    connects = len(h.connects)
    h.tick(6000)
    eq([c[:2] for c in h.closes], [(0, idle)], "the quiet session is the one closed")
    eq((up.state, up.session, len(h.connects)), (IDLE, None, connects), "housekeeping: no reconnect")
    eq((h.counter("failures", 0), h.counter("graceful_closes", 0)), (0, 1))
    ok(("idle for %d ms" % quiet) in up.last_close_reason, up.last_close_reason)


def test_an_answer_arms_the_timer_for_the_learned_idle_timeout():
    h = Harness(config=QUIET)
    h.query("w", make_query("warm.test"))
    h.connected()
    up = h.fwd.upstreams[0]
    up.learned_idle_ms = 5000
    h.tick(100)
    h.fwd.alarm.clear()
    h.answer_all()
    expiry = up.session.idle_expiry(5000)
    ok(expiry is not None)
    eq(h.fwd.next_timer(), expiry, "the timer is due when the server would close it")


def test_sessions_dying_young_three_times_in_a_row_back_off_instead_of_reconnecting():
    h = Harness()
    h.query("c1", make_query())
    for _ in range(2):
        h.connected()
        h.tick(100)
        h.closed(kind=fw.RST)
        eq(h.fwd.upstreams[0].state, CONNECTING, "reconnected at once")
    h.connected()
    h.tick(100)
    connects = len(h.connects)
    h.closed(kind=fw.RST)
    up = h.fwd.upstreams[0]
    eq((up.state, len(h.connects)), (BACKOFF, connects), "the third young death backs off")
    ok(up.retry_at > h.clock.now)
    ok(h.fwd.next_timer() <= up.retry_at, "the timer wakes for the retry")


def test_a_loss_that_backs_off_leaves_no_recovery_record_only_the_reconnects_do():
    h = Harness()
    h.run(h.fwd.start(h.clock.now))
    up = h.fwd.upstreams[0]
    for _ in range(3):
        h.connected()
        h.tick(100)
        h.closed(kind=fw.RST)
    eq(up.state, BACKOFF)
    h.tick(up.retry_at - h.clock.now)
    eq(up.state, CONNECTING, "the retry")
    h.connected()
    eq(len(h.fwd.status(h.clock.now)["upstreams"][0]["recoveries"]), 2,
       "two losses reconnected at once; the third waited out a backoff, no recovery")


def test_a_connect_failure_reported_for_a_session_already_up_is_a_failed_session_not_a_graceful_close():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    up_handle = h.gen()
    h.run(h.fwd.connect_failed(up_handle, "alert after Finished", h.clock.now))
    up = h.fwd.upstreams[0]
    eq((h.counter("failures", 0), h.counter("graceful_closes", 0)), (1, 0))
    eq(up.last_close_reason, "alert after Finished")
    eq(up.state, CONNECTING, "replayed and reconnected at once")
    h.connected()
    eq(h.answer_all(), 1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_the_keepalive_probe_idle_time_given_at_start_and_at_reload_counts_the_probes():
    h = Harness(config=QUIET)
    h.fwd = fw.Forwarder(QUIET, ["one"], lambda: 7, probe_idle_ms=[1000])
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    h.tick(2500)
    h.query("c1", make_query())
    h.answer_all()
    eq(h.counter("probes_sent", 0), 2, "2.5 s quiet at a 1 s idle time: two probes")
    h.run(h.fwd.reconfigure(QUIET, ["one"], h.clock.now, probe_idle_ms=[500]))
    eq(h.fwd.upstreams[0].probe_idle_ms, 500)
    h.tick(1200)
    h.query("c2", make_query("two.test"))
    h.answer_all()
    eq(h.counter("probes_sent", 0), 4, "the new idle time counts two more in 1.2 s")


def test_a_reconnect_skips_a_disabled_upstream_and_reaches_a_named_one_after_others():
    h = Harness(names=("a", "b", "c"), enabled=[True, True, False])
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    eq(len(h.connects), 2)
    h.run(h.fwd.reconnect(h.clock.now))
    eq(sorted(c[0] for c in h.connects[2:]), [0, 1], "a disabled upstream is not connected")
    h.connected(0)
    h.connected(1)
    b = h.gen(1)
    h.run(h.fwd.reconnect(h.clock.now, "b"))
    eq([c[:2] for c in h.closes[2:]], [(1, b)], "the one named, though not the first")


def test_a_reconnect_forgets_the_failures_so_the_next_one_backs_off_from_the_start():
    h = Harness()
    h.run(h.fwd.start(h.clock.now))
    for _ in range(3):
        h.connect_failed()
        h.tick(h.fwd.upstreams[0].retry_at - h.clock.now)
    up = h.fwd.upstreams[0]
    eq(up.consecutive_failures, 3)
    h.run(h.fwd.reconnect(h.clock.now))
    eq(up.state, CONNECTING)
    h.connect_failed()
    eq(up.retry_at - h.clock.now, 500, "the first step again, not the fourth")


def test_a_recovery_record_names_what_the_session_died_of():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.answer_all()
    h.tick(20000)                 # well past young
    h.query("c2", make_query("two.test"))
    h.closed(reason="connection reset by peer", kind=fw.RST)
    h.connected()
    h.answer_all()
    records = h.fwd.status(h.clock.now)["upstreams"][0]["recoveries"]
    eq([(r["cause"], r["kind"]) for r in records], [("connection reset by peer", "rst")])


def test_a_query_reset_for_silence_counts_a_failure_and_replays_on_a_new_session():
    h = Harness()
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    h.query("c1", make_query())
    first = h.gen()
    while h.gen() == first:
        h.tick(50)
    up = h.fwd.upstreams[0]
    ok(first != h.gen(), "the silent session was reset")
    eq((h.counter("failures", 0), h.counter("graceful_closes", 0)), (1, 0))
    ok(up.last_close_reason.startswith("no answer within"), up.last_close_reason)
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq(up.recoveries[-1]["kind"], fw.TIMEOUT)


def test_the_forwarder_defaults_and_tables_after_a_reload():
    h = Harness()
    h.query("c1", make_query())
    h.run(h.fwd.connect_failed(h.gen(), "refused", h.clock.now))
    up = h.fwd.upstreams[0]
    eq((up.auth_failed, h.forgotten), (False, []), "by default no auth failure, nothing forgotten")
    eq(len(h.fwd.waiting), len(h.fwd.clients.waiting))
    new = fw.ForwarderConfig(tcp_fastopen=not h.fwd.config.tcp_fastopen)
    h.run(h.fwd.reconfigure(new, ["one"], h.clock.now))
    ok(h.fwd.config is new)
    eq(h.fwd.status(h.clock.now)["upstreams"][0]["name"], "one")


def test_garbage_on_a_session_still_handshaking_is_left_to_its_handshake():
    h = Harness()
    h.query("c1", make_query())
    handshaking = h.gen()
    h.run(h.fwd.garbled(handshaking, "not a DNS message", h.clock.now))
    eq((h.closes, h.gen(), h.counter("failures", 0)), ([], handshaking, 0))
    h.connected()
    eq(h.answer_all(), 1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_a_late_message_on_a_session_already_ended_is_ignored():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    first = h.gen()
    query = h.outstanding()[0]
    h.run(h.fwd.reconnect(h.clock.now))
    eq(h.deliver(0, make_answer(query), gen=first), [], "that handle is no longer the core's")
    eq(h.replies, {})
    h.connected()
    eq(h.answer_all(), 1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_the_tls_session_standing_in_for_dtls_is_closed_and_says_why_when_dtls_is_tried_again():
    from dprive.core.dtls_flows import DTLS_RETRY_MS
    h = Harness(config=QUIET, transports=[("dtls", "tls")])
    h.warm(100)
    h.closed(0, "server gone")
    h.connect_failed(0, "Connection refused (ICMP)")
    h.connected()
    tls = h.gen()
    eq(h.transports_used[-1], "tls")
    h.tick(DTLS_RETRY_MS + 10)
    eq(h.transports_used[-1], "dtls")
    ok((0, tls) in [c[:2] for c in h.closes], "the TLS session makes way")
    eq(h.fwd.status(h.clock.now)["upstreams"][0]["last_close_reason"], "DTLS tried again")


def test_a_failed_resumption_sends_nothing_twice_on_the_session_it_keeps():
    h = Harness(config=QUIET, transports=[("dtls",)])
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    old = h.gen()
    h.query("c1", make_query())
    h.alert()                                  # c1's copy waits on the resumed session
    h.connect_failed(0, "refused")             # which fails: the old one is kept
    eq(h.gen(), old)
    eq(h.answer_all(), 1, "c1 is still in flight there once, not sent again")
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
