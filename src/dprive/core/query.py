"""A client's query while the forwarder works on it."""


class PendingQuery:
    def __init__(self, key, pending_key, query, udp, deadline):
        self.key = key                 # the shell's name for the client
        self.pending_key = pending_key # our name for it in Forwarder.pending
        self.query = query             # the ClientQuery
        self.udp = udp
        self.deadline = deadline
        self.attempts = []     # live Attempts
        self.tried = {}        # upstream index -> True
        self.lost_on = {}      # upstream index -> True once a session died under this query
        self.sent = 0
        self.done = False
        self.truncated = None  # a truncated DTLS answer, kept while it is asked again over TLS
