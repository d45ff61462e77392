# portable: runs under MicroPython too
"""Extra TLS sessions to an upstream under load (core/pool.py): a query goes on a
session with nothing in flight, so the server's Nagle never holds its answer;
extras open only while queries overlap, within the limit, are used from one
smoothed RTT after their handshake, and close when the load falls or they fail."""

from coreharness import Harness, make_answer, make_query
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core.pool import EXTRA_IDLE_MS, EXTRA_RETRY_MS


def loaded(connections=4, transports=None):
    """One upstream warm (srtt 100 ms), `connections` allowed."""
    h = Harness(config=fw.ForwarderConfig(connections=connections, tcp_fastopen=False),
                transports=transports)
    h.warm(100)
    return h


def handles(h):
    return [handle for _, handle in h.connects]


def sent_on(h, handle):
    return list(h.sent.get((0, handle), []))


def answer_on(h, handle):
    """The server answers everything sent on `handle` so far."""
    pending = h.sent.get((0, handle), [])
    h.sent[(0, handle)] = []
    for query in pending:
        h.run(h.fwd.received(handle, make_answer(query), h.clock.now))


def with_extra_up(connections=4):
    """q1, q2 overlap on the current session: an extra opens; up, and past its ticket wait."""
    h = loaded(connections)
    primary = h.gen()
    h.query("q1", make_query("q1.test"))
    h.query("q2", make_query("q2.test"))
    eq(len(h.connects), 2, "the overlap opened an extra session")
    extra = handles(h)[-1]
    h.connected(gen=extra)
    h.tick(100)                                  # one srtt: its tickets are in
    return h, primary, extra


def test_a_query_while_one_is_in_flight_opens_an_extra_and_then_uses_it():
    h, primary, extra = with_extra_up()
    eq(len(sent_on(h, primary)), 2, "q1 and q2 on the current session while the extra shook hands")
    h.query("q3", make_query("q3.test"))
    eq(len(sent_on(h, extra)), 1, "q3 on the extra, where nothing is in flight")
    eq(len(h.connects), 2, "no more extras while one is free")
    answer_on(h, extra)
    answer_on(h, primary)
    for key in ("q1", "q2", "q3"):
        h.reply(key)
    status = h.fwd.status(h.clock.now)["upstreams"][0]
    eq(status["connections"], 2)
    eq(status["extra_connects"], 1)
    eq(status["handshakes"], 2)


def test_a_quiet_current_session_takes_the_query_even_with_an_extra_free():
    h, primary, extra = with_extra_up()
    answer_on(h, primary)
    h.query("q3", make_query("q3.test"))
    eq(len(sent_on(h, primary)), 1, "the current session had nothing in flight")
    eq(sent_on(h, extra), [])


def test_an_extra_is_not_used_before_one_rtt_after_its_handshake():
    h = loaded()
    primary = h.gen()
    h.query("q1", make_query("q1.test"))
    h.query("q2", make_query("q2.test"))
    extra = handles(h)[-1]
    h.connected(gen=extra)
    h.tick(50)                                   # half the srtt: the tickets may be on the way
    h.query("q3", make_query("q3.test"))
    eq(sent_on(h, extra), [], "not yet")
    eq(len(sent_on(h, primary)), 3)
    eq(len(h.connects), 2, "one extra handshaking or up is enough to wait for")


def test_one_connection_is_todays_behaviour():
    h = loaded(connections=1)
    for i in range(6):
        h.query("q%d" % i, make_query("q%d.test" % i))
    eq(len(h.connects), 1, "no extra session")
    eq(len(h.outstanding()), 6)


def test_the_limit_counts_the_current_session():
    h, primary, extra = with_extra_up(connections=2)
    for i in range(3, 8):
        h.query("q%d" % i, make_query("q%d.test" % i))
    eq(len(h.connects), 2, "two sessions at most")
    eq(len(sent_on(h, primary)) + len(sent_on(h, extra)), 7)


def test_dtls_has_no_extras():
    config = fw.ForwarderConfig(connections=4, dtls_probe_interval_ms=0, dtls_resume_after_ms=0)
    h = Harness(config=config, transports=[("dtls",)])
    h.warm(100)
    for i in range(4):
        h.query("q%d" % i, make_query("q%d.test" % i))
    eq(len(h.connects), 1)


def test_an_idle_extra_closes_when_the_load_falls():
    h, primary, extra = with_extra_up()
    h.query("q3", make_query("q3.test"))
    answer_on(h, extra)
    answer_on(h, primary)
    h.tick(EXTRA_IDLE_MS - 200)
    eq([c for c in h.closes if c[1] == extra], [], "still within the idle time")
    h.tick(400)
    eq([c[2] for c in h.closes if c[1] == extra], ["load fell"])
    eq(h.fwd.status(h.clock.now)["upstreams"][0]["connections"], 1)
    h.closed(gen=extra, reason="closed by us")   # the shell's late report: ignored
    eq(h.gen(), primary, "the current session is untouched")


def test_an_extra_lost_with_a_query_in_flight_sends_it_again_on_the_current_session():
    h, primary, extra = with_extra_up()
    h.query("q3", make_query("q3.test"))
    answer_on(h, primary)
    h.closed(gen=extra, reason="reset by peer", kind=fw.RST)
    eq(h.gen(), primary, "the current session stays")
    eq(len(sent_on(h, primary)), 1, "q3 again, on the current session")
    answer_on(h, primary)
    h.reply("q3")
    eq(h.counter("replays", 0), 1)
    eq(h.counter("rsts", 0), 1, "the extra's RST is counted")
    eq(h.counter("failures", 0), 1)
    eq(h.fwd.upstreams[0].state, "open")


def test_a_silent_extra_is_reset_and_its_query_sent_again():
    h, primary, extra = with_extra_up()
    answer_on(h, primary)
    h.query("q3", make_query("q3.test"))         # on the current session
    h.query("q4", make_query("q4.test"))         # on the extra
    eq(len(sent_on(h, extra)), 1)
    answer_on(h, primary)
    h.tick(450)                                   # past the attempt's 400 ms, nothing on the extra
    ok([c for c in h.closes if c[1] == extra], "the extra was reset")
    eq(len(sent_on(h, primary)), 1, "q4 again on the current session")
    answer_on(h, primary)
    h.reply("q4")


def test_a_failed_extra_handshake_stops_extras_for_a_while():
    h = loaded()
    h.query("q1", make_query("q1.test"))
    h.query("q2", make_query("q2.test"))
    extra = handles(h)[-1]
    h.run(h.fwd.connect_failed(extra, "refused", h.clock.now))
    eq(h.fwd.upstreams[0].state, "open", "the current session is not at fault")
    h.query("q3", make_query("q3.test"))
    eq(len(h.connects), 2, "no new extra at once")
    h.answer_all()
    h.tick(EXTRA_RETRY_MS)
    h.query("q3b", make_query("q3b.test"))
    h.query("q4", make_query("q4.test"))
    eq(len(h.connects), 3, "tried again after EXTRA_RETRY_MS")


def test_an_extra_that_never_comes_up_times_out():
    h = loaded()
    h.query("q1", make_query("q1.test"))
    h.query("q2", make_query("q2.test"))
    extra = handles(h)[-1]
    h.tick(3100)
    eq([c[2] for c in h.closes if c[1] == extra], ["connect timeout"])
    eq(h.fwd.upstreams[0].extras, [])


def test_a_reconnect_request_closes_the_extras_too():
    h, primary, extra = with_extra_up()
    h.query("q3", make_query("q3.test"))
    h.run(h.fwd.reconnect(h.clock.now))
    closed = [c[1] for c in h.closes]
    ok(primary in closed and extra in closed, "both closed: %r" % (closed,))
    eq(h.fwd.upstreams[0].extras, [])
    h.connected()
    eq(len(h.outstanding()), 3, "q1, q2 and q3 on the new session")


def test_a_reload_that_removes_the_upstream_closes_its_extras():
    h, primary, extra = with_extra_up()
    config = fw.ForwarderConfig(connections=4, tcp_fastopen=False)
    h.run(h.fwd.reconfigure(config, ["other"], h.clock.now))
    closed = [c[1] for c in h.closes]
    ok(primary in closed and extra in closed, "both closed: %r" % (closed,))


def test_with_every_session_busy_the_overflow_goes_to_the_current_session():
    h, primary, extra = with_extra_up(connections=2)   # q1, q2 on the current session
    h.query("q3", make_query("q3.test"))                # on the extra
    for i in range(4, 7):
        h.query("q%d" % i, make_query("q%d.test" % i))
    eq(len(sent_on(h, primary)), 5, "q4..q6 behind q1 and q2: the extra stays with one")
    eq(len(sent_on(h, extra)), 1)


def test_garbage_on_an_extra_resets_it_alone():
    h, primary, extra = with_extra_up()
    h.query("q3", make_query("q3.test"))                # on the extra
    h.run(h.fwd.garbled(extra, "bad length prefix", h.clock.now))
    eq([c[2] for c in h.closes if c[1] == extra], ["bad length prefix"])
    eq(h.gen(), primary, "the current session stays")
    eq(len(sent_on(h, primary)), 3, "q3 again, behind q1 and q2")
    h.answer_all()
    h.reply("q3")
    h.query("q4", make_query("q4.test"))
    h.query("q5", make_query("q5.test"))
    eq(len(h.connects), 2, "no new extra at once after a reset")
