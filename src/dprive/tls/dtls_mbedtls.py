"""DNS-over-DTLS client engine (RFC 8094) on libmbedtls through ctypes.

The same shape and the same API as tls/dtls.py (the pyOpenSSL engine):
datagrams in, datagrams out, the timer from the library, one DNS message per
record; io/dtls_conn.py drives either. What mbedTLS does differently:

- mbedTLS writes whole datagrams (it packs records up to the MTU set with
  mbedtls_ssl_set_mtu) and reads whole datagrams: tls/mbedtls_channel.py
  queues them. `pending_output()` still repacks what waits, so that the
  client's Finished and the first query leave in one datagram.
- DTLS 1.2 only (mbedTLS has no DTLS 1.3); 2.28 would also speak DTLS 1.0,
  which mbedtls_ssl_conf_min_version turns off.
- A session is kept as mbedtls_ssl_session_save's bytes, loaded into a fresh
  mbedtls_ssl_session for each resumption. Whether a handshake resumed, the
  session ID and whether a ticket came are read off the handshake records
  in the clear (Channel), not from mbedTLS's private fields.
- The name check is mbedtls_ssl_set_hostname's (DNS names, and IP addresses
  against iPAddress names from 3.5 on; 2.28 cannot check an address, which
  is said as an error rather than skipped). SPKI pins are checked on the
  peer certificate's DER (mbedtls_ssl_get_peer_cert), on resumptions too.

Failures are AuthError (the certificate) or TlsError (everything else), from
dot.py, carrying mbedTLS's own error text.
"""

import ctypes
import hashlib
import time

from dprive.core import dtls_record
from dprive.core.dtls_record import DtlsRecordError
from dprive.tls import mbedtls_lib as mb
from dprive.tls.dot import AuthError, TlsError, checked_pin
from dprive.tls.hostname import ascii_hostname
from dprive.tls import dtls_common
from dprive.tls.dtls_common import DEFAULT_MTU, check_message, ip_literal, screen_datagram
from dprive.tls.mbedtls_channel import Channel

ENGINE = "mbedtls"
DTLS_VERSIONS = ("1.2", "1.3")
MAX_TIMEOUT_S = 60.0          # mbedTLS's default handshake timeout maximum
READ_BYTES = 16384 + 256      # one record's plaintext at most
HANDSHAKE_STEPS = 40          # calls of mbedtls_ssl_handshake per input, a bound on the loop
FIRST_IP_CHECK = (3, 5)       # mbedTLS matches an IP address against iPAddress SANs from 3.5
BADCERT_CN_MISMATCH = 0x04    # MBEDTLS_X509_BADCERT_CN_MISMATCH (x509.h, 2.28 and 3.6)
MessageTooLarge = dtls_common.MessageTooLarge   # part of the engine API the callers name


class DtlsContext:
    """An mbedtls_ssl_config for clients (and the CA chain it points to)."""

    def __init__(self, lib, verify_name):
        self.lib = lib
        self.verify_name = verify_name
        self.conf = lib.new("ssl_config")
        self.ca = None
        rc = lib.fn.mbedtls_ssl_config_defaults(self.conf, mb.IS_CLIENT, mb.TRANSPORT_DATAGRAM,
                                                mb.PRESET_DEFAULT)
        if rc != 0:
            raise TlsError("mbedtls_ssl_config_defaults: %s" % lib.error_text(rc))
        lib.fn.mbedtls_ssl_conf_rng(self.conf, lib.rng, None)
        if lib.version[0] < 3 and lib.has("mbedtls_ssl_conf_min_version"):
            lib.fn.mbedtls_ssl_conf_min_version(self.conf, 3, 3)     # DTLS 1.2, not 1.0
        lib.fn.mbedtls_ssl_conf_session_tickets(self.conf, mb.SESSION_TICKETS_ENABLED)

    def load_ca(self, ca_bundle):
        self.ca = self.lib.new("x509_crt")
        rc = self.lib.fn.mbedtls_x509_crt_parse_file(self.ca, _path(ca_bundle))
        if rc < 0:
            raise TlsError("cannot load the CA bundle %s: %s" % (ca_bundle, self.lib.error_text(rc)))
        self.lib.fn.mbedtls_ssl_conf_ca_chain(self.conf, self.ca, None)

    def __del__(self):
        lib = getattr(self, "lib", None)
        if lib is None:
            return
        if getattr(self, "conf", None) is not None:
            lib.fn.mbedtls_ssl_config_free(self.conf)
        if getattr(self, "ca", None) is not None:
            lib.fn.mbedtls_x509_crt_free(self.ca)


def make_dtls_context(ca_bundle, min_version, verify_name):
    """A client context; `verify_name` checks the chain against `ca_bundle` and the name.

    Keep one per upstream. Raises TlsError if libmbedtls cannot be used, the
    CA bundle cannot be loaded or the version is not available.
    """
    if min_version not in DTLS_VERSIONS:
        raise ValueError("unknown DTLS version %r (one of %s)" % (min_version, ", ".join(DTLS_VERSIONS)))
    try:
        lib = mb.load()
    except mb.MbedtlsUnavailable as err:
        raise TlsError(str(err))
    if min_version != "1.2":
        raise TlsError("DTLS %s is not available in %s" % (min_version, lib.version_text))
    ctx = DtlsContext(lib, verify_name)
    if verify_name:
        ctx.load_ca(ca_bundle)
        lib.fn.mbedtls_ssl_conf_authmode(ctx.conf, mb.VERIFY_REQUIRED)
    else:
        lib.fn.mbedtls_ssl_conf_authmode(ctx.conf, mb.VERIFY_NONE)
    return ctx


class DtlsSession:
    """A session to resume: mbedtls_ssl_session_save's bytes, for `context` only.

    `id` and `has_ticket` are what tls.sessions.SessionStore reads. The id
    is a hash of the bytes of the handshake that made the session; a
    resumption that brings no new ticket keeps the offered session's id
    (the saved bytes change anyway: they carry the handshake's time), so
    the store does not take a resumed session for a new one.
    """

    def __init__(self, context, blob, has_ticket, id=None):
        self.context = context
        self.blob = blob
        self.id = id if id is not None else hashlib.sha256(blob).digest()[:16]
        self.has_ticket = has_ticket

    def __repr__(self):
        return "DtlsSession(id=%s, ticket=%s)" % (self.id.hex()[:16], self.has_ticket)


class DtlsClient:
    def __init__(self, context, server_hostname, pins=(), session=None, mtu=DEFAULT_MTU,
                 clock=time.monotonic):
        """`session`: a DtlsSession from an earlier client on the same `context`."""
        lib = self._lib = context.lib
        self._context = context
        self._mtu = mtu
        self._ssl = None
        self._verify_name = context.verify_name
        self._name_is_address = False
        if self._verify_name and not server_hostname:
            raise ValueError("checking the name needs a server_hostname")
        address = ip_literal(server_hostname)
        self._name_is_address = address is not None
        if self._verify_name and address is not None and lib.version < FIRST_IP_CHECK:
            raise TlsError("%s cannot check the IP address %s against a certificate"
                           " (3.5 and later can): give the upstream an auth name"
                           % (lib.version_text, server_hostname))
        if session is not None and session.context is not context:
            raise ValueError("the session was made with another context")
        ssl = lib.new("ssl")
        rc = lib.fn.mbedtls_ssl_setup(ssl, context.conf)
        if rc != 0:
            lib.fn.mbedtls_ssl_free(ssl)
            raise TlsError("mbedtls_ssl_setup: %s" % lib.error_text(rc))
        self._ssl = ssl
        self._channel = Channel(clock)
        self._channel.attach(lib, ssl)
        lib.fn.mbedtls_ssl_set_mtu(ssl, mtu)
        if server_hostname and (address is None or self._verify_name):
            # SNI for a name; for an address only the certificate check (RFC 6066: no SNI)
            rc = lib.fn.mbedtls_ssl_set_hostname(ssl, ascii_hostname(server_hostname).encode("ascii"))
            if rc != 0:
                raise TlsError("mbedTLS would not take %r as the name to check: %s"
                               % (server_hostname, lib.error_text(rc)))
        if session is not None:
            self._use_session(session.blob)
        self._offered = session
        self._pins = tuple(pins)
        self._failed = False
        self._read_buf = ctypes.create_string_buffer(READ_BYTES)
        self.established = False
        self.peer_pin = None
        self.resumption_offered = session is not None
        self.dropped = 0
        self.plaintext_alerts = 0
        self.last_plaintext_alert = None

    def start(self):
        """The ClientHello, as a list of datagrams."""
        self._handshake()
        return self.pending_output()

    def receive(self, datagram):
        """Feed one datagram: (DNS messages, handshake just completed, peer sent close_notify)."""
        if not screen_datagram(self, datagram):
            return [], False, False
        self._channel.push(datagram)
        just_up = False
        if not self.established:
            if not self._handshake():
                return [], False, False
            self._check_pins()
            self.established = True
            just_up = True
        messages, closed = self._read_all()
        return messages, just_up, closed

    def send(self, message):
        """One DNS message as one record: the datagrams to send (with anything pending)."""
        if not self.established:
            raise TlsError("the DTLS session is not established")
        check_message(message, self.max_message_len(), self._mtu)
        rc = self._lib.fn.mbedtls_ssl_write(self._ssl, message, len(message))
        if rc != len(message):
            self._failed = True
            raise TlsError("DTLS write failed: %s" % (self._lib.error_text(rc) if rc < 0
                                                      else "%d of %d bytes" % (rc, len(message))))
        return self.pending_output()

    def max_message_len(self):
        """The largest DNS message one record carries under the MTU (0 before the handshake)."""
        if not self.established:
            return 0
        return max(self._lib.fn.mbedtls_ssl_get_max_out_record_payload(self._ssl), 0)

    def pending_output(self):
        """Datagrams mbedTLS has written, repacked up to `mtu` bytes each."""
        datagrams = self._channel.pop_output()
        if len(datagrams) < 2:
            return datagrams
        try:
            return dtls_record.pack_datagrams(b"".join(datagrams), self._mtu)
        except DtlsRecordError as err:
            raise TlsError("mbedTLS wrote something that is not DTLS records: %s" % err)

    def timeout_s(self):
        """Seconds until handle_timeout() is due, or None when no timer runs."""
        remaining = self._channel.timeout_s()
        return None if remaining is None else min(remaining, MAX_TIMEOUT_S)

    def handle_timeout(self):
        """Retransmit the last flight if its timer has run out: datagrams to send."""
        if not self.established and self._channel.timer_expired():
            self._handshake()
        return self.pending_output()

    def close(self):
        """close_notify, as datagrams to send (none if it cannot be sent now)."""
        if self.established and not self._failed:
            self._lib.fn.mbedtls_ssl_close_notify(self._ssl)
        return self.pending_output()

    def info(self):
        up = self.established
        fn = self._lib.fn
        return {
            "tls_version": fn.mbedtls_ssl_get_version(self._ssl).decode() if up else None,
            "cipher": fn.mbedtls_ssl_get_ciphersuite(self._ssl).decode() if up else None,
            "resumption_offered": self.resumption_offered,
            "resumed": up and self._channel.abbreviated,
        }

    def session(self):
        """A DtlsSession to resume with, once the handshake is up (DTLS 1.2 has its ticket by then)."""
        if not self.established or self._failed:
            return None
        lib = self._lib
        sess = lib.new("ssl_session")
        try:
            if lib.fn.mbedtls_ssl_get_session(self._ssl, sess) != 0:
                return None
            size = ctypes.c_size_t(0)
            lib.fn.mbedtls_ssl_session_save(sess, None, 0, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value or 1)
            if lib.fn.mbedtls_ssl_session_save(sess, buf, len(buf), ctypes.byref(size)) != 0:
                return None
            blob = buf.raw[:size.value]
        finally:
            lib.fn.mbedtls_ssl_session_free(sess)
        offered = self._offered
        resumed = self._channel.abbreviated and offered is not None
        if resumed and not self._channel.ticket_seen:
            return DtlsSession(self._context, blob, offered.has_ticket, id=offered.id)
        return DtlsSession(self._context, blob, self._channel.ticket_seen)

    def __del__(self):
        if getattr(self, "_ssl", None) is not None:
            self._lib.fn.mbedtls_ssl_free(self._ssl)
            self._ssl = None
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.release()

    # ---- internals --------------------------------------------------------------

    def _use_session(self, blob):
        lib = self._lib
        sess = lib.new("ssl_session")
        try:
            rc = lib.fn.mbedtls_ssl_session_load(sess, blob, len(blob))
            if rc != 0:
                raise ValueError("not a saved mbedTLS session: %s" % lib.error_text(rc))
            rc = lib.fn.mbedtls_ssl_set_session(self._ssl, sess)
            if rc != 0:
                raise TlsError("mbedTLS refused the session: %s" % lib.error_text(rc))
        finally:
            lib.fn.mbedtls_ssl_session_free(sess)

    def _handshake(self):
        """Run the handshake on what has arrived: True once it is done."""
        lib = self._lib
        for _ in range(HANDSHAKE_STEPS):
            rc = lib.fn.mbedtls_ssl_handshake(self._ssl)
            if rc == 0:
                return True
            if rc in (mb.ERR_WANT_READ, mb.ERR_WANT_WRITE):
                if not self._channel.inbox:
                    return False
                continue          # it retransmitted on its timer first: the datagram still waits
            self._failed = True
            flags = lib.fn.mbedtls_ssl_get_verify_result(self._ssl)
            if rc == mb.ERR_X509_CERT_VERIFY_FAILED or (self._verify_name and flags not in (0, 0xFFFFFFFF)):
                raise AuthError("certificate rejected: %s" % self._verify_text(flags))
            if rc == mb.ERR_TIMEOUT:
                raise TlsError("DTLS handshake gave up: no answer to the retransmissions")
            raise TlsError("DTLS handshake failed: %s" % lib.error_text(rc))
        return False

    def _verify_text(self, flags):
        """mbedTLS's words for the flags, led by the ones the pyOpenSSL engine uses for a
        name mismatch (mbedTLS says 'Common Name (CN)' whatever it compared against)."""
        text = self._lib.verify_text(flags)
        if flags & BADCERT_CN_MISMATCH:
            what = "IP address mismatch" if self._name_is_address else "hostname mismatch"
            return "%s (%s)" % (what, text)
        return text

    def _read_all(self):
        messages = []
        buf = self._read_buf
        lib = self._lib
        while True:
            rc = lib.fn.mbedtls_ssl_read(self._ssl, buf, READ_BYTES)
            if rc > 0:
                messages.append(buf.raw[:rc])
                continue
            if rc in (0, mb.ERR_WANT_READ, mb.ERR_WANT_WRITE, mb.ERR_TIMEOUT):
                return messages, False
            if rc == mb.ERR_PEER_CLOSE_NOTIFY:
                return messages, True
            self._failed = True
            raise TlsError("DTLS record error: %s" % lib.error_text(rc))

    def _check_pins(self):
        if not self._pins:
            return
        cert = self._lib.fn.mbedtls_ssl_get_peer_cert(self._ssl)
        try:
            self.peer_pin = checked_pin(mb.crt_der(cert) if cert else None, self._pins)
        except AuthError:
            self._failed = True
            raise


def _path(path):
    return path.encode() if isinstance(path, str) else path
