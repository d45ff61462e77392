"""The life of one client address (ip, port) at the gateway, as a table: the
only place a peer's state changes.

A peer holds at most two DTLS sessions: `live`, the one its answers go to,
and `pending`, a new handshake that will replace it (the client restarted,
or resumes at once after a quiet time; or someone spoofed its address).

    (none)       no state at all: the core holds no Peer for the address
    HANDSHAKING  live is handshaking, no pending
    ESTABLISHED  live is established, no pending
    REPLACING    live is established and answers; pending handshakes beside it

Rules:
- A ClientHello passes the cookie check and there is room (ACCEPT): none ->
  HANDSHAKING; ESTABLISHED -> REPLACING, the old session untouched.
- A handshake completes (DONE): HANDSHAKING -> ESTABLISHED; REPLACING ->
  ESTABLISHED, the new session becomes live and the old one is dropped
  (sessions_replaced). Only then: a spoofed ClientHello cannot cut a client off.
- The handshake of the new session fails or times out (NEW_LOST): REPLACING ->
  ESTABLISHED, the old session goes on.
- The live session ends while a new one handshakes (OLD_LOST): REPLACING ->
  HANDSHAKING, the new one alone, now live.
- The live session ends with nothing beside it (END): HANDSHAKING or
  ESTABLISHED -> none (failed, timed out, closed by the client, idle).
Any other move is a bug: `move` raises IllegalPeerMove and changes nothing.
The core keeps `live` and `pending` in step with the state.

Portable (MicroPython).
"""

HANDSHAKING = "handshaking"
ESTABLISHED = "established"
REPLACING = "replacing"
NONE = "none"           # the Peer is forgotten

STATES = (HANDSHAKING, ESTABLISHED, REPLACING, NONE)

ACCEPT = "accept"
DONE = "done"
NEW_LOST = "new_lost"
OLD_LOST = "old_lost"
END = "end"

TRANSITIONS = {
    (NONE, ACCEPT): HANDSHAKING,
    (ESTABLISHED, ACCEPT): REPLACING,
    (HANDSHAKING, DONE): ESTABLISHED,
    (REPLACING, DONE): ESTABLISHED,
    (REPLACING, NEW_LOST): ESTABLISHED,
    (REPLACING, OLD_LOST): HANDSHAKING,
    (HANDSHAKING, END): NONE,
    (ESTABLISHED, END): NONE,
}


class IllegalPeerMove(Exception):
    """An event that the peer's state does not allow: a bug in the core."""


class Peer:
    """What the gateway holds for one address."""

    def __init__(self, addr, listener):
        self.addr = addr
        self.listener = listener    # where its datagrams go out (the shell's object)
        self.live = None
        self.pending = None
        self.state = NONE


def move(peer, event):
    """Apply `event` to the peer's state per TRANSITIONS; returns the new state."""
    new = TRANSITIONS.get((peer.state, event))
    if new is None:
        raise IllegalPeerMove("%s:%d: %s while %s" % (peer.addr[0], peer.addr[1], event, peer.state))
    peer.state = new
    return new
