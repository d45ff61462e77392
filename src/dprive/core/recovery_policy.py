"""How a session end is read, and what each loss cost: a policy the Forwarder
holds (core/sessions.py acts on it). It emits no action.

How a session end is read:
- graceful (close_notify or FIN) while idle, at about the server's idle
  timeout (announced, or learned from an earlier close): the server's normal
  housekeeping. Nothing is done; the next query reconnects (TFO + resumption).
- graceful at any other time (a restart): counted as a server close, and a new
  session is opened at once so the next query costs one round trip.
- not graceful (RST, TCP_USER_TIMEOUT, keepalive probes unanswered, garbage):
  a failure; its queries are replayed and a new session is opened at once,
  before any query needs it, unless sessions keep dying young (a burst of
  forged RSTs), in which case the upstream backs off.
Each loss becomes a recovery record: its cause, the handshake that followed,
and what it cost the first query it touched, in round trips.
"""

from dprive.core.upstream import YOUNG_LOSSES_BEFORE_BACKOFF, YOUNG_SESSION_MS

# A close this close to the idle timeout (as a fraction of it) is the server's housekeeping.
IDLE_CLOSE_SLACK = 0.8
# The smallest quiet time worth learning as a server's idle timeout.
MIN_LEARNED_IDLE_MS = 1000


class RecoveryPolicy:
    def is_idle_close(self, up, session, quiet_ms):
        """A graceful end after `quiet_ms` of quiet: the server's idle timeout?"""
        idle_ms = session.server_idle_ms if session.server_idle_ms is not None else up.learned_idle_ms
        return idle_ms is not None and quiet_ms >= idle_ms * IDLE_CLOSE_SLACK

    def learn_idle(self, up, session, quiet_ms):
        """A graceful end of a quiet session whose server announced no idle timeout:
        how long it let the session live is its idle timeout, next time."""
        if session.server_idle_ms is None and quiet_ms >= MIN_LEARNED_IDLE_MS:
            up.learned_idle_ms = int(quiet_ms)

    def dying_young(self, up, session, now):
        """A failed session: True if enough died young in a row to back off."""
        if session.established_at is not None and now - session.established_at < YOUNG_SESSION_MS:
            up.young_losses += 1
        else:
            up.young_losses = 1
        return up.young_losses >= YOUNG_LOSSES_BEFORE_BACKOFF

    def record(self, session, reason, kind, busy, now):
        """A new recovery record for the loss of `session`, `busy` queries in flight."""
        sent = [a.sent_at for a in session.inflight.values() if a.sent_at is not None]
        return {
            "cause": reason,
            "kind": kind or "other",
            "at_ms": round(now, 1),
            "affected": busy,
            "first_sent_at": min(sent) if sent else now,
        }

    def handshake_done(self, up, info, handshake_ms):
        """The session after a loss is up: note its handshake; a loss found while
        quiet is complete now (no query paid for it)."""
        rec = up.pending_recovery
        if rec is None:
            return
        rec["handshake_ms"] = round(handshake_ms, 1)
        rec["tfo"] = bool(info.get("tfo"))
        rec["resumed"] = bool(info.get("resumed"))
        srtt = up.rtt.srtt_ms
        rec["handshake_rtts"] = None if not srtt else round(handshake_ms / srtt, 1)
        if not rec["affected"]:
            del rec["first_sent_at"]
            rec["query_rtts"] = 0
            up.record_recovery(rec)
            up.pending_recovery = None

    def answered(self, up, now):
        """The first answer after a loss that had queries in flight: what did it cost?"""
        rec = up.pending_recovery
        if rec is None:
            return
        up.pending_recovery = None
        cost_ms = now - rec.pop("first_sent_at")
        rec["query_ms"] = round(cost_ms, 1)
        srtt = up.rtt.srtt_ms
        rec["query_rtts"] = None if not srtt else int(cost_ms / srtt + 0.5)
        up.record_recovery(rec)
