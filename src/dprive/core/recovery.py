"""How the forwarder recovers: timeouts, lost sessions, failed connects, backoff.

A mixin of Forwarder (core/forwarder.py), kept apart because it is the part
that grows with each recovery flow of the draft. Every method takes `now` and
appends actions to `out`, like the rest of the core.
"""

from dprive.core.actions import CLOSE, INFO, LOG, MAX_ATTEMPTS, WARNING
from dprive.core.upstream import BACKOFF, CONNECTING, IDLE, OPEN


class Recovery:
    def _early_retry(self, pq, now, out):
        """No upstream is usable: rather than SERVFAIL, retry the failed one due soonest.

        The network may be back (WAN up after boot, a PPPoE reconnect) long
        before the backoff ends. Authentication failures are not retried early.
        """
        best = None
        for up in self.upstreams:
            if up.index in pq.tried or not up.may_retry_early(now):
                continue
            if best is None or up.retry_at < best.retry_at:
                best = up
        if best is not None:
            out.append((LOG, INFO, "%s: trying again early, a query is waiting and no upstream is usable"
                        % best.name))
            best.state = IDLE
        return best

    def _attempt_timed_out(self, attempt, now, out):
        attempt.timed_out = True
        up = attempt.upstream
        up.count("timeouts")
        up.rtt.timed_out()
        session = attempt.session
        heard = session.last_answer_at
        if session is up.session and (heard is None or heard <= attempt.sent_at):
            # Nothing came back on this connection since the query left: presume it dead.
            self._reset(up, "no answer within %d ms" % (now - attempt.sent_at), now, out)
            return
        # The connection is alive and the server is slow: ask elsewhere too, keep waiting here.
        pq = attempt.pending
        if self._choose(pq) is not None and pq.sent < MAX_ATTEMPTS:
            self._dispatch(pq, now, out)

    def _protocol_violation(self, up, reason, now, out):
        """The upstream sent something no DNS server should: reset the session.

        Like any lost session this stretches its preference, so the queries in
        flight are retried elsewhere when another upstream is usable, and on a
        new session to the same one when it is the only one.
        """
        self._reset(up, reason, now, out)

    def _reset(self, up, reason, now, out):
        out.append((CLOSE, up.index, up.session.gen, reason))
        self._end_session(up, reason, False, now, out)

    def _connect_failed(self, up, reason, now, out, auth_failure=False):
        session = up.session
        up.session = None
        up.auth_failed = auth_failure
        up.count("failures")
        up.last_close_reason = reason
        up.back_off(now, self.config.backoff_max_ms)
        self._arm(up.retry_at)
        out.append((LOG, WARNING, "%s: connection failed: %s (next try in %d ms)"
                    % (up.name, reason, up.retry_at - now)))
        self._resend(session, up, False, now, out)

    def _end_session(self, up, reason, graceful, now, out):
        """An established session is over; its queries go out again, none is lost."""
        session = up.session
        up.session = None
        up.state = IDLE
        up.last_close_reason = reason
        if graceful:
            up.count("graceful_closes")
            out.append((LOG, INFO, "%s: session closed: %s" % (up.name, reason)))
        else:
            up.count("failures")
            # Until it answers again, prefer the others a little (as after a timeout).
            up.rtt.timed_out()
            out.append((LOG, WARNING, "%s: session lost: %s (%d queries in flight sent again)"
                        % (up.name, reason, len(session.inflight))))
        # A lost session is no reason to avoid its server: it may be tried again at once.
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
                pq.tried.pop(up.index, None)
            pq.lost_on[up.index] = True
            if not pq.attempts:
                self._dispatch(pq, now, out)

    def _upstream_timers(self, up, now, out):
        if up.state == CONNECTING:
            if now >= up.connect_deadline:
                gen = up.session.gen
                out.append((CLOSE, up.index, gen, "connect timeout"))
                self._connect_failed(up, "no TLS session within %d ms" % self.config.connect_timeout_ms,
                                     now, out)
            else:
                self._arm(up.connect_deadline)
        elif up.state == BACKOFF:
            if now >= up.retry_at:
                out.append((LOG, INFO, "%s: trying again after %d failures"
                            % (up.name, up.consecutive_failures)))
                self._connect(up, now, out)
            else:
                self._arm(up.retry_at)
        elif up.state == OPEN:
            expiry = up.session.idle_expiry()
            if expiry is None:
                return
            if now >= expiry:
                gen = up.session.gen
                out.append((CLOSE, up.index, gen, "server idle timeout"))
                self._end_session(up, "idle past the server's %d ms keepalive"
                                  % up.session.server_idle_ms, True, now, out)
            else:
                self._arm(expiry)
