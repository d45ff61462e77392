"""DNS-over-TLS client engine: bytes in, bytes out, on the standard library's OpenSSL.

It calls _ssl, the C module under ssl.py, through tls/ossl.py (which says why
and falls back to ssl). `TlsClient` wraps an SSL object on two MemoryBIOs,
so the I/O shell owns the socket (Nagle off, later TFO) and the engine owns
only TLS. It reports authentication failures (CA, name, SPKI pins) as
AuthError so the shell can log them plainly; strict profile never lets such a session carry a query.
"""

import sys

from dprive.tls import ca_store, ossl
from dprive.tls.spki import DerError, spki_pin

# CPython gh-116810: each read of SSLObject.session leaks a copy of the session
# (about 6 kB: ticket, peer certificate) in 3.11 (OpenWrt 24.10's Python) and
# 3.12 before 3.12.7 (the fix, gh-123249, reached 3.13 before 3.13.1). With it,
# the daemon reads a session only after a full handshake and reuses a ticket
# that resumed instead of fetching each new one: an RSS that grew by 7 kB per
# reconnect stays flat (bench/wirefuzz.py; tests/integration/test_table_bounds.py).
SESSION_READ_LEAKS = (sys.implementation.name == "cpython"
                      and (sys.version_info[:2] == (3, 11)
                           or (3, 12) <= sys.version_info[:3] < (3, 12, 7)
                           or (3, 13) <= sys.version_info[:3] < (3, 13, 1)))

TLS_VERSIONS = ossl.TLS_VERSIONS
READ_CHUNK = 65536
# Plaintext is read into this one buffer and copied out: read(65536) would malloc
# 64 KiB per record and shrink it (see io/lan.py UdpListener). One event loop
# thread reads TLS, so one buffer serves every session.
_READ_BUFFER = bytearray(READ_CHUNK)
_READ_VIEW = memoryview(_READ_BUFFER)


class TlsError(Exception):
    """The TLS session failed (handshake or record layer)."""


class AuthError(TlsError):
    """The server could not be authenticated."""


def checked_pin(der, pins):
    """The SPKI pin of the DER certificate `der` when it is one of `pins`, else
    AuthError saying why (no certificate, unreadable key, another key). Every
    engine checks pins with it: TLS here, DTLS on either library."""
    if der is None:
        raise AuthError("the server sent no certificate to check the pins against")
    try:
        pin = spki_pin(der)
    except DerError as err:
        raise AuthError("cannot read the server's key for pinning: %s" % err)
    if pin not in pins:
        raise AuthError("SPKI pin mismatch: server key is %s, not one of the %d configured pins"
                        % (pin, len(pins)))
    return pin


def start_failure(err, what="TLS"):
    """Why a session could not even start, in the exception's own words.

    A TlsError says it itself. Anything else keeps its type name, so the root
    cause reaches the log and the status: a non-ASCII server name on a router
    without python3-codecs raises `LookupError: unknown encoding: idna` (tls/ossl.py).
    """
    if isinstance(err, TlsError):
        return str(err)
    return "%s session could not start: %s: %s" % (what, type(err).__name__, err)


def make_context(ca_bundle, min_version, verify_name):
    """A client context; `verify_name` checks the chain against `ca_bundle` and the name.

    Without it, the chain is not checked (pins only, or the opportunistic profile).
    `ca_bundle` may be a hashed directory, read on demand (tls/ca_store.py).
    Raises OSError/ossl.SSLError if the CA bundle cannot be loaded.
    """
    ctx = ossl.new_client_context()
    ctx.minimum_version = TLS_VERSIONS[min_version]
    if verify_name:
        cafile, capath = ca_store.locate(ca_bundle)
        ctx.load_verify_locations(cafile=cafile, capath=capath)
        ctx.check_hostname = True
        ctx.verify_mode = ossl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ossl.CERT_NONE
    return ctx


class TlsClient:
    def __init__(self, context, server_hostname, pins=(), session=None):
        """`session`: an earlier session with this server to resume (see tls/sessions.py)."""
        self._in = ossl.MemoryBIO()
        self._out = ossl.MemoryBIO()
        self._obj = ossl.wrap_client(context, self._in, self._out, server_hostname or None, session)
        self._pins = tuple(pins)
        self.established = False
        self.peer_pin = None
        self.resumption_offered = session is not None

    def start(self):
        """The ClientHello."""
        self._handshake()
        return self._out.read()

    def receive(self, data):
        """Feed bytes from the server: (plaintext, handshake just completed, peer sent close_notify)."""
        self._in.write(data)
        just_up = False
        if not self.established:
            if not self._handshake():
                return b"", False, False
            self._check_pins()
            self.established = True
            just_up = True
        chunks = []
        closed = False
        while True:
            try:
                size = self._obj.read(READ_CHUNK, _READ_BUFFER)
            except ossl.SSLWantReadError:
                break
            except ossl.SSLZeroReturnError:
                closed = True
                break
            except ossl.SSLError as err:
                raise TlsError("TLS record error: %s" % err.reason)
            if not size:
                closed = True
                break
            chunks.append(bytes(_READ_VIEW[:size]))
        return b"".join(chunks), just_up, closed

    def send(self, plaintext):
        """Encrypt `plaintext`; the returned bytes go on the wire."""
        self._obj.write(plaintext)
        return self._out.read()

    def pending_output(self):
        return self._out.read()

    def close(self):
        """close_notify, as bytes to send (empty if it cannot be sent now)."""
        try:
            self._obj.shutdown()
        except (ossl.SSLWantReadError, ossl.SSLError):
            pass
        return self._out.read()

    def info(self):
        cipher = self._obj.cipher()
        return {
            "tls_version": self._obj.version(),
            "cipher": cipher[0] if cipher else None,
            "resumption_offered": self.resumption_offered,
            "resumed": self._obj.session_reused,
        }

    def session(self):
        return self._obj.session

    def tickets_follow_handshake(self):
        """TLS 1.3 sends session tickets after the handshake; TLS 1.2 within it."""
        return self._obj.version() == "TLSv1.3"

    def resumed(self):
        return self._obj.session_reused

    def _handshake(self):
        try:
            self._obj.do_handshake()
            return True
        except ossl.SSLWantReadError:
            return False
        except ossl.SSLCertVerificationError as err:
            raise AuthError("certificate rejected: %s" % (err.verify_message or err.reason))
        except ossl.SSLError as err:
            raise TlsError("TLS handshake failed: %s" % (err.reason or err))

    def _check_pins(self):
        if not self._pins:
            return
        der = self._obj.getpeercert(True)
        if der is None and self._obj.session_reused:
            return   # resumed: the session was only kept after its pins matched
        self.peer_pin = checked_pin(der, self._pins)
