# portable: runs under MicroPython too
"""A compression pointer in the question of a query: nothing precedes the first
name of a message, so the pointer loops or points into the header. The core
answers FORMERR instead of forwarding it (forwarded, unbound dropped the whole
TLS session, and every query in flight with it; tests/integration/test_wirefuzz.py)."""

import struct

from testkit import eq, ok, parametrize, raises

from dprive.core import message, wire

HEADER = struct.pack("!6H", 0x4242, 0x0100, 1, 0, 0, 0)


@parametrize("name", [b"\xc0\x0c", b"\x01a\xc0\x0c", b"\xc0\x00", b"\x01a\x01b\xc0\x0e"])
def test_pointer_in_question_is_formerr(name):
    msg = HEADER + name + b"\x00\x01\x00\x01"
    with raises(wire.WireError):
        wire.read_question(msg)
    verdict, answer, reason = message.inspect_query(msg)
    eq(verdict, message.REPLY)
    eq(wire.parse_header(answer).rcode(), wire.RCODE_FORMERR)
    ok("compression pointer" in reason, reason)


@parametrize("label", [b"\xc0", b"\xff\xfe", b"a\xc1"])
def test_label_bytes_that_look_like_pointers_are_fine(label):
    """Label bytes may be anything (RFC 2181 section 11): only length octets matter."""
    name = bytes([len(label)]) + label + b"\x04test\x00"
    msg = HEADER + name + b"\x00\x01\x00\x01"
    eq(wire.read_question(msg).name, name)
    eq(message.inspect_query(msg)[0], message.ACCEPT)
