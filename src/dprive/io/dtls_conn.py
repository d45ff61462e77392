"""One DNS-over-DTLS session (RFC 8094) to an upstream: a connected UDP socket
carrying a DtlsClient; events go to the daemon like UpstreamConnection's, and
how a session ends is their common base's (io/session_conn.py).

One DNS message is one record, no length prefix. The handshake's
retransmissions follow the engine's timer. A plaintext alert from the server
(it lost our state, or a new NAT mapping made it reject us) is noticed here,
in the raw datagram, because OpenSSL drops such unauthenticated records on an
established session; the core decides what to do about it.
"""

from dprive.core import dtls_record
from dprive.io.session_conn import SessionConnection
from dprive.io.transport import Protocol
from dprive.tls.engine_api import TlsError


class DtlsConnection(SessionConnection, Protocol):
    TRANSPORT = "dtls"

    def __init__(self, events, handle, client, on_session=None):
        SessionConnection.__init__(self, events, handle, client, on_session)
        self.timer = None

    # the transport's callbacks (io/transport.py DatagramTransport)

    def connection_made(self, transport):
        if self._start(transport):
            self._arm()

    def datagram_received(self, data, addr):
        if self.finished:
            return
        self.heard = True
        if self.engine.established and dtls_record.is_plaintext_alert(data):
            self.events.on_alert(self.handle)
            if self.finished:
                return
        received = self._receive(data)
        if received is None:
            return
        messages, just_up, peer_closed = received
        if just_up:
            # Queries that waited for the session are queued by on_connected and
            # leave with the client's Finished.
            self._connected(False)
            if self.on_session is not None:
                self.on_session(self.engine.session())
        self.flush()
        self._deliver(messages)
        if peer_closed:
            self._peer_closed()
        elif not self.finished:
            self._arm()

    def error_received(self, exc):
        # ICMP port unreachable and the like, on our connected socket.
        self._end("%s (ICMP)" % (exc.strerror or exc), False, None)

    def connection_lost(self, exc):
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
            if self.engine.established:
                for msg in self.outbox:
                    try:
                        datagrams.extend(self.engine.send(msg))
                    except ValueError:
                        pass   # too large for one record: not for a query; the core's deadline covers it
                self.outbox = []
            datagrams.extend(self.engine.pending_output())
        except TlsError as err:
            self._fail(str(err))
            return
        self._write(datagrams)

    # SessionConnection's hooks

    def _write(self, datagrams):
        for datagram in datagrams:
            self.transport.sendto(datagram)

    def _disarm(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _connect_failure(self, reason, failed, auth_failure):
        if auth_failure:
            return reason
        return "during the DTLS handshake: " + reason

    # internals

    def _arm(self):
        self._disarm()
        delay = self.engine.timeout_s()
        if delay is not None:
            self.timer = self.transport.loop.call_later(delay, self._on_timer)

    def _on_timer(self):
        self.timer = None
        if self.finished:
            return
        try:
            self._write(self.engine.handle_timeout())
        except TlsError as err:
            self._fail(str(err))
            return
        self._arm()
