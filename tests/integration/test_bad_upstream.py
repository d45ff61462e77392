"""An upstream that sends garbage, a message shorter than a header, an answer
with an ID nobody asked, or resets every connection: dprive resets that
session and the query is answered by the other upstream. The client never
sees the failure."""

import time

import pytest

from tests.tools import clients
from tests.tools.dprive_proc import upstream
from tests.tools.rogue_upstream import RogueUpstream


@pytest.mark.parametrize("mode, counter", [
    ("garbage", "bad_answers"),
    ("short", "bad_answers"),
    ("unknown-id", "unmatched"),
    ("reset", "failures"),
])
def test_misbehaving_upstream_is_reset_and_query_answered_elsewhere(make_dprive, unbound, pki,
                                                                      mode, counter):
    with RogueUpstream(pki, mode) as rogue:
        # The rogue comes first: with no RTT measured yet, it gets the first query.
        dp = make_dprive([upstream("rogue", rogue.port), upstream("good", unbound.tls_port)])
        for name, address in (("a.test", "192.0.2.1"), ("b.test", "192.0.2.2")):
            for tcp in (False, True):
                res = clients.kdig(name, "A", port=dp.port, tcp=tcp, timeout_s=3)
                assert res.rcode == "NOERROR" and res.addresses() == [address], res
        assert rogue.queries >= 1, "the rogue upstream was never asked: the test proves nothing"
        bad = dp.upstream_status("rogue")
        assert bad[counter] >= 1, bad
        assert bad["answers"] == 0, bad
        assert dp.upstream_status("good")["answers"] >= 1
        assert dp.counters()["servfail"] == 0


def test_silent_upstream_costs_one_rtt_derived_deadline_then_the_other_answers(
        make_dprive, unbound, pki):
    with RogueUpstream(pki, "silent") as rogue:
        dp = make_dprive([upstream("silent", rogue.port), upstream("good", unbound.tls_port)],
                         query_timeout_ms=5000, attempt_min_ms=300)
        started = time.monotonic()
        res = clients.kdig("a.test", "A", port=dp.port, timeout_s=6)
        waited = time.monotonic() - started
        assert res.rcode == "NOERROR" and res.addresses() == ["192.0.2.1"], res
        assert rogue.queries == 1, "the silent upstream got the first query"
        # Coarse bound: the retry is driven by the attempt deadline, not the 5 s query timeout.
        assert waited < 3.0, "answered after %.1f s" % waited
        assert dp.upstream_status("silent")["timeouts"] >= 1


def test_only_upstream_silent_client_gets_servfail_at_its_query_timeout(make_dprive, pki):
    with RogueUpstream(pki, "silent") as rogue:
        dp = make_dprive([upstream("silent", rogue.port)], query_timeout_ms=1500)
        started = time.monotonic()
        res = clients.kdig("a.test", "A", port=dp.port, timeout_s=6)
        waited = time.monotonic() - started
        assert res.rcode == "SERVFAIL", res
        assert 1.4 < waited < 3.5, "SERVFAIL after %.1f s, the query timeout is 1.5 s" % waited
        assert rogue.queries >= 1
