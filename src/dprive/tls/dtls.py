"""DNS-over-DTLS client engine (RFC 8094): datagrams in, datagrams out, on pyOpenSSL.

`DtlsClient` runs an OpenSSL DTLS connection on memory BIOs, so the asyncio
shell owns the UDP socket and the timer. One DNS message is one record, with
no length prefix; `receive()` hands back one message per record.

What OpenSSL and pyOpenSSL do that shapes this module (pyOpenSSL 26.4,
OpenSSL 4.0.3 bundled by cryptography 50):

- DTLS 1.2 only: DTLS_METHOD never offers 1.3, and the version setters
  refuse 0xfefc, so `min_version "1.3"` raises TlsError.
- A memory BIO is a byte stream: the datagrams of one flight come out of
  `bio_read` run together. `pending_output()` packs the records again into
  datagrams of at most `mtu` bytes, the cut OpenSSL itself makes at that MTU.
  `set_ciphertext_mtu` (SSL_set_mtu) needs OP_NO_QUERY_MTU, or OpenSSL asks
  the memory BIO for the path MTU and falls back to 256-byte records. The
  option is set on the Context, which every Connection copies at SSL_new:
  Connection.set_options is only in pyOpenSSL 26.2+, and OpenWrt's feed
  ships 24.2.1 (24.10) and 23.3.0 (25.12).
- OpenSSL marks an SSL_SESSION not resumable for good when an SSL that used
  it is freed without sending close_notify, as happens to a session whose
  server lost state. A DtlsSession (tls/dtls_session.py) therefore keeps the
  session as DER, and each client decodes a fresh SSL_SESSION from it.
- pyOpenSSL has no host name check and no `session_reused`: we call them
  through cryptography's bindings on the Connection's SSL pointer (the
  private `_ssl` attribute, read in `_ssl_of` only). Older cryptography
  binds less (tls/dtls_support.py): without i2d/d2i_SSL_SESSION (before 44,
  e.g. 41.0.7 on OpenWrt 24.10) a DtlsSession holds pyOpenSSL's Session
  object instead, kept resumable by DtlsClient.__del__; without
  SSL_session_reused (before 42) a resumption is told by its master secret.
- The retransmission timer runs on OpenSSL's own clock: `handle_timeout()`
  retransmits only once `timeout_s()` has really gone by.

Authentication follows dot.make_context: the chain is checked against a CA
bundle together with the name, or nothing is checked and the SPKI pins alone
decide. Failures are AuthError, everything else TlsError, both from dot.py.
"""

from cryptography.hazmat.bindings.openssl.binding import Binding
from OpenSSL import SSL, crypto

from dprive.core import dtls_record
from dprive.core.dtls_record import DtlsRecordError
from dprive.tls import ca_store, dtls_support
from dprive.tls import dtls_common
from dprive.tls.dtls_common import DEFAULT_MTU, check_message, ip_literal, screen_datagram
from dprive.tls.dot import AuthError, TlsError, checked_pin
from dprive.tls.hostname import ascii_hostname
from dprive.tls.dtls_session import DtlsSession, session_der, use_session

_binding = Binding()
_lib = _binding.lib
_ffi = _binding.ffi
SUPPORT = dtls_support.probe(dtls_support.CLIENT)

DTLS_VERSIONS = {"1.2": 0xFEFD, "1.3": 0xFEFC}
READ_CHUNK = 65536           # more than any record holds
MAX_TIMEOUT_S = 60.0         # OpenSSL's own backoff limit; see timeout_s()
X509_V_OK = 0
NO_PARTIAL_WILDCARDS = 0x4   # X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, as Python's ssl
MessageTooLarge = dtls_common.MessageTooLarge   # part of the engine API the callers name


def make_dtls_context(ca_bundle, min_version, verify_name):
    """A client Context; `verify_name` checks the chain against `ca_bundle` and the name.

    Without it, nothing is checked (pins only, or the opportunistic profile).
    Keep one Context per upstream: a session only resumes with the Context it
    came from. Raises TlsError if the CA bundle cannot be loaded or the
    version is not available.
    """
    if min_version not in DTLS_VERSIONS:
        raise ValueError("unknown DTLS version %r (one of %s)"
                         % (min_version, ", ".join(sorted(DTLS_VERSIONS))))
    ctx = SSL.Context(SSL.DTLS_METHOD)
    try:
        ctx.set_min_proto_version(DTLS_VERSIONS[min_version])
    except SSL.Error:
        raise TlsError("DTLS %s is not available in %s"
                       % (min_version, SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()))
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_QUERY_MTU)
    if verify_name:
        try:
            ctx.load_verify_locations(*ca_store.locate(ca_bundle))     # a file or a hashed directory
        except SSL.Error as err:
            raise TlsError("cannot load the CA bundle %s: %s" % (ca_bundle, _reason(err)))
        ctx.set_verify(SSL.VERIFY_PEER, None)
    else:
        ctx.set_verify(SSL.VERIFY_NONE, None)
    return ctx


class DtlsClient:
    def __init__(self, context, server_hostname, pins=(), session=None, mtu=DEFAULT_MTU):
        """`session`: a DtlsSession from an earlier client on the same `context`."""
        self._context = context
        self._conn = SSL.Connection(context, None)
        self._conn.set_connect_state()
        self._conn.set_ciphertext_mtu(mtu)
        self._mtu = mtu
        self._verify_name = bool(context.get_verify_mode() & SSL.VERIFY_PEER)
        address = ip_literal(server_hostname)
        if server_hostname and address is None:
            self._conn.set_tlsext_host_name(ascii_hostname(server_hostname).encode("ascii"))
        if self._verify_name:
            if not server_hostname:
                raise ValueError("checking the name needs a server_hostname")
            _expect_name(self._conn, server_hostname, address)
        if session is not None:
            if session.context is not context:
                raise ValueError("the session was made with another Context")
            if session.der is not None:
                use_session(_ssl_of(self._conn), session.der)
            else:
                self._conn.set_session(session.handle)
        self._offered = session
        self._pins = tuple(pins)
        self._failed = False
        self.established = False
        self.peer_pin = None
        self.resumption_offered = session is not None
        self.dropped = 0              # datagrams that were not DTLS records
        self.plaintext_alerts = 0     # epoch-0 alerts after the handshake (OpenSSL drops them)
        self.last_plaintext_alert = None   # (level, description)

    def start(self):
        """The ClientHello, as a list of datagrams."""
        self._handshake()
        return self.pending_output()

    def receive(self, datagram):
        """Feed one datagram: (DNS messages, handshake just completed, peer sent close_notify).

        Datagrams to send in return (handshake flights, retransmissions) wait
        in pending_output(); after `just_established`, `send()` packs the
        client's Finished and the first query into one datagram when they fit.
        """
        if not screen_datagram(self, datagram):
            return [], False, False
        self._conn.bio_write(datagram)
        just_up = False
        if not self.established:
            if not self._handshake():
                return [], False, False
            self._check_pins()
            self.established = True
            just_up = True
        messages = []
        closed = False
        while True:
            try:
                message = self._conn.recv(READ_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                closed = True
                break
            except SSL.Error as err:
                self._failed = True
                raise TlsError("DTLS record error: %s" % _reason(err))
            if message:
                messages.append(message)
        return messages, just_up, closed

    def send(self, message):
        """One DNS message as one record: the datagrams to send (with anything pending)."""
        if not self.established:
            raise TlsError("the DTLS session is not established")
        check_message(message, self.max_message_len(), self._mtu)
        try:
            written = self._conn.send(message)
        except SSL.Error as err:
            self._failed = True
            raise TlsError("DTLS write failed: %s" % _reason(err))
        if written != len(message):
            raise TlsError("OpenSSL wrote %d of %d bytes" % (written, len(message)))
        return self.pending_output()

    def max_message_len(self):
        """The largest DNS message one record carries under the MTU (0 before the handshake)."""
        if not self.established:
            return 0
        return self._conn.get_cleartext_mtu()

    def pending_output(self):
        """Datagrams OpenSSL has written, each at most `mtu` bytes unless one record is longer."""
        chunks = []
        while True:
            try:
                chunks.append(self._conn.bio_read(READ_CHUNK))
            except SSL.WantReadError:
                break
        try:
            return dtls_record.pack_datagrams(b"".join(chunks), self._mtu)
        except DtlsRecordError as err:
            raise TlsError("OpenSSL wrote something that is not DTLS records: %s" % err)

    def timeout_s(self):
        """Seconds until handle_timeout() is due, or None when no timer runs.

        Capped at OpenSSL's longest backoff: its timer follows the wall clock,
        which jumps on a router that sets it by NTP after boot.
        """
        remaining = self._conn.DTLSv1_get_timeout()
        if remaining is None:
            return None
        return min(max(remaining, 0.0), MAX_TIMEOUT_S)

    def handle_timeout(self):
        """Retransmit the last flight if its timer has run out: datagrams to send."""
        try:
            self._conn.DTLSv1_handle_timeout()
        except SSL.Error as err:
            self._failed = True
            raise TlsError("DTLS handshake gave up: %s" % _reason(err))
        return self.pending_output()

    def close(self):
        """close_notify, as datagrams to send (none if it cannot be sent now)."""
        try:
            self._conn.shutdown()
        except SSL.Error:
            pass
        return self.pending_output()

    def info(self):
        up = self.established
        return {
            "tls_version": self._conn.get_protocol_version_name() if up else None,
            "cipher": self._conn.get_cipher_name() if up else None,
            "resumption_offered": self.resumption_offered,
            "resumed": up and self._resumed(),
        }

    def _resumed(self):
        if SUPPORT.features["session_reused"]:
            return bool(_lib.SSL_session_reused(_ssl_of(self._conn)))
        # cryptography before 42: a resumed handshake kept the offered master secret.
        offered = self._offered
        return bool(offered is not None and offered.master is not None
                    and self._conn.master_key() == offered.master)

    def session(self):
        """A DtlsSession to resume with, once the handshake is up (DTLS 1.2 has its ticket by then).

        Without i2d_SSL_SESSION (cryptography before 44) it holds OpenSSL's own
        SSL_SESSION, shared with this client: see __del__.
        """
        if not self.established or self._failed:
            return None
        if not SUPPORT.features["session_der"]:
            return DtlsSession(self._context, handle=self._conn.get_session(),
                               master=self._conn.master_key())
        pointer = _lib.SSL_get_session(_ssl_of(self._conn))
        if pointer == _ffi.NULL:
            return None
        return DtlsSession(self._context, der=session_der(pointer))

    def __del__(self):
        # SSL_free of a connection that is up and has not sent close_notify marks
        # its SSL_SESSION not resumable (ssl_clear_bad_session), and a kept session
        # object is that very SSL_SESSION: say close_notify went, so it stays good.
        # (With DER every client decodes its own copy, and nothing needs doing.)
        conn = getattr(self, "_conn", None)       # None if __init__ raised early
        if (conn is not None and getattr(self, "established", False)
                and not SUPPORT.features["session_der"]):
            try:
                conn.set_shutdown(conn.get_shutdown() | SSL.SENT_SHUTDOWN)
            except (SSL.Error, AttributeError):
                pass

    def _handshake(self):
        try:
            self._conn.do_handshake()
            return True
        except SSL.WantReadError:
            return False
        except SSL.Error as err:
            self._failed = True
            code = _lib.SSL_get_verify_result(_ssl_of(self._conn))
            if self._verify_name and code != X509_V_OK:
                message = _ffi.string(_lib.X509_verify_cert_error_string(code)).decode()
                raise AuthError("certificate rejected: %s" % message)
            raise TlsError("DTLS handshake failed: %s" % _reason(err))

    def _check_pins(self):
        if not self._pins:
            return
        cert = self._conn.get_peer_certificate()
        der = None if cert is None else crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
        try:
            self.peer_pin = checked_pin(der, self._pins)
        except AuthError:
            self._failed = True
            raise


# --- OpenSSL through cryptography's bindings ----------------------------------

def _ssl_of(conn):
    """The SSL* of a pyOpenSSL Connection (a private attribute, stable since 0.x)."""
    return conn._ssl


def _reason(err):
    """The reasons in a pyOpenSSL error: its args[0] is a list of (lib, func, reason)."""
    details = err.args[0] if err.args else None
    if isinstance(details, list) and details:
        return "; ".join(str(entry[-1]) for entry in details)
    return str(err) or err.__class__.__name__


def _expect_name(conn, name, address):
    """Make OpenSSL check the certificate for `name` (a DNS name or an IP literal)."""
    param = _lib.SSL_get0_param(_ssl_of(conn))
    if address is not None:
        packed = address.packed
        done = _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    else:
        _lib.X509_VERIFY_PARAM_set_hostflags(param, NO_PARTIAL_WILDCARDS)
        encoded = ascii_hostname(name).encode("ascii")
        done = _lib.X509_VERIFY_PARAM_set1_host(param, encoded, len(encoded))
    if done != 1:
        _lib.ERR_clear_error()
        raise TlsError("OpenSSL would not take %r as the name to check" % (name,))
