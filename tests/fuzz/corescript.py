"""A fuzzer's bytes read as a script of shell events for a live Forwarder.

The first bytes choose the setup (how many upstreams, their transports,
padding, max_pending, keep-warm, extra TLS sessions under load); then each step is one op byte and its
arguments. The ops are the events io/daemon.py reports: client queries
(made, or raw bytes), sessions up, answers (right, mutated, raw, late,
truncated, cut out of a TCP stream at arbitrary points), garbage, closes,
connect failures, DTLS alerts, time passing, reconnects and reloads.
Every event goes through CheckedHarness, which checks each action and table.
"""

import struct

from dprive.core import forwarder as fw, wire
from dprive.core.framing import FrameDecoder, FramingError, frame

from bytesource import ByteSource
from coreharness import make_answer, make_query
from coreshell import CheckedHarness, require, small_bounds

TRANSPORT_SETS = ((fw.TLS,), (fw.DTLS,), (fw.DTLS, fw.TLS))
PADDING = (128, 0, 468, 128)
NAMES = ("example.test", "a.example.test", "x" * 63 + ".test", "EXAMPLE.test", ".")
QTYPES = (wire.TYPE_A, wire.TYPE_AAAA, wire.TYPE_NS, 16, 255)
CLOSE_KINDS = (fw.RST, fw.TIMEOUT, fw.FIN, fw.CLOSE_NOTIFY, None)
MAX_STEPS = 200


def setup(src):
    """A CheckedHarness as the first bytes of the input want it."""
    first = src.u8()
    count = 1 + first % 3
    transports = [TRANSPORT_SETS[(src.u8()) % len(TRANSPORT_SETS)] for _ in range(count)]
    config = fw.ForwarderConfig(padding_block=PADDING[(first >> 2) % 4],
                                max_pending=1 + (first >> 4) % 8 if first & 0x80 else 4096,
                                keep_warm=bool(first & 0x40),
                                connections=(1, 1, 3, 4)[(first >> 2) % 4])   # with the padding
    harness = CheckedHarness(["up%d" % i for i in range(count)], config, transports=transports)
    harness.run(harness.fwd.start(harness.clock.now))
    return harness


def made_query(src):
    """A well-formed query: name, type, ID, EDNS (with or without options) from the input."""
    shape = src.u8()
    opt = None
    if shape & 1:
        options = []
        if shape & 2:
            options.append((wire.OPT_PADDING, b"\x00" * (shape >> 4)))
        if shape & 4:
            options.append((wire.OPT_TCP_KEEPALIVE, b""))
        if shape & 8:
            options.append((10, src.take(8)))       # a client cookie, passed through
        if shape & 0x20:
            options.append((src.u16(), b"x" * (src.u16() % 65400)))   # anything, up to 64 KiB
        opt = wire.Opt(src.u16(), 0, 0, wire.DO_BIT if shape & 0x10 else 0, options)
    return make_query(NAMES[src.below(len(NAMES))], QTYPES[src.below(len(QTYPES))], src.u16(), opt)


def sessions(h, handshaking=False):
    """(index, handle) of every session the core holds; `handshaking`: only those
    not up yet. The shell reports `connected` and `connect_failed` only for
    those (io/upstream_conn.py and io/dtls_conn.py report the end of an
    established session as `closed`), so the script does too."""
    found = []
    for up in h.fwd.upstreams:
        for session in (up.session, up.previous, up.stream) + tuple(up.extras):
            if session is not None and (not handshaking or session.established_at is None):
                found.append((up.index, session.handle))
    return found


def pick_session(h, src, handshaking=False):
    found = sessions(h, handshaking)
    if not found:
        return None
    return found[src.below(len(found))]


def pick_sent(h, src):
    """((index, gen), a query the core sent on a session it still holds), or None."""
    found = [(where, q) for where in sessions(h) for q in h.sent.get(where, [])]
    if not found:
        return None
    return found[src.below(len(found))]


def answer_for(query, src):
    try:
        return make_answer(query, keepalive_units=src.u16() if src.u8() & 1 else None)
    except wire.WireError:
        return None


def mutate(msg, src):
    """`msg` with a few bytes changed, cut short or extended, as the input says."""
    out = bytearray(msg)
    for _ in range(src.u8() % 4):
        if out:
            out[src.below(len(out))] ^= src.u8() | 1
    how = src.u8() % 4
    if how == 1:
        out = out[:src.below(len(out) + 1)]
    elif how == 2:
        out += src.take(src.u8())
    return bytes(out)


def deliver(h, where, msg):
    h.run(h.fwd.received(where[1], msg, h.clock.now))


def stream(h, where, data, chunk):
    """`data` as a TCP stream cut every `chunk` bytes, framed as io/upstream_conn.py does."""
    whole = FrameDecoder()
    try:
        expected, broken = whole.feed(data), None
    except FramingError as err:
        expected, broken = None, str(err)
    chunk = max(chunk, len(data) // 256)     # bounded work per input, as in fuzz_client.py
    decoder = FrameDecoder()
    got = []
    for pos in range(0, len(data), chunk):
        try:
            got.extend(decoder.feed(data[pos:pos + chunk]))
        except FramingError as err:
            require(broken is not None, "a stream cut in pieces broke where it whole did not: %s", err)
            h.run(h.fwd.garbled(where[1], "broken stream: %s" % err, h.clock.now))
            return
    require(broken is None, "a whole stream broke (%s), cut in pieces it did not", broken)
    require(got == expected, "a stream cut in pieces gave other messages than whole")
    require(b"".join(frame(m) for m in got) + data[len(data) - decoder.pending():] == data,
            "the messages and the rest are not the stream")
    for msg in got:
        if where not in sessions(h):
            return
        deliver(h, where, msg)


def step(h, src):
    op = src.u8() % 16
    now = h.clock.now
    if op == 0:
        h.ask(made_query(src), udp=bool(src.u8() & 1))
    elif op == 1:
        h.ask(src.blob(), udp=bool(src.u8() & 1))
    elif op == 2:
        where = pick_session(h, src, handshaking=True)
        if where is not None:
            h.run(h.fwd.connected(where[1], now, {"tls_version": "TLSv1.3", "tfo": bool(src.u8() & 1),
                                                            "resumption_offered": True, "resumed": True}))
    elif op == 3:
        h.clock.advance(src.u8())
        found = pick_sent(h, src)
        if found is not None:
            where, query = found
            h.sent[where].remove(query)
            answer = answer_for(query, src)
            if answer is not None:
                deliver(h, where, answer)
    elif op == 4:
        where = pick_session(h, src)
        if where is not None:
            deliver(h, where, src.blob())
    elif op == 5:
        found = pick_sent(h, src)
        if found is not None:
            answer = answer_for(found[1], src)
            if answer is not None:
                deliver(h, found[0], mutate(answer, src))
    elif op == 6:
        found = pick_sent(h, src)   # answered again (late), or to the wrong session
        if found is not None:
            answer = answer_for(found[1], src)
            where = pick_session(h, src) if src.u8() & 1 else found[0]
            if answer is not None and where is not None:
                deliver(h, where, answer)
    elif op == 7:
        where = pick_session(h, src)
        if where is not None:
            h.run(h.fwd.garbled(where[1], "broken stream: fuzz", now))
    elif op == 8:
        where = pick_session(h, src)
        if where is not None:
            h.closed(where[0], "closed", bool(src.u8() & 1), where[1], CLOSE_KINDS[src.below(5)])
    elif op == 9:
        where = pick_session(h, src, handshaking=True)
        if where is not None:
            flags = src.u8()
            h.connect_failed_gen(where[1], "refused", bool(flags & 1), bool(flags & 2))
    elif op == 10:
        where = pick_session(h, src)
        if where is not None:
            h.run(h.fwd.alert(where[1], now))
    elif op == 11:
        h.tick(src.u16() * (1 + src.u8() % 16))
    elif op == 12:
        ups = h.fwd.upstreams
        h.run(h.fwd.reconnect(now, None if src.u8() & 1 else ups[src.below(len(ups))].name))
    elif op == 13:
        where = pick_session(h, src)
        if where is not None:
            stream(h, where, src.blob(), 1 + src.u8())
    elif op == 14:
        found = pick_sent(h, src)   # an answer with TC set (over DTLS: asked again over TLS)
        if found is not None:
            answer = answer_for(found[1], src)
            if answer is not None:
                flags = struct.unpack_from("!H", answer, 2)[0] | wire.TC
                deliver(h, found[0], answer[:2] + struct.pack("!H", flags) + answer[4:])
    else:
        reload(h, src)


def reload(h, src):
    """A new configuration: each new upstream continues an old one (the same key) or is new."""
    old = len(h.fwd.upstreams)
    count = 1 + src.u8() % 3
    keep, used = [], set()
    for _ in range(count):
        choice = src.u8() % (old + 1)
        source = None if choice == old or choice in used else choice
        if source is not None:
            used.add(source)
        keep.append(source)
    transports = [h.fwd.upstreams[s].transports if s is not None else TRANSPORT_SETS[src.below(3)]
                  for s in keep]
    enabled = [bool(src.u8() % 4) for _ in keep]
    keys = []
    for source in keep:
        if source is None:
            h.next_upstream_key += 1
            keys.append("key%d" % h.next_upstream_key)
        else:
            keys.append(h.fwd.upstreams[source].key)
    h.run(h.fwd.reconfigure(h.fwd.config, ["up%d" % i for i in range(count)], h.clock.now,
                            enabled, None, transports, keys))


def run_script(data):
    """Set up, run the steps, let the deadlines pass, check the end."""
    with small_bounds():
        src = ByteSource(data)
        h = setup(src)
        steps = 0
        while src.left() and steps < MAX_STEPS:
            step(h, src)
            steps += 1
        h.settle()
    return h
