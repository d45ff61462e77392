"""The life of one session (one TLS or DTLS connection), as a table: the only
place a session's state changes.

    HANDSHAKING  the Connect went out; up by `connect_deadline`, or given up
    OPEN         the handshake completed; messages flow
    CLOSED       over (closed, lost, failed, given up or replaced); the core
                 holds it no more, and a late event for its handle is ignored

Every session has this life, whatever its role: an upstream's current
session, the old one kept while a resumed one replaces it (upstream state
REPLACING), and the TLS session kept beside a DTLS one for answers that came
back truncated. The last has its own connect deadline: on a TCP black hole
its clients get the truncated answer then, not SERVFAIL at the query timeout.

Rules: HANDSHAKING -> OPEN (UP) or CLOSED (END); OPEN -> CLOSED (END).
Nothing leaves CLOSED; any other move raises IllegalSessionMove.
"""

HANDSHAKING = "handshaking"
OPEN = "open"
CLOSED = "closed"

UP = "up"
END = "end"

TRANSITIONS = {
    (HANDSHAKING, UP): OPEN,
    (HANDSHAKING, END): CLOSED,
    (OPEN, END): CLOSED,
}


class IllegalSessionMove(Exception):
    """An event that the session's state does not allow: a bug in the core."""


def start(session, deadline):
    """A new session handshakes until `deadline`."""
    session.state = HANDSHAKING
    session.connect_deadline = deadline


def move(session, event):
    """Apply `event` to the session's state per TRANSITIONS; returns the new state."""
    new = TRANSITIONS.get((session.state, event))
    if new is None:
        raise IllegalSessionMove("session %r: %s while %s" % (session.handle, event, session.state))
    session.state = new
    if new != HANDSHAKING:
        session.connect_deadline = None
    return new
