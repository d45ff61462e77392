"""`dprive gateway`: DNS over DTLS (RFC 8094) in front of any resolver.

What happens to a datagram from address A (ip, port):

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
(resolver.py) and its answer back as one record, cut with TC set when larger
than the client may receive: its EDNS buffer size (512 without EDNS) and
what fits in one record under max_datagram_bytes.

Round trips for a new client, counted from its first ClientHello: with the
cookie demanded, full handshake 3 (ClientHello, HelloVerifyRequest; ClientHello
with cookie, server flight; client Finished, server Finished) and the first
answer in the 4th; a resumption 2, the first query riding with the client's
Finished, so its answer comes in the 3rd. With require_cookie off, one less each.
"""

import asyncio
import logging
import os
import signal
import time

from dprive import __version__
from dprive.core import dtls_record, wire
from dprive.core.dtls_record import DtlsRecordError
from dprive.gateway import stateless
from dprive.gateway.stateless import AlertLimiter, CookieJar, HelloError
from dprive.gateway.resolver import ResolverClient
from dprive.gateway.session_base import CLOSED, ESTABLISHED, HANDSHAKING, ContextError
from dprive.gateway.status import StatusFile, new_counters
from dprive.gateway.tickets import TicketKeyError, load_ticket_keys
from dprive.io.lan import udp_socket
from dprive.tls import dtls_engines, dtls_support

log = logging.getLogger("dprive.gateway")

MAX_DATAGRAM_IN = 4096        # no DTLS 1.2 client needs more per datagram
RECV_BATCH = 64
TICK_S = 0.1                  # retransmission timers and handshake deadlines
COOKIE_LIFETIME_S = 30.0


class StartupError(Exception):
    """A problem that keeps the gateway from starting, said in one line."""


class GatewaySocket:
    """A listening UDP socket read in batches, as io/lan.py's UdpListener."""

    def __init__(self, gateway, loop, sock):
        self.gateway = gateway
        self.loop = loop
        self.sock = sock
        self.closed = False
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self):
        for _ in range(RECV_BATCH):
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            try:
                self.gateway.on_datagram(self, data, addr[:2])
            except Exception:   # noqa: BLE001 - one bad datagram must not stop the gateway
                log.exception("datagram from %s:%d dropped", addr[0], addr[1])
                self.gateway.counters["bad_datagrams"] += 1

    def send(self, datagrams, addr):
        if self.closed:
            return
        for datagram in datagrams:
            try:
                self.sock.sendto(datagram, addr)
            except OSError:
                self.gateway.counters["send_errors"] += 1

    def close(self):
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class Gateway:
    def __init__(self, settings, choice=None):
        """`choice`: the tls.dtls_engines.Choice for the gateway (made here if not given)."""
        self.settings = settings
        self.choice = choice or dtls_engines.choose(dtls_support.GATEWAY, settings.dtls_engine)
        self.engine = self.choice.gateway_module()      # gateway/session_base.py: its API
        self.counters = new_counters()
        self.cookies = CookieJar(os.urandom(32), COOKIE_LIFETIME_S)
        self.limiter = AlertLimiter(settings.alert_interval_ms / 1000.0, settings.max_alerts_per_s)
        try:
            self.context = self.engine.make_server_context(settings.cert_file, settings.key_file,
                                               self.cookies, settings.session_lifetime_s)
        except ContextError as err:
            raise StartupError(str(err))
        self.ticket_keys, self.ticket_note = self._ticket_keys()
        self.sessions = {}           # (ip, port) -> ServerSession
        self.pending = {}            # (ip, port) -> a handshake that will replace its live session
        self.handshaking = set()     # the sessions whose handshake is not done yet (both kinds)
        self.owner = {}              # (ip, port) -> the GatewaySocket it came in on
        self.sockets = []
        self.tasks = set()
        self.status_file = StatusFile(settings.status_file, settings.status_interval_ms / 1000.0)
        self.sweep_every_s = min(1.0, settings.session_idle_s / 4.0)
        self.last_sweep = 0.0
        self.loop = self.resolver = self.stopping = self._timer = None

    def _ticket_keys(self):
        try:
            keys = load_ticket_keys(self.settings.ticket_key_file)
        except TicketKeyError as err:
            return "process", str(err)
        why = self.engine.install_ticket_keys(self.context, keys)
        if why is None:
            return "file", None
        return "process", why

    def now(self):
        return time.monotonic()

    # ---- datagrams --------------------------------------------------------------

    def on_datagram(self, sock, data, addr):
        counters = self.counters
        counters["datagrams"] += 1
        if len(data) > MAX_DATAGRAM_IN:
            counters["oversize_datagrams"] += 1
            return
        try:
            found = dtls_record.records(data)
            hello = stateless.parse_client_hello(data, found[0])
        except (DtlsRecordError, HelloError) as err:
            counters["bad_datagrams"] += 1
            log.debug("from %s:%d: %s", addr[0], addr[1], err)
            return
        now = self.now()
        live = self.sessions.get(addr)
        pending = self.pending.get(addr)
        if pending is not None:
            # A new handshake is under way while the old session lives on:
            # epoch 0 is the handshake's; other records may still be the old
            # session's (a spoofed ClientHello must not cut a client off).
            plaintext = any(rec[dtls_record.EPOCH] == 0 for rec in found)
            if plaintext or live is None or not self._feed(sock, live, data, now):
                self._feed(sock, pending, data, now)
        elif live is not None and not (hello is not None and live.state == ESTABLISHED):
            self._feed(sock, live, data, now)
        elif hello is not None:
            self._client_hello(sock, addr, hello, data, now, live)
        else:
            self._stray(sock, addr, found[0], now)

    def _feed(self, sock, session, data, now):
        """Give `data` to `session`; True if anything came of it."""
        before = session.state
        out, messages = session.feed(data, now)
        self._after(sock, session, before, out, messages)
        return bool(out or messages)

    def _client_hello(self, sock, addr, hello, data, now, live):
        """A ClientHello from a new client, or on a live session (`live`: the
        client restarted, or resumes at once after a quiet time)."""
        need_cookie = self.settings.require_cookie or bool(hello.cookie)
        if need_cookie and not self.cookies.check(hello.cookie, addr, now):
            if hello.cookie:
                self.counters["cookies_bad"] += 1
            self.counters["cookies_sent"] += 1
            cookie = self.cookies.make(addr, now)
            sock.send([stateless.hello_verify_request(hello, cookie)], addr)
            return
        if len(self.sessions) + len(self.pending) >= self.settings.max_sessions:
            self.counters["sessions_full"] += 1
            return
        session = self.engine.ServerSession(self.context, addr, self.settings.max_datagram_bytes, now, self.now)
        if live is None:
            self.sessions[addr] = session
        else:
            self.pending[addr] = session    # replaces `live` once its handshake is done
        self.handshaking.add(session)
        self.owner[addr] = sock
        self.counters["handshakes_started"] += 1
        out, messages = session.begin(data, need_cookie)
        self._after(sock, session, HANDSHAKING, out, messages)

    def _stray(self, sock, addr, record, now):
        self.counters["stray_records"] += 1
        if record[dtls_record.TYPE] == dtls_record.CT_ALERT:
            return      # never answer an alert with an alert
        if not self.limiter.allow(addr, now):
            self.counters["alerts_limited"] += 1
            return
        self.counters["alerts_sent"] += 1
        sock.send([stateless.stray_alert(record[dtls_record.VERSION])], addr)

    def _after(self, sock, session, before, out, messages):
        if out:
            self._send(sock, session, out)
        if before == HANDSHAKING and session.state == ESTABLISHED:
            self.handshaking.discard(session)
            self.counters["handshakes"] += 1
            if session.reused:
                self.counters["handshakes_resumed"] += 1
            log.debug("%s:%d: handshake done (%s)", session.addr[0], session.addr[1],
                      "resumed" if session.reused else "full")
            if self.pending.get(session.addr) is session:
                old = self.sessions.get(session.addr)
                self.sessions[session.addr] = session
                del self.pending[session.addr]
                if old is not None:
                    self._drop(old, "sessions_replaced")
        if session.state == CLOSED:
            self._drop(session, "handshake_failures" if before == HANDSHAKING else "sessions_closed")
            return
        for msg in messages:
            self._query(sock, session, msg)

    def _send(self, sock, session, out):
        try:
            datagrams = dtls_record.pack_datagrams(out, self.settings.max_datagram_bytes)
        except DtlsRecordError as err:
            log.warning("%s:%d: %s", session.addr[0], session.addr[1], err)
            return
        sock.send(datagrams, session.addr)

    def _drop(self, session, counter):
        addr = session.addr
        if self.pending.get(addr) is session:
            del self.pending[addr]
        elif self.sessions.get(addr) is session:
            del self.sessions[addr]
        if addr not in self.sessions and addr not in self.pending:
            self.owner.pop(addr, None)
        self.handshaking.discard(session)
        session.release()
        self.counters[counter] += 1
        log.debug("%s:%d: session gone (%s%s)", session.addr[0], session.addr[1], counter,
                  ": " + session.error if session.error else "")

    # ---- DNS --------------------------------------------------------------------

    def _query(self, sock, session, msg):
        try:
            header = wire.parse_header(msg)
            if header.flags & wire.QR or header.opcode() != wire.OPCODE_QUERY:
                raise wire.WireError("not a query")
            question = wire.read_question(msg)
            opt = wire.find_opt(msg)
        except wire.WireError:
            self.counters["bad_queries"] += 1
            return
        self.counters["queries"] += 1
        limit = min(wire.udp_payload_limit(opt), session.cleartext_mtu or wire.MIN_UDP_PAYLOAD)
        if session.in_flight >= self.settings.max_queries_per_client:
            self.counters["queries_refused"] += 1
            self._answer(sock, session, wire.make_error(msg, wire.RCODE_REFUSED), limit)
            return
        session.in_flight += 1
        task = self.loop.create_task(self._resolve(sock, session, msg, question.end, limit))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _resolve(self, sock, session, msg, question_end, limit):
        try:
            answer = await self.resolver.query(msg, question_end)
        finally:
            session.in_flight -= 1
        if answer is None:
            self.counters["resolver_errors"] += 1
            answer = wire.make_error(msg, wire.RCODE_SERVFAIL)
        self._answer(sock, session, answer, limit)

    def _answer(self, sock, session, answer, limit):
        if self.sessions.get(session.addr) is not session or session.state != ESTABLISHED:
            self.counters["answers_dropped"] += 1
            return
        if len(answer) > limit:
            answer = _cut(answer, limit)
            self.counters["truncated"] += 1
        out = session.send(answer)
        self.counters["answers"] += 1
        if out:
            self._send(sock, session, out)
        session.last_active = self.now()

    # ---- timers -----------------------------------------------------------------

    def _tick(self):
        try:
            self._on_tick(self.now())
        except Exception:   # noqa: BLE001 - the timers must keep running
            log.exception("timer")
        self._timer = self.loop.call_later(TICK_S, self._tick)

    def _on_tick(self, now):
        handshake_s = self.settings.handshake_timeout_ms / 1000.0
        for session in list(self.handshaking):
            if now - session.created > handshake_s:
                self._drop(session, "handshake_timeouts")
                continue
            due = session.timer_due(now)
            if due is not None and due <= 0:
                out = session.on_timer()
                if out:
                    self._send(self.owner[session.addr], session, out)
                if session.state == CLOSED:
                    self._drop(session, "handshake_failures")
        if now - self.last_sweep >= self.sweep_every_s:
            self.last_sweep = now
            self._expire(now)
        error = self.status_file.maybe_write(self.status(), now)
        if error:
            log.warning("%s", error)

    def _expire(self, now):
        idle_s = self.settings.session_idle_s
        for session in list(self.sessions.values()):
            if (session.state == ESTABLISHED and session.in_flight == 0
                    and now - session.last_active > idle_s):
                out = session.close()       # close_notify: the client may resume at once
                if out:
                    self._send(self.owner[session.addr], session, out)
                self._drop(session, "sessions_expired")

    # ---- status and life cycle --------------------------------------------------

    def status(self):
        return {
            "version": __version__,
            "pid": os.getpid(),
            "running": self.stopping is not None and not self.stopping.is_set(),
            "listen": ["%s:%d" % (a, self.settings.listen_port) for a in self.settings.listen_address],
            "resolver": "%s:%d" % (self.settings.resolver_address, self.settings.resolver_port),
            "require_cookie": self.settings.require_cookie,
            "ticket_keys": self.ticket_keys,
            "ticket_keys_note": self.ticket_note,
            "sessions": len(self.sessions) + len(self.pending),
            "handshaking": len(self.handshaking),
            "queries_in_flight": len(self.tasks),
            "counters": dict(self.counters),
            "dtls": self.choice.status(),
        }

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        settings = self.settings
        for address in settings.listen_address:
            try:
                sock = udp_socket(address, settings.listen_port)
            except OSError as err:
                raise StartupError("cannot listen on %s port %d: %s"
                                   % (address, settings.listen_port, err.strerror or err))
            self.sockets.append(GatewaySocket(self, self.loop, sock))
        try:
            self.resolver = ResolverClient(self.loop, settings.resolver_address,
                                           settings.resolver_port,
                                           settings.resolver_timeout_ms / 1000.0, self.counters)
        except OSError as err:
            raise StartupError("cannot reach resolver %s port %d: %s" % (
                settings.resolver_address, settings.resolver_port, err.strerror or err))
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stopping.set)
        self.loop.add_signal_handler(signal.SIGHUP, lambda: log.warning(
            "SIGHUP: reloading is not supported; restart the gateway to apply changes"))
        if self.ticket_keys == "file":
            log.info("session tickets: keys from %s (resumption survives a restart)",
                     settings.ticket_key_file)
        else:
            log.warning("session tickets: keys of this process only (resumption does not "
                        "survive a restart): %s", self.ticket_note)
        for note in self.choice.notes:
            log.warning("DTLS: %s", note)
        log.info("dprive %s gateway: DNS over DTLS (%s) on %s port %d, resolver %s port %d, "
                 "cookie exchange %s", __version__, self.choice.version, ", ".join(
                     settings.listen_address), settings.listen_port, settings.resolver_address,
                 settings.resolver_port, "demanded" if settings.require_cookie else "off")
        self.status_file.maybe_write(self.status(), self.now(), force=True)
        self._timer = self.loop.call_later(TICK_S, self._tick)

    async def stop(self):
        if self.stopping is not None:
            self.stopping.set()
        if self._timer is not None:
            self._timer.cancel()
        for session in list(self.sessions.values()) + list(self.pending.values()):
            out = session.close()
            if out and session.addr in self.owner:
                self._send(self.owner[session.addr], session, out)
        self.sessions.clear()
        self.pending.clear()
        self.handshaking.clear()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for sock in self.sockets:
            sock.close()
        if self.resolver is not None:
            self.resolver.close()
        self.status_file.maybe_write(self.status(), self.now(), force=True)
        log.info("gateway stopped; counters: %s", " ".join(
            "%s=%d" % item for item in self.counters.items()))

    async def serve(self):
        try:
            await self.start()
            await self.stopping.wait()
        finally:
            await self.stop()


def _cut(answer, limit):
    """`answer` cut to fit `limit` with TC set: header, question (and OPT) when they parse."""
    try:
        return wire.truncate(answer, limit)
    except wire.WireError:
        header = wire.parse_header(answer)
        return wire.Header(header.id, header.flags | wire.TC, 0, 0, 0, 0).pack()


def run_gateway(settings, choice=None):
    logging.basicConfig(level=getattr(logging, settings.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        gateway = Gateway(settings, choice)
        asyncio.run(gateway.serve())
    except StartupError as err:
        log.error("%s", err)
        return 1
    return 0
