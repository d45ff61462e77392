# portable: runs under MicroPython too
"""Recovery edges of a reload (core/reload.py), each pinning a mutant of issue
12's run 2 that no test killed: a kept upstream disabled under a query, one
removed while a resumed session replaces its kept one, a removed upstream's
query with a copy in flight elsewhere (not sent again), an upstream added
first (those after it kept), a kept upstream in backoff (it waits out its
retry), a quiet session on a transport no longer allowed (replaced at once),
and the summary line a user reads."""

from coreharness import Harness, make_answer, make_query, rcode
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import wire
from dprive.core.upstream import BACKOFF, CONNECTING, REPLACING

QUIET = fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)


def test_disabling_a_kept_upstream_with_a_session_closes_it_and_its_queries_go_to_the_other():
    h = Harness(names=("a", "b"))
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    h.fwd.upstreams[1].rtt.timed_out()       # a is preferred
    h.query("c1", make_query())
    a_session = h.gen(0)
    eq(len(h.outstanding(0)), 1)
    names = [up.name for up in h.fwd.upstreams]
    h.run(h.fwd.reconfigure(h.fwd.config, names, h.clock.now, [False, True]))
    a = h.fwd.upstreams[0]
    eq([c[:2] for c in h.closes], [(0, a_session)], "the session of the disabled one closes")
    eq((a.session, a.enabled), (None, False))
    eq(h.answer_all(1), 1, "its query went to b")
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)
    ok("configuration reloaded: 2 upstreams kept with their sessions, 0 new, 0 removed" in h.logs,
       "the summary a user reads in the log")


def test_removing_an_upstream_while_a_resumed_session_replaces_its_kept_one_closes_both():
    h = Harness(names=("a", "b"), config=QUIET, transports=[("dtls",), ("tls",)])
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    h.connected(1)
    old = h.gen(0)
    h.alert(0)
    resumed = h.gen(0)
    eq(h.fwd.upstreams[0].state, REPLACING)
    h.run(h.fwd.reconfigure(h.fwd.config, ["b", "n"], h.clock.now, transports=[("tls",), ("tls",)]))
    eq(sorted(c[1] for c in h.closes), sorted([old, resumed]), "the kept one and its successor")
    ok("configuration reloaded: 1 upstreams kept with their sessions, 1 new, 1 removed" in h.logs, h.logs)


def test_removing_an_upstream_resends_only_the_queries_with_no_other_attempt_in_flight():
    h = Harness(names=("a", "b", "c"))
    h.run(h.fwd.start(h.clock.now))
    for index in range(3):
        h.connected(index)
    h.fwd.upstreams[1].rtt.timed_out()       # a is preferred, then b, then c
    for _ in range(3):
        h.fwd.upstreams[2].rtt.timed_out()
    h.query("c0", make_query("zero.test"))
    h.query("c1", make_query("first.test"))
    h.tick(100)
    h.deliver(0, make_answer(h.outstanding(0)[0]))   # a is alive: c0 answered, c1 not
    while not h.outstanding(1):
        h.tick(50)                           # c1 is overdue on a: also sent to b
    eq((len(h.outstanding(1)), len(h.outstanding(2))), (1, 0))
    b, c = h.gen(1), h.gen(2)
    h.run(h.fwd.reconfigure(h.fwd.config, ["b", "c"], h.clock.now, keys=["b", "c"]))

    def sent_to(handle):
        return [m for (_, got), msgs in h.sent.items() if got == handle for m in msgs]

    eq((len(sent_to(b)), len(sent_to(c))), (1, 0), "b's copy of c1 is enough: no new copy to c")
    h.deliver(0, make_answer(sent_to(b)[0]))
    eq(rcode(h.reply("c1")), wire.RCODE_NOERROR)


def test_a_reload_adding_an_upstream_first_keeps_those_after_it_and_their_sessions():
    h = Harness(names=("a",), keys=["a"])
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    a = h.gen(0)
    h.run(h.fwd.reconfigure(h.fwd.config, ["n", "a"], h.clock.now, keys=["n", "a"]))
    eq([up.key for up in h.fwd.upstreams], ["n", "a"])
    eq((h.gen(1), h.closes), (a, []), "a keeps its session")
    ok("configuration reloaded: 1 upstreams kept with their sessions, 1 new, 0 removed" in h.logs, h.logs)


def test_a_reload_leaves_a_kept_upstream_in_backoff_to_wait_out_its_retry():
    h = Harness(names=("a", "b"))
    h.run(h.fwd.start(h.clock.now))
    h.connected(1)
    h.connect_failed(0, "refused")
    a = h.fwd.upstreams[0]
    retry_at = a.retry_at
    connects = len(h.connects)
    h.run(h.fwd.reconfigure(h.fwd.config, ["a", "b"], h.clock.now))
    eq((a.state, a.retry_at, len(h.connects)), (BACKOFF, retry_at, connects), "no connect before its retry")


def test_a_quiet_session_on_a_transport_no_longer_allowed_is_replaced_at_once():
    h = Harness(config=QUIET)
    h.run(h.fwd.start(h.clock.now))
    h.connected()
    tls = h.gen()
    h.run(h.fwd.reconfigure(h.fwd.config, ["one"], h.clock.now, transports=[("dtls",)]))
    eq([c[:2] for c in h.closes], [(0, tls)])
    eq((h.transports_used, h.fwd.upstreams[0].state), (["tls", "dtls"], CONNECTING),
       "no query waits for it: the new session opens now")
