"""The DoDTLS client engines (tls/dtls.py on pyOpenSSL, tls/dtls_mbedtls.py on
libmbedtls) against a pyOpenSSL DTLS server, all on memory BIOs: no sockets.
Datagrams are moved by hand, some are dropped on purpose, and the round trips
to the first answer are counted. For the mbedTLS engine the pyOpenSSL server
is the other stack; which libmbedtls runs is DPRIVE_MBEDTLS_LIBDIR's
(tls/mbedtls_lib.py), so `make test` runs this module on 2.28 and on 3.6.
Certificates come from the test PKI (openssl CLI)."""

import shutil
import time

import dns.message
import dns.rrset
import pytest

SSL = pytest.importorskip("OpenSSL.SSL")

from dprive.core import dtls_record  # noqa: E402
from dprive.tls.engine_api import AuthError, TlsError  # noqa: E402
from dprive.tls import dtls, mbedtls_lib  # noqa: E402
from dprive.tls.sessions import SessionStore  # noqa: E402
from tests.tools import certs  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

COOKIE_SECRET = b"test cookie secret"
DEFAULT_MTU = dtls.DEFAULT_MTU

# pyOpenSSL twice: sessions kept as DER (cryptography 44+), and as pyOpenSSL
# Session objects told resumed by their master secret, as on cryptography
# before 42 (41.0.7 on OpenWrt 24.10), whatever this venv's cryptography binds.
ENGINES = ["pyopenssl-der", "pyopenssl-object", "mbedtls"]


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request, monkeypatch):
    """Every test on every client engine: the engine's module."""
    if request.param == "mbedtls":
        why = mbedtls_lib.unavailable_reason()
        if why is not None:
            pytest.skip("libmbedtls: %s" % why)
        from dprive.tls import dtls_mbedtls
        return dtls_mbedtls
    if request.param == "pyopenssl-der":
        if not dtls.SUPPORT.features["session_der"]:
            pytest.skip("this cryptography has no i2d/d2i_SSL_SESSION")
    else:
        monkeypatch.setitem(dtls.SUPPORT.features, "session_der", False)
        monkeypatch.setitem(dtls.SUPPORT.features, "session_reused", False)
    return dtls


@pytest.fixture
def session_keeping(request):
    """How the engine keeps a session: 'der', 'object' (pyOpenSSL) or 'blob' (mbedTLS)."""
    name = request.node.callspec.params["engine"]
    return {"pyopenssl-der": "der", "pyopenssl-object": "object", "mbedtls": "blob"}[name]


def unfragmented_client_hello(engine):
    """True for mbedTLS before 3.0: its ssl_get_current_mtu() sets no limit while the
    client is in the ClientHello/ServerHello states, so the ClientHello leaves as one
    record whatever the MTU (3.6's mbedtls_ssl_get_current_mtu has no such case).
    dprive always runs at DEFAULT_MTU, where a ClientHello fits."""
    return engine is not dtls and mbedtls_lib.load().version < (3, 0)


def is_client_hello(datagram):
    first = dtls_record.records(datagram)[0]
    return (first[dtls_record.TYPE] == dtls_record.CT_HANDSHAKE and first[dtls_record.EPOCH] == 0
            and datagram[first[dtls_record.START]] == 1)      # handshake type client_hello


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


def server_context(pki, cookie=False, wrong=False, tickets=True):
    """A DTLS server Context; with `cookie` it demands the RFC 6347 cookie exchange."""
    ctx = SSL.Context(SSL.DTLS_METHOD)
    if wrong:
        ctx.use_certificate_chain_file(str(pki.wrong_server_cert))
        ctx.use_privatekey_file(str(pki.wrong_server_key))
    else:
        ctx.use_certificate_chain_file(str(pki.server_chain))
        ctx.use_privatekey_file(str(pki.server_key))
    options = SSL.OP_NO_QUERY_MTU
    if not tickets:
        options |= SSL.OP_NO_TICKET
    if cookie:
        # Memory BIOs have no peer address to bind the cookie to: a fixed one will do.
        ctx.set_cookie_generate_callback(lambda conn: COOKIE_SECRET)
        ctx.set_cookie_verify_callback(lambda conn, cookie: cookie == COOKIE_SECRET)
        options |= SSL.OP_COOKIE_EXCHANGE
    ctx.set_options(options)
    ctx.set_session_id(b"dprive-test")
    return ctx


def read_all(conn):
    chunks = []
    while True:
        try:
            chunks.append(conn.bio_read(65536))
        except SSL.WantReadError:
            return b"".join(chunks)


class MemoryServer:
    """A DTLS server on memory BIOs that answers every DNS query it reads."""

    def __init__(self, context, mtu=DEFAULT_MTU, answer=True):
        self.conn = SSL.Connection(context, None)
        self.conn.set_accept_state()
        self.conn.set_ciphertext_mtu(mtu)
        self.mtu = mtu
        self.answer = answer
        self.messages = []
        self.closed = False
        self.failed = None

    def feed(self, datagrams):
        """Datagrams from the client in, datagrams back out."""
        for datagram in datagrams:
            self.conn.bio_write(datagram)
            self._pump()
        return self.output()

    def send(self, *messages):
        for message in messages:
            self.conn.send(message)
        return self.output()

    def output(self):
        return dtls_record.pack_datagrams(read_all(self.conn), self.mtu)

    def retire(self):
        """Forget the connection as a gateway should: marked shut down, so that
        OpenSSL does not drop its session from the server's session-ID cache
        when the SSL is freed (it does so for any SSL freed without shutdown)."""
        self.conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
        self.conn = None

    def _pump(self):
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            return
        except SSL.Error as err:      # the client's alert: the test looks at the client
            self.failed = err
            return
        while True:
            try:
                message = self.conn.recv(65536)
            except SSL.WantReadError:
                return
            except SSL.ZeroReturnError:
                self.closed = True
                return
            self.messages.append(message)
            if self.answer:
                self.conn.send(answer_to(message))


def query(name="example.com.", msg_id=0x1234):
    q = dns.message.make_query(name, "A")
    q.id = msg_id
    return q.to_wire()


def answer_to(wire):
    q = dns.message.from_wire(wire)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A", "192.0.2.53"))
    return r.to_wire()


def first_answer(client, server, message, drop=(), hello=None):
    """Run the handshake, send `message` as soon as it can go, and count round trips.

    One round trip is a flight to the server and what comes back. Returns
    (round trips, answers). `drop` holds the numbers (from 1) of round trips
    whose client flight is lost; each loss is repaired by handle_timeout once
    timeout_s() has gone by (OpenSSL's timer runs on the real clock).
    `hello`: the client's first flight, if start() has already been called.
    """
    out = client.start() if hello is None else hello
    for rtt in range(1, 12):
        if rtt in drop:
            wait = client.timeout_s()
            assert wait is not None and 0 < wait <= 1.0, wait
            assert client.handle_timeout() == [], "nothing is retransmitted early"
            time.sleep(wait + 0.05)
            out = client.handle_timeout()
            assert out, "the lost flight is sent again"
        back = server.feed(out)
        out = []
        answers = []
        for datagram in back:
            messages, just_up, closed = client.receive(datagram)
            assert not closed
            answers += messages
            if just_up:
                out += client.send(message)   # goes out with the client's Finished
        if answers:
            return rtt, answers
        out += client.pending_output()
    raise AssertionError("no answer after 11 round trips")


def handshake(client, server):
    """Move datagrams both ways until the client is up and the server has its last flight."""
    out = client.start()
    for _ in range(10):
        for datagram in server.feed(out):
            if client.receive(datagram)[1]:
                server.feed(client.pending_output())
                return
        out = client.pending_output()
    raise AssertionError("handshake did not finish")


def verifying(engine, pki):
    return engine.make_dtls_context(str(pki.ca_cert), "1.2", True)


def datagram_sizes(datagrams):
    return [len(d) for d in datagrams]


# --- handshakes and round trips -----------------------------------------------

@pytest.mark.parametrize("cookie, expected_rtt", [(False, 3), (True, 4)])
def test_full_handshake_round_trips(engine, pki, cookie, expected_rtt):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki, cookie=cookie))
    rtt, answers = first_answer(client, server, query())
    assert rtt == expected_rtt
    assert [dns.message.from_wire(a).id for a in answers] == [0x1234]
    assert client.info() == {"tls_version": "DTLSv1.2", "cipher": client.info()["cipher"],
                             "resumption_offered": False, "resumed": False}
    assert client.info()["cipher"]


@pytest.mark.parametrize("cookie, expected_rtt", [(False, 2), (True, 3)])
@pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-id"])
def test_resumption_saves_a_round_trip(engine, pki, cookie, expected_rtt, tickets, session_keeping):
    ctx = verifying(engine, pki)
    sctx = server_context(pki, cookie=cookie, tickets=tickets)
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    server = MemoryServer(sctx)
    full_rtt, _ = first_answer(first, server, query())
    server.retire()
    saved = first.session()
    # DER and mbedTLS's saved bytes tell a ticket; a Session object (cryptography
    # before 44) hides it.
    assert isinstance(saved, engine.DtlsSession) and saved.id
    assert saved.has_ticket == (tickets and session_keeping != "object")
    del first          # freed without close_notify: the kept session must still resume

    for _ in range(2):  # and a resumed session resumes again
        client = engine.DtlsClient(ctx, certs.AUTH_NAME, session=saved)
        server = MemoryServer(sctx)
        rtt, answers = first_answer(client, server, query(msg_id=7))
        server.retire()
        assert (rtt, full_rtt) == (expected_rtt, expected_rtt + 1)
        assert client.info()["resumed"] and client.info()["resumption_offered"]
        assert dns.message.from_wire(answers[0]).id == 7
        saved = client.session()


def test_finished_and_first_query_share_a_datagram_when_resuming(engine, pki):
    ctx = verifying(engine, pki)
    sctx = server_context(pki)
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    handshake(first, MemoryServer(sctx))
    client = engine.DtlsClient(ctx, certs.AUTH_NAME, session=first.session())
    server = MemoryServer(sctx)
    back = server.feed(client.start())
    assert len(back) == 1                     # ServerHello, ChangeCipherSpec, Finished
    messages, just_up, closed = client.receive(back[0])
    assert (messages, just_up, closed) == ([], True, False)
    flight = client.send(query())
    assert len(flight) == 1
    types = [(r[dtls_record.TYPE], r[dtls_record.EPOCH]) for r in dtls_record.records(flight[0])]
    assert types == [(dtls_record.CT_CHANGE_CIPHER_SPEC, 0), (dtls_record.CT_HANDSHAKE, 1),
                     (dtls_record.CT_APPLICATION_DATA, 1)]


def test_server_that_lost_its_ticket_keys_costs_a_full_handshake(engine, pki):
    ctx = verifying(engine, pki)
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    handshake(first, MemoryServer(server_context(pki)))
    client = engine.DtlsClient(ctx, certs.AUTH_NAME, session=first.session())
    rtt, _ = first_answer(client, MemoryServer(server_context(pki)), query())   # restarted
    assert rtt == 3
    assert client.info()["resumption_offered"] and not client.info()["resumed"]


def test_sessions_fit_the_session_store(engine, pki, session_keeping):
    ctx = verifying(engine, pki)
    sctx = server_context(pki)
    identity = ("192.0.2.1", 853, certs.AUTH_NAME, ())
    store = SessionStore()
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    handshake(first, MemoryServer(sctx))
    assert store.offer(identity, first.session())
    again = engine.DtlsClient(ctx, certs.AUTH_NAME, session=store.get(identity))
    handshake(again, MemoryServer(sctx))
    assert again.info()["resumed"]
    assert not store.offer(identity, again.session()), "a resumed session is not new"
    if session_keeping == "der":
        kept = engine.DtlsSession(ctx, der=bytes(store.get(identity).der))   # e.g. read back from a file
    elif session_keeping == "blob":
        held = store.get(identity)
        kept = engine.DtlsSession(ctx, bytes(held.blob), held.has_ticket)
    else:
        kept = store.get(identity)
    later = engine.DtlsClient(ctx, certs.AUTH_NAME, session=kept)
    handshake(later, MemoryServer(sctx))
    assert later.info()["resumed"] and kept.id == store.get(identity).id


def test_session_from_another_context_is_refused(engine, pki):
    first = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    handshake(first, MemoryServer(server_context(pki)))
    with pytest.raises(ValueError, match="(?i)another context"):
        engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME, session=first.session())


def test_no_session_before_the_handshake(engine, pki):
    assert engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME).session() is None


# --- retransmission -------------------------------------------------------------

def test_lost_client_hello_is_sent_again(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    rtt, answers = first_answer(client, MemoryServer(server_context(pki)), query(), drop={1})
    assert rtt == 3 and len(answers) == 1


def test_lost_second_flight_is_sent_again(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki))
    out = client.start()
    back = server.feed(out)
    for datagram in back:
        assert client.receive(datagram) == ([], False, False)
    lost = client.pending_output()          # ClientKeyExchange, CCS, Finished
    assert lost and client.timeout_s() is not None
    time.sleep(client.timeout_s() + 0.05)
    again = client.handle_timeout()
    assert datagram_sizes(again) == datagram_sizes(lost)
    old = [r[dtls_record.SEQ] for d in lost for r in dtls_record.records(d)]
    new = [r[dtls_record.SEQ] for d in again for r in dtls_record.records(d)]
    assert old != new, "a retransmission takes new record sequence numbers"
    # The server's own timer ran out meanwhile: it sends its first flight again
    # ahead of its Finished, and the client takes both in its stride.
    ups = [client.receive(d)[1] for d in server.feed(again)]
    assert ups[-1] is True and ups.count(True) == 1
    assert client.established and client.timeout_s() is None


def test_lost_finished_after_resumption_is_repaired_but_not_the_query(engine, pki):
    # The client is up as soon as it has the server's Finished; if its own
    # Finished (and the query with it) is lost, the server's timer sends its
    # flight again and the client answers with its Finished, from
    # pending_output(). DTLS does not retransmit application data: the query
    # is the DNS layer's to send again.
    ctx = verifying(engine, pki)
    sctx = server_context(pki)
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    handshake(first, MemoryServer(sctx))
    client = engine.DtlsClient(ctx, certs.AUTH_NAME, session=first.session())
    server = MemoryServer(sctx)
    back = server.feed(client.start())
    assert [client.receive(d)[1] for d in back] == [True]
    lost = client.send(query(msg_id=1))
    assert len(lost) == 1
    time.sleep(server.conn.DTLSv1_get_timeout() + 0.05)
    server.conn.DTLSv1_handle_timeout()
    for datagram in server.output():
        assert client.receive(datagram) == ([], False, False)
    again = client.pending_output()
    types = [r[dtls_record.TYPE] for d in again for r in dtls_record.records(d)]
    assert types == [dtls_record.CT_CHANGE_CIPHER_SPEC, dtls_record.CT_HANDSHAKE]
    assert server.feed(again) == [] and server.messages == []
    answers = []
    for datagram in server.feed(client.send(query(msg_id=2))):
        answers += client.receive(datagram)[0]
    assert [dns.message.from_wire(a).id for a in answers] == [2]


# --- authentication -------------------------------------------------------------

def test_wrong_name_is_an_authentication_error(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), "other.test")
    with pytest.raises(AuthError, match="certificate rejected: hostname mismatch"):
        handshake(client, MemoryServer(server_context(pki)))
    alert = client.pending_output()
    assert dtls_record.plaintext_alert(alert[0]) == (dtls_record.ALERT_FATAL,
                                                     dtls_record.ALERT_BAD_CERTIFICATE)
    assert client.session() is None


def test_untrusted_ca_is_an_authentication_error(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    with pytest.raises(AuthError, match="certificate rejected"):
        handshake(client, MemoryServer(server_context(pki, wrong=True)))


@pytest.mark.parametrize("name, good", [("127.0.0.1", True), ("127.0.0.2", False)])
def test_ip_address_is_checked_against_the_ip_san(engine, pki, name, good):
    if engine is not dtls and mbedtls_lib.load().version < engine.FIRST_IP_CHECK:
        # 2.28 cannot match an address against an iPAddress SAN: said, not skipped
        with pytest.raises(TlsError, match=r"mbedTLS 2\.\d+\.\d+ cannot check the IP address %s"
                           r" against a certificate .*give the upstream an auth name" % name):
            engine.DtlsClient(verifying(engine, pki), name)
        return
    client = engine.DtlsClient(verifying(engine, pki), name)
    server = MemoryServer(server_context(pki))
    if good:
        handshake(client, server)
        assert client.established
    else:
        with pytest.raises(AuthError, match="IP address mismatch"):
            handshake(client, server)


def test_right_pin_accepted_wrong_pin_rejected(engine, pki):
    plain = engine.make_dtls_context(None, "1.2", False)
    good = engine.DtlsClient(plain, None, [pki.wrong_pin, pki.server_pin])
    handshake(good, MemoryServer(server_context(pki)))
    assert good.peer_pin == pki.server_pin
    bad = engine.DtlsClient(plain, None, [pki.wrong_pin])
    with pytest.raises(AuthError, match="SPKI pin mismatch"):
        handshake(bad, MemoryServer(server_context(pki)))
    assert bad.session() is None


def test_pins_are_checked_again_on_a_resumed_session(engine, pki):
    plain = engine.make_dtls_context(None, "1.2", False)
    sctx = server_context(pki)
    first = engine.DtlsClient(plain, None, [pki.server_pin])
    handshake(first, MemoryServer(sctx))
    saved = first.session()
    again = engine.DtlsClient(plain, None, [pki.server_pin], session=saved)
    handshake(again, MemoryServer(sctx))
    assert again.info()["resumed"] and again.peer_pin == pki.server_pin
    repinned = engine.DtlsClient(plain, None, [pki.wrong_pin], session=saved)
    with pytest.raises(AuthError, match="SPKI pin mismatch"):
        handshake(repinned, MemoryServer(sctx))


def test_name_check_needs_a_name(engine, pki):
    with pytest.raises(ValueError):
        engine.DtlsClient(verifying(engine, pki), None)


def test_context_errors(engine, pki, tmp_path):
    with pytest.raises(TlsError, match="DTLS 1.3 is not available"):
        engine.make_dtls_context(str(pki.ca_cert), "1.3", True)
    with pytest.raises(ValueError):
        engine.make_dtls_context(str(pki.ca_cert), "1.0", True)
    with pytest.raises(TlsError, match="cannot load the CA bundle"):
        engine.make_dtls_context(str(tmp_path / "missing.pem"), "1.2", True)


# --- records and datagrams ------------------------------------------------------

def test_one_dns_message_per_record_both_ways(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki), answer=False)
    handshake(client, server)
    del server.messages[:]
    queries = [query(msg_id=i) for i in (1, 2, 3)]
    for q in queries:
        out = client.send(q)
        assert len(out) == 1
        assert [r[dtls_record.TYPE] for r in dtls_record.records(out[0])] == \
            [dtls_record.CT_APPLICATION_DATA]
        server.feed(out)
    assert server.messages == queries, "no length prefix, one message per record"

    answers = [answer_to(q) for q in queries]
    back = server.send(*answers)
    assert len(back) == 1, "three small records share one datagram"
    assert len(dtls_record.records(back[0])) == 3
    assert client.receive(back[0]) == (answers, False, False)


def test_message_larger_than_a_record_is_refused(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    handshake(client, MemoryServer(server_context(pki)))
    limit = client.max_message_len()
    assert 1300 < limit < DEFAULT_MTU
    out = client.send(b"\x00" * limit)
    assert datagram_sizes(out) == [DEFAULT_MTU]
    with pytest.raises(engine.MessageTooLarge):
        client.send(b"\x00" * (limit + 1))
    assert client.established


def test_memory_bio_runs_datagrams_together_and_the_engine_cuts_them(engine, pki):
    # What OpenSSL writes into a memory BIO in one flight comes out of one
    # bio_read, several datagrams run together: at MTU 256 the server's
    # certificate flight is 5 datagrams' worth in a single read.
    sctx = server_context(pki)
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME, mtu=256)
    raw = SSL.Connection(sctx, None)
    raw.set_accept_state()
    raw.set_ciphertext_mtu(256)
    for datagram in client.start():
        raw.bio_write(datagram)
    with pytest.raises(SSL.WantReadError):
        raw.do_handshake()
    stream = raw.bio_read(65536)
    assert len(stream) > 4 * 256
    cut = dtls_record.pack_datagrams(stream, 256)
    assert b"".join(cut) == stream and all(len(d) <= 256 for d in cut)

    # The engine does the same cut on its own output: a resumption ClientHello
    # carries a ticket and needs several datagrams at that MTU.
    ctx = verifying(engine, pki)
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    handshake(first, MemoryServer(sctx))
    small = engine.DtlsClient(ctx, certs.AUTH_NAME, session=first.session(), mtu=256)
    hello = small.start()
    if unfragmented_client_hello(engine):
        assert len(hello) == 1 and len(hello[0]) > 256 and is_client_hello(hello[0])
    else:
        assert len(hello) > 1 and all(len(d) <= 256 for d in hello)
    rtt, _ = first_answer(small, MemoryServer(sctx, mtu=256), query(), hello=hello)
    assert rtt == 2 and small.info()["resumed"]


def test_small_mtu_full_handshake_keeps_every_datagram_under_it(engine, pki):
    sent = []

    class Recording(MemoryServer):
        def feed(self, datagrams):
            sent.extend(datagrams)
            back = MemoryServer.feed(self, datagrams)
            sent.extend(back)
            return back

    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME, mtu=300)
    rtt, _ = first_answer(client, Recording(server_context(pki), mtu=300), query())
    assert rtt == 3
    if unfragmented_client_hello(engine):
        sent = [d for d in sent if not is_client_hello(d)]
    assert max(datagram_sizes(sent)) <= 300


def test_garbage_datagrams_are_dropped_and_counted(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki))
    out = client.start()
    for junk in (b"", b"\x16\xfe", b"not DTLS at all", b"\x2c" + b"\x00" * 20):
        assert client.receive(junk) == ([], False, False)
    assert client.dropped == 4
    back = server.feed(out)
    assert client.receive(back[0][:-1]) == ([], False, False), "a cut datagram is dropped"
    assert client.dropped == 5
    for datagram in back:
        client.receive(datagram)
    for datagram in server.feed(client.pending_output()):
        client.receive(datagram)
    assert client.established
    answers = []
    for datagram in server.feed(client.send(query())):
        answers += client.receive(datagram)[0]
    assert len(answers) == 1


# --- alerts and closing ---------------------------------------------------------

def test_plaintext_alert_is_seen_but_does_not_touch_the_session(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki))
    handshake(client, server)
    alert = dtls_record.alert_record(dtls_record.ALERT_FATAL,
                                     dtls_record.ALERT_UNEXPECTED_MESSAGE, seq=5)
    assert dtls_record.is_plaintext_alert(alert)
    assert client.receive(alert) == ([], False, False), "OpenSSL drops an epoch-0 alert"
    assert client.plaintext_alerts == 1
    assert client.last_plaintext_alert == (dtls_record.ALERT_FATAL,
                                           dtls_record.ALERT_UNEXPECTED_MESSAGE)
    assert client.established and client.pending_output() == []
    answers = []
    for datagram in server.feed(client.send(query(msg_id=9))):
        answers += client.receive(datagram)[0]
    assert dns.message.from_wire(answers[0]).id == 9, "the session still carries queries"
    assert client.session() is not None


def test_close_notify_from_server_is_reported(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki))
    handshake(client, server)
    server.conn.shutdown()
    back = server.output()
    assert len(back) == 1 and not dtls_record.is_plaintext_alert(back[0]), "encrypted"
    assert client.receive(back[0]) == ([], False, True)


def test_close_sends_close_notify(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    server = MemoryServer(server_context(pki))
    handshake(client, server)
    out = client.close()
    assert len(out) == 1
    server.feed(out)
    assert server.closed


def test_close_before_the_handshake_sends_nothing(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    client.start()
    assert client.close() == []


def test_send_before_the_handshake_is_an_error(engine, pki):
    client = engine.DtlsClient(verifying(engine, pki), certs.AUTH_NAME)
    client.start()
    with pytest.raises(TlsError, match="not established"):
        client.send(query())
    assert client.info()["tls_version"] is None


def test_kept_session_objects_survive_a_client_freed_without_close_notify(engine, pki, session_keeping):
    """Without DER, the kept session is the SSL_SESSION the old client used: freed
    without close_notify, OpenSSL would mark it not resumable unless
    DtlsClient.__del__ says close_notify went."""
    ctx = verifying(engine, pki)
    sctx = server_context(pki)
    first = engine.DtlsClient(ctx, certs.AUTH_NAME)
    first_answer(first, MemoryServer(sctx), query())
    saved = first.session()
    if session_keeping != "blob":
        assert (saved.der is None) == (session_keeping == "object")
    del first
    for _ in range(2):
        client = engine.DtlsClient(ctx, certs.AUTH_NAME, session=saved)
        rtt, _ = first_answer(client, MemoryServer(sctx), query())
        assert rtt == 2 and client.info()["resumed"]
        again = client.session()
        assert again.id == saved.id, "a resumed session keeps its identity"
        del client
        saved = again
