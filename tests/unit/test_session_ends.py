# portable: runs under MicroPython too
"""How an established session's end is read (core/sessions.py): graceful or not,
quiet or busy, at the server's idle timeout or not, young or old; what it
counts, what it logs, whether a new session is opened at once."""

from coreharness import Harness, make_query
from testkit import eq, ok

from dprive.core import forwarder as fw


def warm(h, keepalive_units=None):
    """One answered query: srtt 50 ms, the session quiet from now on."""
    h.query("w", make_query())
    h.connected()
    h.tick(50)
    h.answer_all(keepalive_units=keepalive_units)


def end(h, quiet_ms, graceful, kind=None, busy=0):
    """Let the session sit `quiet_ms`, put `busy` queries in flight, then it ends."""
    h.tick(quiet_ms)
    for i in range(busy):
        h.query("b%d" % i, make_query("b%d.test" % i))
    logs, connects = len(h.logs), len(h.connects)
    h.closed(reason="why", graceful=graceful, kind=kind)
    status = h.fwd.status(h.clock.now)["upstreams"][0]
    return h.logs[logs:], len(h.connects) - connects, status


def counts(status):
    return dict((k, status[k]) for k in ("graceful_closes", "server_closes", "failures", "rsts",
                                         "probe_failures", "replays"))


def test_graceful_close_at_the_announced_idle_timeout_is_housekeeping():
    h = Harness()
    warm(h, keepalive_units=100)                   # the server keeps idle sessions 10 s
    logs, connects, status = end(h, 8000, graceful=True)   # 80 % of it: the server's timer
    eq(logs, ["one: idle session closed: why"])
    eq(connects, 0, "the next query reconnects, not now")
    eq((status["state"], status["last_close_reason"]), ("idle", "why"))
    eq(counts(status), {"graceful_closes": 1, "server_closes": 0, "failures": 0, "rsts": 0,
                        "probe_failures": 0, "replays": 0})


def test_graceful_close_before_the_idle_timeout_is_the_server_closing_and_reconnects():
    h = Harness()
    warm(h, keepalive_units=100)
    logs, connects, status = end(h, 7999, graceful=True)
    eq(logs, ["one: server closed the session: why (reconnecting now)"])
    eq(connects, 1, "a new session at once, so the next query costs one round trip")
    eq(status["state"], "connecting")
    eq(counts(status), {"graceful_closes": 1, "server_closes": 1, "failures": 0, "rsts": 0,
                        "probe_failures": 0, "replays": 0})
    eq(status["learned_idle_timeout_ms"], None, "the server announced its timeout")


def test_a_quiet_close_without_an_announced_timeout_teaches_the_idle_time():
    h = Harness()
    warm(h)
    logs, connects, status = end(h, 1000, graceful=True)
    eq(status["learned_idle_timeout_ms"], 1000)
    eq(connects, 1, "not known yet when it closed: reconnect")
    # The next one closed after the same quiet time is housekeeping.
    h.connected()
    h.query("x", make_query("x.test"))
    h.tick(50)
    h.answer_all()
    logs, connects, status = end(h, 800, graceful=True)
    eq(logs, ["one: idle session closed: why"])
    eq(connects, 0)


def test_a_close_after_under_a_second_of_quiet_teaches_nothing():
    h = Harness()
    warm(h)
    logs, connects, status = end(h, 999, graceful=True)
    eq(status["learned_idle_timeout_ms"], None)
    eq(connects, 1)


def test_a_graceful_close_under_queries_sends_them_again_and_learns_nothing():
    h = Harness()
    warm(h)
    logs, connects, status = end(h, 3000, graceful=True, busy=2)
    eq(logs, ["one: server closed the session: why (2 queries in flight sent again)"])
    eq(connects, 1)
    eq(counts(status), {"graceful_closes": 1, "server_closes": 1, "failures": 0, "rsts": 0,
                        "probe_failures": 0, "replays": 2})
    eq(status["learned_idle_timeout_ms"], None, "it was not idle")
    h.connected()
    eq(len(h.outstanding()), 2, "both replayed on the new session")


def test_an_rst_while_quiet_is_a_failed_probe_and_stretches_the_rto():
    h = Harness()
    warm(h)
    rto = h.fwd.status(h.clock.now)["upstreams"][0]["rto_ms"]
    logs, connects, status = end(h, 3000, graceful=False, kind=fw.RST)
    eq(logs, ["one: session lost: why (found while quiet, reconnecting now)"])
    eq(connects, 1)
    eq(counts(status), {"graceful_closes": 0, "server_closes": 0, "failures": 1, "rsts": 1,
                        "probe_failures": 1, "replays": 0})
    eq(status["rto_ms"], 2 * rto, "preferred a little less until it answers again")
    eq(status["learned_idle_timeout_ms"], None)


def test_a_session_lost_under_a_query_is_no_rst_and_no_probe_unless_it_says_so():
    h = Harness()
    warm(h)
    logs, connects, status = end(h, 3000, graceful=False, kind="timeout", busy=1)
    eq(logs, ["one: session lost: why (1 queries in flight sent again)"])
    eq(counts(status), {"graceful_closes": 0, "server_closes": 0, "failures": 1, "rsts": 0,
                        "probe_failures": 0, "replays": 1})
    h.connected()
    h.answer_all()
    eq(len(h.replies["b0"]), 1, "the client got its answer")


def dies_after(h, ms):
    h.tick(ms)
    h.closed(reason="reset", kind=fw.RST)


def test_three_sessions_dying_young_back_off_instead_of_a_fourth_handshake():
    h = Harness()
    warm(h)
    dies_after(h, 9999)                            # the first counts whatever its age
    h.connected()
    dies_after(h, 9999)
    h.connected()
    dies_after(h, 9999)
    status = h.fwd.status(h.clock.now)["upstreams"][0]
    eq((status["state"], status["retry_in_ms"]), ("backoff", 500))
    eq(len(h.connects), 3, "no fourth handshake until the backoff ends")
    eq(h.logs[-1], "one: 3 sessions in a row died within 10 s (forged RSTs?); next try in 500 ms")
    h.tick(500)
    eq(len(h.connects), 4, "retried when the backoff ends")


def test_a_session_that_lived_ten_seconds_starts_the_count_again():
    h = Harness()
    warm(h)
    dies_after(h, 9999)
    h.connected()
    dies_after(h, 10000)                           # old enough: not a forged-RST pattern
    h.connected()
    dies_after(h, 9999)
    status = h.fwd.status(h.clock.now)["upstreams"][0]
    eq(status["state"], "connecting", "two young deaths in a row only")
    eq(len(h.connects), 4)


def test_a_failed_connect_logs_the_next_try_and_a_success_clears_the_count():
    h = Harness(names=("first", "second"))
    h.query("c1", make_query())
    h.tick(20)
    h.connect_failed(0, "refused")
    ok("first: connection failed: refused (next try in 500 ms)" in h.logs, h.logs)
    status = h.fwd.status(h.clock.now)["upstreams"][0]
    eq((status["consecutive_failures"], status["last_close_reason"]), (1, "refused"))
    h.tick(500)                                    # the background retry
    eq(h.connects[-1][0], 0)
    h.connect_failed(0, "refused again")
    ok("first: connection failed: refused again (next try in 1000 ms)" in h.logs, h.logs)
    h.tick(1000)
    h.connected(0)
    status = h.fwd.status(h.clock.now)["upstreams"][0]
    eq((status["state"], status["consecutive_failures"]), ("open", 0))
