"""DNS-over-TLS client engine on libmbedtls through ctypes: bytes in, bytes out.

The same API as tls/dot.py (the standard library's ssl, i.e. OpenSSL), so
io/ drives either; `tls_engine` in the config picks one (tls/dot_engines.py).
Why a second engine: libmbedtls is in stock OpenWrt images already, and
without `import ssl` the daemon saves ~4 MB of RSS (libssl, libcrypto and
ssl.py) and the package needs no libopenssl. Nothing here imports `ssl`.

- The byte stream goes through two buffers (tls/mbedtls_bio.py) that
  mbedtls_ssl_set_bio's callbacks read and write; the shell owns the socket.
- TLS 1.2 on 2.28 and 3.6; TLS 1.3 on 3.x builds with it. tls_min_version 1.3
  is mbedtls_ssl_conf_min_version(3, 4), and checked again after the handshake.
- Authentication as tls/dot.py: the chain against the CA bundle and the name
  (mbedtls_ssl_set_hostname: SNI and the certificate check; an IP address
  needs 3.5 or later), SPKI pins on the peer certificate's DER. Failures are
  AuthError (the certificate) or TlsError, in mbedTLS's own words.
- Sessions are mbedtls_ssl_session_save's bytes (tls/mbedtls_client.py
  SavedSession), which tls/sessions.py keeps as the DTLS engine's: a TLS 1.2
  session with its ticket at the end of the handshake, each TLS 1.3 ticket as
  mbedTLS signals it (MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET, 3.6).
  Whether a handshake resumed is read off the server's cleartext records
  (tls/tls_watch.py), not from mbedTLS's private fields.
"""

import ctypes

from dprive.tls import mbedtls_bio
from dprive.tls import mbedtls_client as mc
from dprive.tls import mbedtls_lib as mb
from dprive.tls.engine_api import AuthError, TlsError, checked_pin
from dprive.tls.tls_watch import ServerFlight

ENGINE = "mbedtls"
TLS_VERSIONS = ("1.2", "1.3")
MINOR = {"1.2": 3, "1.3": 4}          # mbedtls_ssl_conf_min_version(conf, 3, minor)
READ_BYTES = 16384 + 256              # one record's plaintext at most
HANDSHAKE_STEPS = 40                  # calls of mbedtls_ssl_handshake per input, a bound on the loop
READ_STEPS = 1000                     # calls of mbedtls_ssl_read per input: 16 MB of records at least
# One event loop thread reads TLS, so one buffer serves every session (as in tls/dot.py).
_READ_BUFFER = ctypes.create_string_buffer(READ_BYTES)


class TlsContext(mc.ClientConfig):
    """An mbedtls_ssl_config for TLS clients (and the CA chain it points to)."""

    def __init__(self, lib, verify_name, min_version):
        mc.ClientConfig.__init__(self, lib, verify_name, mb.TRANSPORT_STREAM)
        self.min_version = min_version
        fn = lib.fn
        if fn.mbedtls_ssl_conf_min_version is not None:
            fn.mbedtls_ssl_conf_min_version(self.conf, 3, MINOR[min_version])
        if fn.mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets is not None:
            # off by default since 3.6.1: without it a TLS 1.3 client ignores every ticket
            fn.mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
                self.conf, mb.SIGNAL_NEW_SESSION_TICKETS_ENABLED)


def has_tls13(lib):
    return lib.has("mbedtls_ssl_conf_tls13_key_exchange_modes")


def make_context(ca_bundle, min_version, verify_name):
    """A client context; `verify_name` checks the chain against `ca_bundle` and the name.

    Without it, the chain is not checked (pins only, or the opportunistic
    profile). Raises TlsError if libmbedtls cannot be used, the CA bundle
    cannot be loaded or the version is not available.
    """
    if min_version not in TLS_VERSIONS:
        raise ValueError("unknown TLS version %r (one of %s)" % (min_version, ", ".join(TLS_VERSIONS)))
    try:
        lib = mb.load()
    except mb.MbedtlsUnavailable as err:
        raise TlsError(str(err))
    if min_version == "1.3" and not has_tls13(lib):
        raise TlsError("TLS 1.3 is not available in %s" % lib.version_text)
    ctx = TlsContext(lib, verify_name, min_version)
    if verify_name:
        ctx.load_ca(ca_bundle)
    return ctx


class TlsClient:
    def __init__(self, context, server_hostname, pins=(), session=None):
        """`session`: a SavedSession from an earlier client on the same `context`."""
        lib = self._lib = context.lib
        self._context = context
        self._ssl = None
        self._verify_name = context.verify_name
        self._is_address = mc.check_name(lib, server_hostname, self._verify_name)
        if session is not None and session.context is not context:
            raise ValueError("the session was made with another context")
        ssl = self._ssl = mc.new_ssl(lib, context.conf)
        self._bio = mbedtls_bio.StreamBuffers()
        mbedtls_bio.attach(lib, ssl, self._bio.key)
        mc.set_name(lib, ssl, server_hostname, self._verify_name, self._is_address)
        if session is not None:
            mc.load_session(lib, ssl, session.blob)
        self._offered = session
        self._pins = tuple(pins)
        self._failed = False
        self._flight = ServerFlight()
        self._saved = None                # the SavedSession to hand out, once there is one
        self.established = False
        self.peer_pin = None
        self.resumption_offered = session is not None

    def start(self):
        """The ClientHello."""
        self._handshake()
        return self._bio.take()

    def receive(self, data):
        """Feed bytes from the server: (plaintext, handshake just completed, peer sent close_notify)."""
        if not self._flight.done:
            self._flight.feed(data)
        self._bio.feed(data)
        just_up = False
        if not self.established:
            if not self._handshake():
                return b"", False, False
            self._handshake_done()
            self.established = True
            just_up = True
        plaintext, closed = self._read_all()
        return plaintext, just_up, closed

    def send(self, plaintext):
        """Encrypt `plaintext`; the returned bytes go on the wire."""
        if not self.established:
            raise TlsError("the TLS session is not established")
        data = bytes(plaintext)
        write = self._lib.fn.mbedtls_ssl_write
        while data:
            rc = write(self._ssl, data, len(data))
            if rc == mb.ERR_RECEIVED_NEW_SESSION_TICKET:
                self._take_ticket()       # a ticket not yet read: the write comes next
                continue
            if rc <= 0:
                self._failed = True
                raise TlsError("TLS write failed: %s" % self._lib.error_text(rc))
            data = data[rc:]          # one record carries at most 16 kB: the rest goes next
        return self._bio.take()

    def pending_output(self):
        return self._bio.take()

    def close(self):
        """close_notify, as bytes to send (empty if it cannot be sent now)."""
        if self.established and not self._failed:
            self._lib.fn.mbedtls_ssl_close_notify(self._ssl)
        return self._bio.take()

    def info(self):
        up = self.established
        fn = self._lib.fn
        return {
            "tls_version": fn.mbedtls_ssl_get_version(self._ssl).decode() if up else None,
            "cipher": fn.mbedtls_ssl_get_ciphersuite(self._ssl).decode() if up else None,
            "resumption_offered": self.resumption_offered,
            "resumed": self.resumed(),
        }

    def session(self):
        """The newest session to resume with (a TLS 1.3 ticket comes after the handshake)."""
        return None if self._failed else self._saved

    def tickets_follow_handshake(self):
        """TLS 1.3 sends session tickets after the handshake; TLS 1.2 within it."""
        return self._version() == "TLSv1.3"

    def resumed(self):
        return self.established and self._flight.resumed

    def __del__(self):
        mc.free_engine(self, "_bio")

    # ---- internals --------------------------------------------------------------

    def _version(self):
        return self._lib.fn.mbedtls_ssl_get_version(self._ssl).decode() if self.established else None

    def _handshake(self):
        """Run the handshake on what has arrived: True once it is done."""
        lib = self._lib
        for _ in range(HANDSHAKE_STEPS):
            rc = lib.fn.mbedtls_ssl_handshake(self._ssl)
            if rc == 0:
                return True
            if rc in (mb.ERR_WANT_READ, mb.ERR_WANT_WRITE):
                return False
            if rc == mb.ERR_RECEIVED_NEW_SESSION_TICKET:
                self._take_ticket()
                continue
            self._failed = True
            raise mc.handshake_failure(lib, self._ssl, rc, self._verify_name, self._is_address, "TLS")
        return False

    def _handshake_done(self):
        """The checks mbedTLS does not make, then the TLS 1.2 session (its ticket came within)."""
        version = self._lib.fn.mbedtls_ssl_get_version(self._ssl).decode()
        if self._context.min_version == "1.3" and version != "TLSv1.3":
            self._failed = True
            raise TlsError("TLS handshake failed: the server chose %s, below tls_min_version 1.3"
                           % version)
        self._check_pins()
        if version == "TLSv1.3":
            return
        blob = mc.save_session(self._lib, self._ssl)
        if blob is None:
            return
        offered = self._offered
        if self._flight.resumed and offered is not None and not self._flight.ticket:
            self._saved = mc.SavedSession(self._context, blob, offered.has_ticket, id=offered.id)
        else:
            self._saved = mc.SavedSession(self._context, blob, self._flight.ticket)

    def _take_ticket(self):
        blob = mc.save_session(self._lib, self._ssl)
        if blob is not None:
            self._saved = mc.SavedSession(self._context, blob, True)

    def _read_all(self):
        chunks = []
        lib = self._lib
        bio = self._bio
        nudged = False
        for _ in range(READ_STEPS):
            bio.starved = False
            rc = lib.fn.mbedtls_ssl_read(self._ssl, _READ_BUFFER, READ_BYTES)
            if rc > 0:
                chunks.append(ctypes.string_at(_READ_BUFFER, rc))
                if bio.drained() and not lib.fn.mbedtls_ssl_check_pending(self._ssl):
                    break         # nothing left to read: spare the call that would say so
            elif rc == mb.ERR_RECEIVED_NEW_SESSION_TICKET:
                self._take_ticket()
            elif rc == mb.ERR_WANT_READ and not bio.starved and not nudged:
                # 3.6 took a TLS 1.3 NewSessionTicket and says WANT_READ with
                # input left: the next call hands it over (RECEIVED_NEW_SESSION_TICKET)
                nudged = True
                continue
            elif rc in (0, mb.ERR_WANT_READ, mb.ERR_WANT_WRITE):
                break
            elif rc == mb.ERR_PEER_CLOSE_NOTIFY:
                return b"".join(chunks), True
            else:
                self._failed = True
                raise TlsError("TLS record error: %s" % lib.error_text(rc))
            nudged = False
        return b"".join(chunks), False

    def _check_pins(self):
        if not self._pins:
            return
        der = mc.peer_der(self._lib, self._ssl)
        if der is None and self._flight.resumed and self._offered is not None:
            return   # resumed: the session was only kept after its pins matched
        try:
            self.peer_pin = checked_pin(der, self._pins)
        except AuthError:
            self._failed = True
            raise
