# portable: runs under MicroPython too
"""gateway/core.py at its edges: cookies that depend on the time, sessions
whose engine fails, answers cut at exactly the limit (and answers that cannot
be parsed), replacement after a lost new handshake, datagrams from peers
without state, and counters that count more than once. The timers are
test_gateway_timer_edges.py's; the harness is gatewayedgekit.py."""

import struct

from coreharness import make_answer, make_query
from gatewayedgekit import A, B, START, Gw, TimedCookies
from gatewayfake import answers_in, app, client_hello, finished, logs, payloads, record, resolves, sends
from testkit import eq, ok

from dprive.core import dtls_record as dr
from dprive.core import wire
from dprive.gateway import peer_state
from dprive.gateway.actions import DEBUG, WARNING
from dprive.gateway.core import MAX_DATAGRAM_IN, cut


# ---- cookies -------------------------------------------------------------------


def test_a_cookie_is_made_and_checked_at_the_time_of_the_hello():
    gw = Gw()
    cookie = TimedCookies().make(A, START)
    (send,) = sends(gw.dgram(client_hello()))
    ok(send.datagrams[0].endswith(cookie), "made for this window")
    gw.at(START + 60)
    (send,) = sends(gw.dgram(client_hello(cookie)))
    ok(send.datagrams[0].endswith(TimedCookies().make(A, START + 60)), "a stale cookie: a fresh one")
    eq((len(gw.made), gw.count("cookies_bad"), gw.count("cookies_sent")), (0, 1, 2))
    gw.dgram(client_hello(cookie))
    eq((gw.count("cookies_bad"), gw.count("cookies_sent")), (2, 3))
    hello = client_hello(TimedCookies().make(A, START + 60))
    gw.dgram(hello)
    eq((len(gw.made), gw.made[0].begun), (1, hello), "the session begins with that datagram")
    eq(gw.count("handshakes_started"), 1)


def test_a_replacing_handshake_begins_with_its_hello_and_counts_as_started():
    gw = Gw()
    gw.connect(A)
    hello = client_hello(TimedCookies().make(A, START))
    gw.dgram(hello)
    eq((gw.made[-1].begun, gw.count("handshakes_started"), gw.core.status()["sessions"]), (hello, 2, 2))
    gw.connect(B)
    eq((gw.count("handshakes_started"), gw.core.status()["sessions"]), (3, 3))


def test_sessions_full_counts_every_refusal():
    gw = Gw(max_sessions=1)
    gw.connect(A)
    gw.hello(B)
    gw.hello(B)
    eq(gw.count("sessions_full"), 2)


# ---- sessions whose engine fails ---------------------------------------------------


def test_an_engine_that_refuses_the_hello_is_a_handshake_failure():
    gw = Gw(setup=lambda s: setattr(s, "fail_begin", True))
    gw.hello(A)
    gw.hello(B)
    eq((gw.count("handshake_failures"), gw.count("sessions_closed")), (2, 0))
    eq((gw.core.peers, gw.core.status()["sessions"], gw.core.status()["handshaking"]), ({}, 0, 0))
    gw.core.status_written(START)
    eq(gw.core.next_timer(), None, "nothing left to retransmit")


def test_a_handshake_timed_out_leaves_no_retransmission_behind():
    gw = Gw(rtx_s=10.0, handshake_timeout_s=5.0)
    gw.hello(A)
    gw.at(START + 5).timer()
    gw.core.status_written(START + 5)
    eq((gw.count("handshake_timeouts"), gw.core.next_timer()), (1, None))


def test_a_handshake_that_gives_up_on_its_timer_is_a_handshake_failure():
    gw = Gw(rtx_s=0.5, setup=lambda s: setattr(s, "fail_on_timer", True))
    gw.hello(A)
    gw.at(START + 0.5).timer()
    eq((gw.count("handshake_failures"), gw.count("sessions_closed"), gw.core.peers), (1, 0, {}))


def test_the_drop_log_is_debug_and_names_the_address_the_counter_and_the_error():
    gw = Gw(setup=lambda s: setattr(s, "fail_begin", True))
    (log,) = logs(gw.hello(A))
    eq(log.level, DEBUG)
    ok("192.0.2.1" in log.text and "handshake_failures" in log.text
       and "engine refused the hello" in log.text, log.text)


def test_records_the_session_cannot_give_are_logged_not_sent():
    gw = Gw()
    session = gw.connect(A)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    session.send_garbage = True
    out = gw.answer(resolve.token, make_answer(make_query()))
    eq(sends(out), [])
    (log,) = logs(out)
    eq(log.level, WARNING)
    ok("192.0.2.1" in log.text and "40000" in log.text, log.text)


# ---- queries, tokens and answers -------------------------------------------------------


def test_queries_in_flight_have_distinct_tokens_and_answers_find_their_query():
    gw = Gw()
    gw.connect(A)
    q1, q2 = make_query(msg_id=1), make_query(msg_id=2)
    r1, r2 = resolves(gw.dgram(app(q1, q2)))
    ok(r1.token != r2.token)
    eq(answers_in(gw.answer(r2.token, make_answer(q2))), [make_answer(q2)])
    eq(answers_in(gw.answer(r1.token, make_answer(q1))), [make_answer(q1)])
    eq(gw.count("answers"), 2)


def test_a_response_or_a_non_query_opcode_is_not_resolved():
    gw = Gw()
    gw.connect(A)
    response = make_answer(make_query())
    notify = bytearray(make_query())
    notify[2] |= 4 << 3                      # opcode NOTIFY, QR clear
    eq(resolves(gw.dgram(app(response, bytes(notify)))), [])
    eq((gw.count("bad_queries"), gw.count("queries")), (2, 0))


def answer_of(query, size):
    """An answer to `query` of exactly `size` bytes: an A record, then a TXT record of padding."""
    head = make_answer(query)           # no OPT: the query has none here
    need = size - len(head) - 12        # a TXT record's name pointer, fixed fields
    rdata = b""
    while len(rdata) < need:
        n = min(255, need - len(rdata) - 1)
        rdata += bytes([n]) + b"t" * n
    txt = b"\xc0\x0c" + struct.pack("!HHIH", 16, wire.CLASS_IN, 300, len(rdata)) + rdata
    header = wire.parse_header(head)
    return wire.Header(header.id, header.flags, 1, 2, 0, 0).pack() + head[wire.HEADER_LEN:] + txt


def test_an_answer_of_exactly_the_limit_is_not_cut_and_edns_lets_more_through():
    gw = Gw(mtu=900)
    gw.connect(A)
    query = make_query()
    exact = answer_of(query, 512)
    eq((len(exact), len(wire.truncate(exact, 511)) <= 511), (512, True))
    (resolve,) = resolves(gw.dgram(app(query)))
    eq(answers_in(gw.answer(resolve.token, exact)), [exact])
    (resolve,) = resolves(gw.dgram(app(make_query(opt=wire.Opt(4096)))))
    big = answer_of(query, 700)
    eq(answers_in(gw.answer(resolve.token, big)), [big], "EDNS 4096 over a 900-byte record")
    eq(gw.count("truncated"), 0)
    (resolve,) = resolves(gw.dgram(app(query)))
    (cut_answer,) = answers_in(gw.answer(resolve.token, answer_of(query, 513)))
    ok(len(cut_answer) <= 512 and wire.parse_header(cut_answer).flags & wire.TC, len(cut_answer))
    eq(gw.count("truncated"), 1)


def test_an_answer_that_cannot_be_parsed_is_cut_to_its_header_with_tc():
    answer = wire.Header(0x4321, wire.QR | wire.RD, 1, 1, 0, 0).pack() + b"\xff" * 600
    eq(cut(answer, 512), wire.Header(0x4321, wire.QR | wire.RD | wire.TC, 0, 0, 0, 0).pack())
    gw = Gw()
    gw.connect(A)
    (resolve,) = resolves(gw.dgram(app(make_query())))
    eq(answers_in(gw.answer(resolve.token, answer)),
       [wire.Header(0x4321, wire.QR | wire.RD | wire.TC, 0, 0, 0, 0).pack()])


def test_answers_for_a_client_gone_are_dropped_and_counted():
    gw = Gw()
    gw.connect(A)
    r1, r2 = resolves(gw.dgram(app(make_query(msg_id=1), make_query(msg_id=2))))
    gw.dgram(record(dr.CT_ALERT, 1, bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY])))
    eq(gw.core.peers, {})
    eq(gw.answer(r1.token, make_answer(make_query(msg_id=1))), [])
    eq(gw.answer(r2.token, make_answer(make_query(msg_id=2))), [])
    eq(gw.count("answers_dropped"), 2)


# ---- replacement -----------------------------------------------------------------------


def test_after_a_lost_new_handshake_the_old_session_can_end_and_stop_works():
    gw = Gw(handshake_timeout_s=5.0)
    old = gw.connect(A)
    gw.at(START + 1).hello(A)
    gw.at(START + 6).timer()                 # the new handshake times out
    eq((gw.core.peers[A].state, gw.core.peers[A].pending), (peer_state.ESTABLISHED, None))
    eq(len(sends(gw.core.stop())), 1, "close_notify to the old session alone")
    ok(old.released is False and old.state == "closed")
    gw.core.status_written(START + 6)
    eq(gw.core.next_timer(), None)


def test_an_old_session_ending_after_a_lost_handshake_forgets_the_peer():
    gw = Gw(handshake_timeout_s=5.0)
    gw.connect(A)
    gw.at(START + 1).hello(A)
    gw.at(START + 6).timer()
    gw.dgram(record(dr.CT_ALERT, 1, bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY])))
    eq((gw.core.peers, gw.count("sessions_closed"), gw.count("handshake_timeouts")), ({}, 1, 1))


def test_while_replacing_a_plaintext_record_goes_to_the_new_handshake_only():
    gw = Gw()
    old = gw.connect(A)
    gw.hello(A)
    new = gw.made[-1]
    fed = len(old.fed)
    hello = client_hello(TimedCookies().make(A, START))
    gw.dgram(hello)                           # the client's ClientHello again
    eq((len(old.fed), new.fed), (fed, [hello]))


def test_stop_sends_the_close_notify_records():
    gw = Gw()
    gw.connect(A)
    (send,) = sends(gw.core.stop())
    eq(payloads(send.datagrams[0], dr.CT_ALERT), [bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY])])


# ---- datagrams from peers without state --------------------------------------------------


def test_a_datagram_of_exactly_max_datagram_in_is_read():
    gw = Gw()
    data = record(dr.CT_APPLICATION_DATA, 1, bytes(MAX_DATAGRAM_IN - 13))
    eq(len(data), MAX_DATAGRAM_IN)
    eq(len(sends(gw.dgram(data))), 1, "a stray record: an alert")
    gw.dgram(data + b"\x00")
    gw.dgram(data + b"\x00")
    eq(gw.count("oversize_datagrams"), 2)


def test_garbage_is_counted_each_time_and_logged_with_the_address():
    gw = Gw()
    (log,) = logs(gw.dgram(b"\x16\xfe\xfd garbage"))
    gw.dgram(b"\x16\xfe\xfd garbage")
    eq((log.level, gw.count("bad_datagrams")), (DEBUG, 2))
    ok("192.0.2.1" in log.text, log.text)


def test_stray_alerts_go_to_the_peer_on_its_listener_in_its_version_per_peer():
    gw = Gw(alert_interval_s=1.0, max_alerts_per_s=100)
    (send,) = sends(gw.dgram(record(dr.CT_APPLICATION_DATA, 1, b"x", version=dr.DTLS_1_0), A, "L7"))
    eq((send.listener, send.addr), ("L7", A))
    eq(dr.records(send.datagrams[0])[0][dr.VERSION], dr.DTLS_1_0)
    eq(len(sends(gw.dgram(app(make_query()), B))), 1, "B is not limited by A's alert")
    gw.dgram(app(make_query()), A)
    gw.dgram(app(make_query()), A)
    eq((gw.count("alerts_sent"), gw.count("alerts_limited")), (2, 2))


def test_handshakes_and_resumptions_are_counted_and_logged():
    gw = Gw(setup=lambda s: setattr(s, "reused", True))
    out = gw.hello(A) + gw.dgram(finished())
    gw.connect(B)
    eq((gw.count("handshakes"), gw.count("handshakes_resumed")), (2, 2))
    done = [log for log in logs(out) if log.level == DEBUG]
    ok(len(done) == 1 and "192.0.2.1" in done[0].text, [log.text for log in logs(out)])
