"""Extra TLS connections to an upstream under load: one round trip per query.

Why: a DoT server without TCP_NODELAY (unbound) sends each answer as a small
segment, and Nagle (Linux: Minshall's variant) holds a small segment while an
earlier small one is unacknowledged. When queries overlap on one connection,
the answer to the second waits for our ACK of the first: up to a round trip
more (bench/nagle_trace.py shows it on the wire). A query sent on a
connection with no unanswered query meets no Nagle: its segment acknowledges
every answer before it.

Rules (config `connections`: at most that many per upstream, the current
session included; 1: only the current session, as before):
- Only for an upstream OPEN on TLS (DTLS has no Nagle): a query goes on the
  current session if nothing is in flight there, else on the first extra
  connection with nothing in flight; if there is none, on the current
  session, and one more extra connection opens unless one
  is still handshaking or waiting for its tickets, or the limit is reached.
  The overflow goes to one session, not spread: an answer held there
  leaves with the others at the next ACK, while the extras stay free of
  held answers (spread over all, holds made every session busy longer, and
  at 4 connections for 5 needed the median was worse than with one).
- A new extra is used from one smoothed RTT after its handshake: the
  server's post-handshake tickets come then, and an answer sent before our
  ACK of them would be held by Nagle too.
- An extra with nothing in flight for EXTRA_IDLE_MS (or past the server's
  idle timeout) is closed: the load fell. A failed, silent or garbled one
  is closed; its queries go out again (on the current session); after a
  failed handshake, a reset or a close that was not graceful no extra opens
  for EXTRA_RETRY_MS.
- The current session keeps everything else: probes, keep-warm, recovery,
  the DTLS flows. A reconnect request or a reload that drops or changes the
  upstream closes its extras too.
"""

from dprive.core import session_state
from dprive.core.actions import INFO, Close, Log
from dprive.core.dtls_policy import TLS
from dprive.core.upstream import OPEN

EXTRA_IDLE_MS = 10000      # unused this long: the load fell
EXTRA_RETRY_MS = 30000     # after an extra's failed handshake


class Pool:
    def __init__(self, config, links, alarm):
        self.config = config
        self.links = links
        self.alarm = alarm
        self.queries = None          # Queries, once made: the queries of a lost extra go out again

    # ---- where a query goes ----------------------------------------------------

    def pick(self, up, now, out):
        """The session of OPEN `up` a new attempt goes on; may open one more extra."""
        primary = up.session
        if self.config.connections <= 1 or primary.transport != TLS or not primary.inflight:
            return primary
        ready = [s for s in up.extras if self._ready(up, s, now)]
        for session in ready:
            if not session.inflight:
                return session
        if len(ready) == len(up.extras):        # none handshaking or waiting for its tickets
            self._maybe_open(up, now, out)
        return primary

    def _ready(self, up, session, now):
        if session.state != session_state.OPEN:
            return False
        wait = up.rtt.srtt_ms or 0
        return now >= session.established_at + wait

    def _maybe_open(self, up, now, out):
        if len(up.extras) + 1 >= self.config.connections:
            return
        if up.extra_retry_at is not None and now < up.extra_retry_at:
            return
        self.links.connect_extra(up, now, out)

    # ---- events of an extra ----------------------------------------------------

    def up(self, up, session, now, info):
        session_state.move(session, session_state.UP)
        session.info = dict(info or {})
        session.established_at = now
        session.last_activity = now
        up.count("handshakes")

    def lost(self, up, session, reason, now, out, failed=False, rst=False):
        """An extra ended (closed, failed, reset by us): its queries go out again.
        `failed` (a handshake that failed, a reset, a silent or garbled one): counted
        with the upstream's failures, and no new extra for EXTRA_RETRY_MS, so a
        server that refuses them costs little; `rst`: it ended with a TCP RST."""
        if session not in up.extras:
            return
        up.extras.remove(session)
        if session.state != session_state.CLOSED:
            session_state.move(session, session_state.END)
        if rst:
            up.count("rsts")
        if failed:
            up.count("failures")
            up.extra_retry_at = now + EXTRA_RETRY_MS
            out.append(Log(INFO, "%s: extra connection lost: %s (none again for %d s)"
                           % (up.name, reason, EXTRA_RETRY_MS // 1000)))
        attempts = list(session.inflight.values())
        session.inflight = {}
        for attempt in attempts:
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            if pq.done or pq.attempts:
                continue
            # Not the upstream's fault as far as we know: the same upstream may have it again.
            pq.tried.pop(up.key, None)
            up.count("replays")
            self.queries.dispatch(pq, now, out)

    def reset(self, up, session, reason, now, out):
        """We end an extra (silent, broke the protocol)."""
        out.append(Close(session.handle, reason, up.name))
        self.lost(up, session, reason, now, out, True)

    def close_all(self, up, reason, now, out):
        """The upstream's sessions end for a reason not theirs (a reconnect, a reload)."""
        for session in list(up.extras):
            out.append(Close(session.handle, reason, up.name))
            self.lost(up, session, reason, now, out)

    def answered(self, up, session):
        """An answer came on an extra: when idle, arm its closing."""
        if not session.inflight:
            self.alarm.arm(self._idle_at(up, session))

    # ---- timers ------------------------------------------------------------------

    def timers(self, up, now, out):
        for session in list(up.extras):
            if session.state == session_state.HANDSHAKING:
                if now >= session.connect_deadline:
                    out.append(Close(session.handle, "connect timeout", up.name))
                    self.lost(up, session, "no TLS session within %d ms"
                              % self.config.connect_timeout_ms, now, out, True)
                else:
                    self.alarm.arm(session.connect_deadline)
            elif not session.inflight:
                due = self._idle_at(up, session)
                if up.state != OPEN or now >= due:
                    out.append(Close(session.handle, "load fell", up.name))
                    self.lost(up, session, "load fell", now, out)
                else:
                    self.alarm.arm(due)

    def _idle_at(self, up, session):
        due = session.last_activity + EXTRA_IDLE_MS
        expiry = session.idle_expiry(up.learned_idle_ms)
        return due if expiry is None else min(due, expiry)
