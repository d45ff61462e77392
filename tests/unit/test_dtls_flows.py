# portable: runs under MicroPython too
"""The draft's DNS-over-DTLS flows in the core, over scripted upstreams and a
fake clock, with round trips of 100 ms counted from the query's arrival."""

from coreharness import Harness, make_answer, make_query, rcode
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import message, wire
from dprive.core.upstream import OPEN

RTT = 100


def flights(h):
    """What the harness holds of the core's sends towards the server: sessions opened
    (each a ClientHello) and queries written, over every session."""
    return len(h.connects) + sum(len(sent) for sent in h.sent.values())


class RoundTrips:
    """Counts round trips on the wire, not on the clock: one for each turn of the
    server that answers a flight the core sent since the server's last turn.

    The clock stands still, so a step the core left to a timer (a handshake started
    late, a query held back until the next tick) leaves no flight, and `turn` fails.
    """

    def __init__(self, h):
        self.count = 0
        self.sent = 0           # flights the core sent since the server's last turn
        run = h.run

        def counting_run(actions):
            # Count what each batch of actions adds (answer_all empties h.sent first).
            before = flights(h)
            result = run(actions)
            self.sent += flights(h) - before
            return result
        h.run = counting_run

    def turn(self, what, server):
        ok(self.sent > 0, "the core had sent its next flight before the server's %s" % what)
        self.sent = 0
        self.count += 1
        server()


def dtls_harness(config=None, names=("gw",), transports=None):
    config = config or fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)
    return Harness(names=names, config=config,
                   transports=transports or [("dtls",)] * len(names))


def test_dtls_session_is_asked_for_and_queries_carry_no_tcp_options():
    h = dtls_harness()
    h.query("c1", make_query(opt=wire.Opt(4096)))
    eq(h.transports_used, ["dtls"])
    h.connected()
    sent = h.outstanding()[0]
    opt = wire.find_opt(sent)
    eq(opt.get(wire.OPT_TCP_KEEPALIVE), None, "edns-tcp-keepalive is for TCP only")
    ok(opt.udp_size <= message.DTLS_MAX_PAYLOAD, "answers must fit one datagram")
    eq(len(sent) % 128, 0, "padded like DoT")


def test_alert_starts_resumption_and_the_query_goes_with_the_finished_3_rtt():
    h = dtls_harness()
    h.warm(RTT)
    rtts = RoundTrips(h)
    h.query("c1", make_query("lost.test"))      # the server lost our state
    rtts.turn("alert", h.alert)                # 1 RTT: the query, the alert
    eq(len(h.connects), 2, "a resumption handshake at once")
    rtts.turn("ServerHello..Finished", h.connected)   # 1 RTT: ClientHello / ServerHello..Finished
    eq(len(h.outstanding()), 1, "replayed with the client's Finished")
    eq(h.replies.get("c1"), None)
    rtts.turn("answer", h.answer_all)          # 1 RTT: the answer
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq(rtts.count, 3)
    eq(h.counter("alerts", 0), 1)
    eq(h.closes[-1][2], "replaced by a resumed session")


def test_forged_alert_costs_no_query_the_old_session_still_answers():
    h = dtls_harness()
    h.warm(RTT)
    h.query("c1", make_query("x.test"))
    old_gen = h.gen()
    old_query = h.outstanding()[0]
    h.alert()                                  # forged: the server is fine
    new_gen = h.gen()
    ok(new_gen != old_gen, "a new session is being set up")
    h.deliver(0, make_answer(old_query), gen=old_gen)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR, "answered on the old session")
    h.connected()
    eq(h.outstanding(), [], "nothing replayed: the query was answered")
    eq(len(h.replies["c1"]), 1)


def test_resumption_failing_after_an_alert_keeps_the_old_session():
    h = dtls_harness()
    h.warm(RTT)
    old_gen = h.gen()
    h.alert()
    h.connect_failed(0, "handshake timed out")
    up = h.fwd.upstreams[0]
    eq((up.state, h.gen()), (OPEN, old_gen), "the alert was not authenticated")
    h.query("c1", make_query())
    eq(len(h.sent[(0, old_gen)]), 1, "the next query goes over the old session")


def test_a_burst_of_alerts_starts_one_handshake():
    # Alerts are not authenticated: a burst (forged, or one per query in flight)
    # must not start a handshake each, even once the new session is up.
    h = dtls_harness()
    h.warm(RTT)
    h.query("c1", make_query())
    for step in range(20):
        h.alert()
        if step == 2:
            h.connected()                      # the resumed session is up, the burst goes on
        h.tick(10)
    eq(len(h.connects), 2, "one resumption, whatever the number of alerts")
    ok(h.counter("alerts_ignored", 0) >= 17, "the rest are counted as ignored")
    h.tick(1000)
    h.alert()
    eq(len(h.connects), 3, "a second later an alert starts a handshake again")


def test_false_start_after_a_quiet_time_resumes_first_2_rtt():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=60000)
    h = dtls_harness(config)
    h.warm(RTT)
    h.tick(61000)
    rtts = RoundTrips(h)
    h.query("c1", make_query())
    eq(len(h.connects), 2, "the resumption ClientHello goes out at once")
    eq(h.sent.get((0, h.gen()), []), [], "no query risked on the quiet session")
    rtts.turn("ServerHello..Finished", h.connected)
    eq(h.replies.get("c1"), None)
    rtts.turn("answer", h.answer_all)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq(rtts.count, 2)
    eq(h.counter("false_starts", 0), 1)


def test_probe_while_quiet_unanswered_resets_and_reopens_at_once():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=25000, dtls_resume_after_ms=0,
                                attempt_min_ms=300)
    h = dtls_harness(config)
    h.warm(RTT)                                    # quiet since the answer at 100 ms
    h.tick(24100)                              # 25 s of quiet: a probe is due
    eq(len(h.outstanding()), 1, "a probe query went out")
    eq(h.counter("probes_sent", 0), 1)
    h.tick(1000)                               # nothing comes back
    eq(len(h.closes), 1)
    eq(len(h.connects), 2, "a new session before any client query needs it")
    h.connected()
    h.query("c1", make_query())
    eq(len(h.outstanding()), 1, "the next query goes out at once: 1 RTT")


def test_probe_answered_by_an_alert_starts_the_resumption():
    config = fw.ForwarderConfig(dtls_probe_interval_ms=25000, dtls_resume_after_ms=0)
    h = dtls_harness(config)
    h.warm(RTT)
    h.tick(24100)
    eq(len(h.outstanding()), 1, "a probe query went out")
    h.tick(RTT)
    h.alert()
    eq(len(h.connects), 2)
    h.connected()
    h.answer_all()                             # the replayed probe
    eq(h.counter("answers"), 1, "probes are not client answers")


def test_dtls_blocked_falls_back_to_tls_at_once():
    h = dtls_harness(transports=[("dtls", "tls")])
    h.query("c1", make_query())
    h.connect_failed(0, "DTLS handshake timed out")
    eq(h.transports_used, ["dtls", "tls"], "straight to DNS over TLS")
    up = h.fwd.upstreams[0]
    ok(up.status(h.clock.now)["dtls_blocked"], "the status says so")
    eq(up.state != "backoff", True, "the server is not at fault: no backoff")
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_dtls_that_worked_before_is_tried_again_soon_after_a_fallback():
    """The soak's gateway restart: its port refused the resumption handshake for a
    second. DTLS had worked, so TLS stands in for DTLS_RETRY_MS, not an hour."""
    from dprive.core.dtls_flows import DTLS_RETRY_MS
    h = dtls_harness(transports=[("dtls", "tls")])
    h.warm(RTT)
    h.closed(0, "server gone")                 # the restart: reconnected at once
    eq(h.transports_used, ["dtls", "dtls"])
    h.connect_failed(0, "Connection refused (ICMP)")
    eq(h.transports_used, ["dtls", "dtls", "tls"], "TLS at once, no query waits")
    h.connected()
    up = h.fwd.upstreams[0]
    ok(up.status(h.clock.now)["dtls_blocked"], "the status says so")
    h.tick(DTLS_RETRY_MS + 10)
    eq(h.transports_used[-1], "dtls", "DTLS again once the retry time is up")
    h.connected()
    h.query("c1", make_query())
    eq(len(h.outstanding()), 1)
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    eq(up.status(h.clock.now)["dtls_blocked"], False)


def test_dtls_that_never_worked_stays_on_tls_for_the_hour():
    h = dtls_harness(transports=[("dtls", "tls")])
    h.query("c1", make_query())
    h.connect_failed(0, "DTLS handshake timed out")
    h.connected()
    h.answer_all()
    h.tick(240 * 1000)
    eq(h.transports_used, ["dtls", "tls"], "a path that never let DTLS through keeps TLS")


def test_dtls_only_upstream_backs_off_when_dtls_fails():
    h = dtls_harness()
    h.query("c1", make_query())
    h.connect_failed(0, "DTLS handshake timed out")
    eq(h.fwd.upstreams[0].state, "backoff")
    eq(h.transports_used, ["dtls"])


def truncated(query):
    """What a DTLS server sends when the answer does not fit: header and question, TC."""
    return wire.truncate(make_answer(query, extra_txt=6), 100)


def test_truncated_dtls_answer_is_asked_again_over_tls_to_the_same_server():
    h = dtls_harness(transports=[("dtls", "tls")])
    h.query("c1", make_query(), udp=False)     # a TCP client: it can take the whole answer
    h.connected()
    dtls_gen = h.gen()
    h.deliver(0, truncated(h.outstanding()[0]))
    eq(h.replies.get("c1"), None, "not the truncated answer")
    eq(h.transports_used, ["dtls", "tls"], "a TLS session beside the DTLS one")
    stream = h.fwd.upstreams[0].stream
    h.run(h.fwd.connected(stream.handle, h.clock.now, {}))
    eq(h.gen(), dtls_gen, "the DTLS session stays the upstream's session")
    again = h.sent[(0, stream.handle)]
    eq(len(again), 1)
    ok(wire.find_opt(again[0]).get(wire.OPT_TCP_KEEPALIVE) is not None, "a TCP query this time")
    h.deliver(0, make_answer(again[0], extra_txt=6), gen=stream.handle)
    answer = h.reply("c1")
    eq(wire.parse_header(answer).ancount, 7, "the whole answer")
    eq(h.counter("truncated_over_dtls", 0), 1)


def test_udp_client_with_a_small_buffer_gets_the_truncated_answer_at_once():
    h = dtls_harness(transports=[("dtls", "tls")])
    h.query("c1", make_query(), udp=True)      # 512-byte buffer: TLS would not help it
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "TC: the client retries over TCP")
    eq(h.transports_used, ["dtls"])


def test_tls_beside_dtls_that_never_connects_hands_out_the_truncated_answer_at_its_deadline():
    config = fw.ForwarderConfig(connect_timeout_ms=3000, query_timeout_ms=5000,
                                dtls_probe_interval_ms=0, dtls_resume_after_ms=0)
    h = dtls_harness(transports=[("dtls", "tls")], config=config)
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    stream = h.fwd.upstreams[0].stream
    h.tick(2999)
    eq(h.replies.get("c1"), None, "still waiting for the TLS session")
    h.tick(1)                                  # a TCP black hole: no SYN-ACK, ever
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "the truncated answer, at the connect deadline")
    ok((0, stream.handle, "connect timeout") in h.closes, "the silent session is closed")
    eq(h.fwd.upstreams[0].stream, None)
    eq(h.fwd.upstreams[0].state, OPEN, "the DTLS session is unharmed")


def test_tls_beside_dtls_failing_hands_out_the_truncated_answer():
    h = dtls_harness(transports=[("dtls", "tls")])
    h.query("c1", make_query(), udp=False)
    h.connected()
    h.deliver(0, truncated(h.outstanding()[0]))
    stream = h.fwd.upstreams[0].stream
    h.run(h.fwd.connect_failed(stream.handle, "refused", h.clock.now))
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "better the truncated answer than none")
    eq(h.fwd.upstreams[0].state, OPEN, "the DTLS session is unharmed")
