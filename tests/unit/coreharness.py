"""A fake clock, DNS messages and scripted upstream servers for testing the core Forwarder.

Portable (runs under MicroPython too): built only on dprive.core.wire.
The harness plays the I/O shell: it carries out the Forwarder's actions and
lets the test decide what each upstream does with the queries it received.
"""

import struct

from dprive.core import forwarder as fw
from dprive.core import wire


def encode_name(text):
    if text.strip(".") == "":
        return b"\x00"      # the root
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def make_query(name="example.test", qtype=wire.TYPE_A, msg_id=0x1234, opt=None):
    """A client query; `opt` is an Opt to add, or None for a query without EDNS."""
    header = wire.Header(msg_id, wire.RD, 1, 0, 0, 0)
    msg = header.pack() + encode_name(name) + struct.pack("!HH", qtype, wire.CLASS_IN)
    if opt is not None:
        msg = wire.replace_opt(msg, opt)
    return msg


def make_answer(query, address=b"\xc6\x12\x00\x01", keepalive_units=None, extra_txt=0):
    """An answer to `query` (as the upstream received it): one A record (plus TXT padding bytes)."""
    header = wire.parse_header(query)
    question = wire.read_question(query)
    qopt = wire.find_opt(query)
    body = query[wire.HEADER_LEN:question.end]
    ancount = 1
    body += b"\xc0\x0c" + struct.pack("!HHIH", wire.TYPE_A, wire.CLASS_IN, 300, 4) + address
    for _ in range(extra_txt):
        txt = b"\xff" + b"x" * 255
        body += b"\xc0\x0c" + struct.pack("!HHIH", 16, wire.CLASS_IN, 300, len(txt)) + txt
        ancount += 1
    flags = wire.QR | wire.RA | (header.flags & wire.RD)
    msg = wire.Header(header.id, flags, 1, ancount, 0, 0).pack() + body
    if qopt is not None:
        options = []
        if keepalive_units is not None:
            options.append((wire.OPT_TCP_KEEPALIVE, struct.pack("!H", keepalive_units)))
        msg = wire.replace_opt(msg, wire.Opt(1232, 0, 0, 0, options))
    return msg


class Clock:
    def __init__(self):
        self.now = 1000000.0

    def advance(self, ms):
        self.now += ms


class Harness:
    """Runs a Forwarder; records what it asks of the shell."""

    def __init__(self, names=("one",), config=None, enabled=None, transports=None):
        self.clock = Clock()
        self._ids = [0]

        def rand16():
            # Deterministic but scattered IDs, so collisions are exercised too.
            self._ids[0] = (self._ids[0] * 25173 + 13849) & 0xFFFF
            return self._ids[0]

        self.fwd = fw.Forwarder(config or fw.ForwarderConfig(), list(names), rand16, enabled,
                                transports=transports)
        self.replies = {}        # client key -> [messages]
        self.let_go = []         # client keys the core dropped without an answer
        self.connects = []       # (index, gen)
        self.transports_used = []   # the transport of each CONNECT
        self.closes = []         # (index, gen, reason)
        self.logs = []
        self.sent = {}           # (index, gen) -> [upstream query messages]

    def run(self, actions):
        for action in actions:
            kind = action[0]
            if kind == fw.CONNECT:
                self.connects.append((action[1], action[2]))
                self.transports_used.append(action[4])
            elif kind == fw.SEND:
                self.sent.setdefault((action[1], action[2]), []).append(action[3])
            elif kind == fw.CLOSE:
                self.closes.append((action[1], action[2], action[3]))
            elif kind == fw.REPLY and action[2] is None:
                self.let_go.append(action[1])          # dropped: no answer, client forgotten
            elif kind == fw.REPLY:
                self.replies.setdefault(action[1], []).append(action[2])
            elif kind == fw.LOG:
                self.logs.append(action[2])
        return actions

    # events, as the shell would report them

    def query(self, key, msg, udp=True):
        return self.run(self.fwd.client_query(key, msg, self.clock.now, udp))

    def connected(self, index=0, gen=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.connected(index, gen, self.clock.now, {"tls_version": "TLSv1.3"}))

    def connect_failed(self, index=0, reason="refused", auth=False):
        return self.run(self.fwd.connect_failed(index, self.gen(index), reason, self.clock.now, auth))

    def closed(self, index=0, reason="reset", graceful=False, gen=None, kind=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.closed(index, gen, reason, graceful, self.clock.now, kind))

    def deliver(self, index, msg, gen=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.received(index, gen, msg, self.clock.now))

    def alert(self, index=0, gen=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.alert(index, gen, self.clock.now))

    def answer_all(self, index=0, **kw):
        """The upstream answers everything it received on its current session, in order."""
        key = (index, self.gen(index))
        pending = self.sent.get(key, [])
        self.sent[key] = []
        for query in pending:
            self.deliver(index, make_answer(query, **kw))
        return len(pending)

    def tick(self, ms):
        """Advance the clock by `ms`, firing the core's timer whenever it is due."""
        end = self.clock.now + ms
        while True:
            when = self.fwd.next_timer()
            if when is None or when > end:
                break
            self.clock.now = max(self.clock.now, when)
            self.run(self.fwd.timer(self.clock.now))
        self.clock.now = end

    def gen(self, index=0):
        session = self.fwd.upstreams[index].session
        return None if session is None else session.gen

    def outstanding(self, index=0):
        return list(self.sent.get((index, self.gen(index)), []))

    def counter(self, name, index=None):
        if index is None:
            return self.fwd.counters[name]
        return self.fwd.upstreams[index].counters[name]

    def reply(self, key):
        """The single reply a client got (fails if none or several)."""
        got = self.replies.get(key, [])
        if len(got) != 1:
            raise AssertionError("client %r got %d replies, expected 1" % (key, len(got)))
        return got[0]
