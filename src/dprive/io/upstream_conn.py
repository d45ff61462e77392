"""One TCP connection to an upstream, carrying a TlsClient; events go to the daemon.

The socket is made by hand (io/tcp.py) so its options are set before connect:
Nagle off, Fast Open, keepalive probes, TCP_USER_TIMEOUT. This protocol
object reports how the session ended (RST, timeout, FIN, close_notify), what
the handshake used (Fast Open, resumption) and hands every new TLS session
ticket to the daemon's store.
"""

import errno
import socket

from dprive.core.forwarder import FIN, RST, TIMEOUT
from dprive.core.framing import FrameDecoder, FramingError, frame
from dprive.io import tcp
from dprive.io.session_conn import SessionConnection
from dprive.io.transport import Protocol
from dprive.tls.engine_api import SESSION_READ_LEAKS

# TLS 1.3 servers send their tickets right after the handshake; unbound sends two.
TICKET_READS = 4


def _ending(exc):
    """(reason, kind) for a connection that went away with `exc`."""
    if exc is None:
        return "connection closed", None
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer (RST)", RST
    if isinstance(exc, TimeoutError):
        return "no acknowledgement from the server (TCP timeout)", TIMEOUT
    if isinstance(exc, OSError) and exc.errno:
        return "%s (%s)" % (errno.errorcode.get(exc.errno, exc.errno), exc.strerror), None
    return str(exc) or exc.__class__.__name__, None


class UpstreamConnection(SessionConnection, Protocol):
    """The TLS session over TCP; what it shares with DTLS is io/session_conn.py's."""

    def __init__(self, events, handle, tls, on_session=None):
        SessionConnection.__init__(self, events, handle, tls, on_session)
        self.decoder = FrameDecoder()   # DNS over TCP: two-byte length prefixes (RFC 7766)
        self.answered = False     # until the first answer, every segment is ACKed at once
        self.ticket_reads = 0

    # the transport's callbacks (io/transport.py StreamTransport)

    def connection_made(self, transport):
        self._start(transport)

    def data_received(self, data):
        if self.finished:
            return
        if not self.answered:
            self._quickack()
        self.heard = True
        received = self._receive(data)
        if received is None:
            return
        plaintext, just_up, peer_closed = received
        out = self.engine.pending_output()
        if just_up:
            # Queries that waited for the session are queued by on_connected; they
            # leave in the same segment as our Finished (Nagle is off).
            self._connected(tcp.syn_data_acked(self.transport.get_extra_info("socket")))
            out += self._encrypt_outbox()
        if out:
            self.transport.write(out)
        # A TLS 1.3 ticket comes after the handshake (the server sends it once our
        # Finished is in): a read right at the handshake finds none, and may leak.
        if (self.engine.established and self.ticket_reads < TICKET_READS
                and not (just_up and self.engine.tickets_follow_handshake())):
            self._read_ticket()
        if plaintext and not self.finished:
            self.answered = True
            self._deliver_stream(plaintext)
        if peer_closed:
            self._peer_closed()

    def eof_received(self):
        self._end("server closed the connection (FIN)", self.engine.established, FIN)
        return False

    def connection_lost(self, exc):
        reason, kind = _ending(exc)
        self._end(reason, False, kind)

    # called by the daemon

    def send(self, msg):
        """Queue one DNS message; `flush` encrypts everything queued as few TLS records."""
        self.outbox.append(frame(msg))

    def flush(self):
        if self.transport is not None and not self.transport.is_closing():
            data = self._encrypt_outbox()
            if data:
                self.transport.write(data)
        else:
            self.outbox = []

    # SessionConnection's hooks

    def _write(self, data):
        if data:
            self.transport.write(data)

    def _let_go(self, failed):
        # A session that failed sends nothing more, not even what is queued.
        if self.transport is not None:
            if failed:
                self.transport.abort()
            else:
                self.transport.close()

    def _closing(self):
        return self.transport.is_closing()

    def _connect_failure(self, reason, failed, auth_failure):
        if failed:
            return reason    # the engine's words say the stage ("TLS handshake failed: ...")
        stage = "during the TLS handshake: " if self.heard else "TCP connect failed: "
        return stage + reason

    # internals

    def _deliver_stream(self, plaintext):
        try:
            messages = self.decoder.feed(plaintext)
        except FramingError as err:
            self.events.on_garbled(self.handle, "broken stream: %s" % err)
            return
        self._deliver(messages)

    def _encrypt_outbox(self):
        if not self.outbox:
            return b""
        data = b"".join(self.outbox)
        self.outbox = []
        return self.engine.send(data)

    def _read_ticket(self):
        self.ticket_reads += 1
        if self.on_session is None:
            return
        if SESSION_READ_LEAKS:
            # Every read leaks (see tls/engine_api.py): none after a resumption (the
            # ticket offered stays in the store), and none once one is kept.
            if self.engine.resumed():
                self.ticket_reads = TICKET_READS
            elif self.on_session(self.engine.session()):
                self.ticket_reads = TICKET_READS
            return
        self.on_session(self.engine.session())

    def _quickack(self):
        """ACK the server's handshake flight and tickets at once, not 40 ms later.

        A server that leaves Nagle on (unbound 1.17 does) holds its second TLS 1.3
        ticket, and the first answer behind it, until the first ticket is ACKed;
        our delayed ACK would add a stall to every new session. The kernel
        clears TCP_QUICKACK by itself, so it is set again on each read.
        """
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, tcp.TCP_QUICKACK, 1)
            except OSError:
                pass
