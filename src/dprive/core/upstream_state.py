"""The life of an upstream, as a table: the only place an upstream's state changes.

    IDLE        no session; the next query (or a background retry) connects
    CONNECTING  a handshake under way (TCP + TLS, or DTLS); queries queue on
                the session and go out when it is up
    OPEN        an authenticated session; queries go out at once
    REPLACING   OPEN, and a resumed DTLS session handshaking to replace it (an
                alert came, or the session was quiet too long): the old one is
                kept and still answers, since the alert was not authenticated;
                new queries queue on the new one
    BACKOFF     the last connect failed (or sessions kept dying young): not
                used until retry_at, then retried in the background; the delay
                doubles per failure, up to backoff_max_ms

Rules:
- A session comes up: CONNECTING or REPLACING -> OPEN (when replacing, the old
  session is closed, its duplicate attempts dropped).
- A handshake fails or times out: CONNECTING -> BACKOFF, unless DTLS is
  blocked on the path and TLS is allowed (FALL_BACK: -> IDLE, and at once a
  TLS connect); REPLACING -> OPEN (KEEP_OLD: a forged alert costs one
  handshake, never a query).
- The kept old session ends while its successor handshakes: REPLACING ->
  CONNECTING; nothing is lost, its queries are on the successor too.
- An open session ends (closed by the server, lost, reset by us, dropped on
  a reconnect, idle): -> IDLE, and usually at once CONNECTING again; a third
  young death in a row (forged RSTs?) goes on to BACKOFF instead.
- A query waiting with no usable upstream may pull one out of BACKOFF before
  its time (RETRY_EARLY, at most once a second, never after an
  authentication failure); the retry timer connects it (CONNECT).
- A reload that removes or disables an upstream with a session: -> IDLE.
  One it disables in BACKOFF: -> IDLE too (DISABLE), its retry dropped, since
  a disabled upstream opens no session; enabled again, it connects at once.
Any other move is a bug: `move` raises IllegalUpstreamMove.
"""

IDLE = "idle"
CONNECTING = "connecting"
OPEN = "open"
REPLACING = "replacing"
BACKOFF = "backoff"

STATES = (IDLE, CONNECTING, OPEN, REPLACING, BACKOFF)

# Events
CONNECT = "connect"
UP = "up"
FAIL = "fail"
FALL_BACK = "fall_back"
REPLACE = "replace"
KEEP_OLD = "keep_old"
OLD_LOST = "old_lost"
END = "end"
BACK_OFF = "back_off"
RETRY_EARLY = "retry_early"
DISABLE = "disable"

TRANSITIONS = {
    (IDLE, CONNECT): CONNECTING,
    (BACKOFF, CONNECT): CONNECTING,
    (CONNECTING, UP): OPEN,
    (REPLACING, UP): OPEN,
    (CONNECTING, FAIL): BACKOFF,
    (CONNECTING, FALL_BACK): IDLE,
    (REPLACING, KEEP_OLD): OPEN,
    (OPEN, REPLACE): REPLACING,
    (REPLACING, OLD_LOST): CONNECTING,
    (OPEN, END): IDLE,
    (CONNECTING, END): IDLE,
    (REPLACING, END): IDLE,
    (IDLE, BACK_OFF): BACKOFF,
    (BACKOFF, RETRY_EARLY): IDLE,
    (BACKOFF, DISABLE): IDLE,
}


class IllegalUpstreamMove(Exception):
    """An event that the upstream's state does not allow: a bug in the core."""


def start(up):
    """A new upstream starts IDLE."""
    up.state = IDLE


def move(up, event):
    """Apply `event` to `up`'s state per TRANSITIONS; returns the new state."""
    new = TRANSITIONS.get((up.state, event))
    if new is None:
        raise IllegalUpstreamMove("%s: %s while %s" % (up.name, event, up.state))
    up.state = new
    return new


def handshaking(up):
    """A handshake of the upstream's current session is under way."""
    return up.state == CONNECTING or up.state == REPLACING
