"""An upstream that sends garbage, a message shorter than a header, an answer
with an ID nobody asked, or resets every connection: dprive resets that
session and the query is answered by the other upstream. The client never
sees the failure."""

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
