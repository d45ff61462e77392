"""A small datagram or TLS record costs a small allocation, not 64 KiB.

recvfrom(65535) and SSLObject.read(65536) allocate their whole length and
shrink it afterwards: per datagram and per record, a 64 KiB malloc that left
glibc's heap in holes, which each leaked TLS session (gh-116810, one per new
upstream) then pinned: ~80 KB of RSS per reload that moved an upstream under
LAN traffic (bench/reload_memory.py). Both now read into one buffer and copy
out what came. Measured with tracemalloc's peak while reading, a size, not a time.
"""

import shutil
import socket
import ssl
import tracemalloc

import pytest

from dprive.io.lan import UdpListener
from dprive.tls.dot import TlsClient, make_context
from tests.tools import certs

SMALL = 16 * 1024    # far above 40 small messages' copies, far below one 64 KiB buffer


def _peak_while(read):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = read()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


class Loop:
    def add_reader(self, fd, callback):
        self.callback = callback

    def remove_reader(self, fd):
        pass


class Handler:
    def __init__(self):
        self.queries = []

    def client_query(self, data, reply, udp):
        self.queries.append(len(data))


def test_udp_datagrams_are_read_without_a_64k_buffer_each():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    handler = Handler()
    listener = UdpListener(handler, Loop(), sock)
    try:
        for i in range(40):
            sender.sendto(b"\x12\x34" + bytes(30 + i), sock.getsockname())
        peak, _ = _peak_while(listener._readable)
        assert handler.queries == [32 + i for i in range(40)]
        assert peak < SMALL, "%d bytes at peak to read 40 small datagrams" % peak
    finally:
        listener.close()
        sender.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_tls_records_are_read_without_a_64k_buffer_each(tmp_path):
    pki = certs.make_test_pki(tmp_path / "pki")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_chain, pki.server_key)
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = ctx.wrap_bio(s_in, s_out, server_side=True)
    client = TlsClient(make_context(str(pki.ca_cert), "1.2", True), certs.AUTH_NAME)
    to_server = client.start()
    while not client.established:
        s_in.write(to_server)
        try:
            server.do_handshake()
        except ssl.SSLWantReadError:
            pass
        client.receive(s_out.read())
        to_server = client.pending_output()
    s_in.write(to_server)
    server.do_handshake()
    client.receive(s_out.read())           # the TLS 1.3 tickets
    for i in range(40):
        server.write(b"\x00\x05hello")     # one record each
    records = s_out.read()
    peak, (plaintext, _, closed) = _peak_while(lambda: client.receive(records))
    assert plaintext == b"\x00\x05hello" * 40 and not closed
    assert peak < SMALL, "%d bytes at peak to read 40 small records" % peak
