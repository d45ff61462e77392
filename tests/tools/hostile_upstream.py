"""A DoT upstream that lies, in every way a DNS-over-TLS server can, query after query.

Where tests/tools/rogue_upstream.py does one thing wrong always, this one picks
for each query (seeded) from FAULTS, and answers honestly the rest of the time
(`honest_share`), from the same static data as tests/tools/unbound.py, so it
earns back the forwarder's preference (its RTT) and keeps getting queries:

    garbage_bytes   bytes that are not TLS, written under the TLS layer
    bad_record      a TLS application-data record header with random bytes behind it
    wrong_id        a well-formed answer carrying an ID that was never asked
    long_prefix     a length prefix 100 bytes longer than what follows, then silence
    short_prefix    a length prefix 5 bytes shorter than the message behind it
    other_name      the right ID, an answer for another name (with an address)
    other_type      the right ID, the question's type changed
    huge            the right ID, another question, the frame filled to 65535 bytes
    abrupt_close    half of an answer, then a reset (SO_LINGER 0)
    silence         no answer; the connection stays up (and goes mute)
    slow_drip       a wrong-ID answer, one byte every DRIP_S

It runs in a thread of the test process on 127.0.0.1 with the test PKI's
certificate. `faults` counts what it did, by name.
"""

import asyncio
import collections
import os
import random
import socket
import ssl
import struct

from tests.tools import unbound
from tests.tools.rogue_upstream import ThreadedDotServer

FAULTS = ("garbage_bytes", "bad_record", "wrong_id", "long_prefix", "short_prefix", "other_name",
          "other_type", "huge", "abrupt_close", "silence", "slow_drip")
# Faults after which this connection sends nothing more (it is broken or mute).
ENDS_CONNECTION = ("garbage_bytes", "bad_record", "abrupt_close")
GOES_MUTE = ("long_prefix", "silence")
DRIP_S = 0.02
EVIL_ADDRESS = "203.0.113.66"
A, AAAA, TXT = 1, 28, 16
NXDOMAIN, REFUSED = 3, 5


def _data(name, rdtype):
    """The address unbound serves for (name, rdtype), or None."""
    if rdtype == AAAA:
        return unbound.STATIC_AAAA.get(name)
    if rdtype != A:
        return None
    if name in unbound.STATIC_A:
        return unbound.STATIC_A[name]
    if name.startswith("q") and name.endswith(".test.") and name[1:-6].isdigit():
        return unbound.q_address(int(name[1:-6]))
    return None


def _question(query):
    """(name text, qtype, question bytes) of a query, read by hand: whatever dprive
    forwards (EDNS options dnspython refuses included) must get an answer."""
    pos = 12
    labels = []
    while query[pos]:
        labels.append(query[pos + 1:pos + 1 + query[pos]].decode("ascii", "replace").lower())
        pos += 1 + query[pos]
    end = pos + 5
    qtype = struct.unpack("!H", query[pos + 1:pos + 3])[0]
    return ".".join(labels) + ".", qtype, query[12:end]


def _response(query_id, rd, question, rcode=0, answers=()):
    flags = 0x8080 | (0x0100 if rd else 0) | rcode
    out = struct.pack("!6H", query_id, flags, 1, len(answers), 0, 0) + question
    for rtype, rdata in answers:
        out += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 3600, len(rdata)) + rdata
    return out


def honest_answer(query, big_txt_bytes=0):
    """The answer unbound gives from the static test data: the address, no data
    for another type, NXDOMAIN for other names under test., else REFUSED.
    With `big_txt_bytes`, big.test TXT is one record that large (a big answer
    that is right)."""
    qid, flags = struct.unpack("!HH", query[:4])
    name, qtype, question = _question(query)
    if big_txt_bytes and name == unbound.BIG_NAME and qtype == TXT:
        rdata = (b"\xff" + b"x" * 255) * (big_txt_bytes // 256)
        return _response(qid, flags & 0x0100, question, 0, [(TXT, rdata)])
    address = _data(name, qtype)
    if address is not None:
        family = socket.AF_INET6 if qtype == AAAA else socket.AF_INET
        return _response(qid, flags & 0x0100, question, 0, [(qtype, socket.inet_pton(family, address))])
    known = _data(name, A) or _data(name, AAAA) or name == unbound.BIG_NAME
    rcode = 0 if known else NXDOMAIN if name.endswith(".test.") else REFUSED
    return _response(qid, flags & 0x0100, question, rcode)


def _other_name(query):
    qid, flags = struct.unpack("!HH", query[:4])
    question = b"\x04evil\x04test\x00" + struct.pack("!HH", A, 1)
    return _response(qid, flags & 0x0100, question, 0, [(A, socket.inet_aton(EVIL_ADDRESS))])


def _other_type(query):
    qid, flags = struct.unpack("!HH", query[:4])
    _name, qtype, question = _question(query)
    other = TXT if qtype != TXT else A
    return _response(qid, flags & 0x0100, question[:-4] + struct.pack("!HH", other, 1))


def _wrong_id(answer):
    return struct.pack("!H", (struct.unpack("!H", answer[:2])[0] + 1) & 0xFFFF) + answer[2:]


class HostileUpstream(ThreadedDotServer):
    def __init__(self, pki, seed=1, honest_share=0.5, faults=FAULTS, addresses=("127.0.0.1",),
                 big_txt_bytes=0):
        """`addresses`: loopback addresses to listen on, one port for all; a
        config that moves between them makes dprive see a new upstream (fresh
        RTT, so it is asked first again) at each reload."""
        super().__init__(pki, addresses)
        self.big_txt_bytes = big_txt_bytes
        self.rng = random.Random(seed)
        self.honest_share = honest_share
        self.choices = tuple(faults)
        self.faults = collections.Counter()
        self.queries = 0
        self.connections = 0

    def _pick(self):
        if self.rng.random() < self.honest_share:
            return "honest"
        return self.rng.choice(self.choices)

    async def _serve(self, reader, writer):
        self.connections += 1
        mute = False
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                query = await reader.readexactly(length)
                self.queries += 1
                if mute:
                    continue
                fault = self._pick()
                try:
                    _question(query)
                except (IndexError, struct.error):
                    fault = "unreadable"      # the query itself is broken: the connection ends
                self.faults[fault] += 1
                if fault == "unreadable" or await self._answer(fault, query, writer) is False:
                    return
                mute = fault in GOES_MUTE
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    async def _answer(self, fault, query, writer):
        """Carry out `fault`; False when the connection is to end."""
        sock = writer.get_extra_info("socket")
        if sock is None:
            return False      # dprive went away meanwhile
        raw_fd = sock.fileno()
        honest = honest_answer(query, self.big_txt_bytes)
        if fault == "honest":
            out = honest
        elif fault == "garbage_bytes":
            await writer.drain()
            os.write(raw_fd, self.rng.randbytes(40))
            return False
        elif fault == "bad_record":
            await writer.drain()
            body = self.rng.randbytes(60)
            os.write(raw_fd, b"\x17\x03\x03" + struct.pack("!H", len(body)) + body)
            return False
        elif fault == "wrong_id":
            out = _wrong_id(honest)
        elif fault == "long_prefix":
            writer.write(struct.pack("!H", len(honest) + 100) + honest)
            await writer.drain()
            return True
        elif fault == "short_prefix":
            writer.write(struct.pack("!H", len(honest) - 5) + honest)
            await writer.drain()
            return True
        elif fault == "other_name":
            out = _other_name(query)
        elif fault == "other_type":
            out = _other_type(query)
        elif fault == "huge":
            other = _other_name(query)
            out = other + bytes(65535 - len(other))
        elif fault == "abrupt_close":
            framed = struct.pack("!H", len(honest)) + honest
            writer.write(framed[:len(framed) // 2])
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif fault == "silence":
            return True
        elif fault == "slow_drip":
            framed = struct.pack("!H", len(honest)) + _wrong_id(honest)
            self._loop.create_task(self._drip(writer, framed))
            return True
        else:
            raise ValueError(fault)
        writer.write(struct.pack("!H", len(out)) + out)
        await writer.drain()
        return True

    async def _drip(self, writer, data):
        try:
            for i in range(len(data)):
                if writer.is_closing():
                    return
                writer.write(data[i:i + 1])
                await asyncio.sleep(DRIP_S)
        except (ConnectionError, OSError):
            pass
