"""Two upstreams; one is killed (SIGKILL, so nothing is closed politely):
answers keep coming from the other, and the status shows what happened."""

import asyncio
import time

from tests.tools import clients
from tests.tools.dprive_proc import upstream
from tests.tools.unbound import is_q_answer, q_address, q_name


def _warm(dp, count=20):
    for i in range(count):
        q, resp = clients.udp_query(q_name(i), port=dp.port, timeout_s=3)
        assert is_q_answer(resp, i), resp


def _busiest(dp):
    ups = dp.status()["upstreams"]
    return max(ups, key=lambda u: u.get("answers", 0))


def test_upstream_killed_answers_continue(make_unbound, make_dprive):
    one = make_unbound(log_queries=False)
    two = make_unbound(log_queries=False)
    servers = {"one": one, "two": two}
    dp = make_dprive([upstream("one", one.tls_port), upstream("two", two.tls_port)])
    _warm(dp)

    victim = _busiest(dp)["name"]
    survivor = "two" if victim == "one" else "one"
    servers[victim].kill()

    # Every query after the kill is answered (kdig waits 5 s, no retries).
    failed = []
    started = time.monotonic()
    for i in range(20, 60):
        res = clients.kdig(q_name(i), "A", port=dp.port, tcp=bool(i % 2), timeout_s=5,
                           check=False)
        if res.addresses() != [q_address(i)]:
            failed.append(res)
    elapsed = time.monotonic() - started
    assert not failed, "%d of 40 queries failed after %s was killed; first: %r" % (
        len(failed), victim, failed[0])

    st = {u["name"]: u for u in dp.status()["upstreams"]}
    assert st[survivor]["answers"] >= 40, st[survivor]
    assert st[victim]["state"] != "open", st[victim]
    assert st[victim]["last_close_reason"], st[victim]
    print("40 queries after the kill took %.2f s; %s: %r" % (elapsed, victim, st[victim]))


def test_upstream_killed_during_burst(make_unbound, make_dprive):
    """Queries in flight on the killed upstream are sent again to the other
    one: the client sees no error."""
    one = make_unbound(log_queries=False)
    two = make_unbound(log_queries=False)
    servers = {"one": one, "two": two}
    dp = make_dprive([upstream("one", one.tls_port), upstream("two", two.tls_port)])
    _warm(dp, 5)
    victim = _busiest(dp)["name"]

    async def burst_with_kill():
        # 300 queries spread over about 150 ms; the kill lands in the middle
        task = asyncio.ensure_future(clients.udp_burst(
            dp.port, [q_name(i) for i in range(300)], sockets=3, timeout_s=8,
            batch=10, batch_pause_s=0.005))
        await asyncio.sleep(0.07)
        servers[victim].kill()
        return await task

    results = asyncio.run(burst_with_kill())
    wrong = [i for i, r in enumerate(results) if not is_q_answer(r, i)]
    assert not wrong, "%d of 300 unanswered or wrong after killing %s (first ids %s)" % (
        len(wrong), victim, wrong[:10])
    print("after the kill: %r" % dp.upstream_status(victim))


def test_both_upstreams_down_servfail_then_recover(make_unbound, make_dprive):
    """With every upstream gone the client gets SERVFAIL (not silence); when
    one comes back on the same port, answers resume without a restart."""
    one = make_unbound(log_queries=False)
    dp = make_dprive([upstream("one", one.tls_port)], backoff_max_s=1)
    _warm(dp, 3)
    one.kill()
    res = clients.kdig("a.test", port=dp.port, timeout_s=5, check=False)
    assert res.rcode == "SERVFAIL", res

    one.proc = None
    one.start()
    deadline = time.monotonic() + 10
    while True:
        res = clients.kdig("a.test", port=dp.port, timeout_s=3, check=False)
        if res.addresses() == ["192.0.2.1"]:
            break
        assert time.monotonic() < deadline, "no answer 10 s after the upstream came back: %r" % res
        time.sleep(0.3)

