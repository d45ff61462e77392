# portable: runs under MicroPython too
"""The gateway's core (gateway/core.py) and its peer table (peer_state.py), with
fake sessions (gatewayfake.py, from session_base.py's API): one test per rule
of core.py's docstring, and the timers at the deadlines the sessions give."""

from coreharness import make_answer, make_query
from gatewayfake import (FakeCookies, FakeSession, SERVER_FINISHED, SERVER_FLIGHT, answers_in, app,
                         client_hello, close_notify, finished, payloads, record, resolves, sends)
from testkit import eq, ok, raises

from dprive.core import dtls_record as dr
from dprive.core import wire
from dprive.gateway import peer_state, stateless
from dprive.gateway.actions import GatewayConfig, WriteStatus
from dprive.gateway.core import MAX_DATAGRAM_IN, GatewayCore
from dprive.gateway.deadlines import Deadlines
from dprive.gateway.session_base import CLOSED, ESTABLISHED

A = ("192.0.2.1", 40000)
B = ("192.0.2.2", 40000)
START = 1000.0


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now


class Gw:
    """The core, the fake sessions it made, and what it asked for."""

    def __init__(self, rtx_s=1.0, mtu=None, **knobs):
        self.clock = Clock()
        self.made = []
        self.rtx_s = rtx_s
        self.mtu = mtu
        if "status_interval_s" not in knobs:
            knobs["status_interval_s"] = 1e6    # out of the way of the other timers
        self.core = GatewayCore(GatewayConfig(**knobs), FakeCookies(), self._make)
        self.core.status_written(START)

    def _make(self, addr, now):
        session = FakeSession(addr, now, self.clock, self.rtx_s, self.mtu)
        self.made.append(session)
        return session

    def at(self, when):
        self.clock.now = when
        return self

    def dgram(self, data, addr=A, listener="L0"):
        return self.core.datagram(data, addr, listener, self.clock.now)

    def timer(self):
        return self.core.timer(self.clock.now)

    def count(self, name):
        return self.core.counters[name]

    def peer(self, addr=A):
        return self.core.peers.get(addr)

    def connect(self, addr=A, cookie=True):
        """A full handshake: (with cookie: ClientHello, HelloVerifyRequest), ClientHello, Finished."""
        if cookie:
            self.dgram(client_hello(), addr)
        self.dgram(client_hello(FakeCookies().make(addr, 0) if cookie else b""), addr)
        self.dgram(finished(), addr)
        return self.made[-1]


# ---- the peer table ---------------------------------------------------------------


def test_every_move_in_the_peer_table_lands_on_a_known_state_and_others_are_refused():
    for (state, event), new in peer_state.TRANSITIONS.items():
        ok(state in peer_state.STATES and new in peer_state.STATES, (state, event, new))
    peer = peer_state.Peer(A, "L0")
    eq(peer.state, peer_state.NONE)
    with raises(peer_state.IllegalPeerMove):
        peer_state.move(peer, peer_state.DONE)      # no handshake under way
    eq(peer.state, peer_state.NONE, "a refused move changes nothing")
    eq(peer_state.move(peer, peer_state.ACCEPT), peer_state.HANDSHAKING)
    with raises(peer_state.IllegalPeerMove):
        peer_state.move(peer, peer_state.ACCEPT)    # a ClientHello to a handshake is fed to it
    eq(peer_state.move(peer, peer_state.DONE), peer_state.ESTABLISHED)
    eq(peer_state.move(peer, peer_state.ACCEPT), peer_state.REPLACING)
    eq(peer_state.move(peer, peer_state.OLD_LOST), peer_state.HANDSHAKING)
    with raises(peer_state.IllegalPeerMove):
        peer_state.move(peer, peer_state.NEW_LOST)  # nothing beside it any more


# ---- datagrams from a peer without state ------------------------------------------


def test_a_client_hello_without_cookie_gets_a_hello_verify_request_and_nothing_is_kept():
    gw = Gw()
    out = gw.dgram(client_hello(seq=7, message_seq=0), listener="L1")
    eq(len(gw.made), 0, "no session for a ClientHello without cookie")
    eq(gw.peer(), None)
    (send,) = sends(out)
    eq((send.listener, send.addr, len(send.datagrams)), ("L1", A, 1))
    found = dr.records(send.datagrams[0])
    eq((found[0][dr.TYPE], found[0][dr.SEQ]), (dr.CT_HANDSHAKE, 7))
    body = send.datagrams[0][found[0][dr.START]:]
    eq(body[0], stateless.HT_HELLO_VERIFY_REQUEST)
    ok(body.endswith(FakeCookies().make(A, 0)), "the HelloVerifyRequest carries A's cookie")
    eq((gw.count("cookies_sent"), gw.count("cookies_bad"), gw.count("handshakes_started")), (1, 0, 0))


def test_a_bad_cookie_is_counted_and_answered_with_a_fresh_one():
    gw = Gw()
    (send,) = sends(gw.dgram(client_hello(FakeCookies().make(B, 0))))   # B's cookie, from A
    eq(len(gw.made), 0)
    ok(send.datagrams[0].endswith(FakeCookies().make(A, 0)))
    eq((gw.count("cookies_sent"), gw.count("cookies_bad")), (1, 1))


def test_a_good_cookie_makes_a_session_that_handshakes_and_answers():
    gw = Gw()
    gw.dgram(client_hello())
    out = gw.dgram(client_hello(FakeCookies().make(A, 0)))
    (session,) = gw.made
    eq(session.cookie_checked, True)
    eq(gw.peer().state, peer_state.HANDSHAKING)
    eq(payloads(sends(out)[0].datagrams[0], dr.CT_HANDSHAKE), [SERVER_FLIGHT])
    out = gw.dgram(finished())
    eq(payloads(sends(out)[0].datagrams[0], dr.CT_HANDSHAKE), [SERVER_FINISHED])
    eq((gw.peer().state, gw.count("handshakes"), gw.count("handshakes_started")),
       (peer_state.ESTABLISHED, 1, 1))
    query = make_query()
    (resolve,) = resolves(gw.dgram(app(query)))
    eq((resolve.msg, resolve.question_end), (query, wire.read_question(query).end))
    eq(gw.core.status()["queries_in_flight"], 1)
    out = gw.core.answer(resolve.token, make_answer(query), gw.clock.now)
    eq(answers_in(out), [make_answer(query)])
    eq((gw.count("queries"), gw.count("answers"), session.in_flight), (1, 1, 0))
    eq(gw.core.answer(resolve.token, make_answer(query), gw.clock.now), [], "one answer per token")


def test_without_require_cookie_a_hello_needs_none_but_a_cookie_given_is_checked():
    gw = Gw(require_cookie=False)
    gw.dgram(client_hello())
    eq((len(gw.made), gw.made[0].cookie_checked, gw.count("cookies_sent")), (1, False, 0))
    gw.dgram(client_hello(b"forged cookie"), B)
    eq((len(gw.made), gw.count("cookies_bad"), gw.count("cookies_sent")), (1, 1, 1))


def test_no_session_past_max_sessions_and_a_replacement_counts_too():
    gw = Gw(max_sessions=2)
    gw.connect(A)
    gw.dgram(client_hello(FakeCookies().make(A, 0)), A)       # a second session for A
    eq((len(gw.made), gw.peer().state, gw.core.status()["sessions"]), (2, peer_state.REPLACING, 2))
    gw.connect(B)
    eq((len(gw.made), gw.count("sessions_full"), gw.peer(B)), (2, 1, None))
    gw.dgram(finished(), A)                                   # the old one is let go
    gw.connect(B)
    eq((len(gw.made), gw.peer(B).state, gw.core.status()["sessions"]), (3, peer_state.ESTABLISHED, 2))


def test_a_stray_record_gets_one_alert_per_interval_and_an_alert_never_gets_one():
    gw = Gw(alert_interval_s=1.0, max_alerts_per_s=100)
    (send,) = sends(gw.dgram(app(make_query())))
    eq(dr.plaintext_alert(send.datagrams[0]), (dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE))
    eq(sends(gw.at(START + 0.5).dgram(app(make_query()))), [])
    eq((gw.count("alerts_sent"), gw.count("alerts_limited")), (1, 1))
    alert = dr.alert_record(dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE)
    eq(sends(gw.at(START + 5).dgram(alert)), [], "no alert for an alert")
    eq(sends(gw.dgram(close_notify(), B)), [], "nor for an encrypted one")
    eq((gw.count("stray_records"), gw.count("alerts_sent"), gw.count("alerts_limited")), (4, 1, 1))
    eq(len(sends(gw.dgram(app(make_query())))), 1, "the interval is over")


def test_oversize_and_garbage_datagrams_are_counted_and_dropped():
    gw = Gw()
    eq(gw.dgram(record(dr.CT_HANDSHAKE, 0, bytes(MAX_DATAGRAM_IN))), [])
    out = gw.dgram(b"\x16\xfe\xfd garbage")
    eq(sends(out), [])
    eq((gw.count("oversize_datagrams"), gw.count("bad_datagrams"), gw.count("datagrams")), (1, 1, 2))


# ---- a second handshake beside a live session -------------------------------------


def test_a_new_handshake_replaces_the_live_session_only_once_done():
    gw = Gw()
    old = gw.connect(A)
    gw.dgram(client_hello(FakeCookies().make(A, 0)), A, listener="L1")
    new = gw.made[-1]
    eq((gw.peer().state, gw.peer().live, gw.peer().pending), (peer_state.REPLACING, old, new))
    eq(gw.core.status()["sessions"], 2)
    query = make_query()
    (resolve,) = resolves(gw.dgram(app(query)))        # epoch 1: the old session's
    eq((old.fed[-1], new.fed), (app(query), []))
    out = gw.dgram(finished())                           # the old one cannot read it: the new one's
    eq((gw.peer().state, gw.peer().live, old.released), (peer_state.ESTABLISHED, new, True))
    eq(gw.count("sessions_replaced"), 1)
    eq(sends(out)[0].listener, "L1", "the new session's listener")
    gw.core.answer(resolve.token, make_answer(query), gw.clock.now)
    eq(gw.count("answers_dropped"), 1, "the answer to the old session has nowhere to go")


def test_a_spoofed_client_hello_cannot_cut_a_client_off():
    gw = Gw(require_cookie=False, handshake_timeout_s=5.0)
    old = gw.connect(A, cookie=False)
    gw.at(START + 1).dgram(client_hello(), A)            # spoofed: the client never finishes it
    spoofed = gw.made[-1]
    eq(gw.peer().state, peer_state.REPLACING)
    query = make_query()
    eq(len(resolves(gw.at(START + 2).dgram(app(query)))), 1, "the client's queries still go through")
    gw.at(START + 6).timer()
    eq((gw.peer().state, gw.peer().live, spoofed.released), (peer_state.ESTABLISHED, old, True))
    eq((gw.count("handshake_timeouts"), gw.count("sessions_replaced")), (1, 0))
    eq(len(resolves(gw.dgram(app(query)))), 1)


def test_the_old_session_ending_leaves_the_new_handshake_alone():
    gw = Gw()
    gw.connect(A)
    gw.dgram(client_hello(FakeCookies().make(A, 0)))
    new = gw.made[-1]
    gw.dgram(close_notify())                              # the old session goes
    eq((gw.peer().state, gw.peer().live, gw.peer().pending), (peer_state.HANDSHAKING, new, None))
    eq(gw.count("sessions_closed"), 1)
    gw.dgram(finished())
    eq((gw.peer().state, gw.count("sessions_replaced")), (peer_state.ESTABLISHED, 0))


# ---- queries and answers ----------------------------------------------------------


def test_queries_over_the_per_client_limit_are_refused():
    gw = Gw(max_queries_per_client=2)
    gw.connect(A)
    queries = [make_query(msg_id=i) for i in range(3)]
    out = gw.dgram(app(*queries))
    eq(len(resolves(out)), 2)
    (refused,) = answers_in(out)
    eq((wire.get_id(refused), wire.parse_header(refused).rcode()), (2, wire.RCODE_REFUSED))
    eq((gw.count("queries"), gw.count("queries_refused")), (3, 1))


def test_a_failed_resolver_gives_servfail():
    gw = Gw()
    gw.connect(A)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    (answer,) = answers_in(gw.core.answer(resolve.token, None, gw.clock.now))
    eq(wire.parse_header(answer).rcode(), wire.RCODE_SERVFAIL)
    eq(gw.count("resolver_errors"), 1)


def test_answers_are_cut_with_tc_to_the_edns_size_and_the_record():
    gw = Gw(mtu=900)
    gw.connect(A)
    big = make_answer(make_query(), extra_txt=5)
    ok(len(big) > 1000, len(big))
    for opt, limit in ((None, 512), (wire.Opt(4096), 900)):
        query = make_query(opt=opt)
        (resolve,) = resolves(gw.dgram(app(query)))
        (answer,) = answers_in(gw.core.answer(resolve.token, make_answer(query, extra_txt=5),
                                              gw.clock.now))
        ok(len(answer) <= limit and wire.parse_header(answer).flags & wire.TC, (len(answer), limit))
    small = make_query()
    (resolve,) = resolves(gw.dgram(app(small)))
    eq(answers_in(gw.core.answer(resolve.token, make_answer(small), gw.clock.now)), [make_answer(small)])
    eq(gw.count("truncated"), 2)


def test_a_session_that_cannot_write_is_dropped():
    gw = Gw()
    session = gw.connect(A)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    session.fail_write = True
    gw.core.answer(resolve.token, make_answer(make_query()), gw.clock.now)
    eq((gw.peer(), session.released, gw.count("sessions_closed")), (None, True, 1))


# ---- timers -----------------------------------------------------------------------


def test_retransmission_is_due_exactly_when_the_session_says():
    gw = Gw(rtx_s=0.7, handshake_timeout_s=5.0)
    gw.dgram(client_hello(FakeCookies().make(A, 0)))
    (session,) = gw.made
    eq(gw.core.next_timer(), START + 0.7)
    eq(sends(gw.at(START + 0.69).timer()), [])
    (send,) = sends(gw.at(START + 0.7).timer())
    eq((payloads(send.datagrams[0], dr.CT_HANDSHAKE), session.retransmits), ([SERVER_FLIGHT], 1))
    eq(gw.core.next_timer(), START + 0.7 + 1.4, "doubled, as the session says")
    gw.at(START + 1.0).dgram(client_hello(FakeCookies().make(A, 0)))   # its ClientHello again
    eq(gw.core.next_timer(), START + 1.0 + 1.4, "read again after every call into the session")
    gw.dgram(finished())
    eq(gw.core.next_timer(), START + 1.0 + 120.0, "established: only its idle expiry is left")


def test_without_an_engine_timer_only_the_handshake_timeout_is_due():
    gw = Gw(rtx_s=None, handshake_timeout_s=5.0)
    gw.dgram(client_hello(FakeCookies().make(A, 0)))
    eq(gw.core.next_timer(), START + 5.0)


def test_a_handshake_not_done_in_time_is_dropped():
    gw = Gw(rtx_s=None, handshake_timeout_s=5.0)
    gw.dgram(client_hello(FakeCookies().make(A, 0)))
    gw.at(START + 2).dgram(client_hello(FakeCookies().make(B, 0)), B)
    (first, second) = gw.made
    gw.at(START + 4.999).timer()
    eq((gw.count("handshake_timeouts"), first.released), (0, False))
    gw.at(START + 5).timer()
    eq((gw.count("handshake_timeouts"), first.released, gw.peer()), (1, True, None))
    eq(gw.core.next_timer(), START + 7.0, "the second one's deadline next")
    eq(gw.core.status()["handshaking"], 1)


def test_an_idle_session_expires_with_close_notify_and_activity_moves_its_deadline():
    gw = Gw(session_idle_s=60.0)
    session = gw.connect(A)
    eq(gw.core.next_timer(), START + 60.0)
    gw.at(START + 10)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    gw.at(START + 20).core.answer(resolve.token, make_answer(make_query()), START + 20)
    eq(gw.core.next_timer(), START + 80.0, "the answer was its last activity")
    eq(sends(gw.at(START + 79.9).timer()), [])
    (send,) = sends(gw.at(START + 80).timer())
    eq(dr.records(send.datagrams[0])[0][dr.TYPE], dr.CT_ALERT)
    eq((gw.count("sessions_expired"), session.released, gw.peer()), (1, True, None))
    eq(gw.core.next_timer(), START + 1e6, "nothing left but the status file")


def test_a_session_waiting_for_the_resolver_does_not_expire_until_idle_after_the_answer():
    gw = Gw(session_idle_s=60.0)
    session = gw.connect(A)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    gw.at(START + 60).timer()
    eq((gw.count("sessions_expired"), session.state), (0, ESTABLISHED))
    gw.at(START + 61).core.answer(resolve.token, make_answer(make_query()), START + 61)
    eq(gw.core.next_timer(), START + 121.0)
    gw.at(START + 121).timer()
    eq((gw.count("sessions_expired"), session.state), (1, CLOSED))


def test_the_status_file_is_written_when_changed_at_most_once_per_interval():
    gw = Gw(status_interval_s=1.0)
    eq(gw.core.next_timer(), None, "nothing changed since it was written")
    gw.at(START + 0.2).dgram(b"garbage")
    eq(gw.core.next_timer(), START + 1.0)
    eq(gw.at(START + 0.99).timer(), [])
    eq(gw.at(START + 1.0).timer(), [WriteStatus()])
    eq(gw.core.next_timer(), None)
    gw.at(START + 5).dgram(b"garbage")
    ok(gw.core.next_timer() <= START + 5, "the interval passed long ago: at once")


def test_stop_says_close_notify_to_established_clients():
    gw = Gw()
    gw.connect(A)
    gw.dgram(client_hello(FakeCookies().make(B, 0)), B)
    out = gw.core.stop()
    eq([s.addr for s in sends(out)], [A], "a handshake gets nothing")
    eq((gw.core.peers, gw.core.status()["sessions"], gw.core.status()["handshaking"]), ({}, 0, 0))


def test_deadlines_come_out_earliest_first_and_a_moved_one_only_once():
    d = Deadlines()
    d.set("a", 5.0)
    d.set("b", 3.0)
    d.set("c", 4.0)
    d.set("b", 6.0)
    d.discard("c")
    eq((d.first(), len(d)), (5.0, 2))
    eq(d.pop_due(5.5), ["a"])
    eq(d.pop_due(10.0), ["b"])
    eq((d.first(), len(d)), (None, 0))
