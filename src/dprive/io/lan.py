"""The LAN side: DNS over UDP and TCP from dnsmasq and other clients.

Both hand every message to `handler.client_query(msg, reply, udp)`, where
`reply(bytes)` sends the answer back (and does nothing if the client is gone).
TCP clients may pipeline many length-prefixed queries on one connection and
get the answers in any order (RFC 7766). Bad input is counted, never fatal.
"""

import asyncio

from dprive.core.framing import FrameDecoder, FramingError, frame

LAN_COUNTERS = ("tcp_connections", "tcp_rejected", "tcp_zero_length", "tcp_incomplete",
                "tcp_idle_closed")


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, handler):
        self.handler = handler
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        transport = self.transport

        def reply(msg):
            if not transport.is_closing():
                transport.sendto(msg, addr)

        self.handler.client_query(data, reply, True)

    def error_received(self, exc):
        # ICMP port unreachable from a client that left: nothing to do.
        pass


class TcpClient(asyncio.Protocol):
    def __init__(self, handler, counters, idle_ms, active):
        self.handler = handler
        self.counters = counters
        self.idle_s = idle_ms / 1000.0
        self.active = active          # the set of live TcpClients, for the connection limit
        self.decoder = FrameDecoder()
        self.transport = None
        self.idle_handle = None
        self.outstanding = 0          # queries not yet answered
        self.peer_done = False        # the client half-closed

    def connection_made(self, transport):
        self.transport = transport
        self.active.add(self)
        self.counters["tcp_connections"] += 1
        self._touch()

    def data_received(self, data):
        self._touch()
        try:
            messages = self.decoder.feed(data)
        except FramingError:
            self.counters["tcp_zero_length"] += 1
            self.transport.close()
            return
        for msg in messages:
            self.outstanding += 1
            self.handler.client_query(msg, self._reply, False)

    def eof_received(self):
        if self.decoder.pending():
            self.counters["tcp_incomplete"] += 1
        self.peer_done = True
        # Keep our half open while answers to queries already received are on their way.
        return self.outstanding > 0

    def connection_lost(self, exc):
        self.active.discard(self)
        if self.idle_handle is not None:
            self.idle_handle.cancel()

    def _reply(self, msg):
        self.outstanding -= 1
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(frame(msg))
        if self.peer_done and self.outstanding == 0:
            self.transport.close()
        else:
            self._touch()

    def _touch(self):
        if self.idle_handle is not None:
            self.idle_handle.cancel()
        loop = asyncio.get_running_loop()
        self.idle_handle = loop.call_later(self.idle_s, self._idle)

    def _idle(self):
        if self.decoder.pending():
            self.counters["tcp_incomplete"] += 1
        self.counters["tcp_idle_closed"] += 1
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
        if len(self.active) >= self.max_clients:
            return _Refused(self.counters)
        return TcpClient(self.handler, self.counters, self.idle_ms, self.active)


class _Refused(asyncio.Protocol):
    def __init__(self, counters):
        self.counters = counters

    def connection_made(self, transport):
        self.counters["tcp_rejected"] += 1
        transport.close()
