"""The draft's DNS-over-DTLS flows, carried out: an object the Forwarder holds.

DtlsFlows decides nothing itself (DtlsPolicy does) and reaches no query
or session it is not handed: it opens sessions and puts attempts on them
through Links, ends a query through Clients. Where a flow hands queries back
to be sent elsewhere (a failed resumption), or a session must be dropped (DTLS
tried again), it says so to its caller, core/sessions.py, which does it.

- An alert on a session (the server lost our state, or a new NAT mapping made
  it reject us) starts a resumption handshake at once; the queries in flight
  go out again on the new session, with the client's Finished. The alert is
  not authenticated, so the old session is kept (as `up.previous`) until the
  new one is up: a forged alert costs one handshake, never a query. Alerts
  start at most one handshake per upstream per second. Should the new one
  fail, the queries that waited for it go out on the kept session (the
  upstream did not fail them).
- "DTLS False Start": a query for a session quiet longer than
  `dtls_resume_after_ms` does not risk the old session (and its alert); the
  resumption ClientHello goes out at once, the query with the Finished.
  Should that resumption fail, the old session counts as quiet from then:
  the query goes on it rather than into another resumption.
- Probes while quiet, which also keep the UDP pinhole open: OpenSSL 3 has no
  RFC 6520 heartbeats, so a minimal DNS query is the probe. Unanswered, it
  resets the session (and a new one is opened at once); answered by an
  alert, it starts the resumption.
- DTLS blocked on the path (the handshake fails): an upstream that allows
  `tls` too moves to DNS over TLS for DTLS_BLOCKED_MS, and the status says so.
  If DTLS worked to it before, the failure is more likely a restart of the
  server (its port refused us for a second) than a path that blocks UDP:
  TLS is then used for DTLS_RETRY_MS only, doubling with each fallback in a
  row up to DTLS_BLOCKED_MS. When the time is up, a quiet TLS session makes
  way for a DTLS handshake (the soak found a gateway restart costing an hour
  of DTLS).
- An answer that comes back truncated over DTLS is asked again over DNS over
  TLS to the same server when the upstream allows `tls` too, on a TLS session
  kept beside the DTLS one (`up.stream`); should that fail, the client gets
  the truncated answer and retries over TCP itself.
"""

from dprive.core import session_state, upstream_state
from dprive.core.actions import INFO, WARNING, Close, Log
# The decisions are DtlsPolicy's (self.dtls); the constants are kept here too.
from dprive.core.dtls_policy import DTLS, DTLS_BLOCKED_MS, DTLS_RETRY_MS, TLS
from dprive.core.upstream import OPEN, REPLACING

__all__ = ["DtlsFlows", "TLS", "DTLS", "DTLS_BLOCKED_MS", "DTLS_RETRY_MS"]


class DtlsFlows:
    def __init__(self, config, links, clients, alarm, dtls, recovery):
        self.config = config
        self.links = links          # Connect and Send
        self.clients = clients      # a truncated answer handed out
        self.alarm = alarm
        self.dtls = dtls            # DtlsPolicy: what to do
        self.recovery = recovery    # RecoveryPolicy: what a replacement cost

    # ---- alerts and replacements ------------------------------------------------

    def alert(self, up, now, out):
        """A plaintext DTLS alert arrived for `up`'s current session."""
        if up.state != OPEN or up.session.transport != DTLS:
            return
        up.count("alerts")
        self._replace_session(up, "DTLS alert from the server", now, out)

    def resume_if_quiet(self, up, now, out):
        """DTLS False Start: after a long quiet time, resume first instead of risking the alert."""
        if up.state == OPEN and self.dtls.quiet_too_long(up, up.session, now):
            up.count("false_starts")
            self._replace_session(up, "quiet for %d s" % ((now - up.session.last_activity) // 1000),
                                  now, out)

    def _replace_session(self, up, reason, now, out):
        """Start a new (resumed) session; keep the old one until the new one is up."""
        if not self.dtls.may_replace(up, now):
            up.count("alerts_ignored")
            return
        old = up.session
        out.append(Log(INFO, "%s: %s; resuming on a new session" % (up.name, reason)))
        up.previous = old
        up.pending_recovery = self.recovery.record(old, reason, "alert", len(old.inflight), now)
        self.links.connect(up, now, out, upstream_state.REPLACE)
        for attempt in list(old.inflight.values()):
            pq = attempt.pending
            if pq.done:
                continue
            up.count("replays")
            up.session.queued.append(self.links.attach(pq, up, up.session))

    def successor_up(self, up, now, out):
        """The new session is up: the old one and its duplicate attempts go."""
        old = up.previous
        up.previous = None
        session_state.move(old, session_state.END)
        out.append(Close(old.handle, "replaced by a resumed session", up.name))
        for attempt in list(old.inflight.values()):
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            old.retire(attempt)

    def successor_failed(self, up, reason, now, out):
        """The resumption after an alert failed: the old session may be fine (a forged alert).

        None if `up` was not replacing its session; else the queries whose
        attempt went with the failed session, for the caller to send again
        (on the kept session: the upstream did not fail them)."""
        if up.state != REPLACING:
            return None
        failed = up.session
        session_state.move(failed, session_state.END)
        up.session = up.previous
        up.previous = None
        up.session.kept_at = now
        upstream_state.move(up, upstream_state.KEEP_OLD)
        up.pending_recovery = None
        out.append(Log(WARNING, "%s: new session failed (%s); keeping the old one, "
                    "the alert was not authenticated" % (up.name, reason)))
        orphans = []
        for attempt in list(failed.inflight.values()):
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            orphans.append(pq)
        return orphans

    def previous_closed(self, up):
        """The kept old session died while its successor handshakes: nothing is lost."""
        old = up.previous
        up.previous = None
        session_state.move(old, session_state.END)
        upstream_state.move(up, upstream_state.OLD_LOST)
        for attempt in list(old.inflight.values()):
            if attempt in attempt.pending.attempts:
                attempt.pending.attempts.remove(attempt)

    # ---- DTLS blocked, DTLS again, probes -----------------------------------------

    def dtls_blocked(self, up, session, reason, now, out):
        """A DTLS handshake failed; True if the upstream moves to TLS (it allows it)."""
        block_ms = self.dtls.fallback_ms(up, session, now)
        if block_ms is None:
            return False
        self.alarm.arm(up.dtls_blocked_until)
        up.count("dtls_fallbacks")
        out.append(Log(WARNING, "%s: DTLS failed (%s); using DNS over TLS for %d s"
                    % (up.name, reason, block_ms // 1000)))
        return True

    def dtls_return_due(self, up, now, out):
        """A TLS session of an upstream that prefers DTLS, once DTLS may be tried again:
        True if, quiet, it is to make way for a DTLS handshake now (the caller drops
        it and connects)."""
        session = up.session
        until = self.dtls.return_at(up, session)
        if until is None:
            return False
        if now < until:
            self.alarm.arm(until)
            return False
        if session.inflight or session.queued:
            return False          # the timer comes again with their deadlines
        up.dtls_blocked_until = None
        out.append(Log(INFO, "%s: trying DNS over DTLS again" % up.name))
        return True

    def probe_due(self, up, now):
        """True if a quiet DTLS session is due a probe (the caller sends a tiny query)."""
        due = self.dtls.probe_at(up.session)
        if due is None:
            return False
        if now < due:
            self.alarm.arm(due)
            return False
        return True

    # ---- truncated answers, over TLS beside DTLS -------------------------------------

    def truncated_over_dtls(self, up, pq, answer, now, out):
        """True if the truncated `answer` was asked again over TLS instead."""
        if not self.dtls.ask_again_over_tls(up, pq, answer):
            return False
        up.count("truncated_over_dtls")
        pq.truncated = answer
        stream = up.stream
        if stream is None:
            stream = self.links.connect_side_tls(up, now, out)
        attempt = self.links.attach(pq, up, stream)
        if stream.state == session_state.OPEN:
            self.links.transmit(attempt, now, out)
        else:
            stream.queued.append(attempt)
        return True

    def stream_up(self, up, session, now, out):
        """`session` of `up` came up: if it is the TLS session beside DTLS, its queries go."""
        if session is not up.stream or session.state != session_state.HANDSHAKING:
            return
        session_state.move(session, session_state.UP)
        session.established_at = now
        session.last_activity = now
        queued, session.queued = session.queued, []
        for attempt in queued:
            if not attempt.pending.done:
                self.links.transmit(attempt, now, out)

    def stream_timer(self, up, now, out):
        """The TLS session beside DTLS has the same connect deadline as any
        session: on a TCP black hole its clients get the truncated answer then,
        not SERVFAIL at the query timeout."""
        stream = up.stream
        if stream is None or stream.state != session_state.HANDSHAKING:
            return
        if now < stream.connect_deadline:
            self.alarm.arm(stream.connect_deadline)
            return
        out.append(Close(stream.handle, "connect timeout", up.name))
        self.stream_lost(up, stream, "no TLS session within %d ms"
                         % self.config.connect_timeout_ms, out)

    def stream_lost(self, up, session, reason, out):
        """The TLS session beside DTLS failed: its clients get the truncated answers."""
        if session is not up.stream:
            return
        up.stream = None
        session_state.move(session, session_state.END)
        out.append(Log(INFO, "%s: TLS session for truncated answers ended: %s" % (up.name, reason)))
        for attempt in list(session.inflight.values()):
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            if not pq.done and not pq.attempts and pq.truncated is not None:
                self.clients.complete(pq, pq.truncated, out)
