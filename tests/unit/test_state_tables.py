# portable: runs under MicroPython too
"""The state machines (core/upstream_state.py, core/session_state.py) alone,
and the states the Forwarder walks an upstream through, by handle."""

from coreharness import Harness, make_answer, make_query
from testkit import eq, ok, raises

from dprive.core import session_state, upstream_state
from dprive.core import forwarder as fw
from dprive.core.upstream import Session, Upstream


def test_every_move_in_the_upstream_table_lands_on_a_known_state_and_others_are_refused():
    for (state, event), new in upstream_state.TRANSITIONS.items():
        ok(state in upstream_state.STATES and new in upstream_state.STATES, (state, event, new))
    up = Upstream(0, "one")
    eq(up.state, upstream_state.IDLE)
    with raises(upstream_state.IllegalUpstreamMove):
        upstream_state.move(up, upstream_state.UP)      # no handshake was under way
    eq(up.state, upstream_state.IDLE, "a refused move changes nothing")
    eq(upstream_state.move(up, upstream_state.CONNECT), upstream_state.CONNECTING)
    eq(upstream_state.move(up, upstream_state.UP), upstream_state.OPEN)
    eq(upstream_state.move(up, upstream_state.REPLACE), upstream_state.REPLACING)
    eq(upstream_state.move(up, upstream_state.KEEP_OLD), upstream_state.OPEN)
    with raises(upstream_state.IllegalUpstreamMove):
        upstream_state.move(up, upstream_state.KEEP_OLD)   # nothing being replaced


def test_a_session_handshakes_by_its_deadline_then_opens_and_nothing_leaves_closed():
    session = Session(7, 1000, 4000)
    eq((session.state, session.connect_deadline), (session_state.HANDSHAKING, 4000))
    session_state.move(session, session_state.UP)
    eq((session.state, session.connect_deadline), (session_state.OPEN, None))
    with raises(session_state.IllegalSessionMove):
        session_state.move(session, session_state.UP)
    session_state.move(session, session_state.END)
    with raises(session_state.IllegalSessionMove):
        session_state.move(session, session_state.END)


def test_an_alert_puts_the_upstream_in_replacing_until_the_resumed_session_is_up():
    h = Harness(config=fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0),
                transports=[("dtls",)])
    h.query("w", make_query())
    h.connected()
    h.answer_all()
    old = h.gen()
    up = h.fwd.upstreams[0]
    h.alert()
    eq(up.state, upstream_state.REPLACING)
    eq(up.previous.handle, old)
    h.closed(gen=old)                          # the kept old session dies meanwhile
    eq(up.state, upstream_state.CONNECTING, "only the new one is left, handshaking")
    h.connected()
    eq(up.state, upstream_state.OPEN)


def test_reload_matches_upstreams_by_key_not_by_place():
    h = Harness(names=("a", "b"), keys=["key-a", "key-b"])
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    b_handle = h.gen(1)
    h.run(h.fwd.reconfigure(fw.ForwarderConfig(), ["renamed b", "c"], h.clock.now, keys=["key-b", "key-c"]))
    up = h.fwd.upstreams[0]
    eq((up.name, up.key, up.session.handle), ("renamed b", "key-b", b_handle))
    eq(h.connects[-1], (1, h.gen(1)), "c is new and connects at once")
    eq(h.fwd.upstreams[1].key, "key-c")
    h.query("c1", make_query())
    h.deliver(0, make_answer(h.outstanding(0)[0]))
    ok(h.reply("c1"))


def test_a_handshake_the_server_spoke_in_forgets_the_stored_session_of_that_transport():
    h = Harness(names=("d",), transports=[("dtls", "tls")], keys=["key-d"])
    h.query("c1", make_query())
    h.connect_failed(0, "refused", heard=False)
    eq(h.forgotten, [], "a TCP refusal or a silent server: the ticket is not to blame")
    h.connect_failed(0, "handshake failure alert", heard=True)   # now over TLS
    eq(h.forgotten, [("key-d", "tls")])
    connect = fw.Connect(5, "key-d", False, "tls")
    eq(repr(connect), "Connect(handle=5, upstream='key-d', tfo=False, transport='tls', resume=True)")


def test_a_connect_failure_reported_for_a_session_up_is_its_close_and_forgets_nothing():
    """Its handshake completed, so the server took what we offered: the stored
    session is not what it choked on (and may hold the tickets it just sent)."""
    ends = []
    for failed in (False, True):
        h = Harness(names=("d",), transports=[("dtls", "tls")], keys=["key-d"])
        h.query("c1", make_query())
        h.connected()
        if failed:
            actions = h.run(h.fwd.connect_failed(h.gen(), "lost", h.clock.now, False, True))
        else:
            actions = h.run(h.fwd.closed(h.gen(), "lost", False, h.clock.now))
        eq(h.forgotten, [])
        ends.append([repr(a) for a in actions])
    eq(ends[0], ends[1], "the same actions as the close the shell would report")
    ok(ends[1], "a close like any: a new session, the query sent again")


def test_a_refused_move_names_who_what_and_when_for_the_bug_report():
    with raises(upstream_state.IllegalUpstreamMove) as info:
        upstream_state.move(Upstream(0, "quad9"), upstream_state.UP)
    text = str(info.value)
    ok("quad9" in text and upstream_state.UP in text and upstream_state.IDLE in text, text)
    session = Session(4242, 0, 3000)
    session_state.move(session, session_state.UP)
    with raises(session_state.IllegalSessionMove) as info:
        session_state.move(session, session_state.UP)
    text = str(info.value)
    ok("4242" in text and session_state.UP in text and session_state.OPEN in text, text)
