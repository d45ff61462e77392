"""A fake clock, DNS messages and scripted upstream servers for testing the core Forwarder.

Portable (runs under MicroPython too): built only on dprive.core.wire.
The harness plays the I/O shell: it carries out the Forwarder's actions and
lets the test decide what each upstream does with the queries it received.
"""

import struct

from testkit import ok

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


def well_formed(actions):
    """`actions`, after checking each is an Action and each Log has a known level and a text."""
    for action in actions:
        ok(isinstance(action, fw.Action), "not an action: %r" % (action,))
        if isinstance(action, fw.Log):
            ok(action.level in (fw.DEBUG, fw.INFO, fw.WARNING), "log level %r" % (action.level,))
            ok(isinstance(action.text, str) and action.text != "", "log text %r" % (action.text,))
    return actions


class Clock:
    def __init__(self):
        self.now = 1000000.0

    def advance(self, ms):
        self.now += ms


class Harness:
    """Runs a Forwarder; records what it asks of the shell.

    The tests name sessions as (upstream index, handle): the harness learns
    which upstream each handle belongs to from the Connect that opened it.
    """

    def __init__(self, names=("one",), config=None, enabled=None, transports=None, keys=None):
        self.clock = Clock()
        self._ids = [0]

        def rand16():
            # Deterministic but scattered IDs, so collisions are exercised too.
            self._ids[0] = (self._ids[0] * 25173 + 13849) & 0xFFFF
            return self._ids[0]

        self.fwd = fw.Forwarder(config or fw.ForwarderConfig(), list(names), rand16, enabled,
                                transports=transports, keys=keys)
        self.replies = {}        # client key -> [messages]
        self.let_go = []         # client keys the core dropped without an answer
        self.connects = []       # (index, handle)
        self.transports_used = []   # the transport of each Connect
        self.closes = []         # (index, handle, reason); index None for an upstream gone
        self.logs = []
        self.forgotten = []      # (upstream key, transport) of each ForgetSession
        self.sent = {}           # (index, handle) -> [upstream query messages]
        self.owner = {}          # handle -> the upstream key its Connect named

    def index_of(self, handle):
        """The index now of the upstream that owns `handle`, or None if it left."""
        key = self.owner.get(handle)
        for up in self.fwd.upstreams:
            if up.key == key:
                return up.index
        return None

    def run(self, actions):
        for action in actions:
            if isinstance(action, fw.Connect):
                self.owner[action.handle] = action.upstream
                self.connects.append((self.index_of(action.handle), action.handle))
                self.transports_used.append(action.transport)
            elif isinstance(action, fw.Send):
                self.sent.setdefault((self.index_of(action.handle), action.handle), []).append(action.msg)
            elif isinstance(action, fw.Close):
                self.closes.append((self.index_of(action.handle), action.handle, action.reason))
            elif isinstance(action, fw.Reply) and action.msg is None:
                self.let_go.append(action.client)      # dropped: no answer, client forgotten
            elif isinstance(action, fw.Reply):
                self.replies.setdefault(action.client, []).append(action.msg)
            elif isinstance(action, fw.Log):
                self.logs.append(action.text)
            elif isinstance(action, fw.ForgetSession):
                self.forgotten.append((action.upstream, action.transport))
        return actions

    # events, as the shell would report them (a handle given, else the
    # current session of upstream `index`)

    def query(self, key, msg, udp=True):
        return self.run(self.fwd.client_query(key, msg, self.clock.now, udp))

    def connected(self, index=0, gen=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.connected(gen, self.clock.now, {"tls_version": "TLSv1.3"}))

    def connect_failed(self, index=0, reason="refused", auth=False, heard=False):
        return self.run(self.fwd.connect_failed(self.gen(index), reason, self.clock.now, auth, heard))

    def closed(self, index=0, reason="reset", graceful=False, gen=None, kind=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.closed(gen, reason, graceful, self.clock.now, kind))

    def deliver(self, index, msg, gen=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.received(gen, msg, self.clock.now))

    def alert(self, index=0, gen=None):
        gen = self.gen(index) if gen is None else gen
        return self.run(self.fwd.alert(gen, self.clock.now))

    def answer_all(self, index=0, **kw):
        """The upstream answers everything it received on its current session, in order."""
        key = (index, self.gen(index))
        pending = self.sent.get(key, [])
        self.sent[key] = []
        for query in pending:
            self.deliver(index, make_answer(query, **kw))
        return len(pending)

    def warm(self, rtt_ms):
        """One query answered `rtt_ms` after the session came up, then a second of quiet."""
        self.query("w", make_query("warm.test"))
        self.connected()
        self.tick(rtt_ms)
        self.answer_all()
        self.tick(1000)

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
        """The handle of upstream `index`'s current session, or None."""
        session = self.fwd.upstreams[index].session
        return None if session is None else session.handle

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


def dtls_harness(transports=("dtls",), config=None):
    """A Harness of one upstream over `transports`, with no DTLS probes nor False
    Start unless `config` asks for them (so a test sees only the flights it causes)."""
    config = config or fw.ForwarderConfig(dtls_probe_interval_ms=0, dtls_resume_after_ms=0)
    return Harness(config=config, transports=[transports])


def truncated(query):
    """What a DTLS server sends when the answer does not fit: header and question, TC."""
    return wire.truncate(make_answer(query, extra_txt=6), 100)


def upstream_status(h):
    """The status of the harness's first upstream."""
    return h.fwd.status(h.clock.now)["upstreams"][0]


def rcode(msg):
    """The rcode of a DNS message's header."""
    return wire.parse_header(msg).rcode()
