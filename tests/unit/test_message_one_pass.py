# portable: runs under MicroPython too
"""core/message.py's one-pass paths (a query parsed once, its upstream bytes and
its client answer cut in one go) give what the wire.py helpers say they must."""

import struct

from testkit import eq, ok, raises

from dprive.core import message, wire

QNAME = b"\x01a\x04test\x00"
A_RECORD = b"\xc0\x0c" + struct.pack("!HHIH", wire.TYPE_A, wire.CLASS_IN, 300, 4) + b"\xc6\x12\x00\x01"
EXTRA = b"\x00" + struct.pack("!HHIH", wire.TYPE_A, wire.CLASS_IN, 5, 4) + b"abcd"


def query(opt=None, qname=QNAME):
    msg = struct.pack("!6H", 0x1234, wire.RD, 1, 0, 0, 0) + qname + struct.pack("!HH", wire.TYPE_A, wire.CLASS_IN)
    if opt is not None:
        msg = wire.replace_opt(msg, opt, None)
    return message.inspect_query(msg)[1]


def answer(opt, qname=QNAME, extra_after_opt=False):
    """An answer with an A record and `opt`, the OPT last unless an extra record follows it."""
    body = qname + struct.pack("!HH", wire.TYPE_A, wire.CLASS_IN) + A_RECORD
    arcount = 0
    if opt is not None:
        body += opt.pack()
        arcount += 1
    if extra_after_opt:
        body += EXTRA
        arcount += 1
    return struct.pack("!6H", 0x9999, wire.QR | wire.RD | wire.RA, 1, 1, 0, arcount) + body


def test_an_answer_with_its_opt_in_the_middle_reaches_the_client_with_the_opt_last():
    opt = wire.Opt(1232, 0, 0, 0, [(10, b"cookie!!")])
    got, keepalive = message.client_answer(answer(opt, extra_after_opt=True), query(wire.Opt(1232)))
    eq(keepalive, None)
    eq(wire.find_opt(got).options, [(10, b"cookie!!")])
    ok(got.endswith(opt.pack()), "the OPT goes last: %r" % got)
    eq(wire.parse_header(got).id, 0x1234)
    eq(wire.parse_header(got).arcount, 2)


def test_an_answer_with_nothing_to_strip_reaches_the_client_as_it_came_but_for_the_id():
    sent = answer(wire.Opt(1232, 0, 0, wire.DO_BIT, [(10, b"cookie!!")]))
    got, _ = message.client_answer(sent, query(wire.Opt(1232)))
    eq(got, b"\x12\x34" + sent[2:])


def test_the_keepalive_is_read_and_cut_and_padding_cut():
    opt = wire.Opt(1232, 0, 0, 0, [(wire.OPT_PADDING, b"\x00" * 3), (wire.OPT_TCP_KEEPALIVE, b"\x01\x2c"),
                                   (wire.OPT_TCP_KEEPALIVE, b"\x00\x01"), (10, b"cookie!!")])
    got, keepalive = message.client_answer(answer(opt), query(wire.Opt(1232)))
    eq(keepalive, 30000, "the first edns-tcp-keepalive, in ms")
    eq(wire.find_opt(got).options, [(10, b"cookie!!")])
    got, keepalive = message.client_answer(answer(wire.Opt(1232, 0, 0, 0, [(wire.OPT_TCP_KEEPALIVE, b"\x01")])),
                                           query(wire.Opt(1232)))
    eq(keepalive, None, "a keepalive option not 2 bytes long says nothing")


def test_a_client_without_edns_gets_no_opt_and_the_records_after_it_stay():
    got, _ = message.client_answer(answer(wire.Opt(1232), extra_after_opt=True), query())
    eq(wire.find_opt(got), None)
    eq(wire.parse_header(got).arcount, 1)
    ok(got.endswith(EXTRA), "the extra record stays")


def test_the_answers_question_is_checked_when_its_bytes_are_not_the_querys():
    q = query(wire.Opt(1232))
    got, _ = message.client_answer(answer(None, qname=b"\x01A\x04TEST\x00"), q)
    eq(wire.read_question(got).name, b"\x01A\x04TEST\x00", "another case is the same name")
    with raises(wire.WireError):
        message.client_answer(answer(None, qname=b"\x01b\x04test\x00"), q)
    with raises(wire.WireError):
        message.client_answer(answer(None, qname=b"\xc0\x0c"), q)


def test_the_upstream_query_is_the_one_replace_opt_and_padded_opt_make():
    for opt in (None, wire.Opt(4096, 0, 0, wire.DO_BIT, [(wire.OPT_PADDING, b"\x00" * 7), (10, b"12345678")])):
        q = query(opt)
        for block, stream in ((128, True), (0, True), (468, False)):
            want_opt = opt.without(message.HOP_BY_HOP) if opt is not None else wire.Opt(wire.DEFAULT_EDNS_PAYLOAD)
            if stream:
                want_opt.options.append((wire.OPT_TCP_KEEPALIVE, b""))
            else:
                want_opt.udp_size = min(max(want_opt.udp_size, wire.MIN_UDP_PAYLOAD), message.DTLS_MAX_PAYLOAD)
            body = wire.replace_opt(wire.set_id(q.msg, 77), None)
            want = wire.replace_opt(body, wire.padded_opt(len(body), want_opt, block), None)
            eq(message.upstream_query(q, 77, block, stream), want, "block %d stream %r" % (block, stream))
