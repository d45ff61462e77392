"""The bench's third forwarder (tests/tools/unbound_forwarder.py): unbound
forwarding over DoT with the certificate checked, and no answer from a cache,
so that bench/bench.py compares it with dprive (which has no cache) fairly."""

from tests.tools import clients
from tests.tools.unbound import q_address
from tests.tools.unbound_forwarder import UnboundForwarder


def counters(server):
    stats = server.stats()
    return {k: stats["total.num." + k] for k in ("queries", "cachehits", "cachemiss")}


def test_forwards_over_dot_and_answers_nothing_from_a_cache(tmp_path, pki, make_unbound):
    upstream = make_unbound(control=True, log_queries=False)
    fwd = UnboundForwarder(tmp_path / "fwd", pki, upstream.tls_port)
    with fwd:
        up0, fwd0 = upstream.stats(), counters(fwd)
        for _ in range(3):      # the same name in the same second: a cache would answer
            res = clients.kdig("q7.test", port=fwd.port)
            assert res.rcode == "NOERROR" and res.addresses() == [q_address(7)], res.describe()
        up1, fwd1 = upstream.stats(), counters(fwd)
    assert fwd1["queries"] - fwd0["queries"] == 3
    assert fwd1["cachehits"] == fwd0["cachehits"]
    assert fwd1["cachemiss"] - fwd0["cachemiss"] == 3
    # all three reached the upstream, over TLS
    assert up1["total.num.queries"] - up0["total.num.queries"] == 3
    assert up1["num.query.tls"] - up0["num.query.tls"] == 3


def test_refuses_an_upstream_with_the_wrong_name(tmp_path, pki, make_unbound):
    upstream = make_unbound(control=True, log_queries=False)
    fwd = UnboundForwarder(tmp_path / "fwd", pki, upstream.tls_port, auth_name="wrong.test")
    with fwd:
        res = clients.kdig("q7.test", port=fwd.port, timeout_s=3)
    assert res.rcode == "SERVFAIL", res.describe()
