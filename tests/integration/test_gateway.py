"""`dprive gateway`: DNS over DTLS (RFC 8094) in front of a real unbound, on loopback.

The gateway runs as a child process (`python -m dprive gateway --config F`)
in front of the session's unbound (plain DNS port, local data only), once on
each DTLS engine (`engine`: mbedtls, pyopenssl; the ones that cannot run here
are skipped). The client is written here with pyOpenSSL, so against the
mbedTLS gateway every test is also an interop test: a DTLS Connection on memory BIOs and a
UDP socket, counting the round trips of its handshakes (a flight sent that
had to wait for the gateway's answer). Counters come from the gateway's JSON
status file. Every test bounds its own time.
"""

import os
import select
import signal
import socket
import subprocess
import sys
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from OpenSSL import SSL

from dprive import schema
from dprive.core import dtls_record as dr
from tests.tools import common, gateway_engines, older_pyopenssl
from tests.tools.gateway_proc import GatewayProcess
from tests.tools.unbound import BIG_NAME, STATIC_A, STATIC_AAAA

pytestmark = pytest.mark.timeout(60)

# What a plaintext fatal unexpected_message alert looks like (epoch 0, sequence 0).
STRAY_ALERT = bytes.fromhex("15 fefd 0000 000000000000 0002 02 0a".replace(" ", ""))
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(params=gateway_engines.ENGINES)
def engine(request):
    gateway_engines.require(request.param)
    return request.param


@pytest.fixture
def make_gateway(request, tmp_path, pki, unbound, engine):
    started = []

    def make(resolver_port=None, python=None, **options):
        options.setdefault("dtls_engine", engine)
        gw = GatewayProcess(tmp_path / ("gw%d" % (len(started) + 1)), pki,
                            resolver_port or unbound.plain_port, options, python=python)
        started.append(gw)
        gw.start()
        return gw

    try:
        yield make
    finally:
        for gw in started:
            status = gw.stop()
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:
                sys.stdout.write("\n---- %s (exit %s) log tail ----\n%s\n" % (
                    gw.name, status, gw.log_tail()))


# ---- a DNS-over-DTLS client for the tests ----------------------------------------------

_CLIENT_CONTEXTS = {}


def client_context(pki):
    """One context per CA: pyOpenSSL resumes a session only with the context it came from."""
    ctx = _CLIENT_CONTEXTS.get(str(pki.ca_cert))
    if ctx is None:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_options(SSL.OP_NO_QUERY_MTU)
        ctx.load_verify_locations(str(pki.ca_cert))
        ctx.set_verify(SSL.VERIFY_PEER, lambda conn, cert, errno, depth, ok: bool(ok))
        _CLIENT_CONTEXTS[str(pki.ca_cert)] = ctx
    return ctx


def resumed_counted(status, n):
    """The gateway counted `n` resumptions, or cannot count them and says so
    (pyOpenSSL: no SSL_session_reused before cryptography 42, 41.0.7 on OpenWrt 24.10)."""
    if status["dtls"]["engine"] == "mbedtls" or \
            status["dtls"]["pyopenssl"]["features"]["session_reused"]:
        return status["counters"]["handshakes_resumed"] == n
    assert any("SSL_session_reused" in note for note in status["dtls"]["notes"]), status["dtls"]
    return status["counters"]["handshakes_resumed"] == 0


class DtlsClient:
    """pyOpenSSL DTLS 1.2 on memory BIOs, one UDP socket, one DNS message per record."""

    def __init__(self, port, pki, session=None, mtu=1232, sock=None):
        """`sock`: an already connected socket (the same source port as before)."""
        self.conn = SSL.Connection(client_context(pki), None)
        self.conn.set_connect_state()
        self.conn.set_ciphertext_mtu(mtu)
        self.conn.set_tlsext_host_name(b"dns.test")
        self.resumed_from = None    # the master secret of the session offered
        if session is not None:
            session, self.resumed_from = session
            self.conn.set_session(session)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.round_trips = 0        # flights of the handshake that waited for an answer
        self.inbox = []             # every datagram received, as it came
        self.held = b""             # the client's Finished after a resumption: goes with a query

    def close(self):
        self.sock.close()

    def _drain(self):
        out = b""
        while True:
            try:
                chunk = self.conn.bio_read(65536)
            except SSL.WantReadError:
                return out
            if not chunk:
                return out
            out += chunk

    def recv_raw(self, timeout_s):
        """One datagram, or None after timeout_s."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout_s))
        if not ready:
            return None
        data = self.sock.recv(65535)
        self.inbox.append(data)
        return data

    def handshake(self, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.conn.do_handshake()
                done = True
            except SSL.WantReadError:
                done = False
            out = self._drain()
            if done:
                self.held = out
                return self
            if out:
                self.sock.send(out)
                self.round_trips += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("DTLS handshake not done after %.1f s" % timeout_s)
            timer = self.conn.DTLSv1_get_timeout()
            data = self.recv_raw(min(remaining, timer if timer is not None else remaining))
            if data is None:
                self.conn.DTLSv1_handle_timeout()
                out = self._drain()
                if out:
                    self.sock.send(out)
                continue
            self.conn.bio_write(data)

    def session(self):
        """What a later client resumes with: the Session and its master secret."""
        return self.conn.get_session(), self.conn.master_key()

    def reused(self):
        """A resumed DTLS 1.2 handshake keeps the session's master secret, a full one
        makes a new one. (SSL_session_reused is not bound before cryptography 42.)"""
        return self.resumed_from is not None and self.conn.master_key() == self.resumed_from

    def send_queries(self, wires):
        """Each message as its own record, all in one datagram."""
        out = self.held
        self.held = b""
        for msg in wires:
            self.conn.send(msg)
            out += self._drain()
        self.sock.send(out)

    def read_message(self, timeout_s=3.0):
        """The next DNS message from the gateway (bytes), or None."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.conn.recv(65535)
            except SSL.WantReadError:
                pass
            data = self.recv_raw(deadline - time.monotonic())
            if data is None:
                return None
            self.conn.bio_write(data)

    def ask(self, name, rdtype="A", payload=1232, use_edns=0, timeout_s=3.0):
        query = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload)
        self.send_queries([query.to_wire()])
        data = self.read_message(timeout_s)
        assert data is not None, "no answer for %s %s" % (name, rdtype)
        answer = dns.message.from_wire(data)
        assert answer.id == query.id
        return answer, data


def addresses(answer, rdtype=dns.rdatatype.A):
    return sorted(r.address for rrset in answer.answer if rrset.rdtype == rdtype for r in rrset)


def first_flight(pki):
    """The bytes of a real ClientHello (as pyOpenSSL sends it first)."""
    client = DtlsClient(9, pki)       # never sent anywhere
    try:
        try:
            client.conn.do_handshake()
        except SSL.WantReadError:
            pass
        return client._drain()
    finally:
        client.close()


def app_data_record(seq=1, size=40):
    return bytes.fromhex("17fefd0001") + seq.to_bytes(6, "big") + size.to_bytes(2, "big") + \
        os.urandom(size)


# ---- tests ---------------------------------------------------------------------------

def test_handshake_with_cookie_then_queries_one_per_record(make_gateway, pki):
    gw = make_gateway()
    client = DtlsClient(gw.port, pki)
    try:
        client.handshake()
        # First answer: a HelloVerifyRequest (handshake type 3) in epoch 0.
        hvr = client.inbox[0]
        assert hvr[0] == dr.CT_HANDSHAKE and hvr[3:5] == b"\x00\x00" and hvr[13] == 3
        # ClientHello, HelloVerifyRequest; ClientHello with cookie, server flight;
        # client Finished, server Finished.
        assert client.round_trips == 3
        assert not client.reused()
        for name, addr in STATIC_A.items():
            answer, raw = client.ask(name)
            assert answer.rcode() == dns.rcode.NOERROR
            assert addresses(answer) == [addr]
        answer, _ = client.ask("a.test.", "AAAA")
        assert addresses(answer, dns.rdatatype.AAAA) == [STATIC_AAAA["a.test."]]
        # One message, one record: the answer came as a single application-data record.
        recs = dr.records(client.inbox[-1])
        assert [(r[dr.TYPE], r[dr.EPOCH]) for r in recs] == [(dr.CT_APPLICATION_DATA, 1)]
        # Several queries in one datagram, each its own record: every one answered.
        queries = [dns.message.make_query(n, "A", use_edns=0) for n in STATIC_A]
        client.send_queries([q.to_wire() for q in queries])
        got = {}
        for _ in queries:
            data = client.read_message()
            assert data is not None
            msg = dns.message.from_wire(data)
            got[msg.id] = addresses(msg)
        assert got == {q.id: [STATIC_A[str(q.question[0].name)]] for q in queries}
        status = gw.wait_status(lambda s: s["counters"]["answers"] == len(STATIC_A) * 2 + 1)
        c = status["counters"]
        assert c["cookies_sent"] == 1 and c["handshakes"] == 1 and c["handshakes_resumed"] == 0
        assert c["queries"] == len(STATIC_A) * 2 + 1 and c["resolver_errors"] == 0
        assert status["sessions"] == 1
    finally:
        client.close()


def test_round_trips_with_and_without_cookie(make_gateway, pki):
    """Full handshake and resumption, with the cookie demanded and without."""
    measured = {}
    for require in (True, False):
        gw = make_gateway(require_cookie=require)
        first = DtlsClient(gw.port, pki).handshake()
        first.ask("a.test.")
        session = first.session()
        second = DtlsClient(gw.port, pki, session=session).handshake()
        assert second.reused()
        # The resumed client's Finished goes out with its first query: one more round trip.
        answer, _ = second.ask("b.test.")
        assert addresses(answer) == [STATIC_A["b.test."]]
        measured[require] = (first.round_trips, second.round_trips)
        first.close()
        second.close()
        gw.wait_status(lambda s: resumed_counted(s, 1))
        gw.stop()
    sys.stdout.write("\nhandshake round trips (full, resumed): cookie %s, no cookie %s\n"
                     % (measured[True], measured[False]))
    assert measured[True] == (3, 2)
    assert measured[False] == (2, 1)


def test_answers_truncated_to_what_the_client_may_receive(make_gateway, pki):
    gw = make_gateway()
    client = DtlsClient(gw.port, pki).handshake()
    try:
        # A 512-byte EDNS buffer: unbound truncates over UDP, the gateway asks
        # again over TCP, the full answer (some 2.5 kB) is cut to fit: TC set.
        answer, raw = client.ask(BIG_NAME, "TXT", payload=512)
        assert answer.flags & dns.flags.TC
        assert len(raw) <= 512 and not answer.answer
        assert str(answer.question[0].name) == BIG_NAME
        # A client that claims 4096 still gets no more than one record under
        # max_datagram_bytes (1232): truncated as well, the datagram within budget.
        answer, raw = client.ask(BIG_NAME, "TXT", payload=4096)
        assert answer.flags & dns.flags.TC and len(raw) < 1232
        assert all(len(d) <= 1232 for d in client.inbox)
        # No EDNS at all: 512 bytes. A small answer fits and is not truncated.
        answer, raw = client.ask("a.test.", use_edns=False)
        assert not answer.flags & dns.flags.TC and addresses(answer) == [STATIC_A["a.test."]]
        status = gw.wait_status(lambda s: s["counters"]["answers"] == 3)
        assert status["counters"]["truncated"] == 2
        assert status["counters"]["resolver_tcp"] >= 1
    finally:
        client.close()


def test_resumption_within_one_gateway_process(make_gateway, pki):
    gw = make_gateway()
    first = DtlsClient(gw.port, pki).handshake()
    first.ask("a.test.")
    session = first.session()
    first.close()
    for _ in range(2):
        again = DtlsClient(gw.port, pki, session=session).handshake()
        assert again.reused()
        answer, _ = again.ask("c.test.")
        assert addresses(answer) == [STATIC_A["c.test."]]
        again.close()
    status = gw.wait_status(lambda s: s["counters"]["handshakes"] == 3)
    assert resumed_counted(status, 2)


@pytest.mark.parametrize("require_cookie", [False, True])
def test_client_hello_on_a_live_session_resumes_from_the_same_port(make_gateway, pki,
                                                                   require_cookie):
    """The draft's DTLS False Start: after a quiet time the client sends the
    resumption ClientHello at once, from the address the gateway still has a
    session for. The new handshake runs beside the old session and replaces
    it when done: 1 round trip (2 with the cookie), the query then in the next."""
    gw = make_gateway(require_cookie=require_cookie)
    old = DtlsClient(gw.port, pki).handshake()
    old.ask("a.test.")
    fresh = DtlsClient(gw.port, pki, session=old.session(), sock=old.sock).handshake()
    assert fresh.reused() and fresh.round_trips == (2 if require_cookie else 1)
    answer, _ = fresh.ask("b.test.")
    assert addresses(answer) == [STATIC_A["b.test."]]
    status = gw.wait_status(lambda s: s["counters"]["answers"] == 2)
    c = status["counters"]
    assert c["sessions_replaced"] == 1 and resumed_counted(status, 1)
    assert c["cookies_sent"] == (2 if require_cookie else 0)
    assert status["sessions"] == 1
    fresh.close()


def test_spoofed_client_hello_does_not_cut_a_live_session_off(make_gateway, pki):
    """Without cookies a ClientHello 'from' a client's address starts a handshake
    beside its session; the client's own records still reach the old session."""
    gw = make_gateway(require_cookie=False, handshake_timeout_ms=500)
    client = DtlsClient(gw.port, pki).handshake()
    try:
        client.ask("a.test.")
        client.sock.send(first_flight(pki))           # as an off-path attacker would
        assert client.recv_raw(3.0)[0] == dr.CT_HANDSHAKE     # the server's flight (epoch 0)
        for name, addr in STATIC_A.items():
            answer, _ = client.ask(name)
            assert addresses(answer) == [addr]
        status = gw.wait_status(lambda s: s["counters"]["handshake_timeouts"] == 1)
        assert status["sessions"] == 1 and status["counters"]["sessions_replaced"] == 0
        answer, _ = client.ask("c.test.")
        assert addresses(answer) == [STATIC_A["c.test."]]
    finally:
        client.close()


def test_record_from_unknown_peer_gets_plaintext_alert(make_gateway, pki):
    gw = make_gateway(alert_interval_ms=2000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.connect(("127.0.0.1", gw.port))
        sock.settimeout(3)
        sock.send(app_data_record())
        alert = sock.recv(100)
        assert alert == STRAY_ALERT
        assert dr.plaintext_alert(alert) == (dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE)
        # The same peer again at once: rate-limited, nothing comes back.
        sock.send(app_data_record(seq=2))
        # An alert is never answered with an alert.
        sock.send(bytes.fromhex("15fefd0001000000000003") + b"\x00\x02\x02\x14")
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        status = gw.wait_status(lambda s: s["counters"]["stray_records"] == 3)
        c = status["counters"]
        assert c["alerts_sent"] == 1 and c["alerts_limited"] == 1
        assert status["sessions"] == 0
    finally:
        sock.close()


def test_gateway_restart_answers_old_session_with_alert(make_gateway, pki):
    """The draft's server state loss: the old session's query gets the alert,
    the client resumes (across the restart only where ticket keys can be set)."""
    gw = make_gateway()
    client = DtlsClient(gw.port, pki).handshake()
    client.ask("a.test.")
    session = client.session()
    common.stop_process(gw.proc, sig=signal.SIGKILL)    # state lost at once, no close_notify
    gw.start()
    ticket_keys = gw.status()["ticket_keys"]
    query = dns.message.make_query("b.test.", "A", use_edns=0)
    client.send_queries([query.to_wire()])
    assert client.recv_raw(3.0) == STRAY_ALERT
    client.close()
    again = DtlsClient(gw.port, pki, session=session).handshake()
    answer, _ = again.ask("b.test.")
    assert addresses(answer) == [STATIC_A["b.test."]]
    assert again.reused() == (ticket_keys == "file")
    again.close()


@pytest.mark.parametrize("engine", ["pyopenssl"])
def test_ticket_keys_from_file_survive_a_restart(make_gateway, pki):
    """Resumption across a restart needs SSL_CTX_ctrl, reachable only where
    pyOpenSSL's cryptography links a shared libssl (Debian's python3-openssl;
    OpenWrt's); the PyPI wheel in the venv cannot, see gateway/tickets.py."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("no %s" % SYSTEM_PYTHON)
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import os\nfrom OpenSSL import SSL\n"
         "from dprive.gateway.tickets import install_ticket_keys\n"
         "print(install_ticket_keys(SSL.Context(SSL.DTLS_METHOD), os.urandom(80)))"],
        capture_output=True, text=True, timeout=30,
        env=dict(os.environ, PYTHONPATH=str(common.REPO_ROOT / "src")))
    if probe.returncode != 0 or probe.stdout.strip() != "None":
        pytest.skip("%s cannot set ticket keys: %s" % (
            SYSTEM_PYTHON, (probe.stdout + probe.stderr).strip()[-300:]))
    gw = make_gateway(python=SYSTEM_PYTHON)
    assert gw.status()["ticket_keys"] == "file"
    client = DtlsClient(gw.port, pki).handshake()
    client.ask("a.test.")
    session = client.session()
    client.close()
    gw.stop()
    gw.start()
    again = DtlsClient(gw.port, pki, session=session).handshake()
    assert again.reused()
    assert again.round_trips == 2
    answer, _ = again.ask("c.test.")
    assert addresses(answer) == [STATIC_A["c.test."]]
    again.close()
    status = gw.wait_status(lambda s: resumed_counted(s, 1))
    assert status["counters"]["handshakes"] == 1


def test_venv_reports_process_ticket_keys(make_gateway, engine):
    """With a statically linked OpenSSL, or mbedTLS 2.28, the gateway still starts,
    and says why its tickets last only as long as the process."""
    gw = make_gateway()
    status = gw.status()
    assert status["dtls"]["engine"] == engine
    if engine == "mbedtls":
        from dprive.tls import mbedtls_lib
        lib = mbedtls_lib.load()
        assert status["dtls"]["version"] == lib.version_text
        assert status["ticket_keys"] == ("file" if lib.has("mbedtls_ssl_ticket_rotate")
                                         else "process"), status
    if status["ticket_keys"] == "process":
        assert status["ticket_keys_note"]
        assert "ticket" in gw.log_tail()
    assert (gw.workdir / "ticket.key").stat().st_size == 80


def test_garbage_is_counted_and_ignored(make_gateway, pki):
    gw = make_gateway()
    junk = [
        b"GET / HTTP/1.1\r\n\r\n",                                  # not DTLS
        b"\x16\xfe",                                                 # shorter than a header
        bytes.fromhex("17fefd0001000000000001") + b"\x01\x00" + b"x" * 10,  # length past the end
        bytes.fromhex("17030300010000000000010005") + b"hello",      # TLS version, not DTLS
        bytes.fromhex("63fefd00000000000000000000"),                 # unknown content type
        bytes.fromhex("16fefd0000000000000000000c") + bytes.fromhex("010000500000000000000050"),
        b"",
    ]
    oversize = app_data_record(size=6000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = DtlsClient(gw.port, pki)
    try:
        sock.connect(("127.0.0.1", gw.port))
        for datagram in junk + [oversize]:
            sock.send(datagram)
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(100)
        status = gw.wait_status(lambda s: s["counters"]["datagrams"] == len(junk) + 1)
        c = status["counters"]
        assert c["bad_datagrams"] == len(junk) and c["oversize_datagrams"] == 1
        assert c["alerts_sent"] == 0 and status["sessions"] == 0
        # DNS messages that are not queries, over a real session: dropped, counted.
        client.handshake()
        response = dns.message.make_response(dns.message.make_query("a.test.", "A"))
        notify = dns.message.make_query("a.test.", "SOA")
        notify.set_opcode(4)
        client.send_queries([b"\x01\x02\x03", response.to_wire(), notify.to_wire(),
                             b"\x00" * 40])
        assert client.read_message(0.5) is None
        answer, _ = client.ask("a.test.")          # the session still works
        assert addresses(answer) == [STATIC_A["a.test."]]
        status = gw.wait_status(lambda s: s["counters"]["answers"] == 1)
        assert status["counters"]["bad_queries"] == 4 and status["counters"]["queries"] == 1
        assert gw.running()
    finally:
        sock.close()
        client.close()


def test_spoofed_client_hello_burst_allocates_nothing(make_gateway, pki):
    gw = make_gateway()
    hello = first_flight(pki)
    assert hello[0] == dr.CT_HANDSHAKE and hello[13] == 1
    socks = []
    try:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", gw.port))
            socks.append(s)
        for s in socks:
            s.send(hello)
        answered = 0
        deadline = time.monotonic() + 5
        pending = list(socks)
        while pending and time.monotonic() < deadline:
            ready, _, _ = select.select(pending, [], [], 0.5)
            for s in ready:
                data = s.recv(1000)
                assert data[0] == dr.CT_HANDSHAKE and data[13] == 3   # HelloVerifyRequest
                assert len(data) < len(hello)                          # no amplification
                answered += 1
                pending.remove(s)
        assert answered == len(socks)
        # A forged cookie is no better.
        socks[0].send(_with_cookie(first_flight(pki), os.urandom(16)))
        assert socks[0].recv(1000)[13] == 3
        status = gw.wait_status(lambda s: s["counters"]["cookies_sent"] == len(socks) + 1)
        c = status["counters"]
        assert status["sessions"] == 0 and c["handshakes_started"] == 0
        assert c["cookies_bad"] == 1
    finally:
        for s in socks:
            s.close()


def _with_cookie(hello, cookie):
    """A ClientHello record with `cookie` put in (lengths fixed up)."""
    body_at = dr.HEADER_LEN + 12
    sid_at = body_at + 2 + 32
    cookie_at = sid_at + 1 + hello[sid_at]
    old = hello[cookie_at]
    grow = len(cookie) - old
    body = hello[body_at:cookie_at] + bytes([len(cookie)]) + cookie + hello[cookie_at + 1 + old:]
    length = len(body)
    handshake = (hello[dr.HEADER_LEN:dr.HEADER_LEN + 1] + length.to_bytes(3, "big")
                 + hello[dr.HEADER_LEN + 4:dr.HEADER_LEN + 9] + length.to_bytes(3, "big") + body)
    record_len = int.from_bytes(hello[11:13], "big") + grow
    assert record_len == len(handshake)
    return hello[:11] + record_len.to_bytes(2, "big") + handshake


def test_idle_sessions_expire(make_gateway, pki):
    gw = make_gateway(session_idle_s=1)
    client = DtlsClient(gw.port, pki).handshake()
    try:
        client.ask("a.test.")
        status = gw.wait_status(lambda s: s["counters"]["sessions_expired"] == 1, timeout_s=5,
                                what="the idle session to expire")
        assert status["sessions"] == 0
        # The gateway said goodbye with an (encrypted) close_notify.
        with pytest.raises(SSL.ZeroReturnError):
            client.read_message(2.0)
        # A query on the expired session now meets the plaintext alert.
        client.sock.send(app_data_record(seq=99))
        assert client.recv_raw(3.0) == STRAY_ALERT
    finally:
        client.close()


def test_limits_on_sessions_and_queries_in_flight(make_gateway, pki):
    gw = make_gateway(max_sessions=1, max_queries_per_client=2, handshake_timeout_ms=1000)
    first = DtlsClient(gw.port, pki).handshake()
    second = DtlsClient(gw.port, pki)
    try:
        with pytest.raises(TimeoutError):
            second.handshake(timeout_s=1.5)
        # Five queries at once: two go to the resolver, three are REFUSED at once.
        queries = [dns.message.make_query("q%d.test." % i, "A", use_edns=0) for i in range(5)]
        first.send_queries([q.to_wire() for q in queries])
        rcodes = []
        for _ in queries:
            data = first.read_message()
            assert data is not None
            rcodes.append(dns.message.from_wire(data).rcode())
        assert sorted(rcodes) == [dns.rcode.NOERROR] * 2 + [dns.rcode.REFUSED] * 3
        status = gw.wait_status(lambda s: s["counters"]["answers"] == 5)
        c = status["counters"]
        assert c["sessions_full"] >= 1 and c["queries_refused"] == 3
        assert status["sessions"] == 1
    finally:
        first.close()
        second.close()


def test_resolver_down_gives_servfail(make_gateway, pki):
    gw = make_gateway(resolver_port=common.free_port(), resolver_timeout_ms=300)
    client = DtlsClient(gw.port, pki).handshake()
    try:
        answer, _ = client.ask("a.test.")
        assert answer.rcode() == dns.rcode.SERVFAIL
        status = gw.wait_status(lambda s: s["counters"]["resolver_errors"] == 1)
        assert status["counters"]["answers"] == 1
    finally:
        client.close()


def test_config_errors_have_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("config gateway 'main'\n"
                    "\toption listen_port '99999'\n"
                    "\toption cert_fil '/x.pem'\n"
                    "\toption require_cookie 'maybe'\n"
                    "config upstream\n")
    proc = subprocess.run([sys.executable, "-m", "dprive", "gateway", "--config", str(conf)],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=str(common.REPO_ROOT / "src")))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    for line, text in ((1, "missing option 'cert_file'"), (1, "missing option 'key_file'"),
                       (2, "'99999'"), (3, "did you mean 'cert_file'"), (4, "a boolean"),
                       (5, "unknown section type 'upstream'")):
        prefix = "%s:%d: " % (conf, line)
        assert any(x.startswith(prefix) and text in x for x in lines), (line, text, lines)
    assert lines[-1] == "6 errors in %s" % conf


def test_example_config_is_valid_and_complete():
    from dprive.gateway.config import load_gateway_config
    path = common.REPO_ROOT / "files" / "etc" / "config" / "dprive-gateway"
    settings = load_gateway_config(path)
    text = path.read_text()
    for name in schema.GATEWAY_OPTIONS:
        assert (" %s " % name) in text, name
    assert settings.listen_port == 853 and settings.require_cookie


def test_pyopenssl_without_cookie_callbacks_stops_the_gateway_and_says_why(tmp_path, pki, unbound):
    """pyOpenSSL before 22.0 has no DTLS cookie callbacks: no traceback, but the
    missing name and its version on stderr and in the status file."""
    older = older_pyopenssl.site_dir(tmp_path / "older", "Context.set_cookie_verify_callback")
    gw = GatewayProcess(tmp_path / "gw", pki, unbound.plain_port, {"dtls_engine": "pyopenssl"})
    gw.write_config()
    run = subprocess.run([sys.executable, "-m", "dprive", "gateway", "--config", str(gw.conf_path)],
                         capture_output=True, text=True, timeout=30, env=older_pyopenssl.env(older))
    why = "lacks Context.set_cookie_verify_callback (pyOpenSSL 22.0.0)"
    assert run.returncode == 1 and why in run.stderr and "Traceback" not in run.stderr, run.stderr
    status = gw.status()
    assert status["running"] is False and why in status["error"], status
    assert why in status["dtls"]["unavailable"], status


@pytest.mark.parametrize("engine", ["pyopenssl"])
def test_pyopenssl_without_the_dtls_timer_still_serves_and_says_what_it_lacks(
        make_gateway, tmp_path, pki, monkeypatch):
    """pyOpenSSL before 23.1 (Debian 12's 23.0.0) has no DTLSv1_get_timeout: the
    gateway serves, does not resend its own flights, and its status says so."""
    older = older_pyopenssl.site_dir(tmp_path / "older", "Connection.DTLSv1_get_timeout",
                                     "Connection.DTLSv1_handle_timeout")
    monkeypatch.setattr(GatewayProcess, "env", lambda self: older_pyopenssl.env(older))
    gw = make_gateway()
    client = DtlsClient(gw.port, pki).handshake()
    answer, _ = client.ask("a.test.")
    assert addresses(answer) == [STATIC_A["a.test."]]
    client.close()
    dtls = gw.status()["dtls"]
    assert dtls["unavailable"] is None and dtls["engine"] == "pyopenssl", dtls
    assert dtls["pyopenssl"]["features"]["retransmit_timer"] is False, dtls
    assert any("does not resend a lost handshake flight" in n and "(from pyOpenSSL 23.1.0)" in n
               for n in dtls["notes"]), dtls
    assert "Traceback" not in gw.log_tail()
