"""A DoT server that misbehaves on purpose, for tests of what dprive does with it.

Runs in a thread of the test process on 127.0.0.1. It completes real TLS
handshakes with the test PKI's certificate, then answers every query the way
`mode` says:

    garbage      the query's ID followed by bytes that are not DNS
    unknown-id   a well-formed answer carrying an ID that was never asked
    short        a framed 5-byte message, shorter than a DNS header
    reset        no answer: the connection is reset (SO_LINGER 0)
    silent       no answer at all; the connection stays up
"""

import asyncio
import socket
import ssl
import struct
import threading

from tests.tools import common

MODES = ("garbage", "unknown-id", "short", "reset", "silent")


def _answer_with_wrong_id(query):
    wrong_id = (struct.unpack("!H", query[:2])[0] + 1) & 0xFFFF
    flags = struct.unpack("!H", query[2:4])[0] | 0x8080   # QR, RA
    return struct.pack("!HH", wrong_id, flags) + query[4:]


class ThreadedDotServer:
    """A DoT server on loopback in a thread of the test process, with the test
    PKI's certificate: one port on every address in `addresses`. Subclasses
    answer in `_serve(reader, writer)`; stop() ends every connection still
    being served (a silent server never ends them) so the loop stops with no
    task left pending."""

    def __init__(self, pki, addresses=("127.0.0.1",)):
        self.port = common.free_port()
        self.addresses = tuple(addresses)
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(pki.server_chain, pki.server_key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers = []

    def start(self):
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self):
        for address in self.addresses:
            self._servers.append(await asyncio.start_server(self._serve, address, self.port,
                                                            ssl=self._ctx))

    async def _serve(self, reader, writer):
        raise NotImplementedError

    def stop(self):
        async def _stop():
            for server in self._servers:
                server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            for server in self._servers:
                await server.wait_closed()
        if self._servers:
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class RogueUpstream(ThreadedDotServer):
    def __init__(self, pki, mode):
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        super().__init__(pki)
        self.mode = mode
        self.queries = 0
        self.connections = 0

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                query = await reader.readexactly(length)
                self.queries += 1
                if self.mode == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if self.mode == "silent":
                    continue
                if self.mode == "garbage":
                    reply = query[:2] + b"\xff" * 58
                elif self.mode == "short":
                    reply = b"\x00\x01abc"
                else:
                    reply = _answer_with_wrong_id(query)
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
