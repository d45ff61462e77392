"""One TCP connection to an upstream, carrying a TlsClient; events go to the daemon.

The socket is made by hand (io/tcp.py) so its options are set before connect:
Nagle off, Fast Open, keepalive probes, TCP_USER_TIMEOUT. This protocol
object reports how the session ended (RST, timeout, FIN, close_notify), what
the handshake used (Fast Open, resumption) and hands every new TLS session
ticket to the daemon's store.
"""

import asyncio
import errno
import socket

from dprive.core.forwarder import CLOSE_NOTIFY, FIN, RST, TIMEOUT
from dprive.core.framing import FrameDecoder, FramingError, frame
from dprive.io import tcp
from dprive.tls.dot import SESSION_READ_LEAKS, AuthError, TlsError, start_failure

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


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, events, index, gen, tls, on_session=None):
        self.events = events      # the daemon: on_connected/on_connect_failed/on_message/on_garbled/on_closed
        self.index = index
        self.gen = gen
        self.tls = tls
        self.on_session = on_session   # called with each new TLS session, for resumption
        self.transport = None
        self.outbox = []
        self.decoder = FrameDecoder()   # DNS over TCP: two-byte length prefixes (RFC 7766)
        self.answered = False     # until the first answer, every segment is ACKed at once
        self.ticket_reads = 0
        self.heard = False        # any byte from the server: a failure now is TLS's, not TCP's
        self.finished = False     # an end was reported (or the daemon closed us): report no more

    # asyncio callbacks

    def connection_made(self, transport):
        self.transport = transport
        try:
            transport.write(self.tls.start())
        except Exception as err:   # whatever it is, it is this session's cause of death
            self._fail(start_failure(err))

    def data_received(self, data):
        if self.finished:
            return
        if not self.answered:
            self._quickack()
        self.heard = True
        try:
            plaintext, just_up, peer_closed = self.tls.receive(data)
        except AuthError as err:
            self._fail("authentication failed: %s" % err, auth_failure=True)
            return
        except TlsError as err:
            self._fail(str(err))
            return
        out = self.tls.pending_output()
        if just_up:
            info = self.tls.info()
            info["tfo"] = tcp.syn_data_acked(self.transport.get_extra_info("socket"))
            # Queries that waited for the session are queued by on_connected; they
            # leave in the same segment as our Finished (Nagle is off).
            self.events.on_connected(self.index, self.gen, info)
            out += self._encrypt_outbox()
        if out:
            self.transport.write(out)
        # A TLS 1.3 ticket comes after the handshake (the server sends it once our
        # Finished is in): a read right at the handshake finds none, and may leak.
        if (self.tls.established and self.ticket_reads < TICKET_READS
                and not (just_up and self.tls.tickets_follow_handshake())):
            self._read_ticket()
        if plaintext and not self.finished:
            self.answered = True
            self._deliver(plaintext)
        if peer_closed and not self.finished:
            self._end("server sent close_notify", True, CLOSE_NOTIFY)

    def eof_received(self):
        if not self.finished:
            self._end("server closed the connection (FIN)", self.tls.established, FIN)
        return False

    def connection_lost(self, exc):
        if not self.finished:
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

    def close(self):
        """The core gave this session up: say close_notify and go, reporting nothing."""
        self.finished = True
        if self.transport is None or self.transport.is_closing():
            return
        try:
            tail = self.tls.close() if self.tls.established else b""
            if tail:
                self.transport.write(tail)
        except Exception:   # a broken session may not even close cleanly; it is going anyway
            pass
        self.transport.close()

    # internals

    def _deliver(self, plaintext):
        try:
            messages = self.decoder.feed(plaintext)
        except FramingError as err:
            self.events.on_garbled(self.index, self.gen, "broken stream: %s" % err)
            return
        for msg in messages:
            if self.finished:
                return   # an answer before this one made the core give the session up
            self.events.on_message(self.index, self.gen, msg)

    def _encrypt_outbox(self):
        if not self.outbox:
            return b""
        data = b"".join(self.outbox)
        self.outbox = []
        return self.tls.send(data)

    def _read_ticket(self):
        self.ticket_reads += 1
        if self.on_session is None:
            return
        if SESSION_READ_LEAKS:
            # Every read leaks (see tls/dot.py): none after a resumption (the
            # ticket offered stays in the store), and none once one is kept.
            if self.tls.resumed():
                self.ticket_reads = TICKET_READS
            elif self.on_session(self.tls.session()):
                self.ticket_reads = TICKET_READS
            return
        self.on_session(self.tls.session())

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

    def _fail(self, reason, auth_failure=False):
        """Handshake or authentication failure: the session never carried a query."""
        self.finished = True
        self.transport.abort()
        if self.tls.established:
            self.events.on_closed(self.index, self.gen, reason, False, None)
        else:
            self.events.on_connect_failed(self.index, self.gen, reason, auth_failure, self.heard)

    def _end(self, reason, graceful, kind):
        self.finished = True
        if self.transport is not None:
            self.transport.close()
        if self.tls.established:
            self.events.on_closed(self.index, self.gen, reason, graceful, kind)
        else:
            stage = "during the TLS handshake: " if self.heard else "TCP connect failed: "
            self.events.on_connect_failed(self.index, self.gen, stage + reason, False, self.heard)
