"""The draft's DNS-over-TLS figures on the test network, one query after each fault.

Counts are round trips of 100 ms (latency / 100, rounded half up), against
the relay (answers as soon as it can) or against unbound, which may add one
round trip after a handshake (it holds its second ticket behind Nagle; the
draft's counts plus one are allowed there). Every answer must be the right
one: a recovery never hands the client an error.
"""

import pytest

from dprive.tls import mbedtls_lib
from tests.tools import dtls_engine_pick, flows


def _check(result, figures):
    if result.scenario.dtls:
        seen = "resumed %s, gateway on %s" % (result.status.get("resumed"), result.gateway_engine)
    else:
        seen = "TFO %s, PSK %s" % (result.wire and result.wire["syn_data"],
                                   result.wire and result.wire["psk_accepted"])
    who = "dprive" + ("/%s" % result.engine if result.scenario.dtls else "")
    figures.append("%-19s %-16s %6.1f ms = %d RTT%s  (%s)" % (
        result.scenario.key, who, result.latency_ms, result.rtts,
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


def _engine_or_skip(engine):
    if engine == dtls_engine_pick.MBEDTLS:
        why = mbedtls_lib.unavailable_reason()
        if why:
            pytest.skip("the mbedTLS client engine cannot run here: %s" % why)
    else:
        pytest.importorskip("OpenSSL", reason="the pyOpenSSL client engine needs pyOpenSSL")


@pytest.mark.parametrize("engine", dtls_engine_pick.ENGINES)
@pytest.mark.parametrize("key", [s.key for s in flows.SCENARIOS if s.dtls])
def test_dtls_flow_against_the_gateway(net, figures, key, engine):
    if not flows.gateway_python():
        pytest.skip("the DTLS rows need Debian's python3 with python3-openssl for the gateway "
                    "(its ticket keys survive a restart only on a shared libssl)")
    _engine_or_skip(engine)
    scenario = flows.BY_KEY[key]
    result = flows.run(net, scenario, "dprive", engine=engine)
    _check(result, figures)
    # The engine asked for is the one that carried the query (its library is mapped).
    assert result.engine == engine, result
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
