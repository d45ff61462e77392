"""Which upstream a query goes to: a policy the Forwarder holds; it decides, it acts not.

Rules:
- A query goes to the usable upstream (enabled, not in BACKOFF) it has not
  tried, with the best preference (lowest smoothed RTT, stretched by recent
  timeouts and failures); one whose session died under this query comes
  last, so a replay goes to another server when there is one, else to a new
  session on the same.
- When none is left and the query has nothing in flight, it may retry early
  the failed upstream due soonest (the network may be back, a WAN up after
  boot, long before the backoff ends), at most once a second per upstream
  and never after an authentication failure: a bad certificate does not fix
  itself.
- Else it waits, rather than fail now, if an upstream is handshaking or will
  be retried before the query's deadline (a WAN blip, a burst of forged RSTs);
  if not, the client gets SERVFAIL.
"""

from dprive.core.actions import MAX_ATTEMPTS
from dprive.core.upstream_state import BACKOFF, handshaking


class Selection:
    def choose(self, upstreams, pq):
        """The usable upstream `pq` has not tried, best first; None if there is none."""
        best = None
        best_key = None
        for up in upstreams:
            if not up.usable() or up.key in pq.tried:
                continue
            key = (up.key in pq.lost_on, up.preference())
            if best is None or key < best_key:
                best, best_key = up, key
        return best

    def early_retry(self, upstreams, pq, now):
        """The failed upstream `pq` may try before its backoff ends, due soonest; or None."""
        best = None
        for up in upstreams:
            if up.key in pq.tried or not up.may_retry_early(now):
                continue
            if best is None or up.retry_at < best.retry_at:
                best = up
        return best

    def may_wait(self, upstreams, pq):
        """True if an upstream will be tried before `pq`'s deadline."""
        if pq.sent >= MAX_ATTEMPTS:
            return False
        for up in upstreams:
            if not up.enabled or up.auth_failed:
                continue
            if handshaking(up) or up.state == BACKOFF and up.retry_at < pq.deadline:
                return True
        return False
