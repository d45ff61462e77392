"""A new configuration for a running Forwarder, keeping what did not change.

A mixin of Forwarder. A new upstream continues the old one with the same key
(the stable key the shell gives each upstream: for the daemon its identity,
address, port, auth name, pins and transports); the core matches them
itself. Kept upstreams keep their sessions, RTT and counters; the sessions of
the others are closed and their queries in flight sent again on the new set.
Queries remember upstreams by key, so nothing needs moving along.
"""

from dprive.core import session_state, upstream_state
from dprive.core.actions import INFO, Close, Log
from dprive.core.upstream import IDLE, make_upstreams


class Reload:
    def reconfigure(self, config, names, now, enabled=None, probe_idle_ms=None,
                    transports=None, keys=None):
        """Returns the actions: closes, connects, one log line."""
        out = []
        old = self.upstreams
        by_key = dict((up.key, up) for up in old)
        new = []
        kept = 0
        for fresh in make_upstreams(names, enabled, probe_idle_ms, transports, keys):
            up = by_key.pop(fresh.key, None)
            if up is None:
                new.append(fresh)
                continue
            kept += 1
            up.index, up.name, up.enabled = fresh.index, fresh.name, fresh.enabled
            up.probe_idle_ms = fresh.probe_idle_ms
            new.append(up)
        self.config = config
        self.resumption.config = self.dtls.config = config
        self.upstreams = new
        gone = [up for up in old if up not in new]
        for up in gone:
            self._retire_upstream(up, now, out)
        for up in new:
            if not up.enabled and up.session is not None:
                self._retire_upstream(up, now, out)
            elif up.enabled and up.state == IDLE and up.session is None:
                self._connect(up, now, out)
        out.append(Log(INFO, "configuration reloaded: %d upstreams kept with their sessions, "
                       "%d new, %d removed" % (kept, len(new) - kept, len(gone))))
        return out

    def _retire_upstream(self, up, now, out):
        """Close every session of an upstream that left (or was disabled); replay its queries."""
        reason = "disabled" if up in self.upstreams else "%s removed from the configuration" % up.name
        for session in (up.previous, up.stream):
            if session is not None:
                out.append(Close(session.handle, reason, up.name))
                session_state.move(session, session_state.END)
        up.previous = up.stream = None
        session = up.session
        if session is None:
            return
        out.append(Close(session.handle, reason, up.name))
        up.session = None
        session_state.move(session, session_state.END)
        upstream_state.move(up, upstream_state.END)
        attempts = list(session.inflight.values())
        for attempt in attempts:
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            if not pq.done and not pq.attempts:
                self._dispatch(pq, now, out)
