"""The server side of DTLS on libmbedtls (ctypes): one ssl context per client.

The same API as gateway/session.py (pyOpenSSL), see gateway/session_base.py:
bytes in, bytes out, the time given by the caller, one DNS message per
record. What mbedTLS does its own way:

- The first datagram is a ClientHello the shell has already checked (or that
  needed no cookie). mbedTLS, as RFC 6347 4.2.1 asks of a stateless server,
  copies the ClientHello's message_seq and record sequence number into its
  answer, so the handshake goes on as if it had sent the HelloVerifyRequest
  itself; its cookie check (mbedtls_server_context.py) agrees with the shell's.
- mbedTLS writes whole datagrams (packed up to mbedtls_ssl_set_mtu) and
  reads whole datagrams: tls/mbedtls_channel.py queues them; what a call
  wrote is returned joined, and the shell repacks it.
- Whether a handshake resumed is read off the records in the clear (the
  server's ChangeCipherSpec first: Channel.abbreviated), not from private fields.
- The retransmission timer is mbedTLS's own (1 s doubling to 60 s), run on
  the caller's clock through the Channel.
"""

import ctypes
import itertools

from dprive.gateway.mbedtls_server_context import (SESSIONS, ServerContext, install_ticket_keys,
                                                   make_server_context)
from dprive.gateway.session_base import CLOSED, ESTABLISHED, HANDSHAKING, ContextError
from dprive.tls import mbedtls_lib as mb
from dprive.tls.mbedtls_channel import Channel

__all__ = ["CLOSED", "ESTABLISHED", "HANDSHAKING", "ContextError", "ServerContext",
           "ServerSession", "install_ticket_keys", "make_server_context"]

READ_BYTES = 16384 + 256        # one record's plaintext at most
HANDSHAKE_STEPS = 40            # calls of mbedtls_ssl_handshake per input, a bound on the loop
_KEYS = itertools.count(1)
_READ_BUF = ctypes.create_string_buffer(READ_BYTES)     # one for all: the gateway is one thread
_QUIET = (mb.ERR_WANT_READ, mb.ERR_WANT_WRITE)


class ServerSession:
    """DTLS state for one client address (ip, port)."""

    def __init__(self, context, addr, mtu, now, clock):
        lib = self.lib = context.lib
        self.context = context
        self.addr = addr
        self.clock = clock              # for the cookie callbacks and the timer
        self.state = HANDSHAKING
        self.created = now
        self.last_active = now
        self.in_flight = 0              # queries at the resolver
        self.reused = False
        self.error = None               # why it closed, for the log
        self.cleartext_mtu = None
        self.cookie_checked = True
        self.key = next(_KEYS)
        self.ssl = None
        self.channel = Channel(clock, local_is_server=True)
        context.refresh(now)
        ssl = lib.new("ssl")
        rc = lib.fn.mbedtls_ssl_setup(ssl, context.conf)
        if rc != 0:
            lib.fn.mbedtls_ssl_free(ssl)
            self._fail("mbedtls_ssl_setup: %s" % lib.error_text(rc))
            return
        self.ssl = ssl
        SESSIONS[self.key] = self
        ident = b"%d" % self.key
        rc = lib.fn.mbedtls_ssl_set_client_transport_id(ssl, ident, len(ident))
        if rc != 0:
            self._fail("mbedtls_ssl_set_client_transport_id: %s" % lib.error_text(rc))
            return
        self.channel.attach(lib, ssl)
        lib.fn.mbedtls_ssl_set_mtu(ssl, mtu)

    # ---- input ----------------------------------------------------------------

    def begin(self, datagram, cookie_checked):
        """The first datagram, a ClientHello: (bytes to send, messages).

        `cookie_checked`: it carries a cookie the shell has verified; without
        it, it has none and none was demanded (require_cookie off).
        """
        self.cookie_checked = cookie_checked
        return self.feed(datagram, self.created)

    def feed(self, datagram, now):
        """A datagram from the client: (bytes to send, DNS messages)."""
        self.last_active = now
        if self.state == CLOSED:
            return b"", []
        self.channel.push(datagram)
        return self._advance()

    def _advance(self):
        messages = []
        if self.state == HANDSHAKING and not self._handshake():
            return self._output(), messages
        while self.state == ESTABLISHED:
            rc = self.lib.fn.mbedtls_ssl_read(self.ssl, _READ_BUF, READ_BYTES)
            if rc > 0:
                messages.append(_READ_BUF.raw[:rc])
            elif rc == 0 or rc in _QUIET or rc == mb.ERR_TIMEOUT:
                break
            elif rc == mb.ERR_PEER_CLOSE_NOTIFY:
                self.state, self.error = CLOSED, "client sent close_notify"
            elif rc == mb.ERR_CLIENT_RECONNECT:
                self._fail("client started a new handshake inside the session")
            else:
                self._fail("read: %s" % self.lib.error_text(rc))
        return self._output(), messages

    def _handshake(self):
        """Run the handshake on what has arrived: True once it is done."""
        fn = self.lib.fn
        for _ in range(HANDSHAKE_STEPS):
            rc = fn.mbedtls_ssl_handshake(self.ssl)
            if rc == 0:
                self.state = ESTABLISHED
                self.reused = self.channel.abbreviated
                self.cleartext_mtu = max(fn.mbedtls_ssl_get_max_out_record_payload(self.ssl), 0) \
                    or None
                return True
            if rc in _QUIET:
                if not self.channel.inbox:
                    return False
                continue            # it retransmitted on its timer first: the datagram waits
            if rc == mb.ERR_HELLO_VERIFY_REQUIRED:
                self._fail("cookie refused by mbedTLS")
            elif rc == mb.ERR_TIMEOUT:
                self._fail("handshake: no answer to the retransmissions")
            else:
                self._fail("handshake: %s" % self.lib.error_text(rc))
            return False
        return False

    # ---- output ---------------------------------------------------------------

    def send(self, message):
        """One DNS message as one record: the bytes to send ('' if closed)."""
        if self.state != ESTABLISHED:
            return b""
        rc = self.lib.fn.mbedtls_ssl_write(self.ssl, message, len(message))
        if rc != len(message):
            self._fail("write: %s" % (self.lib.error_text(rc) if rc < 0
                                      else "%d of %d bytes" % (rc, len(message))))
        return self._output()

    def timer_due(self, now):
        """Seconds until mbedTLS wants to retransmit its last flight, or None."""
        if self.state != HANDSHAKING:
            return None
        return self.channel.timeout_s()

    def on_timer(self):
        """Retransmit the last handshake flight if its timer ran out."""
        if self.state != HANDSHAKING or not self.channel.timer_expired():
            return b""
        return self._advance()[0]

    def close(self):
        """close_notify, for a clean stop of the gateway (or an idle session)."""
        if self.state != ESTABLISHED:
            self.state = CLOSED
            return b""
        self.lib.fn.mbedtls_ssl_close_notify(self.ssl)
        self.state = CLOSED
        return self._output()

    def _output(self):
        return b"".join(self.channel.pop_output())

    def _fail(self, why):
        self.state = CLOSED
        self.error = why

    def release(self):
        """Closed for good: mbedTLS's buffers (some 33 kB: the in and out
        records) go back at once, and no callback can reach this session."""
        self.state = CLOSED
        SESSIONS.pop(self.key, None)
        self.channel.release()
        if self.ssl is not None:
            self.lib.fn.mbedtls_ssl_free(self.ssl)
            self.ssl = None

    def __del__(self):
        if getattr(self, "ssl", None) is not None:
            self.release()
