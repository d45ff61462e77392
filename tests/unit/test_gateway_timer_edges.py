# portable: runs under MicroPython too
"""gateway/core.py's timers at their edges: an engine timer that goes away or
moves later on its own, idle expiry in the order of activity (and never of a
handshake, nor of a session already closed), and the status file from a
fresh core. The harness is gatewayedgekit.py."""

from coreharness import make_query
from gatewayedgekit import A, B, START, Gw, TimedCookies
from gatewayfake import answers_in, app, record, resolves, sends
from testkit import eq, ok

from dprive.core import dtls_record as dr
from dprive.core import wire
from dprive.gateway.actions import GatewayConfig, WriteStatus
from dprive.gateway.core import GatewayCore


# ---- retransmission timers ---------------------------------------------------------


def test_a_timer_the_engine_drops_is_dropped_from_the_deadlines():
    gw = Gw(rtx_s=0.5, handshake_timeout_s=5.0)
    gw.hello(A)
    eq(gw.core.next_timer(), START + 0.5)
    gw.made[0].timer_override = lambda now: None
    gw.at(START + 0.1).hello(A)          # its ClientHello again: the core reads the timer
    eq(gw.core.next_timer(), START + 5.0, "only the handshake timeout is left")


def test_a_timer_that_moved_later_is_not_fired_but_re_armed():
    gw = Gw(rtx_s=0.5, handshake_timeout_s=5.0)
    gw.hello(A)
    session = gw.made[0]
    session.timer_override = lambda now: START + 0.8 - now
    gw.at(START + 0.5).timer()
    eq((session.on_timer_calls, gw.core.next_timer()), (0, START + 0.8))
    session.timer_override = lambda now: None
    gw.at(START + 0.8).timer()
    eq((session.on_timer_calls, gw.core.next_timer()), (0, START + 5.0), "no timer: nothing fired")


def test_a_handshake_deadline_is_seen_beside_an_established_session():
    gw = Gw(rtx_s=0.5, session_idle_s=60.0)
    gw.connect(A)
    gw.at(START + 1).hello(B)
    eq(gw.core.next_timer(), START + 1.5)


# ---- idle sessions -----------------------------------------------------------------


def test_the_least_recently_active_session_expires_first():
    gw = Gw(session_idle_s=60.0)
    a = gw.connect(A)
    b = gw.at(START + 1).connect(B)
    gw.at(START + 2).dgram(record(dr.CT_APPLICATION_DATA, 0, b"x"), A)   # activity, no query
    eq(gw.core.next_timer(), START + 61.0)
    gw.at(START + 61).timer()
    eq((a.state, b.state, gw.count("sessions_expired")), ("established", "closed", 1))
    eq(gw.core.next_timer(), START + 62.0, "A's deadline moved with its activity")


def test_a_handshake_is_not_expired_as_idle():
    gw = Gw(rtx_s=None, session_idle_s=10.0, handshake_timeout_s=100.0)
    gw.hello(A)
    gw.at(START + 1).hello(A)               # fed while handshaking
    gw.at(START + 20).timer()
    eq((gw.made[0].state, gw.count("sessions_expired")), ("handshaking", 0))


def test_a_refused_query_is_activity_too():
    gw = Gw(max_queries_per_client=0, session_idle_s=60.0)
    gw.connect(A)
    (refused,) = answers_in(gw.at(START + 30).dgram(app(make_query())))
    eq(wire.parse_header(refused).rcode(), wire.RCODE_REFUSED)
    gw.at(START + 31).dgram(app(make_query()))
    eq((gw.core.next_timer(), gw.count("queries_refused")), (START + 91.0, 2))


def test_a_session_closed_by_its_client_is_not_expired_later():
    gw = Gw(session_idle_s=60.0)
    gw.connect(A)
    gw.dgram(record(dr.CT_ALERT, 1, bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY])))
    gw.connect(B)
    gw.dgram(record(dr.CT_ALERT, 1, bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY])), B)
    eq((gw.count("sessions_closed"), gw.core.status()["sessions"]), (2, 0))
    eq(sends(gw.at(START + 100).timer()), [])
    gw.core.status_written(START + 100)
    eq((gw.count("sessions_expired"), gw.core.next_timer()), (0, None))


# ---- the status file -----------------------------------------------------------------


def test_a_fresh_core_writes_the_status_at_once_then_once_per_interval():
    core = GatewayCore(GatewayConfig(status_interval_s=1.0), TimedCookies(), None)
    ok(core.next_timer() <= START)
    eq(core.timer(START), [WriteStatus()])
    eq(core.next_timer(), None)
    core.changed()
    eq(core.next_timer(), START + 1.0, "the shell's change: due an interval after the last write")
    eq(core.timer(START + 0.5), [])
    eq(core.timer(START + 1.0), [WriteStatus()])
    eq(core.status()["counters"]["datagrams"], 0)


def test_an_answer_changes_the_status():
    gw = Gw(status_interval_s=1.0)
    gw.connect(A)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    gw.core.status_written(START + 5)
    gw.at(START + 5.5).answer(resolve.token, None)
    eq(gw.core.next_timer(), START + 6.0)
    eq(gw.count("resolver_errors"), 1)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    gw.answer(resolve.token, None)
    eq(gw.count("resolver_errors"), 2)
