# portable: runs under MicroPython too
"""Each policy of the core alone, without a Forwarder: bare upstreams and
sessions in, a decision out."""

from coreharness import make_answer, make_query
from testkit import eq, ok

from dprive.core import message, upstream_state, wire
from dprive.core.actions import MAX_ATTEMPTS, ForgetSession, ForwarderConfig
from dprive.core.dtls_policy import DTLS_BLOCKED_MS, DTLS_RETRY_MS, DtlsPolicy
from dprive.core.query import PendingQuery
from dprive.core.recovery_policy import RecoveryPolicy
from dprive.core.resumption import TFO_OFF_MS, ResumptionPolicy
from dprive.core.selection import Selection
from dprive.core.upstream import Attempt, Session, Upstream


def pending(deadline=10000, udp=True, msg=None):
    query = message.inspect_query(msg or make_query())[1]
    return PendingQuery("c", 1, query, udp, deadline)


def measured(up, rtt_ms):
    up.rtt.sample(rtt_ms)
    return up


def test_selection_prefers_the_lowest_rtt_then_one_the_query_did_not_lose_a_session_on():
    near, far = measured(Upstream(0, "near"), 10), measured(Upstream(1, "far"), 80)
    pq = pending()
    eq(Selection().choose([far, near], pq), near)
    pq.lost_on[near.key] = True
    eq(Selection().choose([far, near], pq), far, "a replay goes to another server first")
    pq.tried[far.key] = True
    eq(Selection().choose([far, near], pq), near, "else to a new session on the same")
    pq.tried[near.key] = True
    eq(Selection().choose([far, near], pq), None)


def test_selection_waits_for_a_retry_before_the_deadline_and_retries_early_once_a_second():
    up = Upstream(0, "one")
    upstream_state.move(up, upstream_state.CONNECT)
    up.last_connect_at = 0
    up.back_off(0, 60000, upstream_state.FAIL)        # retry at 500
    eq(Selection().may_wait([up], pending(deadline=400)), False, "the retry comes too late")
    eq(Selection().may_wait([up], pending(deadline=600)), True)
    eq(Selection().early_retry([up], pending(), 999), None, "tried less than a second ago")
    eq(Selection().early_retry([up], pending(), 1000), up)
    up.auth_failed = True
    eq(Selection().early_retry([up], pending(), 5000), None, "a bad certificate does not fix itself")
    eq(Selection().may_wait([up], pending(deadline=600)), False)


def test_resumption_forgets_the_ticket_of_the_failed_transport_only_when_the_server_spoke():
    policy = ResumptionPolicy(ForwarderConfig())
    up = Upstream(0, "one", transports=("dtls", "tls"), key="k")
    session = Session(1, 0, 3000)
    session.transport = "dtls"
    eq(policy.after_failure(up, session, False), None)
    eq(policy.after_failure(up, session, True), ForgetSession("k", "dtls"))
    eq(ResumptionPolicy(ForwarderConfig(tls_resumption=False)).resume(), False)


def test_tfo_goes_off_for_an_hour_after_a_late_handshake_that_used_it_before():
    policy = ResumptionPolicy(ForwarderConfig())
    up = measured(Upstream(0, "one"), 50)
    eq(policy.use_tfo(up, "tls", 0), True)
    eq(policy.use_tfo(up, "dtls", 0), False, "no Fast Open under DTLS")
    eq(ResumptionPolicy(ForwarderConfig(tcp_fastopen=False)).use_tfo(up, "tls", 0), False)
    session = Session(1, 0, 3000)
    session.tfo_attempted = True
    session.info = {"tfo": True}
    eq(policy.after_handshake(up, session, 60, 60), None)
    ok(up.tfo_ok, "a SYN with data got through")
    session.info = {"tfo": False}
    eq(policy.after_handshake(up, session, 900, 1000), None, "late, but not a second late")
    ok(policy.after_handshake(up, session, 1100, 2000) is not None, "the SYN with data was lost")
    eq(policy.use_tfo(up, "tls", 2000 + TFO_OFF_MS - 1), False)
    eq(policy.use_tfo(up, "tls", 2000 + TFO_OFF_MS), True)


def test_dtls_fallback_is_short_when_dtls_worked_before_and_alerts_start_one_handshake_a_second():
    policy = DtlsPolicy(ForwarderConfig())
    up = Upstream(0, "gw", transports=("dtls", "tls"))
    session = Session(1, 0, 3000)
    session.transport = "dtls"
    eq(policy.fallback_ms(up, session, 0), DTLS_BLOCKED_MS, "never worked: the path blocks it")
    eq(policy.transport_for(up, 1), "tls")
    up.dtls_worked = True
    eq(policy.fallback_ms(up, session, 0), 2 * DTLS_RETRY_MS, "the second fallback in a row doubles")
    eq(policy.fallback_ms(Upstream(1, "only", transports=("dtls",)), session, 0), None)
    eq((policy.may_replace(up, 0), policy.may_replace(up, 999), policy.may_replace(up, 1000)),
       (True, False, True))


def test_false_start_waits_for_a_quiet_time_counted_from_a_failed_resumption_too():
    policy = DtlsPolicy(ForwarderConfig(dtls_resume_after_ms=60000))
    up = Upstream(0, "one", transports=("dtls",))
    session = Session(1, 0, 3000)
    session.transport = "dtls"
    eq(policy.quiet_too_long(up, session, 59999), False)
    eq(policy.quiet_too_long(up, session, 60000), True)
    session.kept_at = 63000      # its resumption failed then: the query goes on it
    eq(policy.quiet_too_long(up, session, 63000), False)
    eq(policy.quiet_too_long(up, session, 123000), True)


def test_a_truncated_dtls_answer_goes_over_tls_only_for_a_client_that_could_take_more():
    policy = DtlsPolicy(ForwarderConfig())
    up = Upstream(0, "gw", transports=("dtls", "tls"))
    query = make_query()
    truncated = wire.truncate(make_answer(query, extra_txt=6), 100)
    eq(policy.ask_again_over_tls(up, pending(udp=False), truncated), True)
    eq(policy.ask_again_over_tls(up, pending(udp=True), truncated), False, "512 bytes: it retries over TCP")
    eq(policy.ask_again_over_tls(up, pending(udp=False), make_answer(query)), False, "not truncated")


def test_recovery_reads_a_close_at_the_idle_timeout_as_housekeeping_and_three_young_deaths_as_an_attack():
    policy = RecoveryPolicy()
    up = Upstream(0, "one")
    session = Session(1, 0, 3000)
    session.server_idle_ms = 10000
    eq(policy.is_idle_close(up, session, 7999), False, "a restart")
    eq(policy.is_idle_close(up, session, 8000), True)
    session.established_at = 0
    eq([policy.dying_young(up, session, 100) for _ in range(3)], [False, False, True])
    eq(policy.dying_young(up, session, 20000), False, "an old session's death starts the count over")
    session.inflight = {}
    rec = policy.record(session, "reset", "rst", 0, 500)
    up.pending_recovery = rec
    policy.handshake_done(up, {"tfo": True}, 40)
    eq((up.recoveries[-1]["query_rtts"], up.recoveries[-1]["tfo"], up.pending_recovery), (0, True, None))


def near(a, b, msg=None):
    ok(a is not None and abs(a - b) < 0.001, "%s: %r is not %r" % (msg or "value", a, b))


def failed(up, now):
    """`up` after a failed connect at `now`: in BACKOFF, due again at now + 500."""
    upstream_state.move(up, upstream_state.CONNECT)
    up.last_connect_at = now
    up.back_off(now, 60000, upstream_state.FAIL)
    return up


def test_an_early_retry_passes_over_an_upstream_already_tried_and_ties_go_to_the_first():
    first, second = failed(Upstream(0, "first"), 0), failed(Upstream(1, "second"), 0)
    eq(Selection().early_retry([first, second], pending(), 1000), first, "both due at 500")
    pq = pending()
    pq.tried[first.key] = True
    eq(Selection().early_retry([first, second], pq, 1000), second)


def test_a_query_waits_for_no_retry_after_its_last_attempt_or_one_due_at_its_deadline():
    up = failed(Upstream(0, "one"), 0)                  # retry at 500
    pq = pending(deadline=600)
    pq.sent = MAX_ATTEMPTS
    eq(Selection().may_wait([up], pq), False, "it has had all its attempts")
    pq.sent = MAX_ATTEMPTS - 1
    eq(Selection().may_wait([up], pq), True)
    eq(Selection().may_wait([up], pending(deadline=500)), False, "a retry at the deadline is too late")
    off, connecting = Upstream(0, "off", enabled=False), Upstream(1, "connecting")
    upstream_state.move(connecting, upstream_state.CONNECT)
    eq(Selection().may_wait([off, connecting], pending()), True, "past the disabled one, a handshake")


def test_tls_sessions_are_offered_when_the_config_says_so():
    eq(ResumptionPolicy(ForwarderConfig(tls_resumption=True)).resume(), True)


def tfo_session(info=None):
    session = Session(1, 0, 3000)
    session.tfo_attempted = True
    session.info = info or {}
    return session


def test_tfo_goes_off_after_a_second_late_and_more_than_four_rtts_once_per_proof_it_works():
    policy = ResumptionPolicy(ForwarderConfig())
    up = measured(Upstream(0, "one"), 50)
    eq(policy.after_handshake(up, tfo_session(), 2000, 0), None, "Fast Open never got through to it")
    policy.after_handshake(up, tfo_session({"tfo": True}), 60, 0)
    ok(policy.after_handshake(up, tfo_session(), 1000, 0) is not None, "a second late is late")
    eq(policy.after_handshake(up, tfo_session(), 5000, 0), None, "off already: no proof since")
    for srtt, handshake_ms, goes_off in ((300, 1200, False), (400, 1100, False), (250, 1100, True)):
        up = measured(Upstream(0, "one"), srtt)
        policy.after_handshake(up, tfo_session({"tfo": True}), srtt, 0)
        eq(policy.after_handshake(up, tfo_session(), handshake_ms, 0) is not None, goes_off,
           "%d ms against 4 RTTs of %d ms" % (handshake_ms, srtt))


def test_dtls_is_tried_again_the_moment_its_block_ends_and_only_a_stand_in_tls_session_makes_way():
    policy = DtlsPolicy(ForwarderConfig())
    up = Upstream(0, "gw", transports=("dtls", "tls"))
    up.dtls_blocked_until = 5000
    eq((policy.transport_for(up, 4999), policy.transport_for(up, 5000)), ("tls", "dtls"))
    session = Session(1, 0, 3000)
    session.transport = "tls"
    eq(policy.return_at(up, session), 5000, "TLS stands in for DTLS")
    session.transport = "dtls"
    eq(policy.return_at(up, session), None, "DTLS already")
    session.transport = "tls"
    eq(policy.return_at(Upstream(1, "dot", transports=("tls", "dtls")), session), None,
       "TLS is what that upstream prefers")


def test_a_recovery_record_reads_the_loss_and_its_cost_to_a_tenth_of_a_millisecond():
    policy = RecoveryPolicy()
    up = measured(Upstream(0, "one"), 30)
    session = Session(1, 0, 3000)
    unsent, sent = Attempt(None, up, session, 1), Attempt(None, up, session, 2)
    sent.sent_at = 300
    session.inflight = {1: unsent, 2: sent}
    rec = policy.record(session, "reset by peer", None, 2, 1234.56)
    eq((rec["cause"], rec["kind"], rec["affected"], rec["first_sent_at"]), ("reset by peer", "other", 2, 300),
       "the query still waiting for a handshake was not sent")
    near(rec["at_ms"], 1234.6, "at")
    eq(policy.record(Session(2, 0, 3000), "x", "rst", 0, 700)["first_sent_at"], 700)
    up.pending_recovery = rec
    policy.handshake_done(up, {"resumed": True}, 40.26)
    near(rec["handshake_ms"], 40.3, "handshake")
    near(rec["handshake_rtts"], 1.3, "handshake in RTTs")
    eq((rec["tfo"], rec["resumed"], up.pending_recovery), (False, True, rec), "a query pays for it yet")
    policy.answered(up, 300 + 123.46)
    near(rec["query_ms"], 123.5, "query")
    eq((rec["query_rtts"], up.recoveries, up.pending_recovery), (4, [rec], None))


def test_a_session_that_never_came_up_did_not_die_young():
    policy = RecoveryPolicy()
    up = Upstream(0, "one")
    up.young_losses = 2
    eq(policy.dying_young(up, Session(1, 0, 3000), 100), False)
    eq(up.young_losses, 1)
