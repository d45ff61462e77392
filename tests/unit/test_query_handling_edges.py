# portable: runs under MicroPython too
"""Query handling at its edges: the global counters counting every event (not
just the first), a query that arrives once the session is past the server's
idle timeout, attempts timed out once each, one timer event ending every
query that is due, and the actions a bad client message or a SERVFAIL yields
(only well-formed actions; per-query events logged at DEBUG, so a flood of
bad queries cannot fill the system log)."""

from coreharness import Harness, make_answer, make_query, well_formed
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire
from dprive.core.actions import DEBUG, INFO


def levels(actions):
    return [a.level for a in actions if isinstance(a, fw.Log)]


def response_msg():
    """A response (QR set) sent to us as if it were a query: dropped."""
    msg = bytearray(make_query())
    msg[2] |= 0x80
    return bytes(msg)


def notimp_msg():
    """A query with opcode NOTIFY (4): answered NOTIMP."""
    msg = bytearray(make_query())
    msg[2] = (msg[2] & 0x87) | (4 << 3)
    return bytes(msg)


def formerr_msg():
    """A query with two questions: answered FORMERR."""
    header = wire.Header(0x4321, wire.RD, 2, 0, 0, 0).pack()
    question = make_query()[wire.HEADER_LEN:]
    return header + question + question


def test_every_dropped_message_counts_and_is_logged_at_debug():
    h = Harness()
    for key in ("a", "b", "c"):
        actions = well_formed(h.query(key, response_msg()))
        eq(levels(actions), [DEBUG])
    eq(h.let_go, ["a", "b", "c"])
    eq(h.counter("dropped"), 3)
    eq(h.counter("queries"), 3)


def test_every_notimp_and_formerr_answer_counts_and_is_logged_at_debug():
    h = Harness()
    for key in ("n1", "n2"):
        actions = well_formed(h.query(key, notimp_msg()))
        eq(levels(actions), [DEBUG])
        eq(wire.parse_header(h.reply(key)).rcode(), wire.RCODE_NOTIMP)
    for key in ("f1", "f2", "f3"):
        actions = well_formed(h.query(key, formerr_msg()))
        eq(levels(actions), [DEBUG])
        eq(wire.parse_header(h.reply(key)).rcode(), wire.RCODE_FORMERR)
    eq(h.counter("notimp"), 2)
    eq(h.counter("formerr"), 3)
    eq(h.counter("queries", 0), 0, "no upstream asked")


def test_every_overloaded_query_counts_once_as_overload_and_once_as_servfail():
    h = Harness(config=fw.ForwarderConfig(max_pending=1))
    h.query("c0", make_query("first.test"))
    for key in ("c1", "c2", "c3"):
        well_formed(h.query(key, make_query("more.test")))
        eq(wire.parse_header(h.reply(key)).rcode(), wire.RCODE_SERVFAIL)
    eq(h.counter("overload"), 3)
    eq(h.counter("servfail"), 3)


def test_every_answer_truncation_and_servfail_counts():
    h = Harness()
    h.query("c1", make_query("one.test"))
    h.query("c2", make_query("two.test"))
    h.connected()
    sent = h.outstanding()
    for query in sent:
        h.deliver(0, make_answer(query, extra_txt=3))     # about 800 bytes: over 512
    eq(h.counter("answers"), 2)
    eq(h.counter("truncated"), 2)
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "cut to fit a 512-byte client")
    for key in ("s1", "s2"):
        h.query(key, make_query("late.test"))
    h.clock.advance(5000)
    actions = well_formed(h.run(h.fwd.timer(h.clock.now)))
    eq(levels(actions).count(DEBUG) >= 2, True, "each SERVFAIL logged at DEBUG")
    for key in ("s1", "s2"):
        eq(wire.parse_header(h.reply(key)).rcode(), wire.RCODE_SERVFAIL)
    eq(h.counter("servfail"), 2, "one timer event ends both queries")


def test_every_retry_counts():
    h = Harness(names=("one", "two", "three"))
    h.query("c1", make_query())
    first = h.connects[0][0]
    h.connected(first)
    h.closed(first)                     # lost with the query in flight: sent to another
    second = h.connects[1][0]
    ok(second != first, "a second upstream")
    h.connected(second)
    h.closed(second)
    eq(h.counter("retries"), 2)


# ---- a query at the server's idle timeout ------------------------------------------


def at_idle_expiry(h):
    """Move the clock to the moment the current session passes its idle expiry,
    without letting the timer fire (a query comes in just before it would)."""
    up = h.fwd.upstreams[0]
    h.clock.now = up.session.idle_expiry(up.learned_idle_ms)


def check_idle_close(h, actions, old, connects=2):
    well_formed(actions)
    closes = [a for a in actions if isinstance(a, fw.Close)]
    eq(len(closes), 1, "the old session is closed")
    eq(closes[0].handle, old)
    eq(closes[0].name, "one")
    ok(isinstance(closes[0].reason, str) and closes[0].reason != "", "with a reason")
    eq(len(h.connects), connects, "and a new one opened for the query")
    eq(h.sent.get((0, old), []), [], "nothing went on the old one")
    up = h.fwd.upstreams[0]
    eq(h.counter("failures", 0), 0, "the server's idle timeout is no failure")
    ok(isinstance(up.last_close_reason, str) and up.last_close_reason != "",
       "the status says why the session ended")
    h.connected()
    eq(len(h.outstanding()), 1)
    h.answer_all()
    eq(wire.parse_header(h.reply("c2")).ancount, 1)


def test_a_query_at_the_servers_announced_idle_timeout_goes_on_a_new_session():
    h = Harness()
    h.query("c1", make_query(opt=wire.Opt(1232)))
    h.connected()
    h.answer_all(keepalive_units=50)          # 5 s: closed 0.5 s before
    old = h.gen()
    at_idle_expiry(h)
    check_idle_close(h, h.query("c2", make_query()), old)
    eq(h.counter("graceful_closes", 0), 1)


def test_a_query_just_before_the_idle_timeout_uses_the_session():
    h = Harness()
    h.query("c1", make_query(opt=wire.Opt(1232)))
    h.connected()
    h.answer_all(keepalive_units=50)
    at_idle_expiry(h)
    h.clock.advance(-1)
    h.query("c2", make_query())
    eq(len(h.connects), 1)
    eq(len(h.outstanding()), 1)


def test_a_query_at_the_learned_idle_timeout_goes_on_a_new_session():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.answer_all()
    h.tick(10000)
    h.closed(reason="server closed the connection (FIN)", graceful=True, kind=fw.FIN)
    eq(h.fwd.upstreams[0].learned_idle_ms, 10000)
    h.connected()                            # the reconnect: the session to test
    old = h.gen()
    at_idle_expiry(h)
    check_idle_close(h, h.query("c2", make_query()), old, connects=3)


# ---- attempt deadlines --------------------------------------------------------------


def slow_but_alive(names):
    """c1 on upstream 0, whose session answered something since c1 left (alive)."""
    h = Harness(names=names)
    h.query("w", make_query("warm.test"))
    h.connected(0)
    h.query("c1", make_query("slow.test"))
    sent = h.outstanding(0)
    h.clock.advance(10)
    h.deliver(0, make_answer(sent[0]))       # the warm one, after c1 left: the session is alive
    return h


def test_an_attempt_times_out_once_however_long_it_stays_unanswered():
    h = slow_but_alive(("one",))
    h.tick(1000)                              # past the attempt's deadline, not the query's
    eq(h.counter("timeouts", 0), 1)
    h.run(h.fwd.timer(h.clock.now + 1))
    h.run(h.fwd.timer(h.clock.now + 2))
    eq(h.counter("timeouts", 0), 1, "counted once, not at every timer")


def test_a_late_answer_after_a_timeout_gives_no_rtt_sample():
    h = slow_but_alive(("one",))
    up = h.fwd.upstreams[0]
    srtt = up.rtt.srtt_ms
    h.tick(3000)
    eq(h.counter("timeouts", 0), 1)
    h.deliver(0, make_answer(h.outstanding(0)[1]))
    eq(wire.parse_header(h.reply("c1")).ancount, 1, "the late answer is still used")
    eq(up.rtt.srtt_ms, srtt, "an answer to a timed-out attempt is no round-trip time")


def test_the_second_attempt_times_out_too_after_the_first():
    h = slow_but_alive(("one", "two"))
    h.tick(1000)                               # attempt 1 times out: c1 also goes to "two"
    eq(h.counter("timeouts", 0), 1)
    eq(len(h.connects), 2)
    h.connected(1)
    eq(len(h.outstanding(1)), 1)
    h.tick(1000)                               # and the one on "two" times out in turn
    eq(h.counter("timeouts", 1), 1)


def test_a_silent_session_reset_at_an_attempt_timeout_is_recorded_as_a_timeout():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.tick(1000)                               # nothing ever came back: reset
    eq(h.counter("timeouts", 0), 1)
    eq(h.counter("failures", 0), 1)
    h.connected()
    h.answer_all()
    recs = h.fwd.status(h.clock.now)["upstreams"][0]["recoveries"]
    eq(len(recs), 1)
    eq(recs[0]["kind"], "timeout")


def test_a_query_goes_out_at_most_four_times_then_gets_servfail():
    # Each session it went on is lost a while after it came up, so the
    # upstream is always due an early retry: only MAX_ATTEMPTS stops it.
    # (The clock moves without the timer: no attempt times out meanwhile.)
    h = Harness(config=fw.ForwarderConfig(query_timeout_ms=60000))
    h.query("c1", make_query())
    early = []
    for _ in range(4):
        eq(h.replies, {})
        h.connected()
        h.clock.advance(2000)
        actions = well_formed(h.closed())
        if len(h.connects) == 4 and not early:
            early = levels(actions)
    eq(len(h.connects), 4, "four sessions, one per attempt")
    ok(INFO in early, "an early retry is said at INFO: %r" % (early,))
    eq(wire.parse_header(h.reply("c1")).rcode(), wire.RCODE_SERVFAIL)
