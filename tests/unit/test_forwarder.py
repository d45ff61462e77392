# portable: runs under MicroPython too
"""The core Forwarder over scripted upstreams and a fake clock: no sockets, no time.

Each test plays the I/O shell by hand (coreharness.Harness): it reports
sessions up and down and delivers the upstream's answers when it chooses.
"""

from coreharness import Harness, make_answer, make_query, rcode
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire
from dprive.core.upstream import BACKOFF, OPEN


def test_first_query_connects_then_goes_out_padded_with_keepalive():
    h = Harness()
    h.query("c1", make_query(msg_id=0x1234))
    eq(h.connects, [(0, h.gen())])
    eq(h.outstanding(), [], "nothing may be sent before the session is up")
    h.connected()
    sent = h.outstanding()
    eq(len(sent), 1)
    eq(len(sent[0]) % 128, 0, "query padded to 128-byte blocks")
    opt = wire.find_opt(sent[0])
    ok(opt is not None, "an OPT record is added upstream")
    eq(opt.get(wire.OPT_TCP_KEEPALIVE), b"", "empty edns-tcp-keepalive asks for the idle timeout")
    ok(opt.get(wire.OPT_PADDING) is not None, "padding option present")
    h.answer_all()
    answer = h.reply("c1")
    eq(wire.get_id(answer), 0x1234, "client's ID restored")
    eq(wire.find_opt(answer), None, "client sent no EDNS, so it sees no OPT")
    eq(wire.read_question(answer).name, wire.read_question(make_query()).name)


def test_client_edns_kept_but_hop_by_hop_options_stripped():
    h = Harness()
    client_opt = wire.Opt(4096, 0, 0, wire.DO_BIT, [(10, b"12345678"), (wire.OPT_PADDING, b"\x00" * 5)])
    h.query("c1", make_query(opt=client_opt))
    h.connected()
    up_opt = wire.find_opt(h.outstanding()[0])
    eq(up_opt.get(10), b"12345678", "client's cookie option forwarded")
    eq(up_opt.flags & wire.DO_BIT, wire.DO_BIT, "DO bit kept")
    eq(up_opt.udp_size, 4096)
    h.answer_all(keepalive_units=100)
    opt = wire.find_opt(h.reply("c1"))
    ok(opt is not None, "client with EDNS gets OPT back")
    eq(opt.get(wire.OPT_TCP_KEEPALIVE), None, "keepalive is hop-by-hop")
    eq(opt.get(wire.OPT_PADDING), None, "padding is hop-by-hop")


def test_colliding_client_ids_get_distinct_upstream_ids_and_out_of_order_answers_match():
    h = Harness()
    names = ["a.test", "b.test", "c.test"]
    for i, name in enumerate(names):
        h.query("c%d" % i, make_query(name, msg_id=7))   # every client used ID 7
    h.connected()
    sent = h.outstanding()
    eq(len(sent), 3)
    ids = [wire.get_id(m) for m in sent]
    eq(len(set(ids)), 3, "upstream IDs are unique on the connection")
    for query in reversed(sent):                           # answered in reverse order
        h.deliver(0, make_answer(query))
    for i, name in enumerate(names):
        answer = h.reply("c%d" % i)
        eq(wire.get_id(answer), 7)
        eq(wire.name_to_text(wire.read_question(answer).name), name + ".")


def test_answer_with_unknown_id_resets_session_and_queries_are_sent_again():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    first_gen = h.gen()
    query = h.outstanding()[0]
    bogus = wire.set_id(make_answer(query), (wire.get_id(query) + 1) & 0xFFFF)
    h.deliver(0, bogus)
    eq(h.counter("unmatched", 0), 1)
    eq(h.closes[-1][:2], (0, first_gen))
    ok("unknown ID" in h.closes[-1][2], h.closes[-1][2])
    eq(len(h.connects), 2, "a new session is opened for the query in flight")
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR, "the client never saw the failure")


def test_garbage_from_upstream_resets_session():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.deliver(0, b"abcde")                     # shorter than a DNS header
    eq(h.counter("bad_answers", 0), 1)
    eq(len(h.closes), 1)
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_answer_for_another_question_is_rejected():
    h = Harness()
    h.query("c1", make_query("a.test"))
    h.connected()
    query = h.outstanding()[0]
    wrong = make_answer(wire.set_id(make_query("b.test"), wire.get_id(query)))
    h.deliver(0, wrong)
    eq(h.counter("bad_answers", 0), 1)
    eq(h.replies.get("c1"), None, "a wrong answer never reaches the client")


def test_session_lost_with_queries_in_flight_replays_them_once_on_a_new_session():
    h = Harness()
    for i in range(5):
        h.query(i, make_query("n%d.test" % i, msg_id=i))
    h.connected()
    eq(len(h.outstanding()), 5)
    h.closed(reason="connection reset by peer (RST)")
    eq(h.counter("failures", 0), 1)
    eq(len(h.connects), 2)
    h.connected()
    eq(len(h.outstanding()), 5, "all five replayed")
    h.answer_all()
    for i in range(5):
        eq(rcode(h.reply(i)), wire.RCODE_NOERROR)
    eq(h.counter("servfail"), 0)


def test_server_close_outside_its_idle_timeout_reconnects_at_once():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.answer_all()
    h.closed(reason="server sent close_notify", graceful=True, kind=fw.CLOSE_NOTIFY)   # a restart
    eq(h.counter("graceful_closes", 0), 1)
    eq(h.counter("server_closes", 0), 1)
    eq(h.counter("failures", 0), 0, "a graceful close is no failure")
    eq(len(h.connects), 2, "a new session is opened before any query needs it")
    h.connected()
    h.query("c2", make_query())
    eq(len(h.outstanding()), 1, "the next query goes out at once: one round trip")


def test_idle_timeout_learned_from_the_servers_closes():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.answer_all()                             # no edns-tcp-keepalive in the answer
    h.tick(10000)
    h.closed(reason="server closed the connection (FIN)", graceful=True, kind=fw.FIN)
    eq(h.fwd.upstreams[0].learned_idle_ms, 10000)
    eq(len(h.connects), 2, "not known yet to be housekeeping: reconnected at once")
    h.connected()
    h.tick(8900)
    eq(len(h.closes), 0)
    h.tick(200)
    eq(len(h.closes), 1, "closed just before the learned idle timeout")
    eq(len(h.connects), 2, "and left closed: the next query reconnects")
    eq(h.counter("server_closes", 0), 1)
    eq(h.counter("graceful_closes", 0), 2)


def test_server_keepalive_timeout_is_honoured_by_closing_first():
    h = Harness()
    h.query("c1", make_query(opt=wire.Opt(1232)))
    h.connected()
    h.answer_all(keepalive_units=50)          # the server keeps idle sessions 5 s
    eq(h.fwd.upstreams[0].session.server_idle_ms, 5000)
    h.tick(4400)
    eq(h.closes, [], "still inside the server's idle timeout")
    h.tick(200)
    eq(len(h.closes), 1, "closed just before the server would")
    eq(h.counter("graceful_closes", 0), 1)
    eq(h.counter("failures", 0), 0)


def test_silent_connection_is_reset_after_rtt_derived_deadline_and_query_retried():
    config = fw.ForwarderConfig(attempt_min_ms=300, query_timeout_ms=5000)
    h = Harness(config=config)
    h.query("warm", make_query())
    h.connected()
    h.tick(50)
    h.answer_all()                            # srtt 50 ms measured
    h.query("c1", make_query("lost.test"))
    h.tick(299)
    eq(h.closes, [])
    h.tick(2)                                 # the RTO (floored at attempt_min_ms) passes
    eq(len(h.closes), 1)
    ok("no answer" in h.closes[0][2], h.closes[0][2])
    eq(len(h.connects), 2, "retried on a new connection")
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    ok(h.clock.now - 1000000.0 < 5000, "well inside the client's timeout")


def test_client_gets_servfail_at_query_timeout_and_never_later():
    config = fw.ForwarderConfig(query_timeout_ms=2000, attempt_min_ms=300, connect_timeout_ms=10000)
    h = Harness(config=config)
    h.query("c1", make_query())
    start = h.clock.now
    h.connected()
    opened = 1
    # The upstream never answers and every new session swallows the query too.
    while h.clock.now - start < 1999:
        h.tick(1)
        eq(h.replies.get("c1"), None, "no answer yet at %d ms" % (h.clock.now - start))
        while len(h.connects) > opened:
            h.connected()
            opened += 1
    ok(opened > 1, "the silent sessions were reset and the query retried")
    h.tick(1)
    eq(rcode(h.reply("c1")), wire.RCODE_SERVFAIL, "SERVFAIL at query_timeout_ms, not later")


def test_slow_server_on_live_connection_hedges_to_other_upstream():
    config = fw.ForwarderConfig(attempt_min_ms=300)
    h = Harness(names=("slow", "fast"), config=config)
    h.query("w0", make_query())
    h.connected(0)
    h.tick(20)
    h.answer_all(0)                            # "slow" measured at 20 ms
    h.query("w1", make_query())                # "fast" not measured yet, so it is tried
    h.connected(1)
    h.tick(30)
    h.answer_all(1)                            # "fast" measured at 30 ms
    h.query("c1", make_query("slow.test"))
    h.query("c2", make_query("quick.test"))
    eq(len(h.outstanding(0)), 2, "both go to the 20 ms upstream")
    h.tick(10)
    # It answers quick.test but not slow.test: its connection is alive, the server slow.
    quick = [m for m in h.outstanding(0) if b"quick" in m][0]
    h.deliver(0, make_answer(quick))
    h.tick(300)
    eq(h.closes, [], "a live connection is not reset for one slow answer")
    asked = h.outstanding(1)
    eq(len(asked), 1, "the query is also asked of the other upstream")
    ok(b"slow" in asked[0], "it is the slow query")
    h.answer_all(1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    # The first answer arrives after all: counted as late, no reset.
    slow = [m for m in h.outstanding(0) if b"slow" in m][0]
    h.deliver(0, make_answer(slow))
    eq(h.counter("late_answers", 0), 1)
    eq(h.closes, [])
    eq(len(h.replies["c1"]), 1, "the client got exactly one answer")


def test_connect_failure_backs_off_and_other_upstream_answers():
    h = Harness(names=("broken", "good"))
    h.query("c1", make_query())
    eq(h.connects[-1][0], 0)
    h.connect_failed(0, "authentication failed: SPKI pin mismatch")
    eq(h.fwd.upstreams[0].state, BACKOFF)
    eq(h.connects[-1][0], 1, "the query moves to the next upstream")
    h.connected(1)
    h.answer_all(1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    connects = len(h.connects)
    h.query("c2", make_query())
    eq(len(h.outstanding(1)), 1, "the good one gets the query")
    eq(len(h.connects), connects, "no new session is tried on the broken one")
    eq([key for key, sent in h.sent.items() if key[0] == 0 and sent], [],
       "while backing off, the broken one gets nothing")


def test_only_upstream_failing_authentication_gives_servfail_and_no_query_leaves():
    h = Harness()
    h.query("c1", make_query())
    h.connect_failed(0, "authentication failed: certificate rejected", auth=True)
    eq(rcode(h.reply("c1")), wire.RCODE_SERVFAIL)
    eq(h.sent, {}, "no query was written to an unauthenticated session")
    ok(any("authentication failed" in line for line in h.logs), "the reason is logged")


def test_backoff_doubles_is_capped_and_retries_in_background():
    config = fw.ForwarderConfig(backoff_max_ms=2000)
    h = Harness(config=config)
    h.query("c1", make_query())
    delays = []
    for _ in range(5):
        up = h.fwd.upstreams[0]
        before = h.clock.now
        h.connect_failed(0)
        delays.append(up.retry_at - before)
        connects = len(h.connects)
        h.tick(up.retry_at - h.clock.now)
        eq(len(h.connects), connects + 1, "retried in the background at retry_at")
    eq(delays, [500, 1000, 2000, 2000, 2000])
    h.connected()
    eq(h.fwd.upstreams[0].consecutive_failures, 0)


def test_lowest_srtt_upstream_is_preferred():
    h = Harness(names=("far", "near"))
    h.query("a", make_query())
    h.connected(0)
    h.tick(80)
    h.answer_all(0)
    h.query("b", make_query())                 # "near" not measured yet: it is tried
    eq(h.connects[-1][0], 1)
    h.connected(1)
    h.tick(10)
    h.answer_all(1)
    for i in range(4):
        h.query("q%d" % i, make_query())
    eq(len(h.outstanding(1)), 4, "all go to the 10 ms upstream")
    eq(len(h.outstanding(0)), 0)


def test_udp_client_gets_truncated_answer_tcp_client_the_whole():
    h = Harness()
    h.query("udp", make_query(), udp=True)
    h.query("tcp", make_query(), udp=False)
    h.connected()
    h.answer_all(extra_txt=4)                  # about 1 KB
    small = h.reply("udp")
    ok(len(small) <= 512, "fits the client's 512 bytes")
    ok(wire.parse_header(small).flags & wire.TC, "TC set so the client retries over TCP")
    big = h.reply("tcp")
    eq(wire.parse_header(big).ancount, 5)
    eq(h.counter("truncated"), 1)


def test_bad_client_input_counted_and_answered_where_possible():
    h = Harness()
    h.query("short", b"\x12\x34\x01")
    eq(h.replies.get("short"), None, "no header, no answer")
    eq(h.let_go, ["short"], "but the shell is told to forget the client")
    eq(h.counter("dropped"), 1)
    liar = make_query()[:-3]                   # QDCOUNT says 1, question cut short
    h.query("liar", liar)
    answer = h.reply("liar")
    eq(rcode(answer), wire.RCODE_FORMERR)
    eq(wire.get_id(answer), 0x1234)
    h.query("resp", make_answer(make_query()))
    eq(h.replies.get("resp"), None, "responses from the LAN are dropped")
    eq(h.let_go, ["short", "resp"])
    notify = bytearray(make_query())
    notify[2] |= 0x20                          # opcode 4, NOTIFY
    h.query("notify", bytes(notify))
    eq(rcode(h.reply("notify")), wire.RCODE_NOTIMP)
    eq(h.counter("formerr"), 1)
    eq(h.counter("notimp"), 1)
    eq(h.connects, [], "nothing bad went upstream")


def test_pending_limit_answers_servfail_beyond_it():
    h = Harness(config=fw.ForwarderConfig(max_pending=16))
    for i in range(17):
        h.query(i, make_query(msg_id=i))
    eq(rcode(h.reply(16)), wire.RCODE_SERVFAIL)
    eq(h.counter("overload"), 1)


def test_reconnect_replaces_the_session():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.answer_all()
    old = h.gen()
    h.run(h.fwd.reconnect(h.clock.now))
    eq(h.closes[-1][:2], (0, old))
    ok(h.gen() != old, "a new session is being set up")
    eq(h.counter("reconnects", 0), 1)


def test_stale_events_from_an_old_session_are_ignored():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    old = h.gen()
    h.closed(reason="reset")
    h.connected()
    h.closed(reason="late report", gen=old)    # the old connection reports again
    eq(h.fwd.upstreams[0].state, OPEN)


def test_garbage_from_one_upstream_is_retried_on_the_other():
    h = Harness(names=("bad", "good"))
    h.query("w0", make_query())
    h.connected(0)
    h.tick(10)
    h.answer_all(0)
    h.query("w1", make_query())
    h.connected(1)
    h.tick(15)
    h.answer_all(1)                            # "bad" is faster: it gets the next query
    h.query("c1", make_query("x.test"))
    eq(len(h.outstanding(0)), 1)
    h.deliver(0, b"abc")
    eq(len(h.closes), 1)
    eq(len(h.outstanding(1)), 1, "the query in flight went to the other upstream")
    h.answer_all(1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_start_opens_a_session_to_every_enabled_upstream():
    h = Harness(names=("a", "b", "off"), enabled=[True, True, False])
    h.run(h.fwd.start(h.clock.now))
    eq([index for index, gen in h.connects], [0, 1])
    h.connected(0)
    h.query("c1", make_query())
    eq(len(h.outstanding(0)), 1, "the first query finds a warm session")


def test_waiting_query_retries_a_failed_upstream_early_at_most_once_a_second():
    h = Harness(config=fw.ForwarderConfig(backoff_max_ms=60000))
    h.query("c0", make_query())
    for _ in range(6):                         # the WAN is down: backoff grows to 16 s
        h.connect_failed(0)
        h.tick(h.fwd.upstreams[0].retry_at - h.clock.now)
    h.connect_failed(0)
    eq(h.fwd.upstreams[0].state, BACKOFF)
    connects = len(h.connects)
    h.query("c1", make_query())
    eq(rcode(h.reply("c1")), wire.RCODE_SERVFAIL, "tried less than a second ago: no early retry")
    eq(len(h.connects), connects)
    h.tick(1000)                               # the WAN is back; the backoff has 15 s to go
    h.query("c2", make_query())
    eq(len(h.connects), connects + 1, "the waiting query retries the upstream at once")
    eq(h.replies.get("c2"), None, "and waits for it instead of failing")
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c2")), wire.RCODE_NOERROR)


def test_authentication_failure_is_not_retried_early():
    h = Harness()
    h.query("c0", make_query())
    for _ in range(2):                         # backoff 500 ms, then 1 s
        h.connect_failed(0, "authentication failed: SPKI pin mismatch", auth=True)
        h.tick(h.fwd.upstreams[0].retry_at - h.clock.now)
    h.connect_failed(0, "authentication failed: SPKI pin mismatch", auth=True)
    eq(h.fwd.upstreams[0].retry_at - h.clock.now, 2000)
    connects = len(h.connects)
    h.tick(1500)                               # an early retry would be allowed by now
    h.query("c1", make_query())
    eq(rcode(h.reply("c1")), wire.RCODE_SERVFAIL)
    eq(len(h.connects), connects, "a bad certificate does not fix itself: wait out the backoff")


def test_query_whose_session_dies_is_replayed_elsewhere_else_on_the_same_server():
    h = Harness(names=("a", "b"))
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    h.query("c1", make_query())
    eq(len(h.outstanding(0)), 1)
    h.closed(0, reason="connection reset by peer (RST)")
    eq(len(h.outstanding(1)), 1, "replayed on the other warm session, no handshake needed")
    h.closed(1, reason="connection reset by peer (RST)")
    h.connected(0)
    eq(len(h.outstanding(0)), 1, "both lost it once: a new session to the first")
    h.answer_all(0)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_burst_of_resets_backs_off_and_the_query_waits_for_the_retry():
    h = Harness()
    h.query("c1", make_query())
    for _ in range(3):                         # every new session is reset at once
        h.connected()
        h.closed(reason="connection reset by peer (RST)", kind=fw.RST)
    up = h.fwd.upstreams[0]
    eq(up.state, BACKOFF, "three young sessions lost in a row: no more immediate handshakes")
    eq(len(h.connects), 3)
    eq(h.replies.get("c1"), None, "the query waits for the retry instead of failing")
    h.tick(up.retry_at - h.clock.now)
    eq(len(h.connects), 4)
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq(h.counter("rsts", 0), 3)


def test_rst_found_while_quiet_reconnects_at_once_and_is_recorded():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.tick(100)
    h.answer_all()
    h.tick(60000)
    h.closed(reason="connection reset by peer (RST)", kind=fw.RST)   # a keepalive probe met it
    up = h.fwd.upstreams[0]
    eq(up.counters["probe_failures"], 1)
    eq(up.counters["rsts"], 1)
    eq(len(h.connects), 2)
    h.tick(100)
    h.connected()
    rec = up.recoveries[-1]
    eq((rec["kind"], rec["affected"], rec["query_rtts"]), ("rst", 0, 0))
    eq(rec["handshake_rtts"], 1.0)


def test_rst_under_a_query_replays_it_and_records_the_round_trips():
    h = Harness()
    h.query("w", make_query())
    h.connected()
    h.tick(100)
    h.answer_all()                             # srtt 100 ms
    h.query("c1", make_query("lost.test"))
    h.tick(100)
    h.closed(reason="connection reset by peer (RST)", kind=fw.RST)   # 1 RTT: the RST
    h.tick(100)
    h.connected()                              # 1 RTT: SYN+ClientHello / ServerHello (TFO + PSK)
    eq(len(h.outstanding()), 1, "replayed with the Finished")
    h.tick(100)
    h.answer_all()                             # 1 RTT: the answer
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    rec = h.fwd.upstreams[0].recoveries[-1]
    eq(rec["affected"], 1)
    eq(rec["query_rtts"], 3)
    eq(h.counter("replays", 0), 1)


def test_tcp_fastopen_off_in_the_config_is_off_in_the_connects_and_in_the_status():
    h = Harness(config=fw.ForwarderConfig(tcp_fastopen=False))
    h.query("c1", make_query())
    eq(h.fwd.upstreams[0].session.tfo_attempted, False, "the connect asks for no Fast Open")
    eq(h.fwd.status(h.clock.now)["upstreams"][0]["tfo_enabled"], False)
    on = Harness()
    eq(on.fwd.status(on.clock.now)["upstreams"][0]["tfo_enabled"], True)


def test_fast_open_and_resumption_are_counted_and_a_tfo_black_hole_turns_tfo_off():
    h = Harness()
    h.query("c1", make_query())
    eq(h.fwd.upstreams[0].session.tfo_attempted, True)
    h.run(h.fwd.connected(h.gen(), h.clock.now,
                          {"tfo": True, "resumption_offered": True, "resumed": True}))
    up = h.fwd.upstreams[0]
    eq((up.counters["tfo_used"], up.counters["resumptions_offered"],
        up.counters["resumptions_accepted"]), (1, 1, 1))
    h.closed(reason="connection reset by peer (RST)", kind=fw.RST)
    tfo_off = [text for text in h.logs if "Fast Open off" in text]
    eq(tfo_off, [], "a handshake that used TFO says nothing of turning it off")
    h.tick(1500)                               # the SYN with data got no answer...
    h.run(h.fwd.connected(h.gen(), h.clock.now, {"tfo": False}))
    ok(not up.use_tfo(h.clock.now), "Fast Open is off for this upstream")
    tfo_off = [text for text in h.logs if "Fast Open off" in text]
    eq(len(tfo_off), 1, "the user is told once, when it is turned off")
    h.closed(reason="connection reset by peer (RST)", kind=fw.RST)   # reconnects at once
    eq(up.session.tfo_attempted, False, "the next connect goes without TFO")


def test_keep_warm_sends_a_tiny_query_instead_of_letting_the_session_close():
    h = Harness(config=fw.ForwarderConfig(keep_warm=True))
    h.query("c1", make_query(opt=wire.Opt(1232)))
    h.connected()
    h.answer_all(keepalive_units=50)           # 5 s idle timeout
    h.tick(4600)
    sent = h.outstanding()
    eq(len(sent), 1, "a keep-warm query went out")
    eq(h.closes, [])
    h.answer_all(keepalive_units=50)
    eq(h.counter("keepwarm_queries", 0), 1)
    eq(h.counter("answers"), 1, "only the client's answer counts")
    h.tick(4600)
    eq(h.counter("keepwarm_queries", 0), 2, "and again before the next timeout")


def test_probes_are_counted_from_quiet_time():
    h = Harness()
    h.fwd.upstreams[0].probe_idle_ms = 1000
    h.query("c1", make_query())
    h.connected()
    h.answer_all()
    h.tick(5500)
    h.query("c2", make_query())
    eq(h.counter("probes_sent", 0), 5)


def test_garbled_stream_resets_the_session_and_replays():
    h = Harness()
    h.query("c1", make_query())
    h.connected()
    h.run(h.fwd.garbled(h.gen(), "broken stream: length prefix of 0", h.clock.now))
    eq(len(h.closes), 1)
    ok("broken stream" in h.closes[0][2], h.closes[0][2])
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_reload_keeps_sessions_of_unchanged_upstreams_and_replays_the_rest():
    h = Harness(names=("a", "b"))
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    a_gen, b_gen = h.gen(0), h.gen(1)
    h.query("c1", make_query())                # goes to "a" (index 0)
    eq(len(h.outstanding(0)), 1)
    # New config: "b" first and kept, "a" removed, "n" new.
    h.run(h.fwd.reconfigure(fw.ForwarderConfig(), ["b", "n"], h.clock.now))
    eq(h.fwd.upstreams[0].session.handle, b_gen, "b kept its session")
    eq(h.fwd.upstreams[0].index, 0)
    # "a" has no index in the new list: the shell must not look it up there
    ok((None, a_gen, "a removed from the configuration") in h.closes, "a's session closed")
    eq(h.fwd.upstreams[0].state, OPEN)
    replayed = h.sent.get((0, b_gen), [])
    eq(len(replayed), 1, "the query in flight on the removed upstream went to b")
    h.deliver(0, make_answer(replayed[0]), gen=b_gen)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq([i for i, g in h.connects[-1:]], [1], "the new upstream gets a session at once")
