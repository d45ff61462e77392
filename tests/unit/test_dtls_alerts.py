# portable: runs under MicroPython too
"""A DTLS alert and what follows (core/dtls_flows.py): the rate limit on the
handshakes alerts start, the resumption failing (the alert may be forged),
the kept old session dying meanwhile, the recovery it records; and a close
reported for a session still connecting, or for the TLS session beside DTLS."""

from coreharness import Harness, dtls_harness, make_answer, make_query, truncated, upstream_status
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire

RTT = 100


def test_an_alert_a_second_after_the_last_handshake_started_starts_another():
    h = dtls_harness()
    h.warm(RTT)
    h.alert()
    h.connected()
    h.tick(999)
    h.alert()
    eq(len(h.connects), 2, "999 ms later: ignored")
    eq(upstream_status(h)["alerts_ignored"], 1)
    h.tick(1)
    logs = len(h.logs)
    h.alert()
    eq(len(h.connects), 3, "1000 ms later: a new handshake")
    eq(upstream_status(h)["alerts"], 3)
    eq(upstream_status(h)["alerts_ignored"], 1)
    eq(h.logs[logs:], ["one: DTLS alert from the server; resuming on a new session"])


def test_the_alert_recovery_is_recorded_once_the_new_session_answers():
    h = dtls_harness()
    h.warm(RTT)
    h.query("c1", make_query("lost.test"))
    h.tick(RTT)
    h.alert()
    h.tick(RTT)
    h.connected()
    h.tick(RTT)
    h.answer_all()
    rec = upstream_status(h)["recoveries"][-1]
    eq((rec["cause"], rec["kind"], rec["affected"]), ("DTLS alert from the server", "alert", 1))
    eq(rec["query_rtts"], 3, "the query, the handshake, the answer (srtt 100 ms)")


def test_a_failed_resumption_keeps_the_old_session_and_its_queries():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.query("c1", make_query("before.test"))    # in flight on the old session
    h.alert()                                   # forged: the old session is fine
    new = h.gen()
    logs = len(h.logs)
    h.connect_failed(0, "handshake timed out")
    eq(h.logs[logs:], ["one: new session failed (handshake timed out); keeping the old one, "
                       "the alert was not authenticated"])
    eq((upstream_status(h)["state"], h.gen()), ("open", old))
    eq(h.sent.get((0, new), []), [], "nothing went on the failed session")
    eq(h.replies.get("c1"), None, "still waiting for the old session's answer")
    h.answer_all()
    eq(len(h.replies["c1"]), 1)
    h.tick(1000)
    h.query("c2", make_query("after.test"))
    eq(len(h.outstanding()), 1, "the next query goes over the old session")
    eq(upstream_status(h)["recoveries"], [], "no recovery happened")


def test_the_old_session_dying_while_the_new_one_handshakes_loses_nothing():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.query("c1", make_query("x.test"))
    h.alert()
    h.closed(0, "gone", gen=old)                # the old one ends meanwhile
    eq(len(h.connects), 2, "no third session: the new one is on its way")
    eq(h.replies.get("c1"), None)
    h.connected()
    eq(len(h.outstanding()), 1, "the query goes with the Finished")
    h.answer_all()
    eq(len(h.replies["c1"]), 1, "one answer")
    eq(upstream_status(h)["state"], "open")


def test_a_close_reported_while_connecting_is_a_failed_connect():
    h = Harness(names=("first", "second"))
    h.query("c1", make_query())
    h.closed(0, "connection reset during the handshake")
    status = h.fwd.status(h.clock.now)["upstreams"]
    eq((status[0]["state"], status[0]["failures"]), ("backoff", 1))
    eq(status[0]["last_close_reason"], "connection reset during the handshake")
    eq(h.connects[-1][0], 1, "the query moves to the other upstream")
    h.connected(1)
    h.answer_all(1)
    eq(len(h.replies["c1"]), 1)


def test_the_tls_session_beside_dtls_ending_hands_out_the_truncated_answer():
    h = dtls_harness(("dtls", "tls"))
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    eq(len(h.sent[side]), 1)
    logs = len(h.logs)
    h.closed(side[0], "reset", gen=side[1])
    eq(h.logs[logs:], ["one: TLS session for truncated answers ended: reset"])
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "the truncated answer, not nothing")
    eq(upstream_status(h)["state"], "open", "the DTLS session is unharmed")
    eq(upstream_status(h)["failures"], 0)


def test_an_unmatched_answer_on_the_tls_session_beside_dtls_ends_only_that_session():
    h = dtls_harness(("dtls", "tls"))
    h.query("c1", make_query(), udp=False)
    h.connected()
    dtls = h.gen()
    h.deliver(0, truncated(h.outstanding()[0]))
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    h.deliver(0, make_answer(make_query("other.test", msg_id=7)), gen=side[1])
    eq([c[:2] for c in h.closes], [side], "the TLS session is reset, not the DTLS one")
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "its client gets the truncated answer")
    eq((upstream_status(h)["state"], h.gen()), ("open", dtls))


def test_an_unmatched_answer_on_the_kept_old_session_ends_only_that_session():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.query("c1", make_query("x.test"))
    h.alert()
    h.deliver(0, make_answer(make_query("other.test", msg_id=7)), gen=old)
    eq([c[:2] for c in h.closes], [(0, old)], "the old session goes, the new one handshakes on")
    eq(len(h.connects), 2)
    h.connected()
    h.answer_all()
    eq(len(h.replies["c1"]), 1, "the query was replayed on the new session")


def test_garbage_on_the_kept_old_session_ends_only_that_session():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.query("c1", make_query("x.test"))
    h.alert()
    h.run(h.fwd.garbled(old, "broken stream: fuzz", h.clock.now))
    eq([c[:2] for c in h.closes], [(0, old)], "the old session is closed, the new one handshakes on")
    eq((upstream_status(h)["state"], h.fwd.upstreams[0].previous), ("connecting", None))
    h.connected()
    h.answer_all()
    eq(len(h.replies["c1"]), 1, "the query was replayed on the new session")


def test_a_query_that_came_while_a_failed_resumption_handshook_goes_on_the_kept_session():
    h = dtls_harness()
    h.warm(RTT)
    old = h.gen()
    h.alert()                                   # forged: the old session is fine
    new = h.gen()
    h.query("c1", make_query("during.test"))    # queued for the new session's Finished
    eq(h.sent.get((0, new), []), [])
    h.connect_failed(0, "handshake timed out")
    eq(h.replies.get("c1"), None, "no SERVFAIL: the old session is kept and healthy")
    eq((h.gen(), len(h.outstanding())), (old, 1), "the query goes out on the old session")
    h.answer_all()
    eq(wire.parse_header(h.reply("c1")).rcode(), wire.RCODE_NOERROR, "its answer reaches the client")


def test_a_query_whose_false_start_resumption_fails_goes_on_the_kept_quiet_session():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=60000)
    h = Harness(config=config, transports=[("dtls",)])
    h.warm(RTT)
    old = h.gen()
    h.tick(60000)
    h.query("c1", make_query("quiet.test"))
    eq((len(h.connects), upstream_status(h)["false_starts"]), (2, 1), "False Start: a resumption first")
    h.tick(h.fwd.config.connect_timeout_ms)     # it never completes
    eq(upstream_status(h)["state"], "open")
    eq(h.replies.get("c1"), None, "no SERVFAIL: the old session is kept")
    eq(len(h.connects), 2, "no second resumption for the same quiet session")
    eq((h.gen(), len(h.outstanding())), (old, 1), "the query goes out on the old session")
    h.answer_all()
    eq(wire.parse_header(h.reply("c1")).rcode(), wire.RCODE_NOERROR, "its answer reaches the client")
