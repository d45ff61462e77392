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
engine_api.py, carrying mbedTLS's own error text. What this engine shares
with the DoT one on mbedTLS (config, name, sessions, failures) is in
mbedtls_client.py.
"""

import ctypes
import time

from dprive.core import dtls_record
from dprive.core.dtls_record import DtlsRecordError
from dprive.tls import mbedtls_client as mc
from dprive.tls import mbedtls_lib as mb
from dprive.tls.engine_api import AuthError, TlsError, checked_pin
from dprive.tls import dtls_common
from dprive.tls.dtls_common import DEFAULT_MTU, check_message, screen_datagram
from dprive.tls.mbedtls_channel import Channel

ENGINE = "mbedtls"
DTLS_VERSIONS = ("1.2", "1.3")
MAX_TIMEOUT_S = 60.0          # mbedTLS's default handshake timeout maximum
READ_BYTES = 16384 + 256      # one record's plaintext at most
HANDSHAKE_STEPS = 40          # calls of mbedtls_ssl_handshake per input, a bound on the loop
FIRST_IP_CHECK = mc.FIRST_IP_CHECK
MessageTooLarge = dtls_common.MessageTooLarge   # part of the engine API the callers name


class DtlsContext(mc.ClientConfig):
    """An mbedtls_ssl_config for DTLS clients (and the CA chain it points to)."""

    def __init__(self, lib, verify_name):
        mc.ClientConfig.__init__(self, lib, verify_name, mb.TRANSPORT_DATAGRAM)
        if lib.version[0] < 3 and lib.has("mbedtls_ssl_conf_min_version"):
            lib.fn.mbedtls_ssl_conf_min_version(self.conf, 3, 3)     # DTLS 1.2, not 1.0


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
    return ctx


DtlsSession = mc.SavedSession     # the name tests and io/ knew it by


class DtlsClient:
    def __init__(self, context, server_hostname, pins=(), session=None, mtu=DEFAULT_MTU,
                 clock=time.monotonic):
        """`session`: a DtlsSession from an earlier client on the same `context`."""
        lib = self._lib = context.lib
        self._context = context
        self._mtu = mtu
        self._ssl = None
        self._verify_name = context.verify_name
        self._name_is_address = mc.check_name(lib, server_hostname, self._verify_name)
        if session is not None and session.context is not context:
            raise ValueError("the session was made with another context")
        ssl = self._ssl = mc.new_ssl(lib, context.conf)
        self._channel = Channel(clock)
        self._channel.attach(lib, ssl)
        lib.fn.mbedtls_ssl_set_mtu(ssl, mtu)
        mc.set_name(lib, ssl, server_hostname, self._verify_name, self._name_is_address)
        if session is not None:
            mc.load_session(lib, ssl, session.blob)
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
        blob = mc.save_session(self._lib, self._ssl)
        if blob is None:
            return None
        offered = self._offered
        resumed = self._channel.abbreviated and offered is not None
        if resumed and not self._channel.ticket_seen:
            return DtlsSession(self._context, blob, offered.has_ticket, id=offered.id)
        return DtlsSession(self._context, blob, self._channel.ticket_seen)

    def __del__(self):
        mc.free_engine(self, "_channel")

    # ---- internals --------------------------------------------------------------

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
            failure = mc.handshake_failure(lib, self._ssl, rc, self._verify_name,
                                           self._name_is_address, "DTLS")
            if rc == mb.ERR_TIMEOUT and not isinstance(failure, AuthError):
                raise TlsError("DTLS handshake gave up: no answer to the retransmissions")
            raise failure
        return False

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
        try:
            self.peer_pin = checked_pin(mc.peer_der(self._lib, self._ssl), self._pins)
        except AuthError:
            self._failed = True
            raise

