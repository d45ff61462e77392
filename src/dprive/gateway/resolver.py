"""The gateway's side of the resolver: plain DNS over UDP, TCP again when truncated.

One connected UDP socket carries every query; each goes out under an ID of
its own (random, unused at the time) and its answer is matched by that ID
and the question, then given back with the client's ID. An answer with TC
set is asked again over a new TCP connection (RFC 7766), within the same
deadline. `query` returns None when the resolver fails (timeout, refused,
malformed answer): the gateway answers SERVFAIL then.
"""

import asyncio
import random
import socket
import struct

from dprive.core import wire
from dprive.core.framing import frame

RECV_BATCH = 64
MAX_ANSWER = 65535
MAX_PENDING = 60000     # IDs in use at once, of 65536


class ResolverClient:
    def __init__(self, loop, address, port, timeout_s, counters):
        self.loop = loop
        self.address = address
        self.port = port
        self.timeout_s = timeout_s
        self.counters = counters
        self.pending = {}        # upstream ID -> (future, question bytes)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.family = family
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            self.sock.connect((address, port))
        except BaseException:
            self.sock.close()
            raise
        loop.add_reader(self.sock.fileno(), self._readable)
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            for fut, _ in self.pending.values():
                if not fut.done():
                    fut.cancel()
            self.pending.clear()

    def _new_id(self):
        while True:
            qid = random.getrandbits(16)
            if qid not in self.pending:
                return qid

    async def query(self, msg, question_end):
        """The answer to `msg` (a query already checked) with its own ID, or None."""
        if self.closed or len(self.pending) >= MAX_PENDING:
            return None
        deadline = self.loop.time() + self.timeout_s
        client_id = wire.get_id(msg)
        question = bytes(msg[wire.HEADER_LEN:question_end]).lower()
        qid = self._new_id()
        fut = self.loop.create_future()
        self.pending[qid] = (fut, question)
        try:
            self.sock.send(wire.set_id(msg, qid))
            answer = await asyncio.wait_for(fut, self.timeout_s)
        except (OSError, asyncio.TimeoutError):
            return None
        finally:
            self.pending.pop(qid, None)
        if wire.parse_header(answer).flags & wire.TC:
            self.counters["resolver_tcp"] += 1
            answer = await self._over_tcp(msg, client_id, question, deadline - self.loop.time())
            if answer is None:
                return None
        return wire.set_id(answer, client_id)

    def _readable(self):
        for _ in range(RECV_BATCH):
            try:
                data = self.sock.recv(MAX_ANSWER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue      # e.g. ICMP port unreachable: the queries time out
            entry = self.pending.get(_answer_id(data)) if len(data) >= wire.HEADER_LEN else None
            if entry is None or entry[0].done() or not _matches(data, entry[1]):
                self.counters["resolver_stray"] += 1
                continue
            entry[0].set_result(data)

    async def _over_tcp(self, msg, client_id, question, timeout_s):
        if timeout_s <= 0:
            return None
        writer = None
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(self.address, self.port,
                                                               family=self.family)
                writer.write(frame(msg))
                await writer.drain()
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                answer = await reader.readexactly(length)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return None
        finally:
            if writer is not None:
                writer.close()
        if wire.get_id(answer) != client_id or not _matches(answer, question):
            return None
        return answer


def _answer_id(data):
    return struct.unpack_from("!H", data, 0)[0]


def _matches(answer, question):
    """A response whose question section is `question` (compared without case)."""
    try:
        header = wire.parse_header(answer)
        if not header.flags & wire.QR:
            return False
        if header.qdcount == 0:
            # Some resolvers drop the question from FORMERR/NOTIMP answers.
            return header.rcode() != wire.RCODE_NOERROR
        found = wire.read_question(answer)
    except wire.WireError:
        return False
    return bytes(answer[wire.HEADER_LEN:found.end]).lower() == question
