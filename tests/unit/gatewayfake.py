"""A fake DTLS server session for the gateway core's tests, and the records a client sends.

FakeSession is written from gateway/session_base.py's API (ServerSession
with begin, feed, send, timer_due, on_timer, close, release and the
attributes state, reused, cleartext_mtu, error, in_flight, created,
last_active, addr), not from either engine. Its "DTLS" is records in the
clear with a handshake of two flights, enough for the core's rules:

- begin(ClientHello) answers with the server's flight (an epoch-0 handshake
  record) and arms its retransmission timer, `rtx_s` from then, doubling;
- an epoch-0 handshake record while handshaking (the ClientHello again)
  gets the flight again and re-arms the timer, as a real engine would;
- an epoch-1 handshake record (the client's Finished) completes the handshake
  and gets the server's Finished; once established, it is ignored (a real
  session cannot decrypt another handshake's records either);
- epoch-1 application data is one DNS message in the clear; epoch-1 alerts
  close the session; epoch-0 records other than handshakes are ignored.

Portable (runs under MicroPython too): struct and dprive.core only.
"""

import struct

from dprive.core import dtls_record as dr
from dprive.gateway import stateless
from dprive.gateway.actions import Log, Resolve, SendDatagrams
from dprive.gateway.session_base import CLOSED, ESTABLISHED, HANDSHAKING

SERVER_FLIGHT = b"server flight"
SERVER_FINISHED = b"server finished"


def record(ctype, epoch, payload, seq=0, version=dr.DTLS_1_2):
    return struct.pack(">BHHHIH", ctype, version, epoch, seq >> 32, seq & 0xFFFFFFFF,
                       len(payload)) + payload


def client_hello(cookie=b"", seq=0, message_seq=0):
    """A plaintext, unfragmented ClientHello carrying `cookie`."""
    body = (struct.pack("!H", dr.DTLS_1_2) + bytes(32) + b"\x00" + bytes([len(cookie)]) + cookie
            + b"\x00\x02\xc0\x2b\x01\x00")
    handshake = (bytes([stateless.HT_CLIENT_HELLO]) + len(body).to_bytes(3, "big")
                 + struct.pack("!H", message_seq) + b"\x00\x00\x00" + len(body).to_bytes(3, "big")
                 + body)
    return record(dr.CT_HANDSHAKE, 0, handshake, seq)


def finished(seq=1):
    """The client's Finished: a handshake record in epoch 1."""
    return record(dr.CT_HANDSHAKE, 1, b"client finished", seq)


def app(*messages):
    """Application data, one record per DNS message, in one datagram."""
    return b"".join(record(dr.CT_APPLICATION_DATA, 1, m, 10 + i) for i, m in enumerate(messages))


def close_notify():
    return record(dr.CT_ALERT, 1, bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY]), 99)


def payloads(datagram, ctype=dr.CT_APPLICATION_DATA):
    """The fragments of the records of type `ctype` in `datagram`."""
    return [datagram[r[dr.START]:r[dr.START] + r[dr.LENGTH]]
            for r in dr.records(datagram) if r[dr.TYPE] == ctype]


# The core's actions of one kind, as the tests pick them out.
def sends(actions):
    return [a for a in actions if isinstance(a, SendDatagrams)]


def resolves(actions):
    return [a for a in actions if isinstance(a, Resolve)]


def logs(actions):
    return [a for a in actions if isinstance(a, Log)]


def answers_in(actions):
    """The DNS messages in every datagram the actions send."""
    return [m for a in sends(actions) for d in a.datagrams for m in payloads(d)]


class FakeCookies:
    """CookieJar's interface (make, check) without hmac: the cookie names the address."""

    def make(self, addr, now):
        return ("%s|%d" % (addr[0], addr[1])).encode()[:16]

    def check(self, cookie, addr, now):
        return cookie == self.make(addr, now)


class FakeSession:
    def __init__(self, addr, now, clock, rtx_s=1.0, mtu=None, reused=False):
        self.addr = addr
        self.clock = clock          # as an engine's: for on_timer, which takes no time
        self.state = HANDSHAKING
        self.created = now
        self.last_active = now
        self.in_flight = 0
        self.reused = reused
        self.error = None
        self.cleartext_mtu = None
        self.mtu = mtu
        self.rtx_s = rtx_s          # None: no retransmission timer (pyOpenSSL before 23.1)
        self.rtx_at = None
        self.cookie_checked = None
        self.retransmits = 0
        self.fed = []
        self.released = False
        self.fail_write = False

    def _flight(self, now):
        if self.rtx_s is not None:
            self.rtx_at = now + self.rtx_s
        return record(dr.CT_HANDSHAKE, 0, SERVER_FLIGHT)

    def begin(self, datagram, cookie_checked):
        self.cookie_checked = cookie_checked
        return self._flight(self.created), []

    def feed(self, datagram, now):
        self.last_active = now
        self.fed.append(datagram)
        if self.state == CLOSED:
            return b"", []
        out, messages = b"", []
        for rec in dr.records(datagram):
            ctype, epoch = rec[dr.TYPE], rec[dr.EPOCH]
            payload = datagram[rec[dr.START]:rec[dr.START] + rec[dr.LENGTH]]
            if self.state == HANDSHAKING and ctype == dr.CT_HANDSHAKE:
                if epoch == 0:
                    out += self._flight(now)
                else:
                    self.state, self.rtx_at = ESTABLISHED, None
                    self.cleartext_mtu = self.mtu
                    out += record(dr.CT_HANDSHAKE, 1, SERVER_FINISHED)
            elif self.state == ESTABLISHED and epoch > 0 and ctype == dr.CT_APPLICATION_DATA:
                messages.append(payload)
            elif self.state == ESTABLISHED and epoch > 0 and ctype == dr.CT_ALERT:
                self.state, self.error = CLOSED, "client sent close_notify"
                break
        return out, messages

    def send(self, message):
        if self.state != ESTABLISHED:
            return b""
        if self.fail_write:
            self.state, self.error = CLOSED, "write: failed"
            return b""
        return record(dr.CT_APPLICATION_DATA, 1, message)

    def timer_due(self, now):
        if self.state != HANDSHAKING or self.rtx_at is None:
            return None
        return max(self.rtx_at - now, 0.0)

    def on_timer(self):
        if self.state != HANDSHAKING or self.rtx_at is None or self.clock() < self.rtx_at:
            return b""
        self.retransmits += 1
        self.rtx_s *= 2
        return self._flight(self.clock())

    def close(self):
        was = self.state
        self.state = CLOSED
        if was != ESTABLISHED:
            return b""
        return record(dr.CT_ALERT, 1, bytes([dr.ALERT_WARNING, dr.ALERT_CLOSE_NOTIFY]))

    def release(self):
        self.state = CLOSED
        self.released = True
