"""io/transport.py on real sockets: what the protocols were promised by
asyncio's transports and still get (io/upstream_conn.py tells RST from a
timeout by the exception; io/lan.py's TcpClient stops reading a client whose
answers pile up; control.py answers line by line)."""

import errno
import socket
import struct

import pytest

from dprive.io.loop import Loop
from dprive.io.transport import DatagramTransport, Protocol, StreamTransport, tcp_server


class Recorder(Protocol):
    def __init__(self, keep_open=False):
        self.events = []
        self.data = b""
        self.keep_open = keep_open
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.events.append("eof")
        return self.keep_open

    def connection_lost(self, exc):
        self.events.append(("lost", type(exc).__name__ if exc else None))

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def datagram_received(self, data, addr):
        self.events.append(("datagram", data))

    def error_received(self, exc):
        self.events.append(("error", type(exc).__name__))


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def pair(loop, protocol):
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return StreamTransport(loop, ours, protocol), theirs


def lost(protocol):
    return [e for e in protocol.events if isinstance(e, tuple) and e[0] == "lost"]


def test_data_both_ways_and_eof_closes_unless_the_protocol_keeps_it_open(loop):
    for keep_open in (False, True):
        proto = Recorder(keep_open)
        transport, peer = pair(loop, proto)
        transport.write(b"query")
        assert peer.recv(10) == b"query"
        peer.send(b"answer")
        assert loop.run_until(lambda: proto.data == b"answer", 2)
        peer.shutdown(socket.SHUT_WR)
        assert loop.run_until(lambda: "eof" in proto.events, 2)
        loop.run_once(0.05)
        if keep_open:
            assert not lost(proto) and not transport.is_closing()
            transport.write(b"late")           # our half is still open
            assert peer.recv(10) == b"late"
            transport.resume_reading()         # no reader again on a socket at EOF
            loop.run_once(0.05)
            assert proto.events.count("eof") == 1
            transport.close()
            loop.run_once(0)
        assert lost(proto) == [("lost", None)]
        peer.close()


def test_a_full_socket_queues_pauses_the_protocol_and_close_drains_the_queue(loop):
    proto = Recorder()
    transport, peer = pair(loop, proto)
    transport.set_write_buffer_limits(high=64 * 1024)
    chunk = b"x" * 65536
    for _ in range(64):
        transport.write(chunk)
    assert transport.get_write_buffer_size() > 0 and "pause" in proto.events
    transport.close()
    assert not lost(proto), "close() waits for the queue"
    got = [0]
    peer.setblocking(False)

    def drained():
        try:
            got[0] += len(peer.recv(1 << 20))
        except BlockingIOError:
            pass
        return got[0] == 64 * len(chunk)
    assert loop.run_until(drained, 10), "%d bytes of %d arrived" % (got[0], 64 * len(chunk))
    assert loop.run_until(lambda: lost(proto), 2)
    assert "resume" in proto.events and lost(proto) == [("lost", None)]
    peer.close()


def test_abort_drops_the_queue_and_reports_once(loop):
    proto = Recorder()
    transport, peer = pair(loop, proto)
    for _ in range(64):
        transport.write(b"x" * 65536)
    transport.abort()
    transport.abort()
    transport.close()
    loop.run_once(0)
    assert lost(proto) == [("lost", None)] and transport.get_write_buffer_size() == 0
    peer.close()


def test_a_reset_reaches_the_protocol_as_connection_reset(loop):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.setblocking(False)
    proto = Recorder()
    StreamTransport(loop, client, proto)
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    accepted.close()       # linger 0: RST
    assert loop.run_until(lambda: lost(proto), 2)
    assert lost(proto) == [("lost", "ConnectionResetError")]
    server.close()


def test_pause_reading_stops_data_until_resumed(loop):
    proto = Recorder()
    transport, peer = pair(loop, proto)
    transport.pause_reading()
    peer.send(b"held")
    loop.run_once(0.05)
    assert proto.data == b""
    transport.resume_reading()
    assert loop.run_until(lambda: proto.data == b"held", 2)
    transport.close()
    loop.run_once(0)
    peer.close()


def test_the_tcp_server_gives_each_connection_its_protocol_with_nodelay(loop):
    protos = []

    def factory():
        protos.append(Recorder())
        return protos[-1]
    server = tcp_server(loop, factory, "127.0.0.1", 0, socket.AF_INET)
    try:
        client = socket.create_connection(server.sock.getsockname())
        assert loop.run_until(lambda: protos and protos[0].transport, 2)
        sock = protos[0].transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        client.send(b"hi")
        assert loop.run_until(lambda: protos[0].data == b"hi", 2)
        client.close()
        assert loop.run_until(lambda: lost(protos[0]), 2)
    finally:
        server.close()


def test_a_connected_udp_socket_gets_datagrams_and_its_icmp_errors(loop):
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(peer.getsockname())
    proto = Recorder()
    transport = DatagramTransport(loop, sock, proto)
    transport.sendto(b"one")
    data, addr = peer.recvfrom(100)
    peer.sendto(b"two", addr)
    assert loop.run_until(lambda: ("datagram", b"two") in proto.events, 2)
    peer.close()           # port unreachable from now on
    transport.sendto(b"three")
    assert loop.run_until(lambda: ("error", "ConnectionRefusedError") in proto.events, 2)
    transport.close()
    loop.run_once(0)
    assert lost(proto) == [("lost", None)]


def test_out_of_descriptors_stops_accepting_for_a_while_instead_of_spinning(loop, monkeypatch):
    from dprive.io import transport as module
    monkeypatch.setattr(module, "ACCEPT_RETRY_S", 0.1)
    protos = []
    server = tcp_server(loop, lambda: protos.append(Recorder()) or protos[-1], "127.0.0.1", 0, socket.AF_INET)
    real = server.sock

    class Exhausted:
        def accept(self):
            raise OSError(errno.EMFILE, "Too many open files")

        def fileno(self):
            return real.fileno()
    try:
        server.sock = Exhausted()
        client = socket.create_connection(real.getsockname())
        loop.run_once(0.5)
        assert real.fileno() not in loop._readers, "a listener that cannot accept must not be polled"
        server.sock = real
        assert loop.run_until(lambda: protos, 2), "accepting again after the pause"
        client.close()
    finally:
        server.close()
