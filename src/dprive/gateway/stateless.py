"""What the gateway does before, and without, a per-client OpenSSL object.

Sans-I/O and without ssl imports: bytes and the current time in, bytes out;
no hmac either, so that the gateway's core (core.py), which uses this module,
imports under MicroPython.
The record layer itself (splitting a datagram, the plaintext alert record,
packing records into datagrams) is dprive.core.dtls_record, shared with the
client. Here, on top of it:

- reading the cookie out of a plaintext ClientHello;
- the stateless cookie exchange (RFC 6347 4.2.1): a HelloVerifyRequest built
  from the ClientHello alone, so a flood of spoofed ClientHellos allocates
  nothing (the cookies themselves, an HMAC of the client's address, are
  cookies.py's CookieJar);
- the rate limit on alerts to peers the gateway has no state for.
"""

import struct
from collections import OrderedDict

from dprive.core import dtls_record as dr

HANDSHAKE_HEADER_LEN = 12       # type(1) length(3) message_seq(2) frag_offset(3) frag_length(3)
HT_CLIENT_HELLO = 1
HT_HELLO_VERIFY_REQUEST = 3
COOKIE_LEN = 16


class HelloError(ValueError):
    """A ClientHello that cannot be read (or is fragmented)."""


class ClientHello:
    def __init__(self, record_seq, message_seq, cookie):
        self.record_seq = record_seq
        self.message_seq = message_seq
        self.cookie = cookie


def parse_client_hello(datagram, record):
    """The ClientHello in `record` (a tuple from dtls_record.records), or None
    if the record holds none.

    Only an unfragmented ClientHello in epoch 0 counts: a ClientHello split
    over records or datagrams is not worth state before the cookie says the
    address is real. HelloError if it is one but cannot be read.
    """
    if record[dr.TYPE] != dr.CT_HANDSHAKE or record[dr.EPOCH] != 0:
        return None
    pos, end = record[dr.START], record[dr.START] + record[dr.LENGTH]
    if end - pos < HANDSHAKE_HEADER_LEN or datagram[pos] != HT_CLIENT_HELLO:
        return None
    length = int.from_bytes(datagram[pos + 1:pos + 4], "big")
    message_seq = struct.unpack_from("!H", datagram, pos + 4)[0]
    frag_offset = int.from_bytes(datagram[pos + 6:pos + 9], "big")
    frag_length = int.from_bytes(datagram[pos + 9:pos + 12], "big")
    if frag_offset != 0 or frag_length != length:
        raise HelloError("fragmented ClientHello (offset %d, %d of %d bytes)"
                         % (frag_offset, frag_length, length))
    body = pos + HANDSHAKE_HEADER_LEN
    if body + length > end:
        raise HelloError("ClientHello of %d bytes in a record of %d" % (length, end - pos))
    # client_version(2) random(32) session_id<0..32> cookie<0..255> ...
    cur = body + 2 + 32
    if cur + 1 > body + length:
        raise HelloError("ClientHello ends before its session id")
    cur += 1 + datagram[cur]
    if cur + 1 > body + length:
        raise HelloError("ClientHello ends before its cookie")
    cookie_len = datagram[cur]
    if cur + 1 + cookie_len > body + length:
        raise HelloError("ClientHello cookie runs past the message")
    return ClientHello(record[dr.SEQ], message_seq, bytes(datagram[cur + 1:cur + 1 + cookie_len]))


def hello_verify_request(hello, cookie):
    """The HelloVerifyRequest datagram answering `hello` (RFC 6347 4.2.1).

    Version DTLS 1.0 in both headers, as the RFC asks of DTLS 1.2 servers;
    the record sequence number and message_seq copied from the ClientHello,
    so that nothing about it depends on state.
    """
    body = struct.pack("!HB", dr.DTLS_1_0, len(cookie)) + cookie
    handshake = (bytes([HT_HELLO_VERIFY_REQUEST]) + len(body).to_bytes(3, "big")
                 + struct.pack("!H", hello.message_seq) + b"\x00\x00\x00"
                 + len(body).to_bytes(3, "big") + body)
    seq = hello.record_seq
    return struct.pack("!BHHHIH", dr.CT_HANDSHAKE, dr.DTLS_1_0, 0, seq >> 32, seq & 0xFFFFFFFF,
                       len(handshake)) + handshake


def stray_alert(version):
    """The alert for a record from a peer without state: plaintext (epoch 0),
    fatal unexpected_message, in the record version the peer used.

    unexpected_message because, to a server without a session, any record
    but a ClientHello is "an inappropriate message" (RFC 5246 7.2.2).
    bad_record_mac would claim a decryption was tried and failed (there are
    no keys to try), and decrypt_error is about handshake signatures. Being
    unauthenticated, the alert can only be a hint to the client to resume.
    """
    if version not in dr.VERSIONS:
        version = dr.DTLS_1_2
    return dr.alert_record(dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE, 0, version)


class AlertLimiter:
    """May the gateway send one more alert to a peer without state?

    Per peer (address and port) at most one every `interval_s`, and all
    peers together at most `per_second` (a token bucket), so that neither
    one victim nor many spoofed ones can be flooded through the gateway (the
    15-byte alert is smaller than any record that triggers it, so there is no
    amplification in bytes either). The per-peer table is bounded; the
    oldest entries go first.
    """

    def __init__(self, interval_s, per_second, max_peers=4096):
        self.interval_s = interval_s
        self.per_second = float(per_second)
        self.tokens = float(per_second)
        self.max_peers = max_peers
        # peer -> time of its last alert, oldest first: an OrderedDict, as
        # MicroPython's plain dict keeps no insertion order.
        self.last = OrderedDict()
        self.refilled = None

    def allow(self, peer, now):
        if self.refilled is not None:
            self.tokens = min(self.per_second, self.tokens + (now - self.refilled) * self.per_second)
        self.refilled = now
        sent = self.last.get(peer)
        if sent is not None and now - sent < self.interval_s:
            return False
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        self.last.pop(peer, None)
        self.last[peer] = now
        while len(self.last) > self.max_peers:
            del self.last[next(iter(self.last))]
        return True

