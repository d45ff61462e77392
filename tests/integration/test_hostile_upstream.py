"""A hostile DoT upstream beside a good one (tests/tools/hostile_upstream.py),
one fault at a time: every client gets the right answer (the good upstream's),
an answer for another question never reaches a client, and the fault is
counted on the hostile upstream and logged with its cause."""

import pytest

from tests.tools import clients
from tests.tools.dprive_proc import upstream
from tests.tools.hostile_upstream import FAULTS, HostileUpstream

# fault -> (the hostile upstream's counter that must grow, what its log line must say)
EXPECTED = {
    "garbage_bytes": ("failures", "TLS record error"),
    "bad_record": ("failures", "TLS record error"),
    "wrong_id": ("unmatched", "answer with unknown ID"),
    "long_prefix": ("timeouts", "no answer within"),
    "short_prefix": ("bad_answers", "bad answer: message ends"),
    "other_name": ("bad_answers", "answer is for another question"),
    "other_type": ("bad_answers", "answer is for another question"),
    "huge": ("bad_answers", "answer is for another question"),
    "abrupt_close": ("rsts", "RST"),
    "silence": ("timeouts", "no answer within"),
    "slow_drip": ("unmatched", "answer with unknown ID"),
}

GOOD = [("a.test", "A", "192.0.2.1"), ("b.test", "A", "192.0.2.2"), ("a.test", "AAAA", "2001:db8::1"),
        ("c.test", "A", "192.0.2.3")]


def test_every_fault_has_an_expectation():
    assert sorted(EXPECTED) == sorted(FAULTS)


@pytest.mark.parametrize("fault", FAULTS)
def test_hostile_upstream_fault_counted_logged_and_client_answered_right(make_dprive, unbound, pki,
                                                                         fault):
    counter, cause = EXPECTED[fault]
    with HostileUpstream(pki, honest_share=0.0, faults=(fault,)) as hostile:
        # The hostile one comes first: with no RTT measured yet it gets the first query.
        dp = make_dprive([upstream("hostile", hostile.port), upstream("good", unbound.tls_port)],
                         attempt_min_ms=200)
        for name, rdtype, address in GOOD:
            for tcp in (False, True):
                res = clients.kdig(name, rdtype, port=dp.port, tcp=tcp, timeout_s=3)
                assert res.rcode == "NOERROR" and res.addresses() == [address], res.describe()
                assert "evil.test" not in res.stdout and "203.0.113.66" not in res.stdout
        assert hostile.faults[fault] >= 1, "the hostile upstream was never asked: the test proves nothing"
        bad = dp.upstream_status("hostile")
        assert bad[counter] >= 1, bad
        assert bad["answers"] == 0, bad
        assert dp.counters()["servfail"] == 0
        log = dp.log_text()
        lines = [line for line in log.splitlines() if "hostile:" in line and cause in line]
        assert lines, "no log line of the hostile upstream says %r:\n%s" % (cause, dp.log_tail(30))
        assert dp.running()
