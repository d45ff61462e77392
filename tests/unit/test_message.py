# portable: runs under MicroPython too
"""core/message.py at its edges: a query with an EDNS version we do not speak,
an upstream message that is not the answer to our question, and an answer
exactly as large as the UDP client can take."""

import struct

from testkit import eq, ok, raises

from dprive.core import message, wire

QNAME = b"\x01a\x04test\x00"


def msg(flags, qdcount=1, qtype=wire.TYPE_A, qclass=wire.CLASS_IN, qname=QNAME, msg_id=0x4242):
    out = struct.pack("!6H", msg_id, flags, qdcount, 0, 0, 0)
    if qdcount:
        out += qname + struct.pack("!HH", qtype, qclass)
    return out


def asked():
    return wire.read_question(msg(wire.RD))


ANSWER_FLAGS = wire.QR | wire.RD | wire.RA


# --- inspect_query ---------------------------------------------------------------

def test_an_edns_version_1_query_is_answered_formerr_with_its_id_and_question():
    query = wire.replace_opt(msg(wire.RD, msg_id=0x7777), wire.Opt(1232, 0, 1))
    verdict, answer, reason = message.inspect_query(query)
    eq(verdict, message.REPLY)
    header = wire.parse_header(answer)
    eq(header.id, 0x7777)
    ok(header.flags & wire.QR, "an answer")
    eq(header.rcode(), wire.RCODE_FORMERR)
    eq(wire.read_question(answer).name, QNAME)
    ok(isinstance(reason, str) and reason, "a reason to log")


def test_an_edns_version_0_query_is_accepted():
    query = wire.replace_opt(msg(wire.RD), wire.Opt(1232, 0, 0))
    verdict, what, _ = message.inspect_query(query)
    eq(verdict, message.ACCEPT)
    ok(what.had_opt, "the OPT is seen")


# --- check_answer ----------------------------------------------------------------

def test_a_query_from_upstream_is_not_an_answer():
    with raises(wire.WireError):
        message.check_answer(msg(wire.RD), asked())


def test_an_answer_for_another_type_or_class_is_refused():
    with raises(wire.WireError):
        message.check_answer(msg(ANSWER_FLAGS, qtype=wire.TYPE_AAAA), asked())
    with raises(wire.WireError):
        message.check_answer(msg(ANSWER_FLAGS, qclass=3), asked())         # CH
    with raises(wire.WireError):
        message.check_answer(msg(ANSWER_FLAGS, qname=b"\x01b\x04test\x00"), asked())


def test_an_answer_may_change_the_case_of_the_name():
    eq(message.check_answer(msg(ANSWER_FLAGS, qname=b"\x01A\x04TeSt\x00"), asked()), None)


def test_a_noerror_answer_without_its_question_is_refused():
    with raises(wire.WireError):
        message.check_answer(msg(ANSWER_FLAGS, qdcount=0), asked())
    eq(message.check_answer(msg(ANSWER_FLAGS | wire.RCODE_REFUSED, qdcount=0), asked()), None)


# --- fit_for_udp -----------------------------------------------------------------

def test_an_answer_exactly_as_long_as_the_limit_goes_whole():
    answer = msg(ANSWER_FLAGS)
    eq(message.fit_for_udp(answer, len(answer)), (answer, False))
    cut, truncated = message.fit_for_udp(answer, len(answer) - 1)
    ok(truncated, "one byte over the limit is truncated")
    ok(wire.parse_header(cut).flags & wire.TC, "TC set")
    ok(len(cut) < len(answer), "shorter")
