"""Fuzz target `gateway`: datagrams through the gateway's stateless part (gateway/stateless.py).

What gateway/core.py's GatewayCore.datagram does before it holds any state for a
peer: records, then parse_client_hello on the first one; a ClientHello is
answered by a HelloVerifyRequest with a cookie (CookieJar), anything else
from an unknown peer by a rate-limited plaintext alert (AlertLimiter). Checked:

- only DtlsRecordError or HelloError come out, each with a message;
- a ClientHello's cookie lies inside its record; the HelloVerifyRequest is one
  handshake record of DTLS 1.0 with the ClientHello's sequence numbers and
  the cookie, and is never larger than the datagram that asked for it plus
  the cookie (no amplification beyond RFC 6347's);
- a cookie made for a peer is accepted for it in the same window, refused
  for another peer and for any other bytes;
- the stray alert is a 15-byte epoch-0 alert that plaintext_alert reads;
- AlertLimiter's per-peer table never holds more than max_peers, its tokens
  never exceed the rate, a peer it remembers never gets two alerts within
  the interval.
"""

import struct

from dprive.core import dtls_record as dr
from dprive.gateway import stateless
from dprive.gateway.cookies import CookieJar
from dprive.gateway.stateless import AlertLimiter, HelloError

from bytesource import ByteSource
from coreshell import require

TARGET = "gateway"
SECRET = b"fuzz cookie secret"


def check_hello(datagram, record, addr, now, jar):
    hello = stateless.parse_client_hello(datagram, record)
    if hello is None:
        return None
    require(0 <= len(hello.cookie) <= 255, "a cookie of %d bytes", len(hello.cookie))
    require(hello.cookie in bytes(datagram[record[dr.START]:record[dr.START] + record[dr.LENGTH]]),
            "the cookie is not in the record")
    cookie = jar.make(addr, now)
    hvr = stateless.hello_verify_request(hello, cookie)
    found = dr.records(hvr)
    require(len(found) == 1 and found[0][dr.TYPE] == dr.CT_HANDSHAKE
            and found[0][dr.VERSION] == dr.DTLS_1_0 and found[0][dr.SEQ] == hello.record_seq,
            "a HelloVerifyRequest that is not one DTLS 1.0 handshake record with the hello's seq")
    body = hvr[dr.HEADER_LEN:]
    require(body[0] == stateless.HT_HELLO_VERIFY_REQUEST
            and struct.unpack_from("!H", body, 4)[0] == hello.message_seq
            and body[-len(cookie):] == cookie, "the HelloVerifyRequest does not carry the cookie")
    require(len(hvr) <= dr.HEADER_LEN + stateless.HANDSHAKE_HEADER_LEN + 3 + stateless.COOKIE_LEN,
            "a HelloVerifyRequest of %d bytes", len(hvr))
    require(jar.check(cookie, addr, now), "a fresh cookie refused")
    other = (addr[0], (addr[1] + 1) % 65536)
    require(not jar.check(cookie, other, now), "a cookie accepted for another peer")
    require(hello.cookie == cookie or not jar.check(hello.cookie, addr, now),
            "a cookie from the datagram accepted")
    return hello


def one_input(data):
    src = ByteSource(data)
    jar = CookieJar(SECRET, 1 + src.u8())
    limiter = AlertLimiter(src.u8() / 16.0, 1 + src.u8() % 50, max_peers=1 + src.u8() % 32)
    now = float(src.u16())
    last_alert = {}
    while src.left():
        addr = ("198.18.%d.%d" % (src.u8(), src.u8()), src.u16())
        now += src.u16() / 100.0
        datagram = src.blob()
        try:
            found = dr.records(datagram)
            hello = check_hello(datagram, found[0], addr, now, jar)
        except (dr.DtlsRecordError, HelloError) as err:
            require(str(err), "an error without a message")
            continue
        if hello is not None:
            continue
        version = found[0][dr.VERSION]
        alert = stateless.stray_alert(version)
        require(len(alert) == 15 and dr.plaintext_alert(alert) == (dr.ALERT_FATAL, dr.ALERT_UNEXPECTED_MESSAGE),
                "the stray alert is not a plaintext fatal alert")
        known = addr in limiter.last      # else forgotten (the table is bounded): may get one again
        if limiter.allow(addr, now):
            sent = last_alert.get(addr)
            require(not known or sent is None or now - sent >= limiter.interval_s,
                    "two alerts to %r within %.3f s", addr, limiter.interval_s)
            last_alert[addr] = now
        require(len(limiter.last) <= limiter.max_peers, "the limiter holds %d peers", len(limiter.last))
        require(limiter.tokens <= limiter.per_second, "the limiter has more tokens than its rate")
