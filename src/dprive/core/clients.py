"""What the forwarder owes its clients: the queries it works on, and their end.

Holds the pending table (every client query not yet answered, and our own
keep-warm and probe queries, which have no client), the waiting list (queries
with no usable upstream, waiting for one to come back) and the global
counters. A query ends here and only here, once: an answer (cut to fit a UDP
client) or SERVFAIL; either retires its other attempts, so a late answer to
one is known for what it is. Our own queries end silently.
"""

from dprive.core import wire
from dprive.core.actions import DEBUG, Log, Reply
from dprive.core.query import PendingQuery

GLOBAL_COUNTERS = ("queries", "answers", "servfail", "formerr", "notimp", "dropped",
                   "truncated", "overload", "retries")


class Clients:
    def __init__(self):
        self.pending = {}        # pending_key -> PendingQuery
        self.waiting = []        # PendingQueries with no usable upstream, waiting for a retry
        self._next_key = 0
        self.counters = {}
        for name in GLOBAL_COUNTERS:
            self.counters[name] = 0

    def add(self, key, query, udp, deadline):
        """A new PendingQuery for client `key` (None: one of our own)."""
        self._next_key += 1
        pq = PendingQuery(key, self._next_key, query, udp, deadline)
        self.pending[self._next_key] = pq
        return pq

    def take_waiting(self):
        """The waiting queries, in order; the list is empty after (and the same list)."""
        waiting = list(self.waiting)
        del self.waiting[:]
        return waiting

    def complete(self, pq, msg, out):
        self.finish(pq)
        if pq.key is None:
            return   # our own keep-warm query
        if pq.udp and len(msg) > pq.query.udp_limit:
            # what message.fit_for_udp does, without its tuple
            msg = wire.truncate(msg, pq.query.udp_limit)
            self.counters["truncated"] += 1
        self.counters["answers"] += 1
        out.append(Reply(pq.key, msg))

    def servfail(self, pq, reason, out):
        self.finish(pq)
        if pq.key is None:
            return
        self.counters["servfail"] += 1
        out.append(Log(DEBUG, "SERVFAIL for %s: %s" % (wire.name_to_text(pq.query.question.name), reason)))
        out.append(Reply(pq.key, wire.make_error(pq.query.msg, wire.RCODE_SERVFAIL)))

    def finish(self, pq):
        pq.done = True
        self.pending.pop(pq.pending_key, None)
        if self.waiting and pq in self.waiting:
            self.waiting.remove(pq)
        for attempt in pq.attempts:
            session = attempt.session
            if attempt in session.queued:
                session.queued.remove(attempt)
            session.retire(attempt)
        pq.attempts = []
