# portable: runs under MicroPython too
"""An upstream answer names the one question it answers (RFC 9619: QDCOUNT is
at most 1). With an error rcode it may carry none (FORMERR, NOTIMP, REFUSED
often do), but never two: such an answer is refused like one for another
question, whatever its rcode."""

import struct

from testkit import eq, parametrize, raises

from dprive.core import message, wire

QNAME = b"\x01a\x04test\x00"
QUESTION = QNAME + b"\x00\x01\x00\x01"


def answer(qdcount, rcode, questions):
    flags = 0x8180 | rcode            # QR, RD, RA
    return struct.pack("!6H", 0x4242, flags, qdcount, 0, 0, 0) + questions


def asked():
    return wire.read_question(struct.pack("!6H", 0x4242, 0x0100, 1, 0, 0, 0) + QUESTION)


@parametrize("rcode", [wire.RCODE_NOERROR, wire.RCODE_SERVFAIL, 3])
def test_an_answer_with_two_questions_is_refused_whatever_its_rcode(rcode):
    with raises(wire.WireError):
        message.check_answer(answer(2, rcode, QUESTION + QUESTION), asked())


def test_an_error_answer_without_its_question_is_taken():
    eq(message.check_answer(answer(0, wire.RCODE_SERVFAIL, b""), asked()), None)


def test_an_answer_with_its_one_question_is_taken():
    eq(message.check_answer(answer(1, 3, QUESTION), asked()), None)
