"""How the forwarder recovers: timeouts, lost sessions, failed connects, backoff.

A mixin of Forwarder (core/forwarder.py) that carries out the recovery: it
ends sessions, replays their queries, backs off and reconnects. What a
session end means, and what a loss cost, is decided by RecoveryPolicy
(core/recovery_policy.py, whose docstring has the rules: a graceful close at
the idle timeout is housekeeping, at any other time a restart; any other end
is a failure, replayed and reconnected at once unless sessions keep dying
young). Every method takes `now` and appends actions to `out`, like the rest
of the core.
"""

from dprive.core import message, session_state, upstream_state
from dprive.core.actions import INFO, MAX_ATTEMPTS, WARNING, Close, Log
from dprive.core.query import PendingQuery
from dprive.core.resumption import TFO_OFF_MS
from dprive.core.upstream import (
    BACKOFF, IDLE, OPEN,
    YOUNG_SESSION_MS, Attempt,
)

# How a session ended, as the shell saw it.
RST = "rst"
TIMEOUT = "timeout"
FIN = "fin"
CLOSE_NOTIFY = "close_notify"

# ". IN NS" with RD: the smallest question any resolver answers from memory.
_KEEPWARM_QUERY = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01"


class Recovery:
    # ---- connects ---------------------------------------------------------------

    def reconnect(self, now, name=None):
        """Drop and re-establish sessions (all, or the upstream so named): a WAN change, a user's click."""
        out = []
        for up in self.upstreams:
            if name is not None and up.name != name or not up.enabled:
                continue
            if up.session is not None:
                self._drop_session(up, "reconnect requested", now, out)
            up.consecutive_failures = 0
            if up.state in (IDLE, BACKOFF):
                self._connect(up, now, out)
        return out

    def _early_retry(self, pq, now, out):
        """No upstream is usable: rather than SERVFAIL, retry the failed one due soonest."""
        best = self.selection.early_retry(self.upstreams, pq, now)
        if best is not None:
            out.append(Log(INFO, "%s: trying again early, a query is waiting and no upstream is usable"
                           % best.name))
            upstream_state.move(best, upstream_state.RETRY_EARLY)
        return best

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
        if self._successor_failed(up, reason, now, out):
            return
        session = up.session
        up.session = None
        session_state.move(session, session_state.END)
        up.count("failures")
        up.last_close_reason = reason
        if not auth_failure and self._dtls_blocked(up, session, reason, now, out):
            # and at once over TLS, no backoff: the server is not at fault
            upstream_state.move(up, upstream_state.FALL_BACK)
            self._resend(session, up, True, now, out)
            if up.state == IDLE:
                self._connect(up, now, out)
            return
        up.auth_failed = auth_failure
        up.back_off(now, self.config.backoff_max_ms, upstream_state.FAIL)
        self._arm(up.retry_at)
        out.append(Log(WARNING, "%s: connection failed: %s (next try in %d ms)"
                    % (up.name, reason, up.retry_at - now)))
        self._resend(session, up, False, now, out)

    # ---- queries without answers --------------------------------------------------

    def _attempt_timed_out(self, attempt, now, out):
        attempt.timed_out = True
        up = attempt.upstream
        up.count("timeouts")
        up.rtt.timed_out()
        session = attempt.session
        heard = session.last_answer_at
        if session is up.session and (heard is None or heard <= attempt.sent_at):
            # Nothing came back on this connection since the query left: presume it dead.
            self._reset(up, "no answer within %d ms" % (now - attempt.sent_at), now, out, TIMEOUT)
            return
        # The connection is alive and the server is slow: ask elsewhere too, keep waiting here.
        pq = attempt.pending
        if self.selection.choose(self.upstreams, pq) is not None and pq.sent < MAX_ATTEMPTS:
            self._dispatch(pq, now, out)

    def _protocol_violation(self, up, reason, now, out, session=None):
        """The upstream sent something no DNS server should: reset the session.

        Like any lost session this stretches its preference, so the queries in
        flight are retried elsewhere when another upstream is usable, and on a
        new session to the same one when it is the only one.
        """
        if session is not None and session is up.stream:
            out.append(Close(session.handle, reason, up.name))
            self._stream_lost(session.handle, reason, out)
            return
        if session is not None and session is up.previous:
            out.append(Close(session.handle, reason, up.name))
            self._previous_closed(up)
            return
        self._reset(up, reason, now, out)

    def _reset(self, up, reason, now, out, kind=None):
        out.append(Close(up.session.handle, reason, up.name))
        self._end_session(up, reason, False, now, out, kind)

    # ---- sessions that end ----------------------------------------------------------

    def _end_session(self, up, reason, graceful, now, out, kind=None):
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
                self._arm(up.retry_at)
                reconnect = False
                out.append(Log(WARNING, "%s: %d sessions in a row died within %d s (forged RSTs?); "
                            "next try in %d ms" % (up.name, up.young_losses, YOUNG_SESSION_MS // 1000,
                                                   up.retry_at - now)))
        if reconnect:
            up.pending_recovery = self.recovery.record(session, reason, kind, busy, now)
        self._resend(session, up, True, now, out)
        if reconnect and up.state == IDLE and up.enabled:
            self._connect(up, now, out)

    def _drop_session(self, up, reason, now, out):
        """We end the session ourselves (a reconnect request): no failure, no record."""
        if up.state == upstream_state.REPLACING:
            out.append(Close(up.previous.handle, reason, up.name))
            self._previous_closed(up)
        session = up.session
        out.append(Close(session.handle, reason, up.name))
        up.session = None
        session_state.move(session, session_state.END)
        upstream_state.move(up, upstream_state.END)
        up.last_close_reason = reason
        self._resend(session, up, True, now, out)

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
                self._dispatch(pq, now, out)

    # ---- timers ---------------------------------------------------------------------

    def _upstream_timers(self, up, now, out):
        self._stream_timer(up, now, out)
        if upstream_state.handshaking(up):
            if now >= up.session.connect_deadline:
                out.append(Close(up.session.handle, "connect timeout", up.name))
                self._connect_failed(up, "no TLS session within %d ms" % self.config.connect_timeout_ms,
                                     now, out)
            else:
                self._arm(up.session.connect_deadline)
        elif up.state == BACKOFF:
            if now >= up.retry_at:
                out.append(Log(INFO, "%s: trying again after %d failures"
                            % (up.name, up.consecutive_failures)))
                self._connect(up, now, out)
            else:
                self._arm(up.retry_at)
        elif up.state == OPEN:
            session = up.session
            if self._dtls_probe_due(up, now, out):
                return
            expiry = session.idle_expiry(up.learned_idle_ms)
            if expiry is None:
                return
            if now < expiry:
                self._arm(expiry)
            elif self.config.keep_warm:
                self._send_tiny_query(up, now, out, "keepwarm_queries")
            else:
                out.append(Close(session.handle, "server idle timeout", up.name))
                self._end_session(up, "idle for %d ms, the server's idle timeout" % (now - session.last_activity),
                                  True, now, out)

    def _send_tiny_query(self, up, now, out, counter):
        """A tiny query on a quiet session: the server's idle timer starts over (keep-warm),
        or a silent or alerting server shows itself (a DTLS probe)."""
        self._next_key += 1
        query = message.inspect_query(_KEEPWARM_QUERY)[1]
        pq = PendingQuery(None, self._next_key, query, False, now + self.config.query_timeout_ms)
        self.pending[self._next_key] = pq
        pq.tried = dict((u.key, True) for u in self.upstreams if u is not up)
        pq.sent = MAX_ATTEMPTS   # never retried elsewhere: it only matters to this session
        up.count(counter)
        session = up.session
        attempt = Attempt(pq, up, session, session.new_id(self.rand16))
        session.inflight[attempt.id] = attempt
        pq.attempts.append(attempt)
        self._transmit(attempt, now, out)
