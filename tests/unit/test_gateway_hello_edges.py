# portable: runs under MicroPython too
"""gateway/stateless.py at its edges: which records hold a ClientHello, the
fragment and length checks at their exact boundaries, the HelloVerifyRequest
and the stray alert byte by byte, and AlertLimiter's interval, token bucket
and bounded table."""

import struct

from gatewayfake import record
from testkit import eq, ok, raises

from dprive.core import dtls_record as dr
from dprive.gateway import stateless
from dprive.gateway.stateless import AlertLimiter, HelloError

TAIL = b"\x00\x02\xc0\x2b\x01\x00"      # cipher suites and compression, after the cookie


def hello_body(sid=b"", cookie=b"", tail=TAIL):
    return struct.pack("!H", dr.DTLS_1_2) + bytes(32) + bytes([len(sid)]) + sid \
        + bytes([len(cookie)]) + cookie + tail


def handshake(body, length=None, frag_offset=0, frag_length=None, msg_type=1, message_seq=0):
    length = len(body) if length is None else length
    frag_length = length if frag_length is None else frag_length
    return (bytes([msg_type]) + length.to_bytes(3, "big") + struct.pack("!H", message_seq)
            + frag_offset.to_bytes(3, "big") + frag_length.to_bytes(3, "big") + body)


def parse(payload, ctype=dr.CT_HANDSHAKE, epoch=0, seq=0):
    datagram = record(ctype, epoch, payload, seq)
    return stateless.parse_client_hello(datagram, dr.records(datagram)[0])


# ---- which records hold a ClientHello ------------------------------------------


def test_only_an_epoch_0_handshake_record_holds_a_client_hello():
    payload = handshake(hello_body(cookie=b"c" * 16))
    eq(parse(payload).cookie, b"c" * 16)
    eq(parse(payload, epoch=1), None, "epoch 1: encrypted, not a ClientHello")
    eq(parse(payload, ctype=dr.CT_APPLICATION_DATA), None)


def test_a_short_record_or_another_handshake_message_is_no_client_hello():
    eq(parse(b"\x01\x00\x00"), None, "shorter than a handshake header")
    eq(parse(handshake(hello_body(), msg_type=2)), None, "a ServerHello")
    with raises(HelloError):
        parse(handshake(b""))       # a whole header, of an empty ClientHello


def test_the_record_and_message_sequence_numbers_are_read():
    hello = parse(handshake(hello_body(), message_seq=0x1234), seq=(2 << 32) | 5)
    eq((hello.message_seq, hello.record_seq), (0x1234, (2 << 32) | 5))
    eq(parse(handshake(hello_body(), message_seq=0x8001)).message_seq, 0x8001, "unsigned")


# ---- fragments and lengths -----------------------------------------------------


def test_a_fragmented_client_hello_is_refused():
    body = hello_body()
    n = len(body)
    for offset, frag_length, length in ((1, n, n), (5, n, n), (0x010000, n, n), (0, n - 1, n),
                                        (0, 0x010000 | n, n), (0, n, 0x010000 | n)):
        with raises(HelloError):
            parse(handshake(body, length=length, frag_offset=offset, frag_length=frag_length))


def test_a_client_hello_longer_than_its_record_is_refused():
    body = hello_body(cookie=b"c" * 16)
    with raises(HelloError):
        parse(handshake(body, length=len(body) + 10))


def test_a_client_hello_that_ends_early_is_refused_at_each_field():
    version_random = struct.pack("!H", dr.DTLS_1_2) + bytes(32)
    with raises(HelloError):
        parse(handshake(version_random))                    # no session id length
    with raises(HelloError):
        parse(handshake(version_random + b"\x00"))          # no cookie length
    with raises(HelloError):
        parse(handshake(version_random + b"\x00\x10" + b"c" * 15))   # one cookie byte short
    with raises(HelloError):
        parse(handshake(version_random + b"\x00\x10" + b"c" * 8))
    eq(parse(handshake(version_random + b"\x00\x00")).cookie, b"", "the shortest that parses")
    eq(parse(handshake(version_random + b"\x00\x03abc")).cookie, b"abc", "a cookie to the last byte")


def test_the_cookie_is_read_after_a_full_session_id():
    eq(parse(handshake(hello_body(sid=b"s" * 32, cookie=b"k" * 16))).cookie, b"k" * 16)


# ---- what the gateway sends without state --------------------------------------


def test_a_hello_verify_request_byte_by_byte():
    seq = (2 << 32) | 5
    hello = parse(handshake(hello_body(), message_seq=0x1234), seq=seq)
    cookie = bytes(range(16))
    hvr = stateless.hello_verify_request(hello, cookie)
    body = struct.pack("!HB", dr.DTLS_1_0, 16) + cookie
    handshake_msg = b"\x03" + b"\x00\x00\x13" + b"\x12\x34" + b"\x00\x00\x00" + b"\x00\x00\x13" + body
    eq(hvr, struct.pack("!BHHHIH", dr.CT_HANDSHAKE, dr.DTLS_1_0, 0, 2, 5, len(handshake_msg))
       + handshake_msg)


def test_a_hello_verify_request_echoes_a_message_seq_of_the_upper_half():
    hello = parse(handshake(hello_body(), message_seq=0xFFFF))
    hvr = stateless.hello_verify_request(hello, b"k" * 16)
    eq(hvr[dr.HEADER_LEN + 4:dr.HEADER_LEN + 6], b"\xff\xff")


def test_a_stray_alert_is_plaintext_fatal_in_the_peers_version():
    for version, sent in ((dr.DTLS_1_0, dr.DTLS_1_0), (dr.DTLS_1_2, dr.DTLS_1_2),
                          (0x0303, dr.DTLS_1_2), (0x0000, dr.DTLS_1_2)):
        eq(stateless.stray_alert(version),
           struct.pack("!BHHHIHBB", dr.CT_ALERT, sent, 0, 0, 0, 2, dr.ALERT_FATAL,
                       dr.ALERT_UNEXPECTED_MESSAGE), hex(version))


# ---- AlertLimiter ----------------------------------------------------------------

T = 1000.0


def test_one_alert_per_peer_per_interval_the_end_of_the_interval_included():
    lim = AlertLimiter(2.0, 100)
    ok(lim.allow("a", T))
    ok(not lim.allow("a", T + 1.999))
    ok(lim.allow("b", T + 1.999), "another peer is not held back")
    ok(lim.allow("a", T + 2.0), "exactly one interval later")
    ok(not lim.allow("a", T + 3.0), "the interval starts again from the last alert")


def test_all_peers_together_draw_on_one_bucket_refilled_per_second():
    lim = AlertLimiter(10.0, 2)
    ok(lim.allow("p0", T) and lim.allow("p1", T), "a full bucket: per_second alerts at once")
    ok(not lim.allow("p2", T), "empty")
    ok(not lim.allow("p3", T + 0.1), "0.2 of a token back")
    ok(lim.allow("p4", T + 0.5), "one token back after half a second at 2/s")
    ok(not lim.allow("p5", T + 0.5))
    ok(lim.allow("p6", T + 100) and lim.allow("p7", T + 100), "refilled to the full bucket")
    ok(not lim.allow("p8", T + 100), "but never above it")


def test_a_bucket_of_one_allows_one():
    lim = AlertLimiter(10.0, 1)
    ok(lim.allow("a", T))
    ok(not lim.allow("b", T))
    ok(lim.allow("b", T + 1.0))


def test_a_bucket_of_three_allows_three_at_once():
    lim = AlertLimiter(10.0, 3)
    eq([lim.allow(p, T) for p in ("a", "b", "c", "d")], [True, True, True, False])


def test_the_peer_table_forgets_the_oldest_alert_first():
    lim = AlertLimiter(10.0, 1000, max_peers=2)
    ok(lim.allow("a", T) and lim.allow("b", T + 1))
    ok(not lim.allow("a", T + 2), "both remembered: the table holds max_peers")
    ok(lim.allow("a", T + 10))      # a's entry is now the newest
    ok(lim.allow("c", T + 10.5))    # the table is full: b, the oldest, goes
    ok(not lim.allow("a", T + 10.6), "a is still remembered")
    ok(lim.allow("b", T + 10.7), "b was forgotten")


def test_the_peer_table_holds_4096_peers_by_default():
    lim = AlertLimiter(10.0, 10000)
    for i in range(4097):
        lim.allow(i, T)
    ok(lim.allow(0, T + 1), "the 4097th peer pushed the first out")
    ok(not lim.allow(4096, T + 1))
