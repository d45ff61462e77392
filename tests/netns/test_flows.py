"""The draft's DNS-over-TLS figures on the test network, one query after each fault.

Counts are round trips of 100 ms (latency / 100, rounded half up), against
the relay (answers as soon as it can) or against unbound, which may add one
round trip after a handshake (it holds its second ticket behind Nagle; the
draft's counts plus one are allowed there). Every answer must be the right
one: a recovery never hands the client an error.
"""

import pytest

from tests.tools import flows


def _check(result, figures):
    if result.scenario.dtls:
        seen = "resumed %s" % result.status.get("resumed")
    else:
        seen = "TFO %s, PSK %s" % (result.wire and result.wire["syn_data"],
                                   result.wire and result.wire["psk_accepted"])
    figures.append("%-19s dprive %6.1f ms = %d RTT%s  (%s)" % (
        result.scenario.key, result.latency_ms, result.rtts,
        " after the %d ms deadline" % result.deadline_ms if result.deadline_ms else "", seen))
    assert result.correct, "the client must get the right answer, got %r" % (result,)


@pytest.mark.parametrize("key", [s.key for s in flows.SCENARIOS
                                 if s.target not in ("unbound",) + flows.DTLS_TARGETS])
def test_flow_against_the_relay(net, figures, key):
    scenario = flows.BY_KEY[key]
    result = flows.run(net, scenario, "dprive")
    _check(result, figures)
    if key == "cold":
        # dprive opens its session at start: a query sent as soon as it listens
        # waits for what is left of TCP + TLS, at most the whole of it.
        assert 1 <= result.rtts <= scenario.expect, result
    else:
        assert result.rtts == scenario.expect, result


@pytest.mark.parametrize("key", [s.key for s in flows.SCENARIOS if s.target == "unbound"])
def test_flow_against_unbound(net, figures, key):
    scenario = flows.BY_KEY[key]
    result = flows.run(net, scenario, "dprive")
    _check(result, figures)
    # scenario.expect already holds unbound's extra round trip where a handshake precedes.
    assert scenario.expect - 1 <= result.rtts <= scenario.expect, result


@pytest.mark.parametrize("key", [s.key for s in flows.SCENARIOS if s.dtls])
def test_dtls_flow_against_the_gateway(net, figures, key):
    if not flows.gateway_python():
        pytest.skip("the DTLS rows need Debian's python3 with python3-openssl for the gateway "
                    "(its ticket keys survive a restart only on a shared libssl)")
    scenario = flows.BY_KEY[key]
    result = flows.run(net, scenario, "dprive")
    _check(result, figures)
    assert result.rtts == scenario.expect, result
    assert result.status["transport"] == "dtls", result.status
    if scenario.fault is not None and key != "dtls-nat-same":
        assert result.status["resumptions_accepted"] >= 1, "the recovery should resume: %r" % (
            result.status,)


def test_reconnect_rides_in_the_syn_and_resumes_with_psk(net):
    """The capture of the idle row: SYN with the ClientHello, pre_shared_key
    offered in it and accepted in the ServerHello."""
    if not flows.Capture.available():
        pytest.skip("tshark is not installed (apt-get install tshark)")
    result = flows.run(net, flows.BY_KEY["idle"], "dprive", name="dprive-capture")
    assert result.correct, result
    assert result.wire["syn_data"] >= 1, "no SYN carried data: %r" % (result.wire,)
    assert result.wire["psk_offered"] >= 1, "no ClientHello offered a PSK: %r" % (result.wire,)
    assert result.wire["psk_accepted"] >= 1, "the server did not accept the PSK: %r" % (result.wire,)
    assert result.status["tfo_used"] >= 1 and result.status["resumptions_accepted"] >= 1, result.status
