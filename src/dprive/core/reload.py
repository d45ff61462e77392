"""A new configuration for a running Forwarder, keeping what did not change.

Plain functions over the parts they are handed. A new upstream continues the
old one with the same key (the stable key the shell gives each upstream: for
the daemon its identity, address, port, auth name, pins and transports); the
core matches them itself. Kept upstreams keep their sessions, RTT and
counters, and take the new settings (name, enabled, probe idle time,
transports); the sessions of the others are closed and their queries in
flight sent again on the new set. Queries remember upstreams by key, so
nothing needs moving along. The list of upstreams is changed in place: every
part holds that same list.

Rules:
- removed or disabled: every session of it is closed; its queries go
  elsewhere, but those asked again over the TLS session beside DTLS get
  their truncated answers (as when that session fails). A disabled one in
  BACKOFF drops its retry: a disabled upstream opens no session.
- kept, its transports changed: a session on a transport no longer allowed ends
  as if we dropped it (Sessions.drop_session: its queries go out again, on
  a new session to it or elsewhere) and a new one opens at once; the TLS
  session beside DTLS, when TLS is no longer allowed, hands its clients
  their truncated answers. The daemon's keys name the transports, so it
  never keeps such an upstream, but the core does not count on that.
"""

from dprive.core import session_state, upstream_state
from dprive.core.actions import INFO, Close, Log
from dprive.core.upstream import BACKOFF, IDLE


def reconfigure(upstreams, fresh, queries, sessions, links, now, out):
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
        known.transports = up.transports
        new.append(known)
    upstreams[:] = new
    gone = [up for up in old if up not in new]
    for up in gone:
        retire_upstream(up, "%s removed from the configuration" % up.name, queries, sessions, now, out)
    for up in new:
        if not up.enabled:
            retire_upstream(up, "disabled", queries, sessions, now, out)
            if up.state == BACKOFF:
                upstream_state.move(up, upstream_state.DISABLE)
            continue
        end_disallowed(up, sessions, now, out)
        if up.state == IDLE and up.session is None:
            links.connect(up, now, out)
    out.append(Log(INFO, "configuration reloaded: %d upstreams kept with their sessions, "
                   "%d new, %d removed" % (kept, len(new) - kept, len(gone))))


def end_disallowed(up, sessions, now, out):
    """End the sessions of `up` on a transport it no longer allows (the caller connects)."""
    stream = up.stream
    if stream is not None and stream.transport not in up.transports:
        sessions.end_stream(up, "%s no longer allowed" % stream.transport.upper(), out)
    session = up.session
    if session is not None and session.transport not in up.transports:
        reason = "%s no longer allowed" % session.transport.upper()
        out.append(Log(INFO, "%s: %s; a new session" % (up.name, reason)))
        sessions.drop_session(up, reason, now, out)


def retire_upstream(up, reason, queries, sessions, now, out):
    """Close every session of an upstream that left (or was disabled); replay its queries
    (its extras' last: by then it takes no query)."""
    _retire_sessions(up, reason, queries, sessions, now, out)
    sessions.pool.close_all(up, reason, now, out)


def _retire_sessions(up, reason, queries, sessions, now, out):
    old = up.previous
    if old is not None:
        out.append(Close(old.handle, reason, up.name))
        session_state.move(old, session_state.END)
        up.previous = None
    if up.stream is not None:
        sessions.end_stream(up, reason, out)   # its clients get their truncated answers
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
