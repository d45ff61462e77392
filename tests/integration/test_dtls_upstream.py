"""dprive carrying queries over DNS over DTLS (RFC 8094) to `dprive gateway`
in front of the session's unbound, on loopback: answers, resumption, a
gateway that lost our state (it answers with an alert), and the fall back to
DNS over TLS when DTLS is blocked. Every test on each client engine
(dtls_engine mbedtls and pyopenssl, where it can run); the libmbedtls is
DPRIVE_MBEDTLS_LIBDIR's, inherited by the daemon."""

import signal
import time

import pytest

from dprive.tls import dtls_support, mbedtls_lib
from tests.tools import clients, common, older_pyopenssl
from tests.integration.conftest import TEST_OPTIONS
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.dot_relay import DotRelay
from tests.tools.gateway_proc import GatewayProcess
from tests.tools.unbound import BIG_NAME, big_txt_strings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["mbedtls", "pyopenssl"])
def client_engine(request):
    """The daemon's DTLS engine (its dtls_engine option)."""
    if request.param == "mbedtls":
        why = mbedtls_lib.unavailable_reason()
    else:
        why = dtls_support.probe(dtls_support.CLIENT).unavailable
    if why is not None:
        pytest.skip("%s cannot run the client here: %s" % (request.param, why))
    return request.param


@pytest.fixture
def make_dprive(make_dprive, client_engine):
    """conftest's make_dprive, with the engine of this test's parameter."""
    def make(upstreams, **options):
        options.setdefault("dtls_engine", client_engine)
        dp = make_dprive(upstreams, **options)
        if any("dtls" in u.get("transport", "tls").split() for u in upstreams):
            assert dp.status()["dtls"]["engine"] == client_engine, dp.status()["dtls"]
        return dp
    return make


def _ask(dp, name="a.test", address="192.0.2.1", tcp=False):
    res = clients.kdig(name, "A", port=dp.port, tcp=tcp, timeout_s=4)
    assert res.rcode == "NOERROR" and res.addresses() == [address], res


def test_queries_go_over_dtls_and_reconnects_resume(make_dprive, gateway, pki):
    dp = make_dprive([upstream("gw", gateway.port, transport="dtls", spki=[pki.server_pin])])
    _ask(dp)
    _ask(dp, "b.test", "192.0.2.2", tcp=True)
    up = dp.upstream_status("gw")
    assert up["transport"] == "dtls" and up["tls_version"] == "DTLSv1.2", up
    dp.control("reconnect")
    time.sleep(0.5)
    _ask(dp, "c.test", "192.0.2.3")
    up = dp.upstream_status("gw")
    assert up["resumptions_offered"] >= 1 and up["resumptions_accepted"] >= 1, up
    assert up["dtls_unavailable"] is None and dp.status()["dtls"]["notes"] == [], up
    gateway.wait_status(lambda s: s["counters"]["queries"] >= 3, what="the gateway to count 3 queries")


def test_gateway_that_lost_our_state_alerts_and_we_resume_without_a_failed_query(
        make_dprive, gateway, pki):
    dp = make_dprive([upstream("gw", gateway.port, transport="dtls", spki=[pki.server_pin])],
                     dtls_probe_interval_s="0", dtls_resume_after_s="0")
    _ask(dp)
    gateway.proc.kill()                        # no close_notify: the state is simply gone
    gateway.proc.wait(5)
    gateway.start()
    _ask(dp, "b.test", "192.0.2.2")            # alert -> new session -> answer
    up = dp.upstream_status("gw")
    assert up["alerts"] >= 1, up
    assert dp.counters()["servfail"] == 0
    assert "DTLS alert" in dp.log_text()


def test_dtls_blocked_falls_back_to_tls_on_the_same_server(make_dprive, make_unbound, pki):
    # unbound serves DoT on TCP port P; nothing answers DTLS on UDP port P.
    server = make_unbound()
    dp = make_dprive([upstream("both", server.tls_port, transport="dtls tls")],
                     connect_timeout_ms="1500")
    res = clients.kdig("a.test", "A", port=dp.port, timeout_s=6)
    assert res.rcode == "NOERROR" and res.addresses() == ["192.0.2.1"], res
    up = dp.upstream_status("both")
    assert up["dtls_blocked"] is True and up["transport"] == "tls", up
    assert up["dtls_fallbacks"] == 1, up
    assert "using DNS over TLS" in dp.log_text()


def test_dtls_needs_nothing_in_clear_and_a_wrong_pin_gets_no_query(make_dprive, gateway, pki,
                                                                  unique_name):
    dp = make_dprive([upstream("gw", gateway.port, transport="dtls", spki=[pki.wrong_pin])])
    name = unique_name("dtlspin")
    res = clients.kdig(name, "A", port=dp.port, timeout_s=6)
    assert res.rcode == "SERVFAIL", res
    assert "pin" in dp.log_text().lower()
    assert gateway.counters()["queries"] == 0


def test_answer_truncated_over_dtls_is_asked_again_over_tls(make_dprive, unbound, pki, tmp_path):
    """One server address, DTLS on UDP and TLS on TCP of the same port: the gateway
    and the project's DoT relay, both in front of unbound."""
    port = common.free_port()
    gateway = GatewayProcess(tmp_path / "gw", pki, unbound.plain_port, port=port)
    relay = DotRelay(tmp_path / "relay", pki, ("127.0.0.1", port), ("127.0.0.1", unbound.plain_port))
    with gateway, relay:
        dp = make_dprive([upstream("both", port, transport="dtls tls")])
        res = clients.kdig(BIG_NAME, "TXT", port=dp.port, tcp=True, timeout_s=6)
        assert res.rcode == "NOERROR" and not res.tc, res
        assert len(res.answers) == len(big_txt_strings()), res
        up = dp.upstream_status("both")
        assert up["truncated_over_dtls"] == 1 and up["transport"] == "dtls", up
        assert relay.connections(), "the whole answer came over TLS from the relay"


def test_reload_to_the_other_engine_moves_dtls_onto_it(make_dprive, client_engine, gateway, pki):
    other = "pyopenssl" if client_engine == "mbedtls" else "mbedtls"
    if other == "mbedtls" and mbedtls_lib.unavailable_reason() is not None:
        pytest.skip("libmbedtls does not load here")
    if other == "pyopenssl" and dtls_support.probe(dtls_support.CLIENT).unavailable is not None:
        pytest.skip("pyOpenSSL cannot run the client here")
    dp = make_dprive([upstream("gw", gateway.port, transport="dtls", spki=[pki.server_pin])])
    _ask(dp)
    dp.options["dtls_engine"] = other
    dp.write_config()
    dp.proc.send_signal(signal.SIGHUP)
    common.wait_until(lambda: dp.status()["dtls"]["engine"] == other, 5, what="the reload")
    dp.control("reconnect")
    _ask(dp, "b.test", "192.0.2.2")
    up = dp.upstream_status("gw")
    assert up["transport"] == "dtls" and up["dtls_unavailable"] is None, up
    assert "DTLS engine %s" % other in dp.log_text()


def test_no_libmbedtls_moves_dtls_tls_to_tls_and_says_why(tmp_path, pki, unbound, gateway):
    """dtls_engine mbedtls where libmbedtls does not load (DPRIVE_MBEDTLS_LIBDIR at an
    empty directory, as a router without the libmbedtls package): the daemon starts,
    'dtls tls' goes over TLS, 'dtls' alone stays down, and log, status and
    `dprive status` say that libmbedtls could not be loaded."""
    empty = tmp_path / "no-mbedtls"
    empty.mkdir()
    dp = DpriveProcess(tmp_path / "dp", pki.ca_cert,
                       [upstream("both", unbound.tls_port, transport="dtls tls"),
                        upstream("only", gateway.port, transport="dtls")],
                       # TLS on the ssl engine: without libmbedtls, tls_engine mbedtls cannot start
                       options=dict(TEST_OPTIONS, dtls_engine="mbedtls", tls_engine="openssl"))
    dp.extra_env[mbedtls_lib.LIBDIR_ENV] = str(empty)
    with dp:
        _ask(dp)
        why = "mbedtls: libmbedtls (3.6 or 2.28) cannot be loaded from %s" % empty
        both, only = dp.upstream_status("both"), dp.upstream_status("only")
        assert both["transport"] == "tls" and why in both["dtls_unavailable"], both
        assert why in only["dtls_unavailable"], only
        assert dp.status()["dtls"]["engine"] is None
        assert "DTLS unavailable: " + why in dp.log_text()
        text = dp.cli("status").stdout
        assert "DTLS unavailable (using TLS): " + why in text, text
    assert gateway.counters()["datagrams"] == 0


@pytest.mark.skipif(dtls_support.probe().versions.get("pyopenssl") is None,
                    reason="pyOpenSSL is not installed: nothing older to stand in for")
def test_pyopenssl_without_dtls_timer_moves_to_tls_and_says_why(tmp_path, pki, unbound, gateway):
    """pyOpenSSL before 23.1 (no Connection.DTLSv1_get_timeout) cannot run the client:
    the daemon starts anyway, 'dtls tls' goes over TLS, 'dtls' alone stays down, and
    the log, the status and `dprive status` name the missing method and its version."""
    older = older_pyopenssl.site_dir(tmp_path / "older", "Connection.DTLSv1_get_timeout")
    dp = DpriveProcess(tmp_path / "dp", pki.ca_cert,
                       [upstream("both", unbound.tls_port, transport="dtls tls"),
                        upstream("only", gateway.port, transport="dtls")],
                       options=dict(TEST_OPTIONS, dtls_engine="pyopenssl"))
    dp.extra_env["PYTHONPATH"] = str(older)
    with dp:
        _ask(dp)
        why = "lacks Connection.DTLSv1_get_timeout (pyOpenSSL 23.1.0)"
        both, only = dp.upstream_status("both"), dp.upstream_status("only")
        assert both["transport"] == "tls" and why in both["dtls_unavailable"], both
        assert why in only["dtls_unavailable"], only
        common.wait_until(lambda: why in (dp.upstream_status("only")["last_close_reason"] or ""),
                          5, what="the DTLS-only upstream to say why it is down")
        assert "DTLS unavailable: pyopenssl: pyOpenSSL" in dp.log_text()
        text = dp.cli("status").stdout
        assert "DTLS unavailable (using TLS): pyopenssl: pyOpenSSL" in text, text
        assert "DTLS unavailable (no transport left): pyopenssl: pyOpenSSL" in text, text
    assert gateway.counters()["datagrams"] == 0
