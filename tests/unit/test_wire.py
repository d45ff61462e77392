# portable: runs under MicroPython too
"""Golden and behaviour tests of dprive.core.wire.

The golden messages are written by hand from the RFC 1035 (section 4.1) and
RFC 6891 (section 6.1.2) layouts; test_wire_dnspython.py checks them against
dnspython as well. This file runs under pytest and under
tests/micropython/mpytest.py: plain test_* functions, helpers from testkit.
"""

import struct

from testkit import eq, ok, parametrize, raises

from dprive.core import wire
from dprive.core.wire import (
    AA, AD, CD, DO_BIT, HEADER_LEN, OPT_PADDING, OPT_TCP_KEEPALIVE, QR, RA, RD,
    RCODE_FORMERR, RCODE_SERVFAIL, TC, Cursor, Opt, WireError,
)


def h(text):
    """Bytes from hex written with spaces and newlines for reading."""
    return bytes.fromhex("".join(text.split()))


# --- golden messages ---------------------------------------------------------

# Query, id 0x1234, RD, one question: example.com. A IN.
GOLDEN_QUERY = h("""
    1234 0100 0001 0000 0000 0000
    07 6578616d706c65 03 636f6d 00  0001 0001
""")

# Its answer: QR RD RA, the owner is a pointer to offset 12 (the question's
# name), TTL 3600, 93.184.216.34.
GOLDEN_RESPONSE = h("""
    1234 8180 0001 0001 0000 0000
    07 6578616d706c65 03 636f6d 00  0001 0001
    c00c 0001 0001 00000e10 0004 5db8d822
""")

# Query, id 0xbeef, RD AD, example.com. AAAA IN, and an OPT record: UDP size
# 4096, extended rcode 0, version 0, DO; options edns-tcp-keepalive (empty),
# COOKIE (8 bytes client cookie) and 4 bytes of padding.
GOLDEN_OPT_QUERY = h("""
    beef 0120 0001 0000 0000 0001
    07 6578616d706c65 03 636f6d 00  001c 0001
    00 0029 1000 00 00 8000 0018
       000b 0000
       000a 0008 0102030405060708
       000c 0004 00000000
""")
GOLDEN_OPT_START = 12 + 13 + 4

# Response from a DoT server: QR RA, NXDOMAIN, no question echoed back would be
# odd, so it has one; OPT with UDP 1232 and edns-tcp-keepalive of 15 s (150).
GOLDEN_KEEPALIVE_RESPONSE = h("""
    4321 8183 0001 0000 0000 0001
    07 6578616d706c65 03 636f6d 00  0001 0001
    00 0029 04d0 00 00 0000 0006
       000b 0002 0096
""")

GOLDEN = (GOLDEN_QUERY, GOLDEN_RESPONSE, GOLDEN_OPT_QUERY, GOLDEN_KEEPALIVE_RESPONSE)

EXAMPLE_COM = h("07 6578616d706c65 03 636f6d 00")


# --- small builders (checked against the golden messages below) --------------

def name(text):
    if text in ("", "."):
        return b"\x00"
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(msg_id=0x1234, flags=RD, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", msg_id, flags, qd, an, ns, ar)


def question(qname="example.com", qtype=1, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def rr(owner=b"\xc0\x0c", rtype=1, rclass=1, ttl=3600, rdata=b"\x5d\xb8\xd8\x22"):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def opt_rr(udp=1232, flags=0, options=(), ext_rcode=0, version=0, owner=b"\x00"):
    rdata = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in options)
    return rr(owner, 41, udp, (ext_rcode << 24) | (version << 16) | flags, rdata)


def test_builders_match_golden():
    eq(header() + question(), GOLDEN_QUERY)
    eq(header(flags=QR | RD | RA, an=1) + question() + rr(), GOLDEN_RESPONSE)
    opt = opt_rr(4096, DO_BIT, [(11, b""), (10, h("0102030405060708")), (12, bytes(4))])
    eq(header(0xBEEF, RD | AD, ar=1) + question(qtype=28) + opt, GOLDEN_OPT_QUERY)
    eq(name("example.com."), EXAMPLE_COM)


# --- header ------------------------------------------------------------------

def test_parse_header_query():
    hd = wire.parse_header(GOLDEN_QUERY)
    eq(hd.id, 0x1234)
    eq(hd.flags, RD)
    eq((hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (1, 0, 0, 0))
    eq(hd.opcode(), 0)
    eq(hd.rcode(), 0)


def test_parse_header_response():
    hd = wire.parse_header(GOLDEN_RESPONSE)
    eq(hd.id, 0x1234)
    eq(hd.flags, QR | RD | RA)
    eq((hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (1, 1, 0, 0))


def test_parse_header_opt_query():
    hd = wire.parse_header(GOLDEN_OPT_QUERY)
    eq(hd.id, 0xBEEF)
    eq(hd.flags, RD | AD)
    eq((hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (1, 0, 0, 1))


def test_parse_header_opcode_and_rcode():
    # opcode 2 (STATUS), AA, rcode 3 (NXDOMAIN)
    hd = wire.parse_header(h("0001 1403 0000 0000 0000 0000"))
    eq(hd.opcode(), 2)
    eq(hd.rcode(), 3)
    ok(hd.flags & AA, "AA lost")
    eq(wire.parse_header(GOLDEN_KEEPALIVE_RESPONSE).rcode(), 3)


def test_parse_header_all_ones():
    hd = wire.parse_header(b"\xff" * 12)
    eq((hd.id, hd.flags, hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (0xFFFF,) * 6)
    eq(hd.opcode(), 15)
    eq(hd.rcode(), 15)


@parametrize("length", [0, 1, 2, 11])
def test_parse_header_short(length):
    with raises(WireError):
        wire.parse_header(GOLDEN_QUERY[:length])


def test_header_pack_round_trip():
    for msg in GOLDEN:
        eq(wire.parse_header(msg).pack(), msg[:HEADER_LEN])


def test_header_accepts_bytearray_and_memoryview():
    eq(wire.parse_header(bytearray(GOLDEN_QUERY)).id, 0x1234)
    eq(wire.parse_header(memoryview(GOLDEN_RESPONSE)).ancount, 1)


def test_get_id_set_id():
    eq(wire.get_id(GOLDEN_QUERY), 0x1234)
    eq(wire.get_id(GOLDEN_OPT_QUERY), 0xBEEF)
    out = wire.set_id(GOLDEN_QUERY, 0xABCD)
    eq(wire.get_id(out), 0xABCD)
    eq(out[:2], b"\xab\xcd")
    eq(out[2:], GOLDEN_QUERY[2:])
    eq(wire.get_id(GOLDEN_QUERY), 0x1234)       # the input is not changed
    eq(wire.set_id(out, 0x1234), GOLDEN_QUERY)
    eq(wire.set_id(GOLDEN_QUERY, 0)[:2], b"\x00\x00")
    eq(wire.set_id(GOLDEN_QUERY, 0xFFFF)[:2], b"\xff\xff")
    eq(type(wire.set_id(bytearray(GOLDEN_QUERY), 7)), bytes)
    eq(wire.set_id(memoryview(GOLDEN_QUERY), 7)[2:], GOLDEN_QUERY[2:])


def test_get_id_set_id_short():
    with raises(WireError):
        wire.get_id(b"\x12")
    with raises(WireError):
        wire.set_id(GOLDEN_QUERY[:11], 1)


def test_is_response():
    eq(wire.is_response(GOLDEN_QUERY), False)
    eq(wire.is_response(GOLDEN_OPT_QUERY), False)
    eq(wire.is_response(GOLDEN_RESPONSE), True)
    eq(wire.is_response(GOLDEN_KEEPALIVE_RESPONSE), True)
    eq(wire.is_response(header(flags=QR)), True)      # header only is enough
    with raises(WireError):
        wire.is_response(b"")


# --- question ----------------------------------------------------------------

def test_read_question_golden():
    q = wire.read_question(GOLDEN_QUERY)
    eq(q.name, EXAMPLE_COM)
    eq((q.qtype, q.qclass), (1, 1))
    eq(q.end, len(GOLDEN_QUERY))
    q = wire.read_question(GOLDEN_OPT_QUERY)
    eq(q.name, EXAMPLE_COM)
    eq((q.qtype, q.qclass), (28, 1))
    eq(q.end, GOLDEN_OPT_START)
    q = wire.read_question(GOLDEN_RESPONSE)     # a response's question too
    eq(q.end, 12 + 17)
    eq(type(q.name), bytes)


def test_read_question_root_and_types():
    q = wire.read_question(header() + question(".", 2, 1))
    eq(q.name, b"\x00")
    eq(q.qtype, 2)
    q = wire.read_question(header() + question("a.b.c", 0xFFFF, 0xFE))
    eq(q.name, b"\x01a\x01b\x01c\x00")
    eq((q.qtype, q.qclass), (0xFFFF, 0xFE))


def test_read_question_keeps_case():
    q = wire.read_question(header() + question("ExAmPle.COM"))
    eq(q.name, name("ExAmPle.COM"))


@parametrize("qdcount", [0, 2, 0xFFFF])
def test_read_question_rejects_qdcount(qdcount):
    msg = header(qd=qdcount) + question() + question("example.org")
    with raises(WireError):
        wire.read_question(msg)


@parametrize("cut", [12, 13, 16, 24, 25, 26, 27, 28])
def test_read_question_qdcount_lies(cut):
    # the header says one question; the bytes end before it does
    with raises(WireError):
        wire.read_question(GOLDEN_QUERY[:cut])


def test_read_question_name_too_long():
    label = b"\x3f" + b"a" * 63
    long_name = label * 4 + b"\x00"           # 4 * 64 + 1 = 257 > 255
    with raises(WireError):
        wire.read_question(header() + long_name + b"\x00\x01\x00\x01")
    one_over = label * 3 + b"\x3e" + b"a" * 62 + b"\x00"  # 256
    eq(len(one_over), 256)
    with raises(WireError):
        wire.read_question(header() + one_over + b"\x00\x01\x00\x01")
    ok_name = label * 3 + b"\x3d" + b"a" * 61 + b"\x00"   # exactly 255
    eq(len(ok_name), 255)
    eq(wire.read_question(header() + ok_name + b"\x00\x01\x00\x01").name, ok_name)


def test_skip_name_too_long_before_pointer():
    # 4 labels of 63 bytes = 256 bytes before the pointer: too long whatever
    # the pointer adds (at least the root label)
    label = b"\x3f" + b"a" * 63
    with raises(WireError):
        Cursor(label * 4 + b"\xc0\x0c").skip_name()
    with raises(WireError):
        Cursor(label * 3 + b"\x3e" + b"a" * 62 + b"\xc0\x0c").skip_name()   # 255 + root
    cur = Cursor(label * 3 + b"\x3d" + b"a" * 61 + b"\xc0\x0c")             # 254 + root
    cur.skip_name()
    eq(cur.pos, 254 + 2)
    msg = (header(flags=QR, an=1) + question() +
           rr(label * 4 + b"\xc0\x0c"))
    with raises(WireError):
        wire.validate(msg)


@parametrize("first", [0x40, 0x80, 0x7F, 0xBF])
def test_read_question_bad_label_type(first):
    with raises(WireError):
        wire.read_question(header() + bytes([first]) + b"abc\x00\x00\x01\x00\x01")


# --- cursor ------------------------------------------------------------------

def test_cursor_reads_big_endian():
    cur = Cursor(h("0102 ffff 0809"))
    eq(cur.u16(), 0x0102)
    eq(cur.u16(), 0xFFFF, "unsigned")
    eq(cur.pos, 4)
    eq(cur.remaining(), 2)
    eq(cur.take(2), b"\x08\x09")
    eq(cur.remaining(), 0)


@parametrize("data,method", [
    (b"", "u16"),
    (b"\x01", "u16"),
    (b"", "skip_name"),
    (b"\x05abc", "skip_name"),        # label longer than what is left
    (b"\x03abc", "skip_name"),        # no root label
    (b"\xc0", "skip_name"),           # half a pointer
])
def test_cursor_short_input(data, method):
    cur = Cursor(data)
    with raises(WireError):
        getattr(cur, method)()


def test_cursor_take_and_skip_short():
    with raises(WireError):
        Cursor(b"abcd").take(5)
    with raises(WireError):
        Cursor(b"abcd").skip(5)
    cur = Cursor(b"abcd", 3)
    with raises(WireError):
        cur.u16()
    eq(cur.take(1), b"d")
    eq(cur.pos, 4)


def test_cursor_end_restricts():
    cur = Cursor(b"\x00\x01\x02\x03\x04", 1, 3)
    eq(cur.remaining(), 2)
    with raises(WireError):
        cur.take(3)
    eq(cur.u16(), 0x0102)
    with raises(WireError):
        cur.take(1)


def test_cursor_end_past_data():
    # an `end` beyond the data is clamped: still WireError, not IndexError
    cur = Cursor(b"\x01\x02", 0, 10)
    eq(cur.remaining(), 2)
    with raises(WireError):
        cur.take(3)
    with raises(WireError):
        Cursor(b"\x01", 0, 5).u16()
    with raises(WireError):
        Cursor(b"", 0, 3).take(1)


def test_cursor_skip_name_pointer_ends_name():
    cur = Cursor(b"\x03www\xc0\x0c\xff")
    cur.skip_name()
    eq(cur.pos, 6)


def test_wire_error_is_value_error():
    ok(issubclass(WireError, ValueError), "WireError should be a ValueError")


def test_every_prefix_raises_wire_error():
    # Never IndexError or struct.error, whatever the cut.
    for msg in GOLDEN:
        for n in range(len(msg)):
            with raises(WireError):
                wire.find_opt(msg[:n])
            with raises(WireError):
                wire.validate(msg[:n])
            if n < 12 + 17:
                with raises(WireError):
                    wire.read_question(msg[:n])
            try:
                wire.truncate(msg[:n], 512)
            except WireError:
                pass
            if n >= HEADER_LEN:
                err = wire.make_error(msg[:n], RCODE_FORMERR)
                wire.validate(err)
            else:
                with raises(WireError):
                    wire.make_error(msg[:n], RCODE_FORMERR)


# --- OPT ---------------------------------------------------------------------

def test_find_opt_none():
    eq(wire.find_opt(GOLDEN_QUERY), None)
    eq(wire.find_opt(GOLDEN_RESPONSE), None)


def test_find_opt_golden():
    opt = wire.find_opt(GOLDEN_OPT_QUERY)
    eq(opt.udp_size, 4096)
    eq(opt.ext_rcode, 0)
    eq(opt.version, 0)
    eq(opt.flags, DO_BIT)
    eq(opt.options, [(11, b""), (10, h("0102030405060708")), (12, bytes(4))])
    eq(opt.start, GOLDEN_OPT_START)
    eq(opt.end, len(GOLDEN_OPT_QUERY))
    eq(opt.get(10), h("0102030405060708"))
    eq(opt.get(OPT_TCP_KEEPALIVE), b"")
    eq(opt.get(99), None)
    eq(opt.pack(), GOLDEN_OPT_QUERY[GOLDEN_OPT_START:])


def test_find_opt_ext_rcode_and_version():
    msg = header(flags=QR, ar=1) + question() + opt_rr(512, 0x1234, (), 0xAB, 1)
    opt = wire.find_opt(msg)
    eq((opt.udp_size, opt.ext_rcode, opt.version, opt.flags), (512, 0xAB, 1, 0x1234))


def test_find_opt_after_other_additional_records():
    msg = (header(flags=QR, an=1, ns=1, ar=3) + question() + rr() +
           rr(rtype=2, rdata=b"\xc0\x0c") + rr() + opt_rr(1400) + rr())
    opt = wire.find_opt(msg)
    eq(opt.udp_size, 1400)
    eq(msg[opt.start:opt.end], opt_rr(1400))


@parametrize("an,ns,ar", [(1, 0, 0), (0, 1, 0), (1, 1, 1)])
def test_find_opt_outside_additional(an, ns, ar):
    # the OPT record is the first record, so it sits in the answer or authority section
    records = opt_rr() + rr() * (an + ns + ar - 1)
    msg = header(an=an, ns=ns, ar=ar) + question() + records
    with raises(WireError):
        wire.find_opt(msg)


def test_find_opt_two_opts():
    msg = header(ar=2) + question() + opt_rr() + opt_rr(4096)
    with raises(WireError):
        wire.find_opt(msg)


@parametrize("extra", [b"\x00", b"\xff\xff", bytes(11)])
def test_find_opt_trailing_bytes(extra):
    for msg in GOLDEN:
        with raises(WireError):
            wire.find_opt(msg + extra)
        with raises(WireError):
            wire.validate(msg + extra)


@parametrize("owner", [b"\x01a\x00", b"\xc0\x0c"])
def test_find_opt_non_root_name(owner):
    msg = header(ar=1) + question() + opt_rr(owner=owner)
    with raises(WireError):
        wire.find_opt(msg)


def test_find_opt_bad_options():
    # rdlength 4, but the option inside claims 8 bytes
    msg = header(ar=1) + question() + rr(b"\x00", 41, 1232, 0, h("000a 0008 0102"))
    with raises(WireError):
        wire.find_opt(msg)
    # a stray byte after the last option
    msg = header(ar=1) + question() + rr(b"\x00", 41, 1232, 0, h("000c 0000 00"))
    with raises(WireError):
        wire.find_opt(msg)


def test_find_opt_counts_lie():
    with raises(WireError):
        wire.find_opt(header(ar=1) + question())
    with raises(WireError):
        wire.find_opt(header(an=1) + question())
    with raises(WireError):
        wire.find_opt(GOLDEN_RESPONSE[:-1])


def test_parse_options():
    eq(wire.parse_options(b""), [])
    eq(wire.parse_options(h("000b 0000 000c 0002 0000")), [(11, b""), (12, b"\x00\x00")])
    with raises(WireError):
        wire.parse_options(h("000b"))


def test_opt_pack_and_without():
    opt = Opt(1232, 0, 0, DO_BIT, [(OPT_PADDING, b"\x00\x00"), (10, b"12345678")])
    eq(opt.pack(), opt_rr(1232, DO_BIT, [(12, b"\x00\x00"), (10, b"12345678")]))
    eq(Opt(512).pack(), h("00 0029 0200 00000000 0000"))
    rest = opt.without((OPT_PADDING,))
    eq(rest.options, [(10, b"12345678")])
    eq((rest.udp_size, rest.flags), (1232, DO_BIT))
    eq(len(opt.options), 2)          # the original is untouched


# --- replace_opt -------------------------------------------------------------

def test_replace_opt_add():
    out = wire.replace_opt(GOLDEN_QUERY, Opt(1232, 0, 0, DO_BIT))
    eq(out, GOLDEN_QUERY[:10] + b"\x00\x01" + GOLDEN_QUERY[12:] + opt_rr(1232, DO_BIT))
    opt = wire.find_opt(out)
    eq((opt.udp_size, opt.flags, opt.options), (1232, DO_BIT, []))
    eq(wire.parse_header(out).arcount, 1)


def test_replace_opt_replace():
    out = wire.replace_opt(GOLDEN_OPT_QUERY, Opt(1232, 0, 0, 0, [(OPT_TCP_KEEPALIVE, b"")]))
    hd = wire.parse_header(out)
    eq((hd.id, hd.flags, hd.arcount), (0xBEEF, RD | AD, 1))
    eq(out[HEADER_LEN:GOLDEN_OPT_START], GOLDEN_OPT_QUERY[HEADER_LEN:GOLDEN_OPT_START])
    opt = wire.find_opt(out)
    eq((opt.udp_size, opt.flags, opt.options), (1232, 0, [(11, b"")]))


def test_replace_opt_remove():
    out = wire.replace_opt(GOLDEN_OPT_QUERY, None)
    eq(out, header(0xBEEF, RD | AD) + question(qtype=28))
    eq(wire.find_opt(out), None)
    eq(wire.replace_opt(GOLDEN_QUERY, None), GOLDEN_QUERY)


def test_replace_opt_with_itself_is_identity():
    eq(wire.replace_opt(GOLDEN_OPT_QUERY, wire.find_opt(GOLDEN_OPT_QUERY)), GOLDEN_OPT_QUERY)
    eq(wire.replace_opt(GOLDEN_KEEPALIVE_RESPONSE, wire.find_opt(GOLDEN_KEEPALIVE_RESPONSE)),
       GOLDEN_KEEPALIVE_RESPONSE)


def test_replace_opt_keeps_other_additional_records():
    glue = rr(name("ns.example.com"), 1, 1, 60, b"\x01\x02\x03\x04")
    msg = header(flags=QR, an=1, ar=3) + question() + rr() + glue + opt_rr(4096) + glue
    out = wire.replace_opt(msg, Opt(1232))
    eq(wire.parse_header(out).arcount, 3)
    eq(out, header(flags=QR, an=1, ar=3) + question() + rr() + glue + glue + opt_rr(1232))
    gone = wire.replace_opt(msg, None)
    eq(wire.parse_header(gone).arcount, 2)
    eq(gone, header(flags=QR, an=1, ar=2) + question() + rr() + glue + glue)
    wire.validate(gone)


def test_replace_opt_with_known_old_opt():
    # the caller passes the OPT it already found: same result, no second walk
    for msg in GOLDEN:
        found = wire.find_opt(msg)
        for new in (None, Opt(1232), Opt(512, 0, 0, DO_BIT, [(OPT_PADDING, b"")])):
            eq(wire.replace_opt(msg, new, found), wire.replace_opt(msg, new))
            other_id = wire.set_id(msg, 0x7777)
            eq(wire.replace_opt(other_id, new, found), wire.replace_opt(other_id, new))


def test_replace_opt_rejects_bad_message():
    with raises(WireError):
        wire.replace_opt(GOLDEN_QUERY + b"\x00", Opt(1232))
    with raises(WireError):
        wire.replace_opt(GOLDEN_QUERY[:20], None)


# --- padding (RFC 7830, RFC 8467) --------------------------------------------

def pad(msg, block):
    """What the forwarder does: strip the OPT, pad, put it back."""
    opt = wire.find_opt(msg) or Opt(1232)
    bare = wire.replace_opt(msg, None)
    return wire.replace_opt(bare, wire.padded_opt(len(bare), opt, block))


def padding_options(msg):
    return [d for c, d in wire.find_opt(msg).options if c == OPT_PADDING]


@parametrize("block", [128, 468, 64, 2, 1])
def test_padded_opt_many_sizes(block):
    for length in range(1, 200, 3):
        qname = "a" * (length % 60 + 1) + "." + "b" * (length // 60 + 1) + ".example"
        for msg in (header() + question(qname),
                    header(ar=1) + question(qname) + opt_rr(4096, DO_BIT, [(10, b"c" * 8)])):
            out = pad(msg, block)
            eq(len(out) % block, 0, "length %d, block %d" % (len(out), block))
            ok(len(out) - len(msg) < block + 11 + 4, "padded more than a block")
            pads = padding_options(out)
            eq(len(pads), 1)
            eq(pads[0], bytes(len(pads[0])))       # zeros (RFC 7830 section 4)
            eq(wire.read_question(out).name, name(qname))
            opt = wire.find_opt(out)
            eq(opt.end, len(out))                 # the OPT goes last
            if wire.find_opt(msg) is not None:
                eq(opt.get(10), b"c" * 8)
                eq((opt.udp_size, opt.flags), (4096, DO_BIT))


def test_padded_opt_replaces_old_padding():
    out = pad(GOLDEN_OPT_QUERY, 128)
    eq(len(out), 128)
    eq(len(padding_options(out)), 1)
    opt = wire.find_opt(out)
    eq([c for c, d in opt.options], [11, 10, 12])
    again = pad(out, 128)
    eq(again, out)
    eq(len(pad(out, 468)), 468)


def test_padded_opt_zero_length_padding():
    # 84 bytes without OPT + 11 bytes of OPT + 4 bytes of option header = 99:
    # grow the name until the total lands exactly on a multiple of the block.
    for extra in range(0, 40):
        msg = header() + question("x" * (extra + 1) + ".example")
        opt = wire.padded_opt(len(msg), Opt(1232), 64)
        if len(msg) + 11 + 4 == 64:
            eq(opt.options, [(OPT_PADDING, b"")])
            eq(len(wire.replace_opt(msg, opt)), 64)
            return
    raise AssertionError("no size hit the block exactly")


@parametrize("block", [0, -1])
def test_padded_opt_block_zero_means_no_padding(block):
    opt = wire.find_opt(GOLDEN_OPT_QUERY)
    out = wire.padded_opt(100, opt, block)
    eq(out.get(OPT_PADDING), None)
    eq(out.options, [(11, b""), (10, h("0102030405060708"))])
    eq(out.udp_size, 4096)
    eq(wire.padded_opt(100, Opt(1232), block).options, [])


def test_padded_opt_keeps_fields():
    opt = Opt(1400, 0, 0, DO_BIT, [(10, b"12345678")])
    out = wire.padded_opt(40, opt, 128)
    eq((out.udp_size, out.ext_rcode, out.version, out.flags), (1400, 0, 0, DO_BIT))
    eq(out.options[0], (10, b"12345678"))
    eq(out.options[-1][0], OPT_PADDING)
    eq(40 + len(out.pack()), 128)
    eq(opt.options, [(10, b"12345678")])       # the input is untouched


# --- edns-tcp-keepalive (RFC 7828) and payload size --------------------------

def test_read_tcp_keepalive_golden():
    eq(wire.read_tcp_keepalive(wire.find_opt(GOLDEN_KEEPALIVE_RESPONSE)), 15000)


@parametrize("options,expected", [
    ([], None),
    ([(OPT_TCP_KEEPALIVE, b"")], None),             # the client's form: no timeout
    ([(OPT_TCP_KEEPALIVE, b"\x00\x00")], 0),
    ([(OPT_TCP_KEEPALIVE, b"\x00\x01")], 100),
    ([(OPT_TCP_KEEPALIVE, b"\x00\x96")], 15000),
    ([(OPT_TCP_KEEPALIVE, b"\xff\xff")], 6553500),
    ([(OPT_TCP_KEEPALIVE, b"\x01")], None),          # malformed: ignored
    ([(OPT_TCP_KEEPALIVE, b"\x00\x01\x02")], None),
    ([(OPT_PADDING, b"\x00\x96")], None),
    ([(OPT_PADDING, b""), (OPT_TCP_KEEPALIVE, b"\x01\x00")], 25600),
])
def test_read_tcp_keepalive(options, expected):
    eq(wire.read_tcp_keepalive(Opt(1232, 0, 0, 0, options)), expected)


def test_read_tcp_keepalive_no_opt():
    eq(wire.read_tcp_keepalive(None), None)


@parametrize("opt,limit", [
    (None, 512),
    (Opt(0), 512),
    (Opt(100), 512),
    (Opt(512), 512),
    (Opt(1232), 1232),
    (Opt(4096), 4096),
    (Opt(65535), 65535),
])
def test_udp_payload_limit(opt, limit):
    eq(wire.udp_payload_limit(opt), limit)


# --- make_error --------------------------------------------------------------

def test_make_error_formerr_for_garbage():
    query = header(0xABCD, RD) + b"\xff\xfe\xfd"
    out = wire.make_error(query, RCODE_FORMERR)
    eq(len(out), HEADER_LEN)
    hd = wire.parse_header(out)
    eq(hd.id, 0xABCD)
    ok(hd.flags & QR, "QR not set")
    ok(hd.flags & RD, "RD not copied")
    eq(hd.rcode(), RCODE_FORMERR)
    eq((hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (0, 0, 0, 0))
    wire.validate(out)


def test_make_error_formerr_for_header_only():
    out = wire.make_error(h("0042 0000 0001 0000 0000 0000"), RCODE_FORMERR)
    eq(out, h("0042 8081 0000 0000 0000 0000"))


def test_make_error_short_query():
    with raises(WireError):
        wire.make_error(b"\x00\x01\x00", RCODE_FORMERR)


def test_make_error_servfail_keeps_question_and_do():
    out = wire.make_error(GOLDEN_OPT_QUERY, RCODE_SERVFAIL)
    hd = wire.parse_header(out)
    eq(hd.id, 0xBEEF)
    ok(hd.flags & QR, "QR not set")
    ok(hd.flags & RD, "RD not copied")
    eq(hd.rcode(), RCODE_SERVFAIL)
    eq(hd.opcode(), 0)
    eq((hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (1, 0, 0, 1))
    eq(out[HEADER_LEN:GOLDEN_OPT_START], GOLDEN_OPT_QUERY[HEADER_LEN:GOLDEN_OPT_START])
    q = wire.read_question(out)
    eq((q.name, q.qtype, q.qclass), (EXAMPLE_COM, 28, 1))
    opt = wire.find_opt(out)
    eq(opt.flags & DO_BIT, DO_BIT)
    eq(opt.version, 0)
    eq(opt.options, [])               # the cookie and keepalive are not echoed
    ok(wire.is_response(out), "not a response")


def test_make_error_servfail_without_opt():
    out = wire.make_error(GOLDEN_QUERY, RCODE_SERVFAIL)
    eq(out, h("1234 8182 0001 0000 0000 0000") + GOLDEN_QUERY[HEADER_LEN:])
    eq(wire.find_opt(out), None)


def test_make_error_opt_without_do():
    query = header(ar=1) + question() + opt_rr(1232, 0)
    opt = wire.find_opt(wire.make_error(query, RCODE_SERVFAIL))
    eq(opt.flags, 0)


def test_make_error_copies_cd_and_opcode():
    query = header(7, (4 << 11) | CD) + question()      # opcode NOTIFY, CD
    hd = wire.parse_header(wire.make_error(query, wire.RCODE_NOTIMP))
    eq(hd.opcode(), 4)
    ok(hd.flags & CD, "CD not copied")
    ok(not hd.flags & RD, "RD set though the query had none")
    eq(hd.rcode(), wire.RCODE_NOTIMP)


def test_make_error_question_then_garbage():
    query = header() + question() + b"\x00"
    out = wire.make_error(query, RCODE_FORMERR)
    eq(wire.parse_header(out).qdcount, 1)
    eq(wire.read_question(out).name, EXAMPLE_COM)
    wire.validate(out)


# --- truncate ----------------------------------------------------------------

def big_response(answers=40, opt=True, authority=0):
    records = rr() * answers + rr(rtype=2, rdata=b"\xc0\x0c") * authority
    ar = 0
    if opt:
        records += opt_rr(1232, DO_BIT, [(OPT_TCP_KEEPALIVE, b"\x00\x64")])
        ar = 1
    return header(0x5555, QR | RD | RA | AD, 1, answers, authority, ar) + question() + records


def test_truncate_keeps_question_and_opt():
    answer = big_response(40, True, 3)
    ok(len(answer) > 512, "the test answer should be large")
    out = wire.truncate(answer, 512)
    ok(len(out) <= 512, "longer than the limit")
    hd = wire.parse_header(out)
    eq(hd.id, 0x5555)
    ok(hd.flags & TC, "TC not set")
    eq(hd.flags & ~TC, QR | RD | RA | AD)
    eq((hd.qdcount, hd.ancount, hd.nscount, hd.arcount), (1, 0, 0, 1))
    eq(wire.read_question(out).name, EXAMPLE_COM)
    opt = wire.find_opt(out)
    eq((opt.udp_size, opt.flags), (1232, DO_BIT))
    eq(wire.read_tcp_keepalive(opt), 10000)
    eq(out, header(0x5555, QR | RD | RA | AD | TC, 1, 0, 0, 1) + question() +
       opt_rr(1232, DO_BIT, [(OPT_TCP_KEEPALIVE, b"\x00\x64")]))


def test_truncate_without_opt():
    out = wire.truncate(big_response(40, False), 512)
    eq(out, header(0x5555, QR | RD | RA | AD | TC, 1, 0, 0, 0) + question())


def test_truncate_drops_opt_that_does_not_fit():
    answer = big_response(40, True)
    limit = HEADER_LEN + 17 + 5
    out = wire.truncate(answer, limit)
    ok(len(out) <= limit, "longer than the limit")
    eq(wire.parse_header(out).arcount, 0)
    eq(wire.read_question(out).name, EXAMPLE_COM)


def test_truncate_to_header_only():
    out = wire.truncate(big_response(40, True), 20)
    eq(out, header(0x5555, QR | RD | RA | AD | TC, 0, 0, 0, 0))


@parametrize("limit", [29, 40, 41, 100, 512, 1232])
def test_truncate_fits_limit(limit):
    out = wire.truncate(big_response(60, True, 2), limit)
    ok(len(out) <= limit, "%d bytes > limit %d" % (len(out), limit))
    ok(wire.parse_header(out).flags & TC, "TC not set")
    wire.validate(out)


def test_truncate_rejects_bad_message():
    with raises(WireError):
        wire.truncate(GOLDEN_RESPONSE[:-2], 512)


# --- name_to_text ------------------------------------------------------------

@parametrize("wire_name,text", [
    (EXAMPLE_COM, "example.com."),
    (b"\x00", "."),
    (name("ExAmPle.COM"), "ExAmPle.COM."),
    (b"\x03a.b\x00", "a\\046b."),
    (b"\x02a\\\x00", "a\\092."),
    (b"\x03a b\x00", "a\\032b."),
    (b"\x02\xff\x00\x00", "\\255\\000."),
    (b"\x01-\x01_\x00", "-._."),
])
def test_name_to_text(wire_name, text):
    eq(wire.name_to_text(wire_name), text)


def test_name_to_text_never_raises():
    for bad in (b"", b"\x05ab", b"\x03www\xc0\x0c", b"\x40abc", b"\x03abc"):
        ok(isinstance(wire.name_to_text(bad), str), "not a str for %r" % (bad,))
