"""DTLS record headers (RFC 6347 section 4.1), read straight from datagrams.

    struct {
        ContentType type;            1 byte
        ProtocolVersion version;     2 bytes: 0xfeff DTLS 1.0, 0xfefd DTLS 1.2
        uint16 epoch;                0 until the first ChangeCipherSpec
        uint48 sequence_number;
        uint16 length;
        opaque fragment[length];
    } DTLSPlaintext / DTLSCiphertext;

Several records may share one datagram; a record never spans two. OpenSSL
drops unauthenticated records on an established session without a word (a
plaintext alert arrives in epoch 0, the session reads epoch 1 or later), so
dprive looks at the raw datagram itself to notice what a server that lost our
state, or a gateway behind a new NAT mapping, sends: `plaintext_alert()`.
`pack_datagrams()` cuts a stream of records (what OpenSSL leaves in a memory
BIO, where datagram boundaries are lost) back into datagrams under the MTU.

Sans-I/O and portable to MicroPython: no enum, no dataclasses, builtins with
positional arguments only. Malformed input raises DtlsRecordError, whose
`reason` is one of the REASON_* constants (to count drops by cause).
"""

import struct

HEADER_LEN = 13
_HEADER = ">BHHHIH"   # type, version, epoch, seq high 16 bits, seq low 32 bits, length

# Content types (RFC 6347 4.1, RFC 6520 heartbeat).
CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
CT_HEARTBEAT = 24
CONTENT_TYPES = (CT_CHANGE_CIPHER_SPEC, CT_ALERT, CT_HANDSHAKE, CT_APPLICATION_DATA,
                 CT_HEARTBEAT)

# Record versions (the wire value is the one's complement of 1.0 / 1.2).
DTLS_1_0 = 0xFEFF
DTLS_1_2 = 0xFEFD
VERSIONS = (DTLS_1_0, DTLS_1_2)

MAX_EPOCH = 0xFFFF
MAX_SEQ = (1 << 48) - 1
# RFC 6347 4.1 (by RFC 5246 6.2.3): a record's fragment is at most 2^14 + 2048 bytes.
MAX_FRAGMENT_LEN = 16384 + 2048

# DTLS 1.3 (RFC 9147 4): a ciphertext record starts with 0b001xxxxx and has a
# unified header that cannot be read without the connection's state.
DTLS13_HEADER_MASK = 0xE0
DTLS13_HEADER_BITS = 0x20

# Alert levels and the common descriptions (RFC 5246 7.2).
ALERT_WARNING = 1
ALERT_FATAL = 2
ALERT_CLOSE_NOTIFY = 0
ALERT_UNEXPECTED_MESSAGE = 10
ALERT_BAD_RECORD_MAC = 20
ALERT_HANDSHAKE_FAILURE = 40
ALERT_BAD_CERTIFICATE = 42
ALERT_CERTIFICATE_EXPIRED = 45
ALERT_ILLEGAL_PARAMETER = 47
ALERT_UNKNOWN_CA = 48
ALERT_DECODE_ERROR = 50
ALERT_DECRYPT_ERROR = 51
ALERT_PROTOCOL_VERSION = 70
ALERT_INTERNAL_ERROR = 80
ALERT_USER_CANCELED = 90
ALERT_NO_RENEGOTIATION = 100

# Why a datagram was rejected: DtlsRecordError.reason.
REASON_EMPTY = "empty"
REASON_TRUNCATED = "truncated"        # fewer than 13 bytes left for a header
REASON_LENGTH = "length"              # the fragment runs past the end of the datagram
REASON_TOO_LONG = "too-long"          # fragment longer than MAX_FRAGMENT_LEN
REASON_CONTENT_TYPE = "content-type"
REASON_VERSION = "version"
REASON_DTLS13 = "dtls1.3"             # a DTLS 1.3 unified header: not spoken here

# Indexes into a record tuple from records().
TYPE = 0
VERSION = 1
EPOCH = 2
SEQ = 3
START = 4      # offset of the fragment in the datagram
LENGTH = 5     # length of the fragment


class DtlsRecordError(ValueError):
    """A datagram that is not a well-formed sequence of DTLS 1.0/1.2 records."""

    def __init__(self, reason, detail):
        super().__init__("%s: %s" % (reason, detail))
        self.reason = reason


def records(datagram):
    """The records in `datagram`: a list of (type, version, epoch, seq, start, length).

    `start` and `length` locate the fragment inside `datagram`. Raises
    DtlsRecordError unless the whole datagram is records end to end.
    """
    size = len(datagram)
    if size == 0:
        raise DtlsRecordError(REASON_EMPTY, "empty datagram")
    found = []
    pos = 0
    while pos < size:
        first = datagram[pos]
        if first & DTLS13_HEADER_MASK == DTLS13_HEADER_BITS:
            raise DtlsRecordError(REASON_DTLS13, "DTLS 1.3 unified header (0x%02x) at offset %d;"
                                  " only DTLS 1.0/1.2 records are read" % (first, pos))
        if size - pos < HEADER_LEN:
            raise DtlsRecordError(REASON_TRUNCATED, "%d bytes at offset %d, a record header"
                                  " takes %d" % (size - pos, pos, HEADER_LEN))
        ctype, version, epoch, seq_hi, seq_lo, length = struct.unpack_from(_HEADER, datagram, pos)
        if ctype not in CONTENT_TYPES:
            raise DtlsRecordError(REASON_CONTENT_TYPE, "unknown content type %d at offset %d"
                                  % (ctype, pos))
        if version not in VERSIONS:
            raise DtlsRecordError(REASON_VERSION, "version 0x%04x at offset %d is not DTLS 1.0"
                                  " or 1.2" % (version, pos))
        if length > MAX_FRAGMENT_LEN:
            raise DtlsRecordError(REASON_TOO_LONG, "fragment of %d bytes at offset %d"
                                  % (length, pos))
        start = pos + HEADER_LEN
        if start + length > size:
            raise DtlsRecordError(REASON_LENGTH, "record at offset %d claims %d bytes, %d left"
                                  % (pos, length, size - start))
        found.append((ctype, version, epoch, (seq_hi << 32) | seq_lo, start, length))
        pos = start + length
    return found


def plaintext_alert(datagram):
    """(level, description) of the first epoch-0 alert in `datagram`, or None.

    Malformed datagrams give None: what cannot be parsed is not an alert.
    """
    try:
        found = records(datagram)
    except DtlsRecordError:
        return None
    for rec in found:
        if rec[TYPE] == CT_ALERT and rec[EPOCH] == 0 and rec[LENGTH] == 2:
            start = rec[START]
            return datagram[start], datagram[start + 1]
    return None


def is_plaintext_alert(datagram):
    """True if `datagram` holds an unencrypted (epoch 0) alert record."""
    return plaintext_alert(datagram) is not None


def alert_record(level, description, seq=0, version=DTLS_1_2):
    """A plaintext (epoch 0) alert record, as a gateway sends to a peer it has no state for."""
    if not (0 <= seq <= MAX_SEQ):
        raise ValueError("sequence number out of range: %r" % (seq,))
    return struct.pack(_HEADER + "BB", CT_ALERT, version, 0, seq >> 32, seq & 0xFFFFFFFF, 2,
                       level, description)


def pack_datagrams(stream, mtu):
    """Cut `stream` (whole records end to end) into datagrams of at most `mtu` bytes.

    Records keep their order and are packed greedily; a record longer than
    `mtu` goes alone in its datagram. Raises DtlsRecordError if `stream` is not
    whole records. An empty stream gives no datagrams.
    """
    if not stream:
        return []
    datagrams = []
    begin = 0
    end = 0
    for rec in records(stream):
        rec_end = rec[START] + rec[LENGTH]
        if rec_end - begin > mtu and end > begin:
            datagrams.append(stream[begin:end])
            begin = end
        end = rec_end
    datagrams.append(stream[begin:end])
    return datagrams
