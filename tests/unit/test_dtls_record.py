# portable: runs under MicroPython too
"""Golden and malformed-input tests of dprive.core.dtls_record.

The golden records are written by hand from RFC 6347 section 4.1; the two
flights are as OpenSSL sent them in test_dtls_engine.py (headers kept,
fragments shortened). Runs under pytest and tests/micropython/mpytest.py:
plain test_* functions, helpers from testkit.
"""

from testkit import eq, numbers, ok, parametrize, raises

from dprive.core import dtls_record as dr
from dprive.core.dtls_record import DtlsRecordError


def h(text):
    """Bytes from hex written with spaces and newlines for reading."""
    return bytes.fromhex("".join(text.split()))


# ClientHello record: handshake, record version DTLS 1.0 (OpenSSL's first
# flight), epoch 0, sequence 0, 4 bytes of fragment (cut short for the test).
CLIENT_HELLO = h("16 feff 0000 000000000000 0004  01000000")

# A resumed server's flight in one datagram: a handshake record (epoch 0,
# seq 0), ChangeCipherSpec (seq 1), and the encrypted Finished in epoch 1.
SERVER_FLIGHT = h("""
    16 fefd 0000 000000000000 0003  020000
    14 fefd 0000 000000000001 0001  01
    16 fefd 0001 000000000000 0002  abcd
""")

# Application data in epoch 1 with a sequence number using all 48 bits.
APP_DATA = h("17 fefd 0001 010203040506 0005  0102030405")

# A plaintext fatal alert (unexpected_message), sequence 5.
ALERT = h("15 fefd 0000 000000000005 0002  020a")


def test_single_record():
    eq(dr.records(CLIENT_HELLO), [(dr.CT_HANDSHAKE, dr.DTLS_1_0, 0, 0, 13, 4)])


def test_several_records_share_a_datagram():
    eq(dr.records(SERVER_FLIGHT), [
        (dr.CT_HANDSHAKE, dr.DTLS_1_2, 0, 0, 13, 3),
        (dr.CT_CHANGE_CIPHER_SPEC, dr.DTLS_1_2, 0, 1, 29, 1),
        (dr.CT_HANDSHAKE, dr.DTLS_1_2, 1, 0, 43, 2),
    ])


def test_sequence_number_is_48_bits():
    rec = dr.records(APP_DATA)[0]
    eq(rec[dr.SEQ], 0x010203040506)
    eq(rec[dr.EPOCH], 1)
    eq(APP_DATA[rec[dr.START]:rec[dr.START] + rec[dr.LENGTH]], h("0102030405"))
    top = h("17 fefd ffff ffffffffffff 0000")
    eq(dr.records(top), [(dr.CT_APPLICATION_DATA, dr.DTLS_1_2, dr.MAX_EPOCH, dr.MAX_SEQ, 13, 0)])


def test_empty_fragment_is_a_record():
    eq(len(dr.records(h("17 fefd 0001 000000000001 0000"))), 1)


@parametrize("datagram, reason", [
    (b"", dr.REASON_EMPTY),
    (h("16 fefd 0000 000000000000 00"), dr.REASON_TRUNCATED),          # 12-byte header
    (CLIENT_HELLO[:-1], dr.REASON_LENGTH),                             # fragment cut short
    (CLIENT_HELLO + h("16 fefd"), dr.REASON_TRUNCATED),                # a stub after a record
    (CLIENT_HELLO + h("00"), dr.REASON_TRUNCATED),
    (h("63 fefd 0000 000000000000 0000"), dr.REASON_CONTENT_TYPE),
    (h("00 fefd 0000 000000000000 0000"), dr.REASON_CONTENT_TYPE),
    (h("19 fefd 0000 000000000000 0000"), dr.REASON_CONTENT_TYPE),     # tls12_cid: not read
    (h("16 0303 0000 000000000000 0000"), dr.REASON_VERSION),          # TLS 1.2
    (h("16 fefc 0000 000000000000 0000"), dr.REASON_VERSION),
    (h("16 0000 0000 000000000000 0000"), dr.REASON_VERSION),
    (h("16 fefd 0000 000000000000 4801"), dr.REASON_TOO_LONG),         # 2^14 + 2049
    (h("2f 1234 0011 2233"), dr.REASON_DTLS13),                        # unified header
    (SERVER_FLIGHT + h("3c 00"), dr.REASON_DTLS13),
    (b"GET / HTTP/1.1\r\n\r\n", dr.REASON_CONTENT_TYPE),
])
def test_malformed_datagrams_raise(datagram, reason):
    with raises(DtlsRecordError) as info:
        dr.records(datagram)
    eq(info.value.reason, reason)
    ok(isinstance(info.value, ValueError), "a DtlsRecordError is a ValueError")


def test_longest_allowed_fragment_is_accepted():
    datagram = h("17 fefd 0001 000000000000 4800") + bytes(dr.MAX_FRAGMENT_LEN)
    eq(dr.records(datagram)[0][dr.LENGTH], 18432)


def test_error_message_says_where():
    with raises(DtlsRecordError) as info:
        dr.records(CLIENT_HELLO + h("16 fefd 0000 000000000001 0009 00"))
    ok("offset 17" in str(info.value), str(info.value))


@parametrize("tail, reason, facts", [
    (h("2f 1234"), dr.REASON_DTLS13, [17]),
    (h("16 fefd"), dr.REASON_TRUNCATED, [3, 17]),                   # 3 bytes left at 17
    (h("63 fefd 0000 000000000000 0000"), dr.REASON_CONTENT_TYPE, [99, 17]),
    (h("16 0303 0000 000000000000 0000"), dr.REASON_VERSION, [17]),
    (h("16 fefd 0000 000000000000 4801"), dr.REASON_TOO_LONG, [18433, 17]),
    (h("16 fefd 0000 000000000001 0009 000102"), dr.REASON_LENGTH, [17, 9, 3]),  # 3 left
])
def test_error_message_gives_the_offset_and_the_sizes(tail, reason, facts):
    # The log line is all an operator has of a dropped datagram: where the bad
    # record starts (after a good 17-byte one) and the sizes that did not fit.
    with raises(DtlsRecordError) as info:
        dr.records(CLIENT_HELLO + tail)
    eq(info.value.reason, reason)
    found = numbers(str(info.value))
    for fact in facts:
        ok(fact in found, "%d not in %r" % (fact, str(info.value)))

# --- plaintext alerts -------------------------------------------------------------

def test_alert_record_golden():
    eq(dr.alert_record(dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE, 5), ALERT)
    eq(dr.alert_record(dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY),
       h("15 fefd 0000 000000000000 0002 0100"))
    eq(dr.alert_record(dr.ALERT_FATAL, dr.ALERT_HANDSHAKE_FAILURE, dr.MAX_SEQ, dr.DTLS_1_0),
       h("15 feff 0000 ffffffffffff 0002 0228"))


def test_alert_record_sequence_out_of_range():
    with raises(ValueError):
        dr.alert_record(dr.ALERT_FATAL, dr.ALERT_INTERNAL_ERROR, dr.MAX_SEQ + 1)
    with raises(ValueError):
        dr.alert_record(dr.ALERT_FATAL, dr.ALERT_INTERNAL_ERROR, -1)


def test_plaintext_alert_is_recognised():
    ok(dr.is_plaintext_alert(ALERT))
    eq(dr.plaintext_alert(ALERT), (dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE))
    eq(dr.plaintext_alert(CLIENT_HELLO + ALERT), (2, 10), "found after other records")


@parametrize("datagram", [
    CLIENT_HELLO,
    SERVER_FLIGHT,
    APP_DATA,
    h("15 fefd 0001 000000000003 001a") + bytes(26),    # an encrypted alert (epoch 1)
    h("15 fefd 0000 000000000000 0003 020a00"),         # not 2 bytes long
    ALERT[:-1],                                         # malformed: not an alert
    ALERT + h("99"),
    b"",
])
def test_not_a_plaintext_alert(datagram):
    ok(not dr.is_plaintext_alert(datagram), repr(datagram))
    eq(dr.plaintext_alert(datagram), None)


# --- packing records into datagrams -------------------------------------------

def record(length, seq=0):
    return dr.alert_record(0, 0, seq)[:11] + bytes([length >> 8, length & 0xFF]) + bytes(length)


def sizes(datagrams):
    return [len(d) for d in datagrams]


def test_pack_fills_each_datagram_up_to_the_mtu():
    stream = record(87) + record(87) + record(87) + record(37)   # 100, 100, 100, 50
    eq(sizes(dr.pack_datagrams(stream, 250)), [200, 150])
    eq(sizes(dr.pack_datagrams(stream, 200)), [200, 150])
    eq(sizes(dr.pack_datagrams(stream, 199)), [100, 100, 150])
    eq(sizes(dr.pack_datagrams(stream, 1400)), [350])
    eq(b"".join(dr.pack_datagrams(stream, 199)), stream)


def test_pack_gives_an_oversize_record_its_own_datagram():
    stream = record(37) + record(287) + record(37)    # 50, 300, 50
    eq(sizes(dr.pack_datagrams(stream, 256)), [50, 300, 50])


def test_pack_keeps_records_whole():
    stream = SERVER_FLIGHT + APP_DATA
    for mtu in (1, 13, 16, 30, 45, 63, 1000):
        for datagram in dr.pack_datagrams(stream, mtu):
            dr.records(datagram)        # each one parses on its own


def test_pack_empty_and_bad_streams():
    eq(dr.pack_datagrams(b"", 1400), [])
    with raises(DtlsRecordError):
        dr.pack_datagrams(SERVER_FLIGHT[:-1], 1400)
