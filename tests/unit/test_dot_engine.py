"""The DoT engine (dprive.tls.dot.TlsClient) against a standard-library TLS
server, both on memory BIOs: no sockets. Certificates come from the test PKI
(openssl CLI)."""

import shutil
import ssl

import pytest

from dprive.tls.dot import AuthError, TlsClient, TlsError, make_context
from dprive.tls.spki import DerError, spki_der, spki_pin
from tests.tools import certs

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


class MemoryServer:
    def __init__(self, pki, max_version=None, wrong=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if max_version:
            ctx.maximum_version = max_version
        if wrong:
            ctx.load_cert_chain(pki.wrong_server_cert, pki.wrong_server_key)
        else:
            ctx.load_cert_chain(pki.server_chain, pki.server_key)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def receive(self, data):
        self.incoming.write(data)
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            pass   # the client's alert: the test looks at the client's side
        return self.outgoing.read()

    def read(self):
        try:
            return self.obj.read(65536)
        except ssl.SSLWantReadError:
            return b""


def handshake(client, server):
    """Move bytes both ways until the client is up and has the server's tickets."""
    to_server = client.start()
    for _ in range(10):
        to_client = server.receive(to_server)
        plaintext, just_up, closed = client.receive(to_client)
        to_server = client.pending_output()
        if just_up:
            tickets = server.receive(to_server)   # TLS 1.3: tickets follow our Finished
            assert client.receive(tickets) == (b"", False, False)
            return
    raise AssertionError("handshake did not finish")


def verifying(pki, min_version="1.2"):
    return make_context(str(pki.ca_cert), min_version, True)


@pytest.mark.parametrize("max_version, expected", [
    (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
    (None, "TLSv1.3"),
])
def test_handshake_then_data_both_ways(pki, max_version, expected):
    client = TlsClient(verifying(pki), certs.AUTH_NAME)
    server = MemoryServer(pki, max_version)
    handshake(client, server)
    assert client.info()["tls_version"] == expected
    server.receive(client.send(b"\x00\x03abc"))
    assert server.read() == b"\x00\x03abc"
    server.obj.write(b"\x00\x02ok")
    plaintext, just_up, closed = client.receive(server.outgoing.read())
    assert (plaintext, just_up, closed) == (b"\x00\x02ok", False, False)


def test_tls13_refused_when_minimum_is_13_and_server_offers_12(pki):
    client = TlsClient(verifying(pki, "1.3"), certs.AUTH_NAME)
    server = MemoryServer(pki, ssl.TLSVersion.TLSv1_2)
    with pytest.raises(TlsError):
        handshake(client, server)


def test_wrong_name_is_an_authentication_error(pki):
    client = TlsClient(verifying(pki), "other.test")
    with pytest.raises(AuthError, match="certificate rejected"):
        handshake(client, MemoryServer(pki))


def test_untrusted_ca_is_an_authentication_error(pki):
    client = TlsClient(verifying(pki), certs.AUTH_NAME)
    with pytest.raises(AuthError, match="certificate rejected"):
        handshake(client, MemoryServer(pki, wrong=True))


def test_right_pin_accepted_wrong_pin_rejected(pki):
    plain = make_context(str(pki.ca_cert), "1.2", False)
    good = TlsClient(plain, None, [pki.wrong_pin, pki.server_pin])
    handshake(good, MemoryServer(pki))
    assert good.peer_pin == pki.server_pin
    bad = TlsClient(plain, None, [pki.wrong_pin])
    with pytest.raises(AuthError, match="SPKI pin mismatch"):
        handshake(bad, MemoryServer(pki))


def test_close_notify_from_server_is_reported(pki):
    client = TlsClient(verifying(pki), certs.AUTH_NAME)
    server = MemoryServer(pki)
    handshake(client, server)
    try:
        server.obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    plaintext, just_up, closed = client.receive(server.outgoing.read())
    assert closed and plaintext == b""


def test_spki_pin_matches_openssl(pki):
    der = ssl.PEM_cert_to_DER_cert(pki.server_cert.read_text())
    assert spki_der(der) == certs.spki_der(pki.server_cert)
    assert spki_pin(der) == pki.server_pin


@pytest.mark.parametrize("cut", [0, 1, 5, 40, 200])
def test_spki_of_truncated_der_is_a_der_error(pki, cut):
    der = ssl.PEM_cert_to_DER_cert(pki.server_cert.read_text())
    with pytest.raises(DerError):
        spki_der(der[:cut])
