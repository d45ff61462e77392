# portable: runs under MicroPython too
"""The TLS session beside a DTLS one ('dtls tls'): which truncated DTLS answers
are asked again over it, and what goes on it once it is up. Its session handle
is the one of the last connect the core asked for."""

from coreharness import dtls_harness, make_answer, make_query, truncated
from testkit import eq, ok

from dprive.core import wire


def tc(msg):
    return bool(wire.parse_header(msg).flags & wire.TC)


def truncate_next(h, key, query, udp):
    """`key` asks `query`; the DTLS server answers it truncated."""
    h.query(key, query, udp=udp)
    sent = h.outstanding()[-1]
    h.deliver(0, truncated(sent))


def test_a_second_truncated_answer_goes_at_once_over_the_tls_session_already_up():
    h = dtls_harness(("dtls", "tls"))
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    truncate_next(h, "c1", make_query("big1.test"), udp=False)
    eq(h.transports_used, ["dtls", "tls"])
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    eq(len(h.sent[side]), 1, "the first is sent once the TLS session is up")
    truncate_next(h, "c2", make_query("big2.test"), udp=False)
    eq(h.transports_used, ["dtls", "tls"], "no second TLS session")
    eq(len(h.sent[side]), 2, "the second goes out at once on it")
    ok(b"big2" in h.sent[side][1], "and it is the second query")
    for query in list(h.sent[side]):
        h.deliver(0, make_answer(query, extra_txt=6), gen=side[1])
    eq(wire.parse_header(h.reply("c1")).ancount, 7)
    eq(wire.parse_header(h.reply("c2")).ancount, 7)
    eq(h.counter("truncated_over_dtls", 0), 2)


def test_a_udp_client_whose_buffer_is_larger_than_a_dtls_answer_is_asked_over_tls():
    h = dtls_harness(("dtls", "tls"))
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    truncate_next(h, "fits", make_query(opt=wire.Opt(1200)), udp=True)
    ok(tc(h.reply("fits")), "1200 bytes: no more than DTLS carried, the client retries over TCP")
    eq(h.transports_used, ["dtls"])
    truncate_next(h, "larger", make_query("l.test", opt=wire.Opt(1201)), udp=True)
    eq(h.replies.get("larger"), None, "1201 bytes: TLS could give it more")
    eq(h.transports_used, ["dtls", "tls"])
    eq(h.counter("truncated_over_dtls", 0), 1)


def test_dtls_only_hands_the_truncated_answer_to_the_client():
    h = dtls_harness(transports=("dtls",))
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    truncate_next(h, "c1", make_query(), udp=False)
    ok(tc(h.reply("c1")), "no TLS to ask it again over")
    eq(h.transports_used, ["dtls"])
    eq(h.counter("truncated_over_dtls", 0), 0)


def test_an_answer_without_tc_is_not_asked_again():
    h = dtls_harness(("dtls", "tls"))
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.answer_all(extra_txt=2)
    eq(wire.parse_header(h.reply("c1")).ancount, 3)
    eq(h.transports_used, ["dtls"])


def test_a_garbled_tls_session_beside_dtls_is_closed_and_its_client_gets_the_truncated_answer():
    h = dtls_harness(("dtls", "tls"))
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    dtls = h.gen()
    truncate_next(h, "c1", make_query("big1.test"), udp=False)
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    eq(len(h.sent[side]), 1)
    h.run(h.fwd.garbled(side[1], "broken stream: length prefix of 0", h.clock.now))
    eq(h.closes, [(0, side[1], "broken stream: length prefix of 0")],
       "the broken stream is closed (the shell does not close on garbage), the DTLS one kept")
    ok(tc(h.reply("c1")), "the client gets the truncated answer at once, not SERVFAIL at the timeout")
    up = h.fwd.upstreams[0]
    eq((up.stream, up.session.handle), (None, dtls))
    truncate_next(h, "c2", make_query("big2.test"), udp=False)
    eq(h.transports_used, ["dtls", "tls", "tls"], "the next truncated answer opens a new TLS session")
