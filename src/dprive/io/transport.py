"""Sockets on io/loop.py, in the shape the protocols already speak.

The connections (io/upstream_conn.py, io/dtls_conn.py, io/lan.py TcpClient,
control.py) were asyncio protocols; these transports keep that contract
(connection_made, data_received, eof_received, connection_lost, pause_writing
and resume_writing; write, close, abort, is_closing, pause/resume_reading,
get_extra_info("socket")) with asyncio's rules where they matter:

- write() sends at once when nothing is queued; the rest waits for POLLOUT.
  The protocol is paused past the high mark and resumed at a quarter of it.
- close() lets the queue drain, then connection_lost(None); abort() drops it.
- A send or receive error ends the connection with connection_lost(exc), the
  exception as the socket raised it (ConnectionResetError, TimeoutError ...).
- A zero-length read is EOF: eof_received(), and close() unless it says true.
- connection_lost comes from the loop (call_soon), never inside the call that
  caused it, and once.

Reads go into one buffer shared by every stream (the loop runs one callback
at a time) and are copied out: recv(N) would malloc N bytes per read.
"""

import errno
import socket

from dprive import log as dlog

log = dlog.getLogger("dprive")

_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
ACCEPT_RETRY_S = 1.0
READ_CHUNK = 64 * 1024    # four full TLS records; a datagram of any size
_buffer = None


def _read_buffer():
    global _buffer
    if _buffer is None:
        _buffer = bytearray(READ_CHUNK)
    return _buffer


class Protocol:
    """What a transport calls; a protocol overrides what it needs."""

    def connection_made(self, transport):
        pass

    def data_received(self, data):
        pass

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        pass

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    def datagram_received(self, data, addr):
        pass

    def error_received(self, exc):
        pass


class StreamTransport:
    def __init__(self, loop, sock, protocol, high=64 * 1024):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.protocol = protocol
        self.queue = []           # bytes waiting for POLLOUT
        self.queued = 0           # their total size
        self.high = high
        self.low = high // 4
        self.closing = False
        self.lost = False
        self.reading = True
        self.eof = False          # the peer half-closed: reading again would spin on POLLIN
        self.write_paused = False
        protocol.connection_made(self)
        if not self.closing and self.reading:
            loop.add_reader(self.fd, self._readable)

    # ---- asyncio's Transport API -----------------------------------------------

    def get_extra_info(self, name, default=None):
        return self.sock if name == "socket" else default

    def is_closing(self):
        return self.closing

    def set_write_buffer_limits(self, high=None, low=None):
        self.high = 64 * 1024 if high is None else high
        self.low = self.high // 4 if low is None else low

    def get_write_buffer_size(self):
        return self.queued

    def pause_reading(self):
        if self.reading and not self.closing:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def resume_reading(self):
        if not self.reading and not self.closing and not self.eof:
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)

    def write(self, data):
        if not data or self.closing:
            return
        if not self.queue:
            sent = self._send(data)
            if sent is None:
                return
            if sent == len(data):
                return
            data = data[sent:]
            self.loop.add_writer(self.fd, self._writable)
        self.queue.append(bytes(data))
        self.queued += len(data)
        if not self.write_paused and self.queued > self.high:
            self.write_paused = True
            self.protocol.pause_writing()

    def close(self):
        if self.closing:
            return
        self.closing = True
        if self.reading:
            self.loop.remove_reader(self.fd)
        if not self.queue:
            self.loop.call_soon(self._lose, None)

    def abort(self):
        self._force(None)

    # ---- the loop's callbacks --------------------------------------------------

    def _readable(self):
        buf = _read_buffer()
        try:
            size = self.sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal(exc)
            return
        if size:
            self.protocol.data_received(bytes(memoryview(buf)[:size]))
            return
        if self.closing:
            return
        self.eof = True
        keep_open = self.protocol.eof_received()
        if not keep_open:
            self.close()
        elif self.reading and not self.closing:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def _send(self, data):
        """What the kernel took of `data` now (0 when it would block), None after
        an error that ended the connection."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self._fatal(exc)
            return None

    def _writable(self):
        data = b"".join(self.queue) if len(self.queue) > 1 else self.queue[0]
        sent = self._send(data)
        if sent is None:
            return
        data = data[sent:]
        self.queue = [data] if data else []
        self.queued = len(data)
        if self.write_paused and self.queued <= self.low:
            self.write_paused = False
            self.protocol.resume_writing()
        if self.queue:
            return
        self.loop.remove_writer(self.fd)
        if self.closing:
            self._lose(None)

    # ---- ending ---------------------------------------------------------------

    def _fatal(self, exc):
        self._force(exc)

    def _force(self, exc):
        if self.lost:
            return
        if self.reading and not self.closing:
            self.loop.remove_reader(self.fd)
        if self.queue:
            self.loop.remove_writer(self.fd)
            self.queue = []
            self.queued = 0
        self.closing = True
        self.loop.call_soon(self._lose, exc)

    def _lose(self, exc):
        if self.lost:
            return
        self.lost = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        try:
            self.protocol.connection_lost(exc)
        finally:
            self.sock.close()


class DatagramTransport:
    """A connected UDP socket (the DTLS session's): datagram_received,
    error_received (ICMP errors come back as OSError on recv or send),
    connection_lost. A datagram the socket will not take now is dropped, as a
    router would; the DTLS engine retransmits and the core retries."""

    def __init__(self, loop, sock, protocol):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.protocol = protocol
        self.peer = sock.getpeername()
        self.closing = False
        self.lost = False
        protocol.connection_made(self)
        if not self.closing:
            loop.add_reader(self.fd, self._readable)

    def get_extra_info(self, name, default=None):
        return self.sock if name == "socket" else default

    def is_closing(self):
        return self.closing

    def sendto(self, data, addr=None):
        if self.closing:
            return
        try:
            self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.protocol.error_received(exc)

    def _readable(self):
        for _ in range(16):     # a burst of answers in one wake-up
            if self.closing:
                return
            buf = _read_buffer()
            try:
                size = self.sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.protocol.error_received(exc)
                return
            self.protocol.datagram_received(bytes(memoryview(buf)[:size]), self.peer)

    def close(self):
        if self.closing:
            return
        self.closing = True
        self.loop.remove_reader(self.fd)
        self.loop.call_soon(self._lose)

    abort = close

    def _lose(self):
        if self.lost:
            return
        self.lost = True
        try:
            self.protocol.connection_lost(None)
        finally:
            self.sock.close()


def stream_server(loop, sock, protocol_factory, backlog=100):
    """Accept connections on a listening `sock`, each a StreamTransport for
    protocol_factory(); returns the Server."""
    sock.setblocking(False)
    sock.listen(backlog)
    return Server(loop, sock, protocol_factory, backlog)


class Server:
    def __init__(self, loop, sock, protocol_factory, backlog):
        self.loop = loop
        self.sock = sock
        self.factory = protocol_factory
        self.backlog = backlog
        self.tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        self.retry = None
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self):
        # As asyncio: up to a backlog's worth per wake-up.
        for _ in range(self.backlog):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    # Level-triggered poll would spin on the waiting connection:
                    # stop accepting for a while, as asyncio did.
                    log.error("accept() failed (%s): not accepting for %gs", exc, ACCEPT_RETRY_S)
                    self.loop.remove_reader(self.sock.fileno())
                    self.retry = self.loop.call_later(ACCEPT_RETRY_S, self._resume)
                return
            conn.setblocking(False)
            if self.tcp:
                # asyncio sets it on every TCP transport: answers leave at once.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            StreamTransport(self.loop, conn, self.factory())

    def _resume(self):
        self.retry = None
        if self.sock is not None:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self):
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


def tcp_server(loop, protocol_factory, address, port, family):
    """asyncio's create_server(reuse_address=True) for one address."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        return stream_server(loop, sock, protocol_factory)
    except BaseException:
        sock.close()
        raise


def unix_server(loop, protocol_factory, path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        return stream_server(loop, sock, protocol_factory)
    except BaseException:
        sock.close()
        raise
