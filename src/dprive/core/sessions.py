"""The session side of the forwarder: sessions up, failed, ended; their timers.

What the shell reports of a session (up, failed, closed, a message, garbage)
comes here by its handle; a handle the core no longer holds is ignored. A
session that ends hands its queries back to Queries, which sends them out
again: none is lost. What an end means, and what a loss cost, is decided by
RecoveryPolicy (core/recovery_policy.py, whose docstring has the rules: a
graceful close at the idle timeout is housekeeping, at any other time a
restart; any other end is a failure, replayed and reconnected at once unless
sessions keep dying young). Fast Open and stored TLS sessions are
ResumptionPolicy's; the DTLS flows (a kept old session, the TLS session
beside DTLS, fallback to TLS, probes) are carried out by DtlsFlows, called
from here. Per-upstream timers: connect deadlines, backoff retries, the
server's idle timeout (keep-warm), DTLS probes and DTLS tried again.
Every method takes `now` and appends actions to `out`, like the rest of the core.
"""

from dprive.core import session_state, upstream_state
from dprive.core.actions import INFO, WARNING, Close, Log
from dprive.core.resumption import TFO_OFF_MS
from dprive.core.upstream import (
    BACKOFF, IDLE, OPEN, REPLACING, YOUNG_SESSION_MS, current_of, describe_handshake, session_of,
)
from dprive.core.upstream_state import handshaking

# How a session ended, as the shell saw it.
RST = "rst"
TIMEOUT = "timeout"
FIN = "fin"
CLOSE_NOTIFY = "close_notify"


class Sessions:
    def __init__(self, config, upstreams, queries, links, flows, resumption, recovery, alarm, pool):
        self.config = config
        self.upstreams = upstreams   # the Forwarder's list (a reload changes it in place)
        self.queries = queries       # answers matched; the queries of an ended session sent again
        self.links = links           # Connect and Send
        self.flows = flows           # the DTLS flows
        self.resumption = resumption # ResumptionPolicy: TFO and stored sessions
        self.recovery = recovery     # RecoveryPolicy: what an end means, what it cost
        self.alarm = alarm
        self.pool = pool             # the extra TLS sessions under load

    # ---- events from the shell -------------------------------------------------

    def start(self, now):
        """Open a session to every enabled upstream, so the first query finds one warm."""
        out = []
        for up in self.upstreams:
            if up.enabled and up.state == IDLE:
                self.links.connect(up, now, out)
        return out

    def connected(self, handle, now, info=None):
        out = []
        up = current_of(self.upstreams, handle)
        if up is None or up.session.state != session_state.HANDSHAKING:
            up, session = session_of(self.upstreams, handle)
            if session is not None and session in up.extras:
                if session.state == session_state.HANDSHAKING:
                    self.pool.up(up, session, now, info)
            elif session is not None:
                self.flows.stream_up(up, session, now, out)
            return out
        replacing = up.state == REPLACING
        upstream_state.move(up, upstream_state.UP)
        up.consecutive_failures = 0
        session = up.session
        session_state.move(session, session_state.UP)
        session.info = dict(info or {})
        session.established_at = now
        session.last_activity = now
        self._handshake_facts(up, session, now, out)
        out.append(Log(INFO, "%s: %s session up in %d ms%s"
                    % (up.name, session.transport.upper(), now - session.started_at,
                       describe_handshake(session.info))))
        if replacing:
            self.flows.successor_up(up, now, out)
        queued, session.queued = session.queued, []
        for attempt in queued:
            if not attempt.pending.done:
                self.links.transmit(attempt, now, out)
        self.queries.release_waiting(now, out)
        return out

    def connect_failed(self, handle, reason, now, auth_failure=False, heard=False):
        """The session's handshake failed; `heard`: the server had sent something
        (then the stored TLS session may be what it choked on, and is forgotten).
        Reported for a session already up, it is that session's close, and forgets nothing."""
        out = []
        up, session = session_of(self.upstreams, handle)
        if session is None:
            return out
        if session.state != session_state.HANDSHAKING:
            # It was up: an ending like any. Its handshake went through, so
            # the stored session it offered is no culprit and is kept.
            return self.closed(handle, reason, False, now)
        forget = self.resumption.after_failure(up, session, heard)
        if forget is not None:
            out.append(forget)
        if session is up.session:
            self._connect_failed(up, reason, now, out, auth_failure)
        elif session in up.extras:
            self.pool.lost(up, session, reason, now, out, True)
        else:
            self.flows.stream_lost(up, session, reason, out)
        return out

    def closed(self, handle, reason, graceful, now, kind=None):
        """The session ended: `kind` is RST, TIMEOUT, FIN, CLOSE_NOTIFY or None (other)."""
        out = []
        up, session = session_of(self.upstreams, handle)
        if session is None:
            return out
        if session is up.previous:
            self.flows.previous_closed(up)
        elif session in up.extras:
            self.pool.lost(up, session, reason, now, out, not graceful, kind == RST)
        elif session is up.stream:
            self.flows.stream_lost(up, session, reason, out)
        elif handshaking(up):
            self._connect_failed(up, reason, now, out)
        else:
            self.end_session(up, reason, graceful, now, out, kind)
        return out

    def received(self, handle, msg, now):
        """One DNS message arrived on the session (the transport did the framing)."""
        out = []
        up, session = session_of(self.upstreams, handle)
        if session is None or session is up.session and up.state != OPEN:
            return out
        up.note_activity(session, now)
        violation = self.queries.answer(up, session, msg, now, out)
        if violation is not None:
            self.protocol_violation(up, violation, now, out, session)
        elif session is up.session:
            expiry = session.idle_expiry(up.learned_idle_ms)
            if expiry is not None:
                self.alarm.arm(expiry)
        elif session in up.extras:
            self.pool.answered(up, session)
        return out

    def garbled(self, handle, reason, now):
        """The transport could not make DNS messages of what the server sent.

        Whatever the session's role (the current one, the one kept while a
        resumed one replaces it, the TLS one beside DTLS), it is reset like a
        session that broke the protocol: the shell does not close on garbage."""
        out = []
        up, session = session_of(self.upstreams, handle)
        if session is None:
            return out
        if session is not up.session:
            self.protocol_violation(up, reason, now, out, session)
        elif up.state == OPEN:
            self.protocol_violation(up, reason, now, out)
        return out

    def reconnect(self, now, name=None):
        """Drop and re-establish sessions (all, or the upstream so named): a WAN change, a user's click."""
        out = []
        for up in self.upstreams:
            if name is not None and up.name != name or not up.enabled:
                continue
            if up.session is not None:
                self.drop_session(up, "reconnect requested", now, out)
            up.consecutive_failures = 0
            if up.state in (IDLE, BACKOFF):
                self.links.connect(up, now, out)
        return out

    # ---- handshakes ---------------------------------------------------------------

    def _handshake_facts(self, up, session, now, out):
        """Count what the handshake used (TFO, resumption) and watch for TFO black holes."""
        info = session.info
        handshake_ms = now - session.started_at
        up.count("handshakes")      # completed ones (connects counts every attempt)
        if session.transport == "dtls":
            up.dtls_worked = True
            up.dtls_fallbacks_in_a_row = 0
        if info.get("tfo"):
            up.count("tfo_used")
        why = self.resumption.after_handshake(up, session, handshake_ms, now)
        if why is not None:
            out.append(Log(WARNING, "%s: %s; TCP Fast Open off for this upstream for %d min"
                           % (up.name, why, TFO_OFF_MS // 60000)))
        if info.get("resumption_offered"):
            up.count("resumptions_offered")
            if info.get("resumed"):
                up.count("resumptions_accepted")
        self.recovery.handshake_done(up, info, handshake_ms)

    def _connect_failed(self, up, reason, now, out, auth_failure=False):
        orphans = self.flows.successor_failed(up, reason, now, out)
        if orphans is not None:
            for pq in orphans:
                if not pq.done and not pq.attempts:
                    # The upstream is still there, on the kept session: not a failed try.
                    pq.tried.pop(up.key, None)
                    self.queries.dispatch(pq, now, out)
            return
        session = up.session
        up.session = None
        session_state.move(session, session_state.END)
        up.count("failures")
        up.last_close_reason = reason
        if not auth_failure and self.flows.dtls_blocked(up, session, reason, now, out):
            # and at once over TLS, no backoff: the server is not at fault
            upstream_state.move(up, upstream_state.FALL_BACK)
            self._resend(session, up, True, now, out)
            if up.state == IDLE:
                self.links.connect(up, now, out)
            return
        up.auth_failed = auth_failure
        up.back_off(now, self.config.backoff_max_ms, upstream_state.FAIL)
        self.alarm.arm(up.retry_at)
        out.append(Log(WARNING, "%s: connection failed: %s (next try in %d ms)"
                    % (up.name, reason, up.retry_at - now)))
        self._resend(session, up, False, now, out)

    # ---- sessions that end ----------------------------------------------------------

    def protocol_violation(self, up, reason, now, out, session=None):
        """The upstream sent something no DNS server should: reset the session.

        Like any lost session this stretches its preference, so the queries in
        flight are retried elsewhere when another upstream is usable, and on a
        new session to the same one when it is the only one.
        """
        if session is not None and session is up.stream:
            self.end_stream(up, reason, out)
            return
        if session is not None and session in up.extras:
            self.pool.reset(up, session, reason, now, out)
            return
        if session is not None and session is up.previous:
            out.append(Close(session.handle, reason, up.name))
            self.flows.previous_closed(up)
            return
        self.reset(up, reason, now, out)

    def reset(self, up, reason, now, out, kind=None):
        """We end `up`'s current session as lost (silent, or it broke the protocol)."""
        out.append(Close(up.session.handle, reason, up.name))
        self.end_session(up, reason, False, now, out, kind)

    def end_session(self, up, reason, graceful, now, out, kind=None):
        """An established session is over; its queries go out again, none is lost."""
        session = up.session
        up.session = None
        session_state.move(session, session_state.END)
        upstream_state.move(up, upstream_state.END)
        up.last_close_reason = reason
        busy = len(session.inflight)
        quiet_ms = now - session.last_activity
        reconnect = True
        if graceful:
            up.count("graceful_closes")
            if not busy and self.recovery.is_idle_close(up, session, quiet_ms):
                reconnect = False
                out.append(Log(INFO, "%s: idle session closed: %s" % (up.name, reason)))
            else:
                up.count("server_closes")
                if not busy:
                    self.recovery.learn_idle(up, session, quiet_ms)
                out.append(Log(INFO, "%s: server closed the session: %s (%s)"
                            % (up.name, reason, "%d queries in flight sent again" % busy
                               if busy else "reconnecting now")))
        else:
            up.count("failures")
            if kind == RST:
                up.count("rsts")
            if not busy:
                up.count("probe_failures")
            # Until it answers again, prefer the others a little (as after a timeout).
            up.rtt.timed_out()
            out.append(Log(WARNING, "%s: session lost: %s (%s)" % (
                up.name, reason, "%d queries in flight sent again" % busy
                if busy else "found while quiet, reconnecting now")))
            if self.recovery.dying_young(up, session, now):
                up.back_off(now, self.config.backoff_max_ms)
                self.alarm.arm(up.retry_at)
                reconnect = False
                out.append(Log(WARNING, "%s: %d sessions in a row died within %d s (forged RSTs?); "
                            "next try in %d ms" % (up.name, up.young_losses, YOUNG_SESSION_MS // 1000,
                                                   up.retry_at - now)))
        if reconnect:
            up.pending_recovery = self.recovery.record(session, reason, kind, busy, now)
        self._resend(session, up, True, now, out)
        if reconnect and up.state == IDLE and up.enabled:
            self.links.connect(up, now, out)

    def end_stream(self, up, reason, out):
        """We end the TLS session beside DTLS: its clients get their truncated answers."""
        out.append(Close(up.stream.handle, reason, up.name))
        self.flows.stream_lost(up, up.stream, reason, out)

    def drop_session(self, up, reason, now, out):
        """We end the current session ourselves (a reconnect request, a transport
        no longer allowed): no failure, no record; the caller connects if need be.
        Its extra sessions end with it (after it: their queries go to the new one)."""
        if up.state == upstream_state.REPLACING:
            out.append(Close(up.previous.handle, reason, up.name))
            self.flows.previous_closed(up)
        session = up.session
        out.append(Close(session.handle, reason, up.name))
        up.session = None
        session_state.move(session, session_state.END)
        upstream_state.move(up, upstream_state.END)
        up.last_close_reason = reason
        self._resend(session, up, True, now, out)
        self.pool.close_all(up, reason, now, out)

    def _resend(self, session, up, same_upstream_ok, now, out):
        attempts = list(session.inflight.values())
        session.inflight = {}
        session.queued = []
        for attempt in attempts:
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            if pq.done:
                continue
            if same_upstream_ok:
                pq.tried.pop(up.key, None)
            pq.lost_on[up.key] = True
            if not pq.attempts:
                up.count("replays")
                self.queries.dispatch(pq, now, out)

    # ---- timers ---------------------------------------------------------------------

    def timers(self, now, out):
        for up in self.upstreams:
            self._upstream_timers(up, now, out)

    def _upstream_timers(self, up, now, out):
        self.flows.stream_timer(up, now, out)
        self.pool.timers(up, now, out)
        if upstream_state.handshaking(up):
            if now >= up.session.connect_deadline:
                out.append(Close(up.session.handle, "connect timeout", up.name))
                self._connect_failed(up, "no TLS session within %d ms" % self.config.connect_timeout_ms,
                                     now, out)
            else:
                self.alarm.arm(up.session.connect_deadline)
        elif up.state == BACKOFF:
            if now >= up.retry_at:
                out.append(Log(INFO, "%s: trying again after %d failures"
                            % (up.name, up.consecutive_failures)))
                self.links.connect(up, now, out)
            else:
                self.alarm.arm(up.retry_at)
        elif up.state == OPEN:
            session = up.session
            if self.flows.dtls_return_due(up, now, out):
                self.drop_session(up, "DTLS tried again", now, out)
                self.links.connect(up, now, out)
                return
            if self.flows.probe_due(up, now):
                self.queries.send_tiny_query(up, now, out, "probes_sent")
                return
            expiry = session.idle_expiry(up.learned_idle_ms)
            if expiry is None:
                return
            if now < expiry:
                self.alarm.arm(expiry)
            elif self.config.keep_warm:
                self.queries.send_tiny_query(up, now, out, "keepwarm_queries")
            else:
                out.append(Close(session.handle, "server idle timeout", up.name))
                self.end_session(up, "idle for %d ms, the server's idle timeout" % (now - session.last_activity),
                                 True, now, out)
