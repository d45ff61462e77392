"""The DoT engines (tls/dot.py on the standard library's ssl, tls/dot_mbedtls.py
on libmbedtls) against a standard-library TLS server, both on memory BIOs: no
sockets. For the mbedTLS engine the server is the other stack; which libmbedtls
runs is DPRIVE_MBEDTLS_LIBDIR's (tls/mbedtls_lib.py), so run this module on
2.28 and on 3.6. Certificates come from the test PKI (openssl CLI)."""

import shutil
import ssl
import subprocess
import sys

import pytest

from dprive.tls import dot, mbedtls_lib
from dprive.tls.engine_api import AuthError, TlsError
from dprive.tls.sessions import SessionStore
from dprive.tls.spki import DerError, spki_der, spki_pin
from tests.tools import certs

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(params=["openssl", "mbedtls"])
def engine(request):
    """Every engine test on both engines: the engine's module."""
    if request.param == "mbedtls":
        why = mbedtls_lib.unavailable_reason()
        if why is not None:
            pytest.skip("libmbedtls: %s" % why)
        from dprive.tls import dot_mbedtls
        return dot_mbedtls
    return dot


def tls13(engine):
    """Whether this engine speaks TLS 1.3 here (mbedTLS 2.28 does not)."""
    if engine is dot:
        return True
    return engine.has_tls13(mbedtls_lib.load())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


def server_context(pki, max_version=None, wrong=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if max_version:
        ctx.maximum_version = max_version
    if wrong:
        ctx.load_cert_chain(pki.wrong_server_cert, pki.wrong_server_key)
    else:
        ctx.load_cert_chain(pki.server_chain, pki.server_key)
    return ctx


class MemoryServer:
    def __init__(self, pki, max_version=None, wrong=False, context=None):
        self.context = context or server_context(pki, max_version, wrong)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = self.context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def again(self):
        """Another server on the same context: it takes the tickets this one issued."""
        return MemoryServer(None, context=self.context)

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


def feed(client, data, piecewise):
    """client.receive(data), at once or one byte at a time (TCP may cut anywhere)."""
    if not piecewise:
        return client.receive(data)
    plaintext, up, closed = b"", False, False
    for i in range(len(data)):
        got = client.receive(data[i:i + 1])
        plaintext, up, closed = plaintext + got[0], up or got[1], closed or got[2]
    return plaintext, up, closed


def handshake(client, server, piecewise=False):
    """Move bytes both ways until the client is up and has the server's tickets."""
    to_server = client.start()
    for _ in range(10):
        to_client = server.receive(to_server)
        plaintext, just_up, closed = feed(client, to_client, piecewise)
        to_server = client.pending_output()
        if just_up:
            tickets = server.receive(to_server)   # TLS 1.3: tickets follow our Finished
            assert feed(client, tickets, piecewise) == (b"", False, False)
            return
    raise AssertionError("handshake did not finish")


def verifying(engine, pki, min_version="1.2"):
    return engine.make_context(str(pki.ca_cert), min_version, True)


@pytest.mark.parametrize("piecewise", [False, True])
@pytest.mark.parametrize("max_version, expected", [
    (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
    (None, "TLSv1.3"),
])
def test_handshake_then_data_both_ways(engine, pki, max_version, expected, piecewise):
    if expected == "TLSv1.3" and not tls13(engine):
        expected = "TLSv1.2"
    client = engine.TlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(pki, max_version)
    handshake(client, server, piecewise)
    assert client.info()["tls_version"] == expected
    assert client.tickets_follow_handshake() == (expected == "TLSv1.3")
    server.receive(client.send(b"\x00\x03abc"))
    assert server.read() == b"\x00\x03abc"
    server.obj.write(b"\x00\x02ok")
    plaintext, just_up, closed = feed(client, server.outgoing.read(), piecewise)
    assert (plaintext, just_up, closed) == (b"\x00\x02ok", False, False)


def test_a_message_larger_than_a_record_goes_whole(engine, pki):
    client = engine.TlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(pki)
    handshake(client, server)
    big = bytes(range(256)) * 100           # 25.6 kB: two records
    server.receive(client.send(big))
    got = b""
    while len(got) < len(big):
        chunk = server.read()
        assert chunk, "the server got %d of %d bytes" % (len(got), len(big))
        got += chunk
    assert got == big


def test_tls13_refused_when_minimum_is_13_and_server_offers_12(engine, pki):
    with pytest.raises(TlsError):
        client = engine.TlsClient(verifying(engine, pki, "1.3"), certs.AUTH_NAME)
        handshake(client, MemoryServer(pki, ssl.TLSVersion.TLSv1_2))


def test_wrong_name_is_an_authentication_error(engine, pki):
    client = engine.TlsClient(verifying(engine, pki), "other.test")
    with pytest.raises(AuthError, match="certificate rejected: .*(mismatch|match)"):
        handshake(client, MemoryServer(pki))


def test_the_ip_address_is_checked_against_the_certificate(engine, pki):
    """The test certificate names 127.0.0.1 but not 127.0.0.2; mbedTLS before 3.5
    cannot check an address, and says so instead of passing it."""
    if engine is not dot and mbedtls_lib.load().version < (3, 5):
        with pytest.raises(TlsError, match="cannot check the IP address"):
            engine.TlsClient(verifying(engine, pki), "127.0.0.1")
        return
    good = engine.TlsClient(verifying(engine, pki), "127.0.0.1")
    handshake(good, MemoryServer(pki))
    bad = engine.TlsClient(verifying(engine, pki), "127.0.0.2")
    with pytest.raises(AuthError, match="certificate rejected"):
        handshake(bad, MemoryServer(pki))


def test_checking_the_name_needs_a_name(engine, pki):
    """mbedTLS only: the ssl engine, given no name on a verifying context, checks the
    chain alone (wrap_bio does not refuse it); io/policy.py never asks either for that."""
    if engine is dot:
        pytest.skip("the ssl engine takes no name as 'chain only'")
    with pytest.raises(ValueError):
        engine.TlsClient(verifying(engine, pki), None)


def test_untrusted_ca_is_an_authentication_error(engine, pki):
    client = engine.TlsClient(verifying(engine, pki), certs.AUTH_NAME)
    with pytest.raises(AuthError, match="certificate rejected"):
        handshake(client, MemoryServer(pki, wrong=True))


def test_a_ca_bundle_that_is_not_one_is_refused(engine, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    errors = (OSError, ssl.SSLError) if engine is dot else (OSError, TlsError)
    with pytest.raises(errors):
        engine.make_context(str(bundle), "1.2", True)


def test_unverified_context_takes_any_certificate(engine, pki):
    plain = engine.make_context(str(pki.ca_cert), "1.2", False)
    client = engine.TlsClient(plain, "other.test")
    handshake(client, MemoryServer(pki, wrong=True))
    assert client.established


def test_right_pin_accepted_wrong_pin_rejected(engine, pki):
    plain = engine.make_context(str(pki.ca_cert), "1.2", False)
    good = engine.TlsClient(plain, None, [pki.wrong_pin, pki.server_pin])
    handshake(good, MemoryServer(pki))
    assert good.peer_pin == pki.server_pin
    bad = engine.TlsClient(plain, None, [pki.wrong_pin])
    with pytest.raises(AuthError, match="SPKI pin mismatch"):
        handshake(bad, MemoryServer(pki))


def test_close_notify_from_server_is_reported(engine, pki):
    client = engine.TlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(pki)
    handshake(client, server)
    try:
        server.obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    plaintext, just_up, closed = client.receive(server.outgoing.read())
    assert closed and plaintext == b""


def test_our_close_notify_reaches_the_server(engine, pki):
    client = engine.TlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(pki)
    handshake(client, server)
    with pytest.raises(ssl.SSLWantReadError):
        server.obj.read(100)
    server.incoming.write(client.close())
    assert server.obj.read(100) == b""        # what SSLObject says for close_notify


@pytest.mark.parametrize("where", ["handshake", "established"])
def test_garbage_from_the_server_is_a_tls_error(engine, pki, where):
    client = engine.TlsClient(verifying(engine, pki), certs.AUTH_NAME)
    if where == "established":
        handshake(client, MemoryServer(pki))
    else:
        client.start()
    with pytest.raises(TlsError) as caught:
        client.receive(b"\x17\x03\x03\x00\x10" + b"\xAA" * 16 if where == "established"
                       else b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert not isinstance(caught.value, AuthError)
    assert str(caught.value).startswith("TLS ")


@pytest.mark.parametrize("max_version", [ssl.TLSVersion.TLSv1_2, None])
@pytest.mark.parametrize("pinned", [False, True])
def test_a_kept_session_resumes(engine, pki, max_version, pinned):
    """The session goes through the daemon's SessionStore as in io/, then resumes."""
    if engine is dot and ssl.OPENSSL_VERSION_INFO < (1, 1, 1):
        pytest.skip("old OpenSSL")
    ctx = verifying(engine, pki)
    pins = [pki.server_pin] if pinned else []
    first = engine.TlsClient(ctx, certs.AUTH_NAME, pins)
    server = MemoryServer(pki, max_version)
    handshake(first, server)
    store = SessionStore()
    assert store.offer("u", first.session())
    assert not first.resumed() and first.info()["resumed"] is False
    second = engine.TlsClient(ctx, certs.AUTH_NAME, pins, session=store.get("u"))
    again = server.again()
    handshake(second, again)
    assert again.obj.session_reused, "the server did not resume"
    assert second.resumed() and second.info()["resumed"] is True
    assert second.info()["resumption_offered"] is True
    if pinned:
        # mbedTLS keeps no certificate in a TLS 1.3 ticket: the pins held when it was kept
        without_cert = engine is not dot and second.info()["tls_version"] == "TLSv1.3"
        assert second.peer_pin == (None if without_cert else pki.server_pin)
    again.receive(second.send(b"\x00\x01x"))
    assert again.read() == b"\x00\x01x"


def test_a_full_handshake_is_not_taken_for_a_resumption(engine, pki):
    """A session the server cannot know (another server context): a full handshake."""
    ctx = verifying(engine, pki)
    first = engine.TlsClient(ctx, certs.AUTH_NAME)
    handshake(first, MemoryServer(pki))
    second = engine.TlsClient(ctx, certs.AUTH_NAME, session=first.session())
    handshake(second, MemoryServer(pki))
    assert second.info()["resumption_offered"] is True
    assert not second.resumed()


def test_spki_pin_matches_openssl(pki):
    der = ssl.PEM_cert_to_DER_cert(pki.server_cert.read_text())
    assert spki_der(der) == certs.spki_der(pki.server_cert)
    assert spki_pin(der) == pki.server_pin


@pytest.mark.parametrize("cut", [0, 1, 5, 40, 200])
def test_spki_of_truncated_der_is_a_der_error(pki, cut):
    der = ssl.PEM_cert_to_DER_cert(pki.server_cert.read_text())
    with pytest.raises(DerError):
        spki_der(der[:cut])


def test_the_mbedtls_engine_and_policy_never_load_ssl(tmp_path):
    """With tls_engine mbedtls, Python's ssl stays out of the process (its point)."""
    if mbedtls_lib.unavailable_reason() is not None:
        pytest.skip("libmbedtls: %s" % mbedtls_lib.unavailable_reason())
    bundle = tmp_path / "ca.pem"
    bundle.write_text(certs.make_test_pki(tmp_path / "pki").ca_cert.read_text())
    code = """if 1:
        import sys
        from dprive.config import parse_settings
        from dprive.io.policy import AuthPolicy
        settings = parse_settings('''
config dprive 'main'
  option tls_engine 'mbedtls'
  option ca_bundle '%s'
config upstream 'u'
  option name 'u'
  option address '127.0.0.1'
  option auth_name 'dns.test'
''', 'test')
        policy = AuthPolicy(settings)
        policy.client_for(settings.upstreams[0], 'tls').start()
        print(policy.tls_engine, sorted(m for m in sys.modules if 'ssl' in m))
    """ % bundle
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["mbedtls", "[]"], out.stdout + out.stderr


def test_the_mbedtls_engines_take_an_ascii_name_without_the_idna_codec():
    """idna pulls in unicodedata (python3-codecs on OpenWrt): only for names that need it."""
    from dprive.tls import mbedtls_client
    code = ("import sys; from dprive.tls.mbedtls_client import name_bytes; "
            "print(name_bytes('Dns.Test'), 'encodings.idna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["b'Dns.Test'", "False"], out.stdout + out.stderr
    assert mbedtls_client.name_bytes("bücher.test") == b"xn--bcher-kva.test"
