"""DNS over DTLS between OpenSSL and a second DTLS stack, mbedTLS (through
python-mbedtls), carrying real DNS on loopback:

- dprive's client (pyOpenSSL) against a DNS-over-DTLS server on mbedTLS
  (tests/tools/mbedtls_peer.py, a thread of this process) that forwards each
  query to the session's unbound over UDP;
- an mbedTLS client against `dprive gateway` in front of that unbound, with
  the cookie exchange the gateway demands.

Skipped when python-mbedtls cannot be imported (requirements-dev.txt pins it).
"""

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tests.tools import clients, mbedtls_peer
from tests.tools.dprive_proc import upstream

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(mbedtls_peer.unavailable_reason() is not None,
                       reason=str(mbedtls_peer.unavailable_reason())),
]

EXPECTED = {"a.test": "192.0.2.1", "b.test": "192.0.2.2", "c.test": "192.0.2.3"}


# None: mbedTLS's own choice (it picks by its preference, ChaCha20-Poly1305
# first, over OpenSSL's, which lists AES-256-GCM first); then AES-GCM forced.
SERVER_CIPHERS = {
    "mbedtls-choice": None,
    "aes128-gcm": ("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",),
}


@pytest.fixture(params=sorted(SERVER_CIPHERS))
def mbed_server(request, pki, unbound):
    server = mbedtls_peer.MbedDtlsServer(pki.server_chain, pki.server_key,
                                         mbedtls_peer.forward_udp(unbound.plain_port),
                                         ciphers=SERVER_CIPHERS[request.param])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _ask(dp, name, tcp=False):
    res = clients.kdig(name, "A", port=dp.port, tcp=tcp, timeout_s=4)
    assert res.rcode == "NOERROR" and res.addresses() == [EXPECTED[name]], res
    return res


def _openssl_name(mbedtls_name):
    """OpenSSL's name of a TLS 1.2 suite from mbedTLS's, for the suites used here:
    TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 -> ECDHE-ECDSA-AES128-GCM-SHA256."""
    name = mbedtls_name.replace("TLS-", "", 1).replace("-WITH-", "-").replace("AES-", "AES")
    return name.replace("POLY1305-SHA256", "POLY1305")


def _addresses(response):
    return sorted(rr.address for rrset in response.answer for rr in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def test_dprive_openssl_client_against_an_mbedtls_dtls_server(make_dprive, mbed_server, pki):
    # pyOpenSSL: under dtls_engine auto the client would run on libmbedtls itself
    dp = make_dprive([upstream("mbed", mbed_server.port, transport="dtls",
                               spki=[pki.server_pin])], dtls_engine="pyopenssl")
    _ask(dp, "a.test")
    _ask(dp, "b.test", tcp=True)            # TCP from the stub, DTLS upstream all the same
    _ask(dp, "c.test")

    up = dp.upstream_status("mbed")
    assert up["transport"] == "dtls" and up["tls_version"] == "DTLSv1.2", up
    counters, sessions, errors = mbed_server.snapshot()
    assert errors == [], errors
    # mbedTLS demands the cookie of every new client, and OpenSSL answered it.
    assert counters["hello_verify_requests"] >= 1, counters
    assert counters["handshakes"] >= 1 and counters["queries"] >= 3, counters
    assert counters["answers"] == counters["queries"], counters
    (version, cipher), = set(sessions.values())
    assert version is mbedtls_peer.tls.DTLSVersion.DTLSv1_2, sessions
    assert up["cipher"] == _openssl_name(cipher), (up, sessions)    # both ends agree
    if mbed_server.ciphers:
        assert cipher in mbed_server.ciphers, sessions
    assert up["resumed"] is False, up

    # A new session: dprive closes the old one with close_notify and offers to
    # resume; this mbedTLS server keeps no session cache and has no ticket
    # keys, so it declines and a full handshake (cookie first) follows.
    dp.control("reconnect")
    _ask(dp, "a.test")
    up = dp.upstream_status("mbed")
    assert up["resumptions_offered"] >= 1 and up["resumptions_accepted"] == 0, up
    assert up["transport"] == "dtls" and up["tls_version"] == "DTLSv1.2", up
    counters, sessions, errors = mbed_server.snapshot()
    assert errors == [], errors
    assert counters["close_notifies"] == 1, counters
    assert counters["handshakes"] == 2 and counters["hello_verify_requests"] == 2, counters
    assert counters["answers"] == counters["queries"] >= 4, counters
    assert dp.counters()["servfail"] == 0


def test_mbedtls_dtls_client_against_dprive_gateway(gateway, pki):
    with mbedtls_peer.MbedDtlsClient(pki.ca_cert, pki.auth_name, gateway.port) as client:
        client.handshake()
        assert client.version() is mbedtls_peer.tls.DTLSVersion.DTLSv1_2
        assert client.cipher().startswith("TLS-ECDHE-ECDSA-"), client.cipher()
        # require_cookie: the gateway's stateless HelloVerifyRequest, then a
        # second ClientHello carrying the cookie.
        assert client.hello_verify_requests_seen == 1, vars(client)
        assert client.client_hellos_sent == 2, vars(client)
        for name, address in sorted(EXPECTED.items()):
            query = dns.message.make_query(name, "A", use_edns=0, payload=1232)
            response = dns.message.from_wire(client.query(query.to_wire()))
            assert response.id == query.id
            assert response.rcode() == dns.rcode.NOERROR, response
            assert _addresses(response) == [address], response
    status = gateway.wait_status(lambda s: s["counters"]["queries"] >= len(EXPECTED),
                                 what="the gateway to count the queries")
    counters = status["counters"]
    assert counters["cookies_sent"] == 1, counters
    assert counters["handshakes"] == 1 and counters["handshakes_resumed"] == 0, counters
    assert counters.get("cookies_bad", 0) == 0, counters
