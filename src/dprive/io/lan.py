"""The LAN side: DNS over UDP and TCP from dnsmasq and other clients.

Both hand every message to `handler.client_query(msg, reply, udp)`, where
`reply(bytes)` sends the answer back (and does nothing if the client is gone).
TCP clients may pipeline many length-prefixed queries on one connection and
get the answers in any order (RFC 7766). Bad input is counted, never fatal.
"""

import collections
import socket

from dprive.core.framing import FrameDecoder, FramingError, frame
from dprive.io.transport import Protocol

RCVBUF_BYTES = 1 << 20

LAN_COUNTERS = ("tcp_connections", "tcp_rejected", "tcp_zero_length", "tcp_incomplete",
                "tcp_idle_closed", "tcp_paused", "tcp_overrun", "tcp_evicted")


class DatagramListener:
    """A UDP socket read in batches: one wake-up drains up to BATCH datagrams,
    each handed to `receive(data, addr, listener)`. Shared by the daemon (UdpListener
    below, on io/loop.py) and the gateway (gateway/server.py, DTLS records, on
    asyncio): `loop` needs only add_reader and remove_reader.

    A transport that reads one datagram per poll (asyncio's does) costs, under
    a burst from dnsmasq, a wake-up per query and lets the socket's receive
    buffer overflow. Datagrams go straight out with sendto; a full send
    buffer drops them as a router would (the client retries).
    """

    BATCH = 64
    MAX_DATAGRAM = 65535

    def __init__(self, loop, sock, receive):
        self.loop = loop
        self.sock = sock
        self.receive = receive
        self.closed = False
        # Read into one buffer and copy out the datagram: recvfrom(65535) would
        # malloc 64 KiB per datagram and shrink it, which leaves glibc's heap in
        # holes that anything long-lived (a leaked TLS session) pins for good.
        self._buffer = bytearray(self.MAX_DATAGRAM)
        self._view = memoryview(self._buffer)
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self):
        for _ in range(self.BATCH):
            try:
                size, addr = self.sock.recvfrom_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # e.g. ICMP errors queued by a client that left: nothing to do.
                continue
            self.receive(bytes(self._view[:size]), addr, self)

    def send(self, addr, datagrams):
        """Send each datagram to `addr`; returns how many sendto refused (none once closed)."""
        failed = 0
        if not self.closed:
            for datagram in datagrams:
                try:
                    self.sock.sendto(datagram, addr)
                except OSError:
                    failed += 1
        return failed

    def close(self):
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class UdpListener(DatagramListener):
    """DNS over UDP: each datagram is a query for `handler.client_query`."""

    def __init__(self, handler, loop, sock):
        self.handler = handler
        self.send_errors = 0
        super().__init__(loop, sock, self._query)

    def _query(self, data, addr, listener):
        self.handler.client_query(data, self._replier(addr), True)

    def _replier(self, addr):
        def reply(msg):
            self.send_errors += self.send(addr, (msg,))
        return reply


def udp_socket(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # Room for a burst (dnsmasq forwards up to 150 at once by default); the
        # kernel caps this at net.core.rmem_max.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        sock.setblocking(False)
        sock.bind((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


# A LAN TCP client may pipeline (RFC 7766), but one that sends faster than it
# reads must not grow the daemon. Past this many queries waiting for answers we
# stop reading its socket (the kernel's buffers then push back on it): dnsmasq
# sends one query per connection, stub resolvers pipeline a handful.
MAX_QUERIES_PER_TCP_CLIENT = 64
# Answers queued for a client that does not read: past the high mark we stop
# reading it too; past the hard limit (a client that pipelined big answers and
# never reads them) it is dropped. (asyncio's default high mark was 64 KiB too.)
WRITE_HIGH_BYTES = 64 * 1024
WRITE_HARD_LIMIT_BYTES = 256 * 1024


class TcpClient(Protocol):
    def __init__(self, handler, counters, idle_ms, active):
        self.handler = handler
        self.counters = counters
        self.idle_s = idle_ms / 1000.0
        self.active = active          # the set of live TcpClients, for the connection limit
        self.decoder = FrameDecoder()
        self.transport = None
        self.loop = None
        self.idle_handle = None       # one timer, moved on only when it comes up (_idle)
        self.outstanding = 0          # queries not yet answered
        # Whole messages read past the per-client bound: at most one read's worth
        # (reading pauses), which may be thousands of tiny ones, hence a deque.
        self.backlog = collections.deque()
        self.peer_done = False        # the client half-closed
        self.reading = True
        self.write_paused = False
        self.last_active = 0.0        # loop time of the last whole message or answer

    def connection_made(self, transport):
        self.transport = transport
        self.loop = transport.loop
        transport.set_write_buffer_limits(high=WRITE_HIGH_BYTES)
        self.counters["tcp_connections"] += 1
        self._touch()

    def data_received(self, data):
        # Only a whole message counts as activity: a client dripping one byte at a
        # time (slowloris) must finish its message within the idle time.
        was_between_messages = not self.decoder.pending()
        try:
            messages = self.decoder.feed(data)
        except FramingError:
            self.counters["tcp_zero_length"] += 1
            self._abort()
            return
        if messages or was_between_messages:
            self._touch()
        self.backlog.extend(messages)
        self._take()

    def _take(self):
        """Hand the core what the per-client bound allows; stop reading past it."""
        while self.backlog and self.outstanding < MAX_QUERIES_PER_TCP_CLIENT:
            if self.transport is None or self.transport.is_closing():
                self.backlog.clear()
                return
            msg = self.backlog.popleft()
            self.outstanding += 1
            self.handler.client_query(msg, self._reply, False)
        self._set_reading()

    def _set_reading(self):
        want = (not self.write_paused and not self.backlog
                and self.outstanding < MAX_QUERIES_PER_TCP_CLIENT)
        if want == self.reading or self.transport is None or self.transport.is_closing():
            return
        self.reading = want
        if want:
            self.transport.resume_reading()
        else:
            self.counters["tcp_paused"] += 1
            self.transport.pause_reading()

    def pause_writing(self):
        self.write_paused = True
        self._set_reading()

    def resume_writing(self):
        self.write_paused = False
        self._set_reading()

    def eof_received(self):
        if self.decoder.pending():
            self.counters["tcp_incomplete"] += 1
        self.peer_done = True
        # Keep our half open while answers to queries already received are on their way.
        return self.outstanding > 0 or bool(self.backlog)

    def connection_lost(self, exc):
        self.active.discard(self)
        self.backlog.clear()
        if self.idle_handle is not None:
            self.idle_handle.cancel()
            self.idle_handle = None

    def _reply(self, msg):
        self.outstanding -= 1
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(frame(msg))
        if self.transport.get_write_buffer_size() > WRITE_HARD_LIMIT_BYTES:
            self.counters["tcp_overrun"] += 1
            self._abort()
            return
        self._touch()
        if self.backlog:
            self._take()
        elif self.peer_done and self.outstanding == 0:
            # The idle timer stays armed: a client that half-closed and never
            # reads would otherwise hold this connection until the answers drain.
            self.transport.close()
        else:
            self._set_reading()

    def write_buffer(self):
        if self.transport is None or self.transport.is_closing():
            return 0
        return self.transport.get_write_buffer_size()

    def _touch(self):
        # Every message and answer touches: a timer cancelled and made anew each
        # time would be a heap entry per query; this one is checked when it fires.
        self.last_active = self.loop.time()
        if self.idle_handle is None:
            self.idle_handle = self.loop.call_at(self.last_active + self.idle_s, self._idle)

    def _idle(self):
        self.idle_handle = None
        due = self.last_active + self.idle_s
        if self.loop.time() < due:
            self.idle_handle = self.loop.call_at(due, self._idle)
            return
        if self.decoder.pending():
            self.counters["tcp_incomplete"] += 1
        self.counters["tcp_idle_closed"] += 1
        self._abort()

    def idle(self):
        """The client may be let go for a newcomer: nothing asked and nothing
        owed, or it does not read what it asked for (its answers pile up)."""
        return self.outstanding == 0 and not self.backlog or self.write_paused

    def evict(self):
        self.counters["tcp_evicted"] += 1
        self._abort()

    def _abort(self):
        """Go now. close() would wait for the queued answers to drain, forever
        for a client that does not read, and it would keep its slot."""
        self.backlog.clear()
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()


class TcpListenerFactory:
    """Makes a TcpClient per connection, refusing connections past the limit."""

    def __init__(self, handler, counters, idle_ms, max_clients):
        self.handler = handler
        self.counters = counters
        self.idle_ms = idle_ms
        self.max_clients = max_clients
        self.active = set()

    def __call__(self):
        if len(self.active) >= self.max_clients and not self._evict_one():
            return _Refused(self.counters)
        client = TcpClient(self.handler, self.counters, self.idle_ms, self.active)
        # Counted from now, not from connection_made: the slot is taken the
        # moment the connection is accepted, before anything else runs.
        self.active.add(client)
        return client

    def _evict_one(self):
        """At the limit, the client idle longest makes room (RFC 7766 6.2.3: a
        server under pressure may close idle connections), so connections held
        open for nothing cannot lock the LAN's TCP clients out for their idle
        time. Clients waiting for answers are not evicted, unless they do
        not read them."""
        idle = [c for c in self.active if c.idle() and c.transport is not None]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        self.active.discard(oldest)   # its slot is the newcomer's now
        oldest.evict()
        return True


class _Refused(Protocol):
    def __init__(self, counters):
        self.counters = counters

    def connection_made(self, transport):
        self.counters["tcp_rejected"] += 1
        transport.close()
