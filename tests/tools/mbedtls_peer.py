"""DNS over DTLS (RFC 8094) peers built on mbedTLS through python-mbedtls, to
check that dprive talks DTLS to a stack other than OpenSSL's.

    server = MbedDtlsServer(pki.server_chain, pki.server_key, forward_udp(port))
    server.start()                 # a thread serving 127.0.0.1:server.port
    ...
    server.stop()

    with MbedDtlsClient(pki.ca_cert, "dns.test", port) as client:
        client.handshake()
        answer = client.query(wire)

Both sides drive an mbedTLS context on memory buffers (python-mbedtls's
TLSWrappedBuffer) and own their UDP socket. One DNS message is one record,
no length prefix. What python-mbedtls 2.10 does that shapes this module:

- `do_handshake()` runs one step of mbedTLS's state machine, not the whole
  handshake: it is called until the state is HANDSHAKE_OVER or it raises
  WantReadError (feed it a datagram) or WantWriteError (flush, go on).
- A DTLS ServerContext always demands the cookie (RFC 6347 4.2.1): a
  ClientHello without one is answered with a HelloVerifyRequest, and then
  `do_handshake()` raises HelloVerifyRequest having reset the context, which
  forgets the client's transport ID: `setcookieparam()` must be called again
  or the next ClientHello fails with "Bad input parameters".
- The output buffer is a byte stream: what one call wrote (a flight, or one
  record) is sent as one datagram. Records carry their own lengths, so that
  is valid DTLS; on loopback no flight comes near the MTU.
- No retransmission timer is run here: loopback does not lose datagrams.

Only 127.0.0.1 is used.
"""

import re
import select
import socket
import threading
import time

try:
    from mbedtls import pk, tls, x509
    from mbedtls.exceptions import TLSError
    IMPORT_ERROR = None
except ImportError as err:          # the tests skip with this reason
    pk = tls = x509 = TLSError = None
    IMPORT_ERROR = err

LOOPBACK = "127.0.0.1"
MAX_DATAGRAM = 65535
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)

# DTLS record header: type(1) version(2) epoch(2) sequence(6) length(2).
RECORD_HEADER_LEN = 13
CT_ALERT = 21
CT_HANDSHAKE = 22
HT_CLIENT_HELLO = 1
HT_HELLO_VERIFY_REQUEST = 3
ERR_PEER_CLOSE_NOTIFY = 0x7880      # MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY, as TLSError.err


def unavailable_reason():
    """None if python-mbedtls can be used here, else why not (for pytest.skip)."""
    if IMPORT_ERROR is not None:
        return "python-mbedtls is not importable (%s); pip install -r requirements-dev.txt" % (
            IMPORT_ERROR,)
    return None


def records(datagram):
    """[(content type, epoch, fragment)] of the DTLS records in a datagram;
    raises ValueError if the datagram is not a sequence of whole records."""
    found = []
    pos = 0
    while pos < len(datagram):
        if pos + RECORD_HEADER_LEN > len(datagram):
            raise ValueError("truncated DTLS record header at byte %d" % pos)
        ctype = datagram[pos]
        epoch = int.from_bytes(datagram[pos + 3:pos + 5], "big")
        length = int.from_bytes(datagram[pos + 11:pos + 13], "big")
        start = pos + RECORD_HEADER_LEN
        if start + length > len(datagram):
            raise ValueError("DTLS record of %d bytes runs past the datagram" % length)
        found.append((ctype, epoch, datagram[start:start + length]))
        pos = start + length
    return found


def handshake_types(datagram):
    """Types of the plaintext (epoch 0) handshake messages in a datagram."""
    return [frag[0] for ctype, epoch, frag in records(datagram)
            if ctype == CT_HANDSHAKE and epoch == 0 and frag]


def load_chain(chain_file, key_file):
    """(certificates, key) for a DTLSConfiguration, from PEM files (the
    chain file may hold the server certificate followed by its CA)."""
    with open(chain_file, "rb") as handle:
        pem = handle.read()
    blocks = _PEM_CERT.findall(pem)
    if not blocks:
        raise ValueError("no certificate in %s" % chain_file)
    certs = tuple(x509.CRT.from_PEM(block.decode("ascii")) for block in blocks)
    with open(key_file, "rb") as handle:
        key_pem = handle.read()
    try:
        key = pk.ECC.from_buffer(key_pem)
    except Exception:                   # not an EC key: let mbedTLS try RSA
        key = pk.RSA.from_buffer(key_pem)
    return certs, key


def _drain(buf):
    """All bytes mbedTLS has written to `buf`'s output."""
    out = b""
    while True:
        chunk = buf.peek_outgoing(MAX_DATAGRAM)
        if not chunk:
            return out
        buf.consume_outgoing(len(chunk))
        out += chunk


def _read_records(buf):
    """(the application data waiting in `buf`, one bytes per record;
    whether the peer sent close_notify)."""
    messages = []
    while True:
        try:
            data = buf.read(MAX_DATAGRAM)
        except tls.WantReadError:
            return messages, False
        except TLSError as err:
            if getattr(err, "err", None) == ERR_PEER_CLOSE_NOTIFY:
                return messages, True
            raise
        if not data:
            return messages, False
        messages.append(data)


def _handshake_over(buf):
    return buf._handshake_state is tls.HandshakeStep.HANDSHAKE_OVER


# ------------------------------------------------------------------ server

def forward_udp(port, timeout_s=2.0):
    """An `answer(query) -> response` that asks the resolver on 127.0.0.1:port
    over plain UDP (None when it does not answer in time)."""

    def answer(query):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect((LOOPBACK, port))
            sock.send(query)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                try:
                    response = sock.recv(MAX_DATAGRAM)
                except socket.timeout:
                    return None
                if response[:2] == query[:2]:
                    return response
            return None

    return answer


class _ServerPeer:
    """mbedTLS server state for one client address."""

    def __init__(self, context, addr):
        self.addr = addr
        self.cookie_id = ("%s:%d" % addr).encode("ascii")
        self.buf = context.wrap_buffers()
        self.buf.setcookieparam(self.cookie_id)
        self.established = False

    def feed(self, datagram, server):
        """A datagram from the client: (bytes to send, DNS messages, closed)."""
        self.buf.receive_from_network(datagram)
        out = b""
        if not self.established:
            while not _handshake_over(self.buf):
                try:
                    self.buf.do_handshake()
                except tls.WantWriteError:
                    out += _drain(self.buf)
                except tls.WantReadError:
                    return out + _drain(self.buf), [], False
                except tls.HelloVerifyRequest:
                    # The HelloVerifyRequest is written and mbedTLS has reset
                    # the context, forgetting the client's ID for the cookie.
                    server.count("hello_verify_requests")
                    self.buf.setcookieparam(self.cookie_id)
                    return out + _drain(self.buf), [], False
            self.established = True
            server.established(self)
        messages, closed = _read_records(self.buf)
        return out + _drain(self.buf), messages, closed

    def send(self, message):
        """One DNS message as one record: the bytes to send."""
        self.buf.write(message)      # returns the length of the record written, not of message
        return _drain(self.buf)


class MbedDtlsServer:
    """DNS over DTLS on 127.0.0.1 UDP in a thread of the test process, on mbedTLS.

    `answer(query bytes) -> response bytes or None` makes each answer;
    `ciphers`, mbedTLS suite names (tls.ciphers_available()), limits what it
    accepts (by default mbedTLS picks by its own preference).
    `counters` and `sessions` (address -> (DTLS version, cipher)) are for the
    test to read; `errors` lists what went wrong on the server side.
    """

    def __init__(self, chain_file, key_file, answer, port=0, ciphers=None):
        certs, key = load_chain(chain_file, key_file)
        config = tls.DTLSConfiguration(
            certificate_chain=(certs, key),
            validate_certificates=False,          # no client certificates
            lowest_supported_version=tls.DTLSVersion.DTLSv1_2,
            ciphers=ciphers,
        )
        self.context = tls.ServerContext(config)
        self.ciphers = ciphers
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, port))
        self.port = self.sock.getsockname()[1]
        self.peers = {}
        self.sessions = {}
        self.errors = []
        self.counters = {"datagrams": 0, "hello_verify_requests": 0, "handshakes": 0,
                         "queries": 0, "answers": 0, "close_notifies": 0,
                         "stray_datagrams": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mbedtls-dtls-server",
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout_s=5.0):
        self._stop.set()
        self._thread.join(timeout_s)
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def count(self, name, n=1):
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def snapshot(self):
        with self._lock:
            return dict(self.counters), dict(self.sessions), list(self.errors)

    def established(self, peer):
        with self._lock:
            self.counters["handshakes"] += 1
            self.sessions[peer.addr] = (peer.buf.negotiated_tls_version(), peer.buf.cipher())

    def _run(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if not ready:
                continue
            try:
                datagram, addr = self.sock.recvfrom(MAX_DATAGRAM)
            except OSError:
                continue
            self.count("datagrams")
            try:
                self._datagram(datagram, addr)
            except Exception as err:            # keep serving; the test reads `errors`
                with self._lock:
                    self.errors.append("%s:%d: %s: %s" % (addr[0], addr[1],
                                                          type(err).__name__, err))
                self.peers.pop(addr, None)

    def _datagram(self, datagram, addr):
        peer = self.peers.get(addr)
        hello = HT_CLIENT_HELLO in handshake_types(datagram)
        if peer is None and not hello:
            self.count("stray_datagrams")     # e.g. a close_notify for a session we dropped
            return
        if peer is None or (hello and peer.established):
            # A new client, or one that starts over (a new handshake or a resumption).
            peer = self.peers[addr] = _ServerPeer(self.context, addr)
        out, messages, closed = peer.feed(datagram, self)
        if out:
            self.sock.sendto(out, addr)
        if closed:
            self.count("close_notifies")
            del self.peers[addr]
        for query in messages:
            self.count("queries")
            response = self.answer(query)
            if response is None:
                continue
            self.count("answers")
            self.sock.sendto(peer.send(response), addr)


# ------------------------------------------------------------------ client

class MbedDtlsClient:
    """A DNS over DTLS client on mbedTLS that checks the server's chain against
    `ca_file` and its name against `server_name`."""

    def __init__(self, ca_file, server_name, port, timeout_s=5.0):
        config = tls.DTLSConfiguration(
            trust_store=tls.TrustStore.from_pem_file(str(ca_file)),
            validate_certificates=True,
            lowest_supported_version=tls.DTLSVersion.DTLSv1_2,
        )
        self.context = tls.ClientContext(config)
        self.buf = self.context.wrap_buffers(server_name)
        self.timeout_s = timeout_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((LOOPBACK, port))
        self.client_hellos_sent = 0
        self.hello_verify_requests_seen = 0
        self.datagrams_sent = 0
        self.datagrams_received = 0
        self.early_messages = []          # application data that came with the handshake

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def _send(self, data):
        if data:
            self.client_hellos_sent += handshake_types(data).count(HT_CLIENT_HELLO)
            self.datagrams_sent += 1
            self.sock.send(data)

    def _receive(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from the DTLS server in %.1f s" % self.timeout_s)
        self.sock.settimeout(remaining)
        try:
            datagram = self.sock.recv(MAX_DATAGRAM)
        except socket.timeout:
            raise TimeoutError("no answer from the DTLS server in %.1f s" % self.timeout_s)
        self.datagrams_received += 1
        self.hello_verify_requests_seen += handshake_types(datagram).count(
            HT_HELLO_VERIFY_REQUEST)
        for ctype, epoch, frag in records(datagram):
            if ctype == CT_ALERT and epoch == 0 and len(frag) == 2:
                raise ConnectionError("plaintext DTLS alert from the server: level %d, "
                                      "description %d" % (frag[0], frag[1]))
        self.buf.receive_from_network(datagram)

    def handshake(self):
        """Run the handshake (with the cookie exchange if the server demands it)."""
        deadline = time.monotonic() + self.timeout_s
        while not _handshake_over(self.buf):
            try:
                self.buf.do_handshake()
            except tls.WantWriteError:
                self._send(_drain(self.buf))
            except tls.WantReadError:
                self._send(_drain(self.buf))
                self._receive(deadline)
        self._send(_drain(self.buf))
        # Keep any application data that came in the datagram of the server's Finished.
        self.early_messages.extend(self._read())

    def _read(self):
        messages, closed = _read_records(self.buf)
        if closed:
            raise ConnectionError("the DTLS server sent close_notify")
        return messages

    def version(self):
        return self.buf.negotiated_tls_version()

    def cipher(self):
        return self.buf.cipher()

    def query(self, message):
        """Send one DNS message as one record; the response with the same ID."""
        self.buf.write(message)      # returns the length of the record written, not of message
        self._send(_drain(self.buf))
        deadline = time.monotonic() + self.timeout_s
        pending = list(self.early_messages)
        self.early_messages = []
        while True:
            for response in pending:
                if response[:2] == message[:2]:
                    return response
            self._receive(deadline)
            pending = self._read()
