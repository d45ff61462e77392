"""Deadlines by key, the earliest first: the handshakes' retransmission timers.

A heap with lazy deletion: `set` pushes a new entry and remembers it as the
key's, `discard` forgets the key; entries that are no longer their key's are
dropped when they reach the top. Each entry carries a sequence number, so
keys (sessions) are never compared, and equal times keep their order.

Portable (MicroPython): heapq only.
"""

import heapq


class Deadlines:
    def __init__(self):
        self.heap = []          # (when, seq, key)
        self.current = {}       # key -> (when, seq) of its live entry
        self.seq = 0

    def __len__(self):
        return len(self.current)

    def set(self, key, when):
        self.seq += 1
        self.current[key] = (when, self.seq)
        heapq.heappush(self.heap, (when, self.seq, key))

    def discard(self, key):
        self.current.pop(key, None)

    def _clean(self):
        heap = self.heap
        while heap:
            when, seq, key = heap[0]
            if self.current.get(key) == (when, seq):
                return
            heapq.heappop(heap)

    def first(self):
        """The earliest deadline, or None."""
        self._clean()
        return self.heap[0][0] if self.heap else None

    def pop_due(self, now):
        """The keys whose deadline is `now` or earlier, earliest first; each is forgotten."""
        due = []
        while True:
            self._clean()
            if not self.heap or self.heap[0][0] > now:
                return due
            key = heapq.heappop(self.heap)[2]
            del self.current[key]
            due.append(key)
