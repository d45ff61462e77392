"""A new configuration for a running Forwarder, keeping what did not change.

A mixin of Forwarder. The shell decides which new upstream is an old one (the
same identity: address, port, auth name, pins, transports) and passes `keep`:
for each new upstream, the index of the old one it continues, or None. Kept
upstreams keep their sessions, RTT and counters; the sessions of the others
are closed and their queries in flight sent again on the new set. Upstream
indexes may change: the mapping old -> new is returned so the shell can
follow, and every index held by a waiting query is moved along.
"""

from dprive.core.actions import CLOSE, INFO, LOG
from dprive.core.upstream import IDLE, Upstream


class Reload:
    def reconfigure(self, config, names, keep, now, enabled=None, probe_idle_ms=None,
                    transports=None):
        """Returns (actions, {old index: new index} of the kept upstreams)."""
        out = []
        old = self.upstreams
        moved = {}
        new = []
        for index, name in enumerate(names):
            on = True if enabled is None else enabled[index]
            probe = None if probe_idle_ms is None else probe_idle_ms[index]
            kinds = ("tls",) if transports is None else transports[index]
            source = keep[index]
            if source is None:
                new.append(Upstream(index, name, on, probe, kinds))
                continue
            up = old[source]
            moved[source] = index
            up.index, up.name, up.enabled, up.probe_idle_ms = index, name, on, probe
            new.append(up)
        self.config = config
        self.upstreams = new
        self._move_indexes(moved)
        gone = [up for i, up in enumerate(old) if i not in moved]
        for up in gone:
            self._retire_upstream(up, now, out)
        for up in new:
            if not up.enabled and up.session is not None:
                self._retire_upstream(up, now, out)
            elif up.enabled and up.state == IDLE and up.session is None:
                self._connect(up, now, out)
        out.append((LOG, INFO, "configuration reloaded: %d upstreams kept with their sessions, "
                    "%d new, %d removed" % (len(moved), len(new) - len(moved), len(gone))))
        return out, moved

    def _move_indexes(self, moved):
        for pq in list(self.pending.values()):
            pq.tried = dict((moved[i], True) for i in pq.tried if i in moved)
            pq.lost_on = dict((moved[i], True) for i in pq.lost_on if i in moved)

    def _retire_upstream(self, up, now, out):
        """Close every session of an upstream that left (or was disabled); replay its queries.
        One that left has no index in the new list: its CLOSE says None, and its name
        is in the reason (the shell already holds the new list)."""
        index = up.index if up in self.upstreams else None
        reason = "%s removed from the configuration" % up.name if index is None else "disabled"
        for session in (up.previous, up.stream):
            if session is not None:
                out.append((CLOSE, index, session.gen, reason))
        up.previous = up.stream = None
        session = up.session
        if session is None:
            return
        out.append((CLOSE, index, session.gen, reason))
        up.session = None
        up.state = IDLE
        attempts = list(session.inflight.values())
        for attempt in attempts:
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            if not pq.done and not pq.attempts:
                self._dispatch(pq, now, out)
