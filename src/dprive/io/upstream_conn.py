"""One TCP connection to an upstream, carrying a TlsClient; events go to the daemon.

The socket is made by hand (not by asyncio.open_connection) so its options
are set before connect: TCP_NODELAY, so the first query can leave together
with the client's Finished instead of waiting for an ACK.
"""

import asyncio
import errno
import socket

from dprive.tls.dot import AuthError, TlsError

TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)


def _reason(exc):
    if exc is None:
        return "connection closed"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer (RST)"
    if isinstance(exc, OSError) and exc.errno:
        return "%s (%s)" % (errno.errorcode.get(exc.errno, exc.errno), exc.strerror)
    return str(exc) or exc.__class__.__name__


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, events, index, gen, tls):
        self.events = events      # the daemon: on_connected/on_connect_failed/on_data/on_closed
        self.index = index
        self.gen = gen
        self.tls = tls
        self.transport = None
        self.outbox = []
        self.answered = False     # until the first answer, every segment is ACKed at once
        self.finished = False     # an end was reported (or the daemon closed us): report no more

    # asyncio callbacks

    def connection_made(self, transport):
        self.transport = transport
        try:
            transport.write(self.tls.start())
        except TlsError as err:
            self._fail(str(err))

    def data_received(self, data):
        if self.finished:
            return
        if not self.answered:
            self._quickack()
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
            # Queries that waited for the session are queued by on_connected; they
            # leave in the same segment as our Finished (Nagle is off).
            self.events.on_connected(self.index, self.gen, self.tls.info())
            out += self._encrypt_outbox()
        if out:
            self.transport.write(out)
        if plaintext and not self.finished:
            self.answered = True
            self.events.on_data(self.index, self.gen, plaintext)
        if peer_closed and not self.finished:
            self._end("server sent close_notify", True)

    def eof_received(self):
        if not self.finished:
            graceful = self.tls.established
            self._end("server closed the connection (FIN)", graceful)
        return False

    def connection_lost(self, exc):
        if not self.finished:
            self._end(_reason(exc), False)

    # called by the daemon

    def send(self, plaintext):
        """Queue `plaintext`; `flush` encrypts everything queued as few TLS records."""
        self.outbox.append(plaintext)

    def flush(self):
        if self.transport is not None and not self.transport.is_closing():
            data = self._encrypt_outbox()
            if data:
                self.transport.write(data)
        else:
            self.outbox = []

    def _encrypt_outbox(self):
        if not self.outbox:
            return b""
        data = b"".join(self.outbox)
        self.outbox = []
        return self.tls.send(data)

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
                sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
            except OSError:
                pass

    def _fail(self, reason, auth_failure=False):
        """Handshake or authentication failure: the session never carried a query."""
        self.finished = True
        self.transport.abort()
        if self.tls.established:
            self.events.on_closed(self.index, self.gen, reason, False)
        else:
            self.events.on_connect_failed(self.index, self.gen, reason, auth_failure)

    def _end(self, reason, graceful):
        self.finished = True
        if self.transport is not None:
            self.transport.close()
        if self.tls.established:
            self.events.on_closed(self.index, self.gen, reason, graceful)
        else:
            self.events.on_connect_failed(self.index, self.gen, "during the TLS handshake: " + reason)


async def open_tcp(loop, address, port):
    """A connected, non-blocking TCP socket with the options DoT wants."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock
