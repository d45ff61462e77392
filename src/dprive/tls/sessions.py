"""TLS sessions kept for resumption, one per upstream identity.

A session (a TLS 1.2 ticket or session ID, a TLS 1.3 PSK ticket) is only ever
offered to the server it came from: the key is the upstream's identity
(address, port, auth name, pins), so a changed name or pin set starts afresh.
Each newer ticket replaces the older one. Sessions live in memory only.
"""


class SessionStore:
    def __init__(self):
        self._sessions = {}

    def get(self, identity):
        return self._sessions.get(identity)

    def offer(self, identity, session):
        """Keep `session` if it can resume (has a ticket or an ID) and is new."""
        if session is None or not (session.has_ticket or session.id):
            return False
        current = self._sessions.get(identity)
        if current is not None and current.id == session.id:
            return False
        self._sessions[identity] = session
        return True

    def size(self):
        return len(self._sessions)

    def keep_only(self, identities):
        """After a reload: the sessions of upstreams no longer configured go."""
        for identity in list(self._sessions):
            if identity not in identities:
                del self._sessions[identity]

    def forget(self, identity):
        self._sessions.pop(identity, None)
