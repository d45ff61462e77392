"""One DNS-over-DTLS session (RFC 8094) to an upstream: a connected UDP socket
carrying a DtlsClient; events go to the daemon like UpstreamConnection's.

One DNS message is one record, no length prefix. The handshake's
retransmissions follow the engine's timer. A plaintext alert from the server
(it lost our state, or a new NAT mapping made it reject us) is noticed here,
in the raw datagram, because OpenSSL drops such unauthenticated records on an
established session; the core decides what to do about it.
"""

import asyncio

from dprive.core import dtls_record
from dprive.core.forwarder import CLOSE_NOTIFY
from dprive.tls.dot import AuthError, TlsError, start_failure


class DtlsConnection(asyncio.DatagramProtocol):
    def __init__(self, events, index, gen, client, on_session=None):
        self.events = events
        self.index = index
        self.gen = gen
        self.client = client
        self.on_session = on_session
        self.transport = None
        self.outbox = []
        self.timer = None
        self.heard = False
        self.finished = False

    # asyncio callbacks

    def connection_made(self, transport):
        self.transport = transport
        try:
            self._send_all(self.client.start())
        except Exception as err:   # whatever it is, it is this session's cause of death
            self._fail(start_failure(err, "DTLS"))
            return
        self._arm()

    def datagram_received(self, data, addr):
        if self.finished:
            return
        self.heard = True
        if self.client.established and dtls_record.is_plaintext_alert(data):
            self.events.on_alert(self.index, self.gen)
            if self.finished:
                return
        try:
            messages, just_up, peer_closed = self.client.receive(data)
        except AuthError as err:
            self._fail("authentication failed: %s" % err, auth_failure=True)
            return
        except TlsError as err:
            self._fail(str(err))
            return
        if just_up:
            info = self.client.info()
            info["tfo"] = False
            # Queries that waited for the session are queued by on_connected and
            # leave with the client's Finished.
            self.events.on_connected(self.index, self.gen, info)
            if self.on_session is not None:
                self.on_session(self.client.session())
        self.flush()
        for msg in messages:
            if self.finished:
                return
            self.events.on_message(self.index, self.gen, msg)
        if peer_closed and not self.finished:
            self._end("server sent close_notify", True, CLOSE_NOTIFY)
        elif not self.finished:
            self._arm()

    def error_received(self, exc):
        # ICMP port unreachable and the like, on our connected socket.
        if not self.finished:
            self._end("%s (ICMP)" % (exc.strerror or exc), False, None)

    def connection_lost(self, exc):
        if not self.finished:
            self._end("socket closed", False, None)

    # called by the daemon

    def send(self, msg):
        self.outbox.append(msg)

    def flush(self):
        if self.finished or self.transport is None:
            self.outbox = []
            return
        datagrams = []
        try:
            if self.client.established:
                for msg in self.outbox:
                    try:
                        datagrams.extend(self.client.send(msg))
                    except ValueError:
                        pass   # too large for one record: not for a query; the core's deadline covers it
                self.outbox = []
            datagrams.extend(self.client.pending_output())
        except TlsError as err:
            self._fail(str(err))
            return
        self._send_all(datagrams)

    def close(self):
        """The core gave this session up: close_notify if we can, and go."""
        self.finished = True
        self._disarm()
        if self.transport is None:
            return
        try:
            if self.client.established:
                self._send_all(self.client.close())
        except Exception:   # a broken session may not even close cleanly; it is going anyway
            pass
        self.transport.close()

    # internals

    def _send_all(self, datagrams):
        for datagram in datagrams:
            self.transport.sendto(datagram)

    def _arm(self):
        self._disarm()
        delay = self.client.timeout_s()
        if delay is not None:
            self.timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _disarm(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self):
        self.timer = None
        if self.finished:
            return
        try:
            self._send_all(self.client.handle_timeout())
        except TlsError as err:
            self._fail(str(err))
            return
        self._arm()

    def _fail(self, reason, auth_failure=False):
        """Handshake, authentication or record failure."""
        self._end(reason, False, None, auth_failure)

    def _end(self, reason, graceful, kind, auth_failure=False):
        established = self.client.established
        self.finished = True
        self._disarm()
        if self.transport is not None:
            self.transport.close()
        if established:
            self.events.on_closed(self.index, self.gen, reason, graceful, kind)
        else:
            if not auth_failure:
                reason = "during the DTLS handshake: " + reason
            self.events.on_connect_failed(self.index, self.gen, reason, auth_failure, self.heard,
                                          transport="dtls")
