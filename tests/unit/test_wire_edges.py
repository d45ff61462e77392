# portable: runs under MicroPython too
"""dprive.core.wire at its boundaries: an OPT's extended rcode and version
packed in their own bytes, an error answer's OPT that leaves the rcode alone,
a truncated answer exactly as long as the limit, the presentation form's
escapes at the ends of the printable range, and WireError texts that say
where a message broke and by how much (the log line is all an operator has).
test_wire.py holds the golden messages and the common cases."""

import struct

from testkit import eq, numbers, ok, parametrize

from dprive.core import wire
from dprive.core.wire import DO_BIT, OPT_TCP_KEEPALIVE, QR, RA, RD, TC, Opt, WireError

QNAME = b"\x07example\x03com\x00"
QUESTION = QNAME + b"\x00\x01\x00\x01"


def header(flags=RD, qd=1, an=0, ns=0, ar=0, msg_id=0x1234):
    return struct.pack("!6H", msg_id, flags, qd, an, ns, ar)


# --- OPT ------------------------------------------------------------------------

def test_opt_packs_extended_rcode_version_and_flags_in_their_own_bytes():
    # RFC 6891 6.1.3: the TTL is EXTENDED-RCODE (8 bits), VERSION (8), DO and Z (16).
    eq(Opt(1232, 0x01, 0x01, DO_BIT).pack(),
       b"\x00" + b"\x00\x29" + b"\x04\xd0" + b"\x01\x01\x80\x00" + b"\x00\x00")
    msg = wire.replace_opt(header() + QUESTION, Opt(4096, 0xAB, 0xCD, 0x8001))
    opt = wire.find_opt(msg)
    eq((opt.udp_size, opt.ext_rcode, opt.version, opt.flags), (4096, 0xAB, 0xCD, 0x8001))


def test_an_error_answer_keeps_its_rcode_whole():
    # A nonzero extended rcode in the OPT would turn SERVFAIL (2) into 16 + 2.
    query = wire.replace_opt(header() + QUESTION, Opt(4096, 0, 0, DO_BIT))
    opt = wire.find_opt(wire.make_error(query, wire.RCODE_SERVFAIL))
    eq((opt.ext_rcode, opt.version, opt.udp_size, opt.flags), (0, 0, wire.DEFAULT_EDNS_PAYLOAD, DO_BIT))


# --- truncate -------------------------------------------------------------------

def test_a_truncated_answer_may_be_exactly_as_long_as_the_limit():
    keepalive = Opt(1232, 0, 0, DO_BIT, [(OPT_TCP_KEEPALIVE, b"\x00\x64")])
    a_record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + b"\xc0\x00\x02\x01"
    answer = header(QR | RD | RA, 1, 30, 0, 1) + QUESTION + a_record * 30 + keepalive.pack()
    whole = header(QR | RD | RA | TC, 1, 0, 0, 1) + QUESTION + keepalive.pack()
    eq(wire.truncate(answer, len(whole)), whole, "question and OPT fit exactly")
    eq(wire.truncate(answer, len(whole) - 1),
       header(QR | RD | RA | TC, 1, 0, 0, 0) + QUESTION, "one byte short: the OPT goes")


# --- name_to_text ---------------------------------------------------------------

@parametrize("wire_name, text", [
    (b"\x03www\x07example\x03com\x00", "www.example.com."),
    (b"\x01a\x01b\x01c\x00", "a.b.c."),
    (b"\x02!~\x00", "!~."),                      # the first and last printable bytes
    (b"\x03\x20\x7f\x80\x00", "\\032\\127\\128."),   # space, DEL and beyond are escaped
])
def test_name_to_text_edges(wire_name, text):
    eq(wire.name_to_text(wire_name), text)


# --- where a message broke ------------------------------------------------------

def fails(parse, msg):
    try:
        parse(msg)
    except WireError as err:
        return str(err)
    raise AssertionError("no WireError for %r" % (msg,))


@parametrize("parse, msg, facts", [
    (wire.parse_header, b"\x00" * 5, [5]),                                  # 5 bytes
    (wire.read_question, header(qd=2) + QUESTION, [2]),                     # QDCOUNT 2
    (wire.read_question, header() + QNAME + b"\x00\x01\x00", [1, 27]),      # 1 byte short at 27
    (wire.read_question, header() + b"\x01a", [14]),                        # no root label
    (wire.read_question, header() + b"\x01a\x41bc\x00\x00\x01\x00\x01", [14]),  # label type 0x40
    (wire.read_question, header() + b"\x01a\x05ab", [14]),                 # label cut short
    (wire.validate, header() + QUESTION + b"xyz", [3]),                     # 3 bytes after
])
def test_wire_errors_say_where_and_by_how_much(parse, msg, facts):
    text = fails(parse, msg)
    found = numbers(text)
    for fact in facts:
        ok(fact in found, "%d not in %r" % (fact, text))
