"""Datagrams and the retransmission timer between one mbedTLS ssl context and Python.

mbedTLS calls back for I/O (mbedtls_ssl_set_bio) and for its timer
(mbedtls_ssl_set_timer_cb); a Channel answers those calls from Python
queues, so the engine stays sans-I/O: `push()` a datagram that arrived,
take `pop_output()` to send. mbedTLS hands the send callback one whole
datagram at a time (it packs records up to the MTU itself), and the
receive callback must give one whole datagram back.

The timer is mbedTLS's own schedule (1 s doubling to 60 s by default, set
with mbedtls_ssl_conf_handshake_timeout) on the caller's monotonic clock,
not the wall clock that NTP moves after a router boots.

The Channel also watches the handshake go by in the clear (epoch 0), for
what the library keeps in fields we may not read: which side sent the first
ChangeCipherSpec (the server first means an abbreviated handshake, i.e. a
resumption), the session ID of the ServerHello, and whether a
NewSessionTicket came.

The C callbacks are module-level: each context's p_bio/p_timer is an integer
key into tls/mbedtls_bio.py's registry, so no ctypes closure is made per
session and a freed session leaves no pointer to Python memory behind.
"""

import ctypes
import struct
from collections import deque

from dprive.core import dtls_record
from dprive.core.dtls_record import DtlsRecordError
from dprive.tls import mbedtls_bio
from dprive.tls import mbedtls_lib as mb

HANDSHAKE_HEADER = 12            # msg_type, length(3), message_seq(2), fragment_offset(3), length(3)
HS_SERVER_HELLO = 2
HS_NEW_SESSION_TICKET = 4
MAX_INBOX = 32                   # datagrams waiting for mbedTLS; more than a flight

_CHANNELS = mbedtls_bio.ENDPOINTS      # the one registry, shared with the TLS stream engine


class Channel:
    def __init__(self, clock, local_is_server=False):
        self.clock = clock
        self.key = mbedtls_bio.register(self)
        self.local_is_server = local_is_server
        self.inbox = deque()
        self.outbox = []
        self.overflow = 0                 # datagrams dropped with the inbox full
        self.timer_fin = None             # deadline of mbedTLS's final timer, or None
        self.timer_int = None
        self.first_ccs = None             # "local" or "peer": who sent ChangeCipherSpec first
        self.ccs_from = set()             # local (True) and/or peer (False)
        self.server_session_id = b""
        self.ticket_seen = False

    def attach(self, lib, ssl):
        mbedtls_bio.attach(lib, ssl, self.key)
        lib.fn.mbedtls_ssl_set_timer_cb(ssl, self.key, _set_timer, _get_timer)

    def release(self):
        mbedtls_bio.release(self.key)

    # ---- the engine's side ------------------------------------------------------

    def push(self, datagram):
        if len(self.inbox) >= MAX_INBOX:
            self.overflow += 1
            return
        self._watch(datagram, local=False)
        self.inbox.append(datagram)

    def pop_output(self):
        out, self.outbox = self.outbox, []
        return out

    def timeout_s(self):
        """Seconds until mbedTLS's timer runs out, or None when it is not running."""
        if self.timer_fin is None:
            return None
        return max(self.timer_fin - self.clock(), 0.0)

    def timer_expired(self):
        return self.timer_fin is not None and self.clock() >= self.timer_fin

    @property
    def abbreviated(self):
        """True once the handshake went the resumption way (server's CCS first)."""
        if self.first_ccs is None:
            return False
        server_first = "local" if self.local_is_server else "peer"
        return self.first_ccs == server_first

    # ---- mbedTLS's side --------------------------------------------------------

    def on_send(self, data):
        self._watch(data, local=True)
        self.outbox.append(data)

    def on_recv(self, buf, size):
        if not self.inbox:
            return mb.ERR_WANT_READ
        datagram = self.inbox.popleft()
        if len(datagram) > size:
            return mb.ERR_BUFFER_TOO_SMALL     # cannot happen below MAX_DATAGRAM_IN; never cut one
        ctypes.memmove(buf, datagram, len(datagram))
        return len(datagram)

    def on_set_timer(self, int_ms, fin_ms):
        if fin_ms == 0:
            self.timer_int = self.timer_fin = None
            return
        now = self.clock()
        self.timer_int = now + int_ms / 1000.0
        self.timer_fin = now + fin_ms / 1000.0

    def on_get_timer(self):
        if self.timer_fin is None:
            return -1
        now = self.clock()
        if now >= self.timer_fin:
            return 2
        return 1 if now >= self.timer_int else 0

    def _watch(self, datagram, local):
        if self.ccs_from == {True, False}:
            return                        # both sides are past epoch 0: nothing more to see
        try:
            records = dtls_record.records(datagram)
        except DtlsRecordError:
            return
        for record in records:
            if record[dtls_record.EPOCH] != 0:
                continue
            ctype = record[dtls_record.TYPE]
            if ctype == dtls_record.CT_CHANGE_CIPHER_SPEC:
                if self.first_ccs is None:
                    self.first_ccs = "local" if local else "peer"
                self.ccs_from.add(local)
            elif ctype == dtls_record.CT_HANDSHAKE and local == self.local_is_server:
                start = record[dtls_record.START]
                self._server_message(datagram[start:start + record[dtls_record.LENGTH]])

    def _server_message(self, fragment):
        """A ServerHello's session ID, or a NewSessionTicket, from the server's epoch 0."""
        if len(fragment) < HANDSHAKE_HEADER:
            return
        msg_type = fragment[0]
        offset = int.from_bytes(fragment[6:9], "big")
        if msg_type == HS_NEW_SESSION_TICKET:
            self.ticket_seen = True
        elif msg_type == HS_SERVER_HELLO and offset == 0:
            body = fragment[HANDSHAKE_HEADER:]
            if len(body) >= 35:           # version(2) random(32) session_id length(1)
                (length,) = struct.unpack_from("B", body, 34)
                self.server_session_id = bytes(body[35:35 + length])


def _channel(key):
    return _CHANNELS.get(key or 0)


@mb.SET_TIMER
def _set_timer(key, int_ms, fin_ms):
    channel = _channel(key)
    if channel is not None:
        channel.on_set_timer(int_ms, fin_ms)


@mb.GET_TIMER
def _get_timer(key):
    channel = _channel(key)
    if channel is None:
        return -1
    return channel.on_get_timer()
