"""The gateway's DTLS server sessions, on each engine there is (gateway/session.py on
pyOpenSSL, gateway/session_mbedtls.py on libmbedtls), in memory: the stateless
cookie exchange of stateless.py in front, as server.py does it, and a client of
the other stack as well as of the same one (tls/dtls.py, tls/dtls_mbedtls.py).

Run it on both mbedTLS versions: DPRIVE_MBEDTLS_LIBDIR=$PWD/build/mbedtls-3.6/lib.
"""

import os
import re
import shutil
import time

import pytest

from dprive.core import dtls_record
from dprive.gateway import stateless
from dprive.gateway.session_base import CLOSED, ESTABLISHED, HANDSHAKING, ContextError
from dprive.gateway.cookies import CookieJar
from dprive.tls import dtls_engines, mbedtls_lib
from tests.tools import certs

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

QUERY = bytes.fromhex("abcd01000001000000000000") + b"\x01a\x04test\x00\x00\x01\x00\x01"
ANSWER = bytes.fromhex("abcd81800001000100000000") + b"\x01a\x04test\x00\x00\x01\x00\x01" + \
    bytes.fromhex("c00c000100010000003c00040a000001")
ENGINES = (dtls_engines.MBEDTLS, dtls_engines.PYOPENSSL)


def _module(engine, role):
    """The engine's gateway module or client module, or skip saying why it cannot run."""
    choice = dtls_engines.choose("gateway" if role == "server" else "client", engine)
    if choice.engine is None:
        pytest.skip("%s cannot run here: %s" % (engine, choice.unavailable))
    if role == "server":
        return choice.gateway_module()
    return choice.client_module()


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture(params=ENGINES)
def client_engine(request):
    return request.param


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


class MemoryGateway:
    """server.py's first steps in memory: HelloVerifyRequest without a valid
    cookie, then one ServerSession for the address."""

    def __init__(self, module, pki, require_cookie=True, lifetime_s=3600, keys=None):
        self.module = module
        self.clock = lambda: self.now
        self.now = 100.0
        self.jar = CookieJar(b"k" * 32)
        self.context = module.make_server_context(str(pki.server_chain), str(pki.server_key),
                                                  self.jar, lifetime_s)
        self.ticket_note = module.install_ticket_keys(self.context, keys) if keys else "none"
        self.require_cookie = require_cookie
        self.session = None
        self.cookies_sent = 0

    def datagram(self, data, addr=("198.18.0.2", 5353)):
        """What the gateway sends back to one datagram (list of datagrams), and DNS messages."""
        found = dtls_record.records(data)
        hello = stateless.parse_client_hello(data, found[0])
        if hello is not None and (self.session is None or self.session.state == ESTABLISHED):
            need = self.require_cookie or bool(hello.cookie)
            if need and not self.jar.check(hello.cookie, addr, self.now):
                self.cookies_sent += 1
                return [stateless.hello_verify_request(hello, self.jar.make(addr, self.now))], []
            self.session = self.module.ServerSession(self.context, addr, 1232, self.now,
                                                     self.clock)
            out, messages = self.session.begin(data, need)
        else:
            out, messages = self.session.feed(data, self.now)
        return (dtls_record.pack_datagrams(out, 1232) if out else []), messages


def client_for(client_module, pki, session=None):
    ctx = _CONTEXTS.get((client_module.__name__, str(pki.ca_cert)))
    if ctx is None:
        ctx = client_module.make_dtls_context(str(pki.ca_cert), "1.2", True)
        _CONTEXTS[(client_module.__name__, str(pki.ca_cert))] = ctx
    return client_module.DtlsClient(ctx, certs.AUTH_NAME, session=session)


_CONTEXTS = {}


def shake(gateway, client, max_flights=8):
    """Run the handshake; the number of client flights that waited for an answer."""
    flights = client.start()
    trips = 0
    while True:
        trips += 1
        assert trips <= max_flights, "no handshake after %d flights" % max_flights
        replies = []
        for datagram in flights:
            out, _ = gateway.datagram(datagram)
            replies += out
        assert replies, "the gateway did not answer (%s)" % (
            gateway.session and gateway.session.error)
        for reply in replies:
            _, up, _ = client.receive(reply)
            if up:
                return trips
        flights = client.pending_output()


def ask(gateway, client):
    out, messages = gateway.datagram(b"".join(client.send(QUERY)))
    assert messages == [QUERY]
    assert gateway.session.cleartext_mtu and gateway.session.cleartext_mtu >= len(ANSWER)
    got = []
    for datagram in dtls_record.pack_datagrams(gateway.session.send(ANSWER), 1232):
        got += client.receive(datagram)[0]
    assert got == [ANSWER]


def test_handshake_with_cookie_query_and_resumption(engine, client_engine, pki):
    """Full handshake 3 flights (the first answered by the stateless HelloVerifyRequest),
    then a ticket resumption: 2 flights, counted as reused on the server."""
    server = _module(engine, "server")
    client_module = _module(client_engine, "client")
    gateway = MemoryGateway(server, pki)
    first = client_for(client_module, pki)
    assert shake(gateway, first) == 3 and gateway.cookies_sent == 1
    assert gateway.session.state == ESTABLISHED and not gateway.session.reused
    ask(gateway, first)
    saved = first.session()
    # tls/dtls.py cannot read the ticket out of a session without i2d_SSL_SESSION
    # (cryptography before 44): it resumes all the same.
    assert saved is not None and (saved.has_ticket or getattr(saved, "der", b"") is None)
    again = client_for(client_module, pki, session=saved)
    # The client's Finished goes out with its first query: the server is done then.
    assert shake(gateway, again) == 2 and gateway.session.state == HANDSHAKING
    ask(gateway, again)
    assert again.info()["resumed"]
    if engine == dtls_engines.PYOPENSSL and not server._FEATURES["session_reused"]:
        return      # no SSL_session_reused before cryptography 42: the status says so
    assert gateway.session.reused, "resumption not seen by the server"


def test_without_cookie_demanded_one_flight_less(engine, pki):
    server = _module(engine, "server")
    gateway = MemoryGateway(server, pki, require_cookie=False)
    client = client_for(_module(dtls_engines.MBEDTLS if engine == dtls_engines.PYOPENSSL
                                else dtls_engines.PYOPENSSL, "client"), pki)
    assert shake(gateway, client) == 2 and gateway.cookies_sent == 0
    ask(gateway, client)


def test_a_cookie_for_another_address_is_refused_by_the_engine_too(engine, pki):
    """The engine's own cookie check agrees with the shell's: a session begun with
    a cookie made for someone else does not get a ServerHello."""
    server = _module(engine, "server")
    gateway = MemoryGateway(server, pki)
    client = client_for(_module(dtls_engines.PYOPENSSL if engine == dtls_engines.MBEDTLS
                                else dtls_engines.MBEDTLS, "client"), pki)
    hvr, _ = gateway.datagram(client.start()[0], addr=("198.18.0.9", 1))
    client.receive(hvr[0])
    with_cookie = client.pending_output()[0]
    session = server.ServerSession(gateway.context, ("198.18.0.2", 5353), 1232, 100.0,
                                   gateway.clock)
    out, _ = session.begin(with_cookie, True)
    assert session.state == CLOSED and session.error.startswith("cookie refused by"), \
        (session.state, session.error)
    server_hellos = [rec for rec in (dtls_record.records(out) if out else [])
                     if rec[dtls_record.TYPE] == dtls_record.CT_HANDSHAKE
                     and out[rec[dtls_record.START]] == 2]
    assert server_hellos == []
    session.release()


def test_retransmission_timer_then_clean_close(engine, pki):
    server = _module(engine, "server")
    gateway = MemoryGateway(server, pki, require_cookie=False)
    client = client_for(_module(dtls_engines.PYOPENSSL if engine == dtls_engines.MBEDTLS
                                else dtls_engines.MBEDTLS, "client"), pki)
    flight, _ = gateway.datagram(client.start()[0])
    session = gateway.session
    assert flight and session.state == HANDSHAKING
    due = session.timer_due(gateway.now)
    if due is None:
        pytest.skip("this pyOpenSSL has no DTLS timer")
    assert 0 < due <= 60
    assert session.on_timer() == b""            # not yet due: nothing resent
    gateway.now += due + 0.01
    if engine == dtls_engines.PYOPENSSL:
        time.sleep(due + 0.05)                  # OpenSSL's DTLS timer runs on its own clock
    resent = session.on_timer()
    assert resent and session.state == HANDSHAKING
    for datagram in dtls_record.pack_datagrams(resent, 1232):
        client.receive(datagram)
    for datagram in client.pending_output():
        out, _ = gateway.datagram(datagram)
        for reply in out:
            client.receive(reply)
    assert session.state == ESTABLISHED and session.timer_due(gateway.now) is None
    bye = session.close()
    assert bye and session.state == CLOSED
    closed = [client.receive(d)[2] for d in dtls_record.pack_datagrams(bye, 1232)]
    assert closed == [True]
    session.release()
    assert session.send(ANSWER) == b""


def test_the_timer_runs_where_pyopenssl_has_it(pki):
    gw_session = _module(dtls_engines.PYOPENSSL, "server")
    if not gw_session._FEATURES["retransmit_timer"]:
        pytest.skip("this pyOpenSSL has no DTLSv1_get_timeout")
    gateway = MemoryGateway(gw_session, pki, require_cookie=False)
    gateway.datagram(client_for(_module(dtls_engines.PYOPENSSL, "client"), pki).start()[0])
    assert gateway.session.timer_due(0.0) is not None


def test_no_timer_without_dtlsv1_get_timeout(pki, monkeypatch):
    """gateway/session.py on a pyOpenSSL without the DTLS timer (before 23.1.0, e.g.
    Debian 12's 23.0.0): no retransmission timer instead of an AttributeError."""
    gw_session = _module(dtls_engines.PYOPENSSL, "server")
    client_module = _module(dtls_engines.PYOPENSSL, "client")
    from OpenSSL import SSL
    monkeypatch.setitem(gw_session._FEATURES, "retransmit_timer", False)
    monkeypatch.delattr(SSL.Connection, "DTLSv1_get_timeout", raising=False)
    monkeypatch.delattr(SSL.Connection, "DTLSv1_handle_timeout", raising=False)
    gateway = MemoryGateway(gw_session, pki, require_cookie=False)
    gateway.datagram(client_for(client_module, pki).start()[0])
    assert gateway.session.timer_due(0.0) is None
    assert gateway.session.state == HANDSHAKING


def test_mbedtls_client_checks_the_spki_pin_of_the_gateway(engine, pki):
    """tls/dtls_mbedtls.py reads the peer certificate's DER for its pins; `raw` is
    mbedtls_x509_crt's second member (after own_buffer), not its first."""
    client_module = _module(dtls_engines.MBEDTLS, "client")
    ctx = client_module.make_dtls_context(str(pki.ca_cert), "1.2", True)
    good = client_module.DtlsClient(ctx, certs.AUTH_NAME, pins=(pki.server_pin,))
    assert shake(MemoryGateway(_module(engine, "server"), pki), good) == 3
    assert good.peer_pin == pki.server_pin
    wrong = client_module.DtlsClient(ctx, certs.AUTH_NAME, pins=(pki.wrong_pin,))
    with pytest.raises(Exception, match="SPKI pin mismatch: server key is %s" % re.escape(
            pki.server_pin)):
        shake(MemoryGateway(_module(engine, "server"), pki), wrong)


# ---- mbedTLS only: the context, and tickets across a restart -------------------------

def test_key_that_does_not_match_the_certificate_is_a_clear_error(pki):
    server = _module(dtls_engines.MBEDTLS, "server")
    with pytest.raises(ContextError) as err:
        server.make_server_context(str(pki.server_chain), str(pki.wrong_server_key),
                                   CookieJar(b"k" * 32), 3600)
    assert "does not belong to the certificate" in str(err.value)
    assert str(pki.wrong_server_key) in str(err.value)


def test_bad_key_file_and_missing_files_are_clear_errors(pki, tmp_path):
    server = _module(dtls_engines.MBEDTLS, "server")
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    cases = ((str(pki.server_chain), str(bad), "cannot use key %s: " % bad, "-0x"),
             (str(bad), str(pki.server_key), "cannot use certificate %s: " % bad, "-0x"),
             (str(pki.server_chain), str(tmp_path / "none"), "cannot read key_file",
              "No such file"))
    for cert, key, text, cause in cases:
        with pytest.raises(ContextError) as err:
            server.make_server_context(cert, key, CookieJar(b"k" * 32), 3600)
        assert text in str(err.value) and cause in str(err.value), str(err.value)


def test_tickets_resume_with_a_new_context_that_has_the_same_keys(pki):
    """A gateway restart: a new server context with the key file's keys resumes the
    old ticket (mbedTLS 3.1 and later); 2.28 says why it cannot."""
    server = _module(dtls_engines.MBEDTLS, "server")
    keys = os.urandom(80)
    before = MemoryGateway(server, pki, keys=keys)
    if not mbedtls_lib.load().has("mbedtls_ssl_ticket_rotate"):
        assert "mbedtls_ssl_ticket_rotate" in before.ticket_note
        pytest.skip(before.ticket_note)
    assert before.ticket_note is None
    client_module = _module(dtls_engines.PYOPENSSL, "client")
    first = client_for(client_module, pki)
    shake(before, first)
    saved = first.session()
    after = MemoryGateway(server, pki, keys=keys)
    again = client_for(client_module, pki, session=saved)
    assert shake(after, again) == 2
    ask(after, again)
    assert after.session.reused
    other = MemoryGateway(server, pki, keys=os.urandom(80))   # keys rotated in the file
    assert shake(other, client_for(client_module, pki, session=saved)) == 3
    assert not other.session.reused


def test_the_file_key_is_rotated_in_again_before_mbedtls_replaces_it(pki, monkeypatch):
    server = _module(dtls_engines.MBEDTLS, "server")
    if not mbedtls_lib.load().has("mbedtls_ssl_ticket_rotate"):
        pytest.skip("no mbedtls_ssl_ticket_rotate in %s" % mbedtls_lib.load().version_text)
    gateway = MemoryGateway(server, pki, lifetime_s=600, keys=os.urandom(80))
    calls = []
    monkeypatch.setattr(gateway.context, "_rotate", lambda: calls.append(1))
    # A whole number of seconds: (t + 300) - t is not always 300 for a monotonic float t.
    gateway.context.rotated_at = 1000.0
    gateway.context.refresh(1299.0)
    assert calls == []
    gateway.context.refresh(1300.0)
    assert calls == [1]


def test_released_sessions_leave_nothing_behind(pki):
    """No callback registry keeps a session (or its channel) once it is released
    or simply dropped, as server.stop() drops them."""
    server = _module(dtls_engines.MBEDTLS, "server")
    from dprive.tls import mbedtls_channel
    gateway = MemoryGateway(server, pki)
    client_module = _module(dtls_engines.PYOPENSSL, "client")
    channels, sessions = len(mbedtls_channel._CHANNELS), len(server.SESSIONS)
    for release in (True, False, True):
        client = client_for(client_module, pki)
        shake(gateway, client)
        ask(gateway, client)
        session, gateway.session = gateway.session, None
        if release:
            session.release()
        del session
    assert len(server.SESSIONS) == sessions      # earlier tests' gateways may linger in gc
    assert len(mbedtls_channel._CHANNELS) == channels


def test_forged_records_do_not_close_an_established_session(engine, pki):
    """What an off-path attacker who knows the client's address can send: a
    plaintext fatal alert, a plaintext handshake message, a record in the
    session's epoch that fails its MAC, a replay of the client's last record.
    DTLS drops them (RFC 6347 4.1.2.1); the session goes on."""
    server = _module(engine, "server")
    gateway = MemoryGateway(server, pki)
    client = client_for(_module(dtls_engines.PYOPENSSL if engine == dtls_engines.MBEDTLS
                                else dtls_engines.MBEDTLS, "client"), pki)
    shake(gateway, client)
    query = b"".join(client.send(QUERY))
    assert gateway.datagram(query)[1] == [QUERY]
    forged = [
        dtls_record.alert_record(dtls_record.ALERT_FATAL, dtls_record.ALERT_UNEXPECTED_MESSAGE,
                                 0, dtls_record.DTLS_1_2),
        bytes.fromhex("16fefd00000000000000070018") + bytes.fromhex("140000000c") + b"\x00" * 19,
        query[:13] + os.urandom(len(query) - 13),                  # epoch 1, bad MAC
        bytes(query[:5]) + (999).to_bytes(6, "big") + query[11:13] + os.urandom(len(query) - 13),
        query,                                                      # a replay
    ]
    for datagram in forged:
        out, messages = gateway.datagram(datagram)
        assert messages == [] and gateway.session.state == ESTABLISHED, (
            datagram.hex(), gateway.session.error)
    ask(gateway, client)
