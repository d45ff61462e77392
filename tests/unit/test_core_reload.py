# portable: runs under MicroPython too
"""A reload of a running Forwarder (core/reload.py) that changes a kept
upstream: disabled while it backs off, or allowed other transports than its
sessions use. The daemon's keys name the transports, so it never keeps an
upstream whose transports changed; the core must not depend on that."""

from coreharness import Harness, make_answer, make_query, rcode
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire
from dprive.core.upstream import BACKOFF, IDLE, OPEN

QUIET = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)


def reload(h, transports=None, enabled=None):
    names = [up.name for up in h.fwd.upstreams]
    keys = [up.key for up in h.fwd.upstreams]
    return h.run(h.fwd.reconfigure(h.fwd.config, names, h.clock.now, enabled, None, transports, keys))


def test_an_upstream_disabled_while_backing_off_opens_no_session_until_enabled_again():
    h = Harness(names=("a", "b"))
    h.run(h.fwd.start(h.clock.now))
    h.connected(1)
    h.connect_failed(0, "refused")
    a = h.fwd.upstreams[0]
    eq(a.state, BACKOFF)
    reload(h, enabled=[False, True])
    eq(a.state, IDLE, "its retry is dropped")
    connects = len(h.connects)
    h.tick(10 * h.fwd.config.backoff_max_ms)
    h.query("c1", make_query())
    eq(len(h.connects), connects, "no retry, no session for a disabled upstream")
    eq(a.session, None)
    h.answer_all(1)
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR, "the other one answers")
    reload(h, enabled=[True, True])
    eq(h.connects[-1], (0, h.gen(0)), "enabled again, it connects at once")


def test_a_kept_upstream_takes_its_new_transports_and_keeps_a_session_still_allowed():
    h = Harness(config=QUIET)
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    tls = h.gen()
    reload(h, transports=[("tls", "dtls")])
    eq(h.fwd.upstreams[0].transports, ("tls", "dtls"))
    eq(h.fwd.status(h.clock.now)["upstreams"][0]["transports"], ["tls", "dtls"])
    eq((h.closes, h.gen(), h.fwd.upstreams[0].state), ([], tls, OPEN), "TLS is still allowed")


def test_a_session_on_a_transport_no_longer_allowed_ends_and_its_queries_go_on_a_new_one():
    h = Harness(config=QUIET)
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    tls = h.gen()
    h.query("c1", make_query())
    eq(len(h.outstanding()), 1)
    actions = reload(h, transports=[("dtls",)])
    eq([c[:2] for c in h.closes], [(0, tls)], "the TLS session is closed")
    said = [a for a in actions if isinstance(a, fw.Log) and "no longer allowed" in a.text]
    eq([a.level for a in said], [fw.INFO], "one INFO line says why")
    eq(h.fwd.status(h.clock.now)["upstreams"][0]["last_close_reason"], "TLS no longer allowed")
    eq(h.transports_used, ["tls", "dtls"], "and a DTLS one opened at once")
    eq(h.fwd.upstreams[0].transports, ("dtls",))
    h.connected()
    eq(len(h.outstanding()), 1, "the query in flight went out again on it")
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_a_handshake_on_a_transport_no_longer_allowed_is_given_up_for_one_allowed():
    h = Harness(config=QUIET)
    h.query("c1", make_query())
    connecting = h.gen()
    reload(h, transports=[("dtls",)])
    eq([c[:2] for c in h.closes], [(0, connecting)])
    eq(h.transports_used, ["tls", "dtls"])
    h.connected()
    h.answer_all()
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR, "the queued query went on the DTLS session")


def test_the_tls_session_beside_dtls_ends_when_tls_is_no_longer_allowed():
    h = Harness(config=QUIET, transports=[("dtls", "tls")])
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    dtls = h.gen()
    h.query("c1", make_query("big.test"), udp=False)
    h.deliver(0, wire.truncate(make_answer(h.outstanding()[-1], extra_txt=6), 100))
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    eq(h.replies.get("c1"), None, "asked again over TLS")
    reload(h, transports=[("dtls",)])
    eq([c[:2] for c in h.closes], [side], "the TLS session goes, the DTLS one stays")
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC, "its client gets the truncated answer at once")
    up = h.fwd.upstreams[0]
    eq((up.stream, up.session.handle, up.state), (None, dtls, OPEN))


def test_an_upstream_disabled_under_a_query_asked_again_over_tls_hands_out_its_truncated_answer():
    h = Harness(names=("d", "other"), config=QUIET, transports=[("dtls", "tls"), ("tls",)],
                enabled=[True, False])
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    h.query("c1", make_query("big.test"), udp=False)
    h.deliver(0, wire.truncate(make_answer(h.outstanding()[-1], extra_txt=6), 100))
    side = h.connects[-1]
    h.connected(side[0], gen=side[1])
    reload(h, enabled=[False, True])
    ok(side in [c[:2] for c in h.closes], "its TLS session is closed with the rest")
    ok(wire.parse_header(h.reply("c1")).flags & wire.TC,
       "its client gets the truncated answer at once, not SERVFAIL at the query timeout")


def test_a_resumption_under_way_on_dtls_no_longer_allowed_ends_with_the_kept_session():
    h = Harness(config=QUIET, transports=[("dtls", "tls")])
    h.query("w", make_query("warm.test"))
    h.connected()
    h.answer_all()
    old = h.gen()
    h.query("c1", make_query())
    h.alert()
    resumed = h.gen()
    reload(h, transports=[("tls",)])
    eq(sorted(c[:2] for c in h.closes), [(0, old), (0, resumed)], "both DTLS sessions close")
    ok("one: DTLS no longer allowed; a new session" in h.logs)
    eq((h.transports_used[-1], h.fwd.upstreams[0].previous), ("tls", None))
    h.connected()
    eq(h.answer_all(), 1, "the query went out once, over TLS")
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
