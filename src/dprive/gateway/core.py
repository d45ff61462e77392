"""The gateway's decisions, sans I/O: datagrams, answers and the time in, actions out.

GatewayCore(config, cookies, new_session) takes the events of actions.py
(datagram, answer, timer) and returns its actions; it never touches a socket
or a clock, and makes each DTLS session through `new_session(addr, now)`,
the shell's factory for the engine's ServerSession (session_base.py's API),
so that it runs with a fake session in the tests. `cookies` is the CookieJar
(cookies.py) the engine's context shares. What happens to a datagram from
address A (ip, port); A's own states are peer_state.py's table:

1. Larger than MAX_DATAGRAM_IN, or not a sequence of DTLS records: counted, dropped.
2. A has a session: the datagram goes to its DTLS session. Only a
   ClientHello to an *established* session is treated as a new client (the
   client restarted, or resumes at once after a quiet time, the draft's "DTLS
   False Start"): it goes through step 3 and its handshake runs beside the
   old session, which it replaces only once done. Meanwhile records in epoch
   0 go to the new handshake, others to the old session first, so a spoofed
   ClientHello cannot cut a client off.
3. A has no session and sends a ClientHello: without a valid cookie it gets a
   HelloVerifyRequest built from the ClientHello alone (stateless.py), and
   nothing is stored; with one (or when require_cookie is off and it has
   none) a session is made, if fewer than max_sessions exist.
4. A has no session and sends anything else (application data after a
   gateway restart, or from a new NAT mapping): a plaintext fatal
   unexpected_message alert, rate-limited per peer and in total; an alert is
   never answered with an alert.

Each record of application data is one DNS query; it goes to the resolver
(a Resolve action) unless the client already has max_queries_per_client
there (then REFUSED), and its answer back as one record, cut with TC set when
larger than the client may receive: its EDNS buffer size (512 without EDNS)
and what fits in one record under max_datagram_bytes.

Timers, each from its real deadline (next_timer), never a poll: a handshaking
session's retransmission when its engine says (timer_due), re-read after
every call into the session; its handshake_timeout from its creation; an
established session's idle expiry session_idle_s after its last activity
(close_notify: the client may resume at once); the status file at most once
per status_interval_s while something changed.

Portable (MicroPython): no asyncio, socket, time, os, hmac or TLS engine
(tests/unit/test_gateway_core_imports.py).
"""

from collections import OrderedDict

from dprive.core import dtls_record, wire
from dprive.core.dtls_record import DtlsRecordError
from dprive.gateway import peer_state, stateless
from dprive.gateway.actions import DEBUG, WARNING, Log, Resolve, SendDatagrams, WriteStatus
from dprive.gateway.counters import new_counters
from dprive.gateway.deadlines import Deadlines
from dprive.gateway.peer_state import ACCEPT, DONE, END, NEW_LOST, OLD_LOST, Peer
from dprive.gateway.session_base import CLOSED, ESTABLISHED, HANDSHAKING
from dprive.gateway.stateless import AlertLimiter, HelloError

MAX_DATAGRAM_IN = 4096        # no DTLS 1.2 client needs more per datagram
# Never re-arm a retransmission sooner than this: an engine whose timer still
# reads 0 after on_timer() must not spin the event loop.
MIN_RETRANSMIT_S = 0.001


class GatewayCore:
    def __init__(self, config, cookies, new_session):
        self.config = config
        self.cookies = cookies
        self.new_session = new_session
        self.counters = new_counters()
        self.limiter = AlertLimiter(config.alert_interval_s, config.max_alerts_per_s)
        self.peers = {}                    # (ip, port) -> Peer
        self.handshaking = OrderedDict()   # sessions not yet established, oldest first
        self.retransmit = Deadlines()      # handshaking session -> when its engine resends
        self.idle = OrderedDict()          # live established sessions, least recently active first
        self.resolving = {}                # token -> (session, msg, limit)
        self.sessions = 0                  # made and not yet dropped (max_sessions)
        self.next_token = 0
        self.status_changed = True
        self.status_at = None              # when the status file was last written

    # ---- events -----------------------------------------------------------------

    def datagram(self, data, addr, listener, now):
        """A datagram from `addr` on `listener`: the actions."""
        out = []
        counters = self.counters
        counters["datagrams"] += 1
        self.status_changed = True
        if len(data) > MAX_DATAGRAM_IN:
            counters["oversize_datagrams"] += 1
            return out
        try:
            found = dtls_record.records(data)
            hello = stateless.parse_client_hello(data, found[0])
        except (DtlsRecordError, HelloError) as err:
            counters["bad_datagrams"] += 1
            out.append(Log(DEBUG, "from %s:%d: %s" % (addr[0], addr[1], err)))
            return out
        peer = self.peers.get(addr)
        if peer is None:
            if hello is not None:
                self._client_hello(out, None, addr, listener, hello, data, now)
            else:
                self._stray(out, addr, listener, found[0], now)
        elif peer.state == peer_state.REPLACING:
            # A new handshake is under way while the old session lives on:
            # epoch 0 is the handshake's; other records may still be the old
            # session's (a spoofed ClientHello must not cut a client off).
            pending = peer.pending
            plaintext = any(rec[dtls_record.EPOCH] == 0 for rec in found)
            if plaintext or not self._feed(out, peer, peer.live, data, now):
                self._feed(out, peer, pending, data, now)
        elif hello is not None and peer.state == peer_state.ESTABLISHED:
            self._client_hello(out, peer, addr, listener, hello, data, now)
        else:
            self._feed(out, peer, peer.live, data, now)
        return out

    def answer(self, token, answer, now):
        """The resolver's answer to Resolve `token` (None: it failed): the actions."""
        out = []
        entry = self.resolving.pop(token, None)
        if entry is None:
            return out
        session, msg, limit = entry
        session.in_flight -= 1
        self.status_changed = True
        if answer is None:
            self.counters["resolver_errors"] += 1
            answer = wire.make_error(msg, wire.RCODE_SERVFAIL)
        self._answer(out, session, answer, limit, now)
        return out

    def timer(self, now):
        """The time has come for next_timer(): the actions."""
        out = []
        deadline_s = self.config.handshake_timeout_s
        while self.handshaking:
            session = next(iter(self.handshaking))
            if now - session.created < deadline_s:
                break
            self._drop(out, session, "handshake_timeouts")
        for session in self.retransmit.pop_due(now):
            if session not in self.handshaking:
                continue
            due = session.timer_due(now)
            if due is not None and due <= 0:
                self._after(out, session, HANDSHAKING, session.on_timer(), (), now)
            else:
                self._arm(session, now)
        idle_s = self.config.session_idle_s
        while self.idle:
            session = next(iter(self.idle))
            if now - session.last_active < idle_s:
                break
            del self.idle[session]
            if session.in_flight == 0:
                sent = session.close()       # close_notify: the client may resume at once
                if sent:
                    self._send(out, self.peers[session.addr], session, sent)
                self._drop(out, session, "sessions_expired")
            # else its queries are at the resolver; the answer (every Resolve
            # gets one) makes it active again and puts it back in self.idle.
        if self.status_changed and (self.status_at is None
                                    or now - self.status_at >= self.config.status_interval_s):
            self.status_written(now)
            out.append(WriteStatus())
        return out

    def next_timer(self):
        """When `timer` is due next (absolute seconds), or None."""
        when = self.retransmit.first()
        if self.handshaking:
            when = _earlier(when, next(iter(self.handshaking)).created + self.config.handshake_timeout_s)
        if self.idle:
            when = _earlier(when, next(iter(self.idle)).last_active + self.config.session_idle_s)
        if self.status_changed:
            when = _earlier(when, 0.0 if self.status_at is None
                            else self.status_at + self.config.status_interval_s)
        return when

    def changed(self):
        """The shell counted something itself (send_errors, resolver_*): the status changed."""
        self.status_changed = True

    def status_written(self, now):
        """The status file was written at `now` (the shell forces it at start and stop)."""
        self.status_at = now
        self.status_changed = False

    def stop(self):
        """close_notify to every client; the core holds nothing afterwards."""
        out = []
        for peer in list(self.peers.values()):
            for session in (peer.live, peer.pending):
                if session is not None:
                    sent = session.close()
                    if sent:
                        self._send(out, peer, session, sent)
        self.peers.clear()
        self.resolving.clear()     # the shell cancels those queries
        self.sessions = 0
        self.handshaking.clear()
        self.retransmit = Deadlines()
        self.idle.clear()
        return out

    def status(self):
        """The core's part of the status file."""
        return {
            "sessions": self.sessions,
            "handshaking": len(self.handshaking),
            "queries_in_flight": len(self.resolving),
            "counters": dict(self.counters),
        }

    # ---- sessions ---------------------------------------------------------------

    def _client_hello(self, out, peer, addr, listener, hello, data, now):
        """A ClientHello from a new client, or on an established session (`peer`:
        the client restarted, or resumes at once after a quiet time)."""
        counters = self.counters
        need_cookie = self.config.require_cookie or bool(hello.cookie)
        if need_cookie and not self.cookies.check(hello.cookie, addr, now):
            if hello.cookie:
                counters["cookies_bad"] += 1
            counters["cookies_sent"] += 1
            cookie = self.cookies.make(addr, now)
            out.append(SendDatagrams(listener, addr, [stateless.hello_verify_request(hello, cookie)]))
            return
        if self.sessions >= self.config.max_sessions:
            counters["sessions_full"] += 1
            return
        session = self.new_session(addr, now)
        self.sessions += 1
        if peer is None:
            peer = self.peers[addr] = Peer(addr, listener)
            peer.live = session
        else:
            peer.pending = session      # replaces the live one once its handshake is done
        peer_state.move(peer, ACCEPT)
        peer.listener = listener
        self.handshaking[session] = None
        counters["handshakes_started"] += 1
        sent, messages = session.begin(data, need_cookie)
        self._after(out, session, HANDSHAKING, sent, messages, now)

    def _feed(self, out, peer, session, data, now):
        """Give `data` to `session`; True if anything came of it."""
        before = session.state
        sent, messages = session.feed(data, now)
        if before == ESTABLISHED and session is peer.live:
            self._touch(session)
        self._after(out, session, before, sent, messages, now)
        return bool(sent or messages)

    def _after(self, out, session, before, sent, messages, now):
        peer = self.peers[session.addr]
        if sent:
            self._send(out, peer, session, sent)
        if before == HANDSHAKING and session.state == ESTABLISHED:
            self._established(out, peer, session)
        if session.state == CLOSED:
            self._drop(out, session, "handshake_failures" if before == HANDSHAKING else "sessions_closed")
            return
        if session.state == HANDSHAKING:
            self._arm(session, now)
        for msg in messages:
            self._query(out, session, msg, now)

    def _established(self, out, peer, session):
        counters = self.counters
        self.handshaking.pop(session, None)
        self.retransmit.discard(session)
        counters["handshakes"] += 1
        if session.reused:
            counters["handshakes_resumed"] += 1
        out.append(Log(DEBUG, "%s:%d: handshake done (%s)" % (
            peer.addr[0], peer.addr[1], "resumed" if session.reused else "full")))
        old = None
        if session is peer.pending:
            old, peer.live, peer.pending = peer.live, session, None
        peer_state.move(peer, DONE)
        self._touch(session)
        if old is not None:
            self._drop(out, old, "sessions_replaced")

    def _arm(self, session, now):
        """Read the session's retransmission timer again (it moves on every call into it)."""
        due = session.timer_due(now)
        if due is None:
            self.retransmit.discard(session)
        else:
            self.retransmit.set(session, now + max(due, MIN_RETRANSMIT_S))

    def _touch(self, session):
        """`session` (live, established) was active: last in the idle order."""
        self.idle.pop(session, None)
        self.idle[session] = None

    def _drop(self, out, session, counter):
        addr = session.addr
        peer = self.peers.get(addr)
        if peer is not None:
            if session is peer.pending:
                peer.pending = None
                peer_state.move(peer, NEW_LOST)
            elif session is peer.live:
                if peer.pending is not None:
                    peer.live, peer.pending = peer.pending, None
                    peer_state.move(peer, OLD_LOST)
                else:
                    peer_state.move(peer, END)
                    del self.peers[addr]
        self.sessions -= 1
        self.handshaking.pop(session, None)
        self.retransmit.discard(session)
        self.idle.pop(session, None)
        session.release()
        self.counters[counter] += 1
        self.status_changed = True
        out.append(Log(DEBUG, "%s:%d: session gone (%s%s)" % (
            addr[0], addr[1], counter, ": " + session.error if session.error else "")))

    def _send(self, out, peer, session, sent):
        try:
            datagrams = dtls_record.pack_datagrams(sent, self.config.max_datagram_bytes)
        except DtlsRecordError as err:
            out.append(Log(WARNING, "%s:%d: %s" % (session.addr[0], session.addr[1], err)))
            return
        out.append(SendDatagrams(peer.listener, session.addr, datagrams))

    def _stray(self, out, addr, listener, record, now):
        counters = self.counters
        counters["stray_records"] += 1
        if record[dtls_record.TYPE] == dtls_record.CT_ALERT:
            return      # never answer an alert with an alert
        if not self.limiter.allow(addr, now):
            counters["alerts_limited"] += 1
            return
        counters["alerts_sent"] += 1
        out.append(SendDatagrams(listener, addr, [stateless.stray_alert(record[dtls_record.VERSION])]))

    # ---- DNS --------------------------------------------------------------------

    def _query(self, out, session, msg, now):
        counters = self.counters
        try:
            header = wire.parse_header(msg)
            if header.flags & wire.QR or header.opcode() != wire.OPCODE_QUERY:
                raise wire.WireError("not a query")
            question = wire.read_question(msg)
            opt = wire.find_opt(msg)
        except wire.WireError:
            counters["bad_queries"] += 1
            return
        counters["queries"] += 1
        limit = min(wire.udp_payload_limit(opt), session.cleartext_mtu or wire.MIN_UDP_PAYLOAD)
        if session.in_flight >= self.config.max_queries_per_client:
            counters["queries_refused"] += 1
            self._answer(out, session, wire.make_error(msg, wire.RCODE_REFUSED), limit, now)
            return
        session.in_flight += 1
        self.next_token += 1
        token = self.next_token
        self.resolving[token] = (session, msg, limit)
        out.append(Resolve(token, msg, question.end))

    def _answer(self, out, session, answer, limit, now):
        """`answer` to `session` if it is still the live one, cut to `limit`."""
        peer = self.peers.get(session.addr)
        if peer is None or peer.live is not session or session.state != ESTABLISHED:
            self.counters["answers_dropped"] += 1
            return
        if len(answer) > limit:
            answer = cut(answer, limit)
            self.counters["truncated"] += 1
        sent = session.send(answer)
        self.counters["answers"] += 1
        if sent:
            self._send(out, peer, session, sent)
        session.last_active = now
        if session.state == ESTABLISHED:
            self._touch(session)
        else:       # the engine failed to write: gone, as a failed read would be
            self._drop(out, session, "sessions_closed")


def cut(answer, limit):
    """`answer` cut to fit `limit` with TC set: header, question (and OPT) when they parse."""
    try:
        return wire.truncate(answer, limit)
    except wire.WireError:
        header = wire.parse_header(answer)
        return wire.Header(header.id, header.flags | wire.TC, 0, 0, 0, 0).pack()


def _earlier(a, b):
    return b if a is None or b < a else a
