"""A new configuration for a running Forwarder, keeping what did not change.

Plain functions over the parts they are handed. A new upstream continues the
old one with the same key (the stable key the shell gives each upstream: for
the daemon its identity, address, port, auth name, pins and transports); the
core matches them itself. Kept upstreams keep their sessions, RTT and
counters; the sessions of the others are closed and their queries in flight
sent again on the new set. Queries remember upstreams by key, so nothing
needs moving along. The list of upstreams is changed in place: every part
holds that same list.
"""

from dprive.core import session_state, upstream_state
from dprive.core.actions import INFO, Close, Log
from dprive.core.upstream import IDLE


def reconfigure(upstreams, fresh, queries, links, now, out):
    """Make `upstreams` the `fresh` set (from make_upstreams), keeping the old upstream
    of each key; the config is already the new one everywhere."""
    old = list(upstreams)
    by_key = dict((up.key, up) for up in old)
    new = []
    kept = 0
    for up in fresh:
        known = by_key.pop(up.key, None)
        if known is None:
            new.append(up)
            continue
        kept += 1
        known.index, known.name, known.enabled = up.index, up.name, up.enabled
        known.probe_idle_ms = up.probe_idle_ms
        new.append(known)
    upstreams[:] = new
    gone = [up for up in old if up not in new]
    for up in gone:
        retire_upstream(up, "%s removed from the configuration" % up.name, queries, now, out)
    for up in new:
        if not up.enabled and up.session is not None:
            retire_upstream(up, "disabled", queries, now, out)
        elif up.enabled and up.state == IDLE and up.session is None:
            links.connect(up, now, out)
    out.append(Log(INFO, "configuration reloaded: %d upstreams kept with their sessions, "
                   "%d new, %d removed" % (kept, len(new) - kept, len(gone))))


def retire_upstream(up, reason, queries, now, out):
    """Close every session of an upstream that left (or was disabled); replay its queries."""
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
    for attempt in list(session.inflight.values()):
        pq = attempt.pending
        if attempt in pq.attempts:
            pq.attempts.remove(attempt)
        if not pq.done and not pq.attempts:
            queries.dispatch(pq, now, out)
