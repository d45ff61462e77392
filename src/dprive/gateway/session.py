"""The server side of DTLS on pyOpenSSL: one Connection per client, memory BIOs.

Bytes in, bytes out, the time given by the caller: a ServerSession takes a
datagram and returns what to send back (OpenSSL's records back to back; the
shell packs them into datagrams) and the DNS messages that arrived, one per
record (RFC 8094: no length prefix). It never touches a socket.
"""

from OpenSSL import SSL

from dprive.gateway.session_base import (CLOSED, ESTABLISHED, HANDSHAKING, ContextError,
                                         check_readable)
from dprive.gateway.tickets import install_ticket_keys
from dprive.tls import dtls_support

__all__ = ["CLOSED", "ESTABLISHED", "HANDSHAKING", "ContextError", "ServerSession",
           "install_ticket_keys", "make_server_context"]

# What this pyOpenSSL lacks costs features, not the gateway (see tls/dtls_support.py).
_FEATURES = dtls_support.probe(dtls_support.GATEWAY).features

SESSION_ID_CONTEXT = b"dprive-gateway"
DTLS_1_2 = 0xFEFD
READ_CHUNK = 65536


def make_server_context(cert_file, key_file, cookies, session_lifetime_s):
    """The one SSL context of the gateway (tickets stay valid while it lives).

    `cookies` (a CookieJar) backs OpenSSL's own cookie callbacks, which
    DTLSv1_listen calls again after the shell has already checked the cookie.
    """
    check_readable(cert_file, key_file)
    ctx = SSL.Context(SSL.DTLS_METHOD)
    try:
        # OpenSSL built no-dtls (stock OpenWrt's libopenssl) still exports DTLS_method
        # but refuses DTLS 1.2 here; without this check every handshake would fail
        # later with "no protocols available".
        ctx.set_min_proto_version(DTLS_1_2)
    except SSL.Error:
        raise ContextError("DTLS 1.2 is not available in %s (built without DTLS?)"
                           % SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode())
    try:
        ctx.use_certificate_chain_file(cert_file)
        ctx.use_privatekey_file(key_file)
        ctx.check_privatekey()
    except SSL.Error as err:
        raise ContextError("cannot use certificate %s with key %s: %s" % (cert_file, key_file, err))
    # DTLS 1.2; OpenSSL offers no DTLS 1.3 yet (set_max_proto_version(0xFEFC) is refused).
    # The MTU is set per connection, never queried from a memory BIO.
    ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
    # Resumption by session tickets only: they cost the server no memory. The
    # stateful cache would (OpenSSL keeps up to 20480 sessions, and pyOpenSSL
    # cannot lower that, as SSL_CTX_sess_set_cache_size is a macro over the
    # unbound SSL_CTX_ctrl), and would not survive a restart anyway.
    ctx.set_session_id(SESSION_ID_CONTEXT)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_timeout(session_lifetime_s)

    def generate(conn):
        return cookies.make(conn.get_app_data().addr, conn.get_app_data().clock())

    def verify(conn, cookie):
        return cookies.check(cookie, conn.get_app_data().addr, conn.get_app_data().clock())

    ctx.set_cookie_generate_callback(generate)
    ctx.set_cookie_verify_callback(verify)
    return ctx


def _session_reused(conn):
    if not _FEATURES["session_reused"]:
        return False            # cryptography before 42 (41.0.7 on OpenWrt 24.10)
    from OpenSSL._util import lib
    return bool(lib.SSL_session_reused(conn._ssl))


class ServerSession:
    """DTLS state for one client address (ip, port)."""

    def __init__(self, context, addr, mtu, now, clock):
        self.addr = addr
        self.clock = clock              # for the cookie callbacks
        self.state = HANDSHAKING
        self.created = now
        self.last_active = now
        self.in_flight = 0              # queries at the resolver
        self.reused = False
        self.error = None               # why it closed, for the log
        self.cleartext_mtu = None
        self.conn = SSL.Connection(context, None)
        self.conn.set_app_data(self)
        self.conn.set_accept_state()
        self.conn.set_ciphertext_mtu(mtu)

    # ---- input ----------------------------------------------------------------

    def begin(self, datagram, cookie_checked):
        """The first datagram, a ClientHello: (bytes to send, messages).

        With `cookie_checked` the ClientHello carries a cookie the shell has
        verified; DTLSv1_listen adopts it (sequence numbers as after a
        HelloVerifyRequest) and the handshake goes on from there.
        """
        self.conn.bio_write(datagram)
        if not cookie_checked:
            return self._advance()
        try:
            self.conn.DTLSv1_listen()
        except SSL.WantReadError:
            self._fail("cookie refused by OpenSSL")
            return b"", []
        except SSL.Error as err:
            self._fail("DTLSv1_listen: %s" % err)
            return b"", []
        out, messages = self._advance()
        if not out and self.state == HANDSHAKING:
            # OpenSSL builds whose DTLSv1_listen consumed the ClientHello from
            # a memory BIO instead of leaving it for the state machine.
            self.conn.bio_write(datagram)
            out, messages = self._advance()
        return out, messages

    def feed(self, datagram, now):
        """A datagram from the client: (bytes to send, DNS messages)."""
        self.last_active = now
        if self.state == CLOSED:
            return b"", []
        self.conn.bio_write(datagram)
        return self._advance()

    def _advance(self):
        messages = []
        if self.state == HANDSHAKING:
            try:
                self.conn.do_handshake()
            except SSL.WantReadError:
                return self._output(), messages
            except SSL.Error as err:
                out = self._output()       # the alert OpenSSL wrote, if any
                self._fail("handshake: %s" % err)
                return out, messages
            self.state = ESTABLISHED
            self.reused = _session_reused(self.conn)
            self.cleartext_mtu = self.conn.get_cleartext_mtu()
        while self.state == ESTABLISHED:
            try:
                data = self.conn.recv(READ_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.state, self.error = CLOSED, "client sent close_notify"
                break
            except SSL.Error as err:
                self._fail("read: %s" % err)
                break
            if data:
                messages.append(data)
        return self._output(), messages

    # ---- output ---------------------------------------------------------------

    def send(self, message):
        """One DNS message as one record: the bytes to send ('' if closed)."""
        if self.state != ESTABLISHED:
            return b""
        try:
            self.conn.send(message)
        except SSL.Error as err:
            self._fail("write: %s" % err)
        return self._output()

    def timer_due(self, now):
        """Seconds until OpenSSL wants to retransmit its last flight, or None."""
        if self.state != HANDSHAKING or not _FEATURES["retransmit_timer"]:
            return None         # pyOpenSSL before 23.1 has no DTLS timer
        return self.conn.DTLSv1_get_timeout()

    def on_timer(self):
        """Retransmit the last handshake flight if its timer ran out."""
        if self.state != HANDSHAKING:
            return b""
        try:
            self.conn.DTLSv1_handle_timeout()
        except SSL.Error as err:
            self._fail("retransmit: %s" % err)
        return self._output()

    def close(self):
        """close_notify, for a clean stop of the gateway."""
        if self.state != ESTABLISHED:
            self.state = CLOSED
            return b""
        try:
            self.conn.shutdown()
        except SSL.Error:
            pass
        self.state = CLOSED
        return self._output()

    def _output(self):
        chunks = []
        while True:
            try:
                chunk = self.conn.bio_read(READ_CHUNK)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _fail(self, why):
        self.state = CLOSED
        self.error = why

    def release(self):
        """Closed for good: break the cycle through the Connection's app data so
        that OpenSSL's memory goes back at once, not at the next garbage collection."""
        self.state = CLOSED
        self.conn.set_app_data(None)
