"""The soak, short: steady load through dprive (TLS, and DTLS to the gateway) and
stubby while every fault of tests/tools/soak_faults.py takes its turn.

Structural checks only (no timing): dprive answers every query right through
every fault (0 SERVFAIL, 0 lost), each fault reached it (its status counters,
or its config, show it), and under a storm of forged RSTs its handshakes stay
bounded by its backoff. stubby runs beside it for the table (printed under
"netns figures"), with no assertion. `make soak` is the long version.
"""

import pytest

from tests.tools import soak, soak_report

WINDOW_S = 5.0
STORM_S = 8.0
DPRIVE_KINDS = ("dprive", "dprive-dtls")
NO_FAULT = ("baseline", "after-storm")
STORM_AFTER_MS = 250                # the storm lets each connection live this long
# dprive.core.upstream's design, written out so a change to it shows here:
YOUNG_LOSSES_BEFORE_BACKOFF = 3     # young deaths in a row before the backoff
BACKOFF_FIRST_MS = 500              # the least a backoff lasts


@pytest.fixture(scope="module")
def result(net):
    res = soak.run(net, window_s=WINDOW_S, rate=20, storm_s=STORM_S, storm_after_ms=STORM_AFTER_MS)
    net.reset_nat()
    return res


@pytest.fixture(scope="module")
def rows(result):
    return dict(((kind, fault.key), row) for kind, fault, row in result.rows())


def _kinds(result):
    kinds = [k for k in DPRIVE_KINDS if k in result.rig.forwarders]
    if "dprive-dtls" not in kinds:
        pytest.skip("the DTLS rows need Debian's python3 with python3-openssl for the gateway")
    return kinds


def test_table(result, figures):
    figures.append("soak (%g s windows, 20 q/s each):\n%s" % (WINDOW_S, soak_report.table(result)))


def test_dprive_answers_every_query_through_every_fault(result, rows):
    bad = []
    for kind in [k for k in DPRIVE_KINDS if k in result.rig.forwarders]:
        for (k, key), row in rows.items():
            if k != kind or not row.applies or key == "rst-storm":
                continue
            assert row.queries > 0, (kind, key)
            if row.servfail or row.lost or row.wrong:
                bad.append("%s %s: %d SERVFAIL, %d lost, %d wrong of %d" % (
                    kind, key, row.servfail, row.lost, row.wrong, row.queries))
    assert not bad, "\n".join(bad)


def test_every_fault_reached_dprive(result, rows):
    missed = []
    for kind in _kinds(result):
        for (k, key), row in rows.items():
            if k == kind and row.applies and key not in NO_FAULT and not row.effect_seen:
                missed.append("%s %s: %s" % (kind, key, row.effects))
    assert not missed, "faults that did not show in dprive's status:\n" + "\n".join(missed)


def test_the_forged_rst_closed_dprive_session(rows):
    row = rows[("dprive", "forged-rst")]
    assert any(e and "rsts +" in e for e in row.effects), row.effects


def test_the_forged_alert_started_a_dtls_resumption(result, rows):
    _kinds(result)
    row = rows[("dprive-dtls", "forged-alert")]
    assert any(e and "alerts +" in e for e in row.effects), row.effects


def test_a_rst_storm_costs_dprive_bounded_handshakes(result, rows):
    """Every connection is reset STORM_AFTER_MS after its SYN-ACK at the earliest;
    after YOUNG_LOSSES_BEFORE_BACKOFF young deaths each reset is followed by at
    least BACKOFF_FIRST_MS of backoff. So a cycle lasts at least the sum of the
    two, and the connects in the storm are bounded by it (an immediate
    reconnect after each RST makes about twice as many)."""
    row = rows[("dprive", "rst-storm")]
    reset = result.rig.storm_flows.get(str(soak.RELAY_PORTS["dprive"]), 0)
    assert reset >= YOUNG_LOSSES_BEFORE_BACKOFF, "the storm must have reset dprive's sessions"
    bound = STORM_S * 1000 / (STORM_AFTER_MS + BACKOFF_FIRST_MS) + YOUNG_LOSSES_BEFORE_BACKOFF + 1
    assert row.attempts <= bound, "%d connects in a %g s storm (bound %d)" % (
        row.attempts, STORM_S, bound)
    assert row.resumed >= row.full, "most of them resume (%d full, %d resumed)" % (
        row.full, row.resumed)
