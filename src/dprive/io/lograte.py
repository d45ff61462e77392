"""Rate-limited logging: a flood of bad packets must not fill the router's log.

procd hands stderr to logd, whose ring buffer is small (64 KiB by default):
one line per bad datagram would push every useful line out within a second.
A filter on the root logger's handlers lets through, per kind of line (its
text with the numbers taken out, cut short), a burst of KEY_BURST lines and then
one every KEY_EVERY_S; all kinds together at most GLOBAL_PER_S a second (debug
lines on a budget of their own, so a debug flood cannot silence a warning).
Errors always pass.
What it held back is counted (`log_suppressed` in the status) and said in
the next line that passes: "(N lines held back by the log rate limit before it)".
"""

import logging
import re
import time

KEY_BURST = 5
KEY_EVERY_S = 10.0
GLOBAL_BURST = 50
GLOBAL_PER_S = 10.0
# Kinds remembered at once; the oldest is forgotten first (a name in the text
# could otherwise make every line a kind of its own).
MAX_KEYS = 256
KEY_CHARS = 48

_DIGITS = re.compile(r"\d+")


class _Bucket:
    __slots__ = ("tokens", "at", "rate", "burst")

    def __init__(self, burst, rate, now):
        self.tokens = float(burst)
        self.burst = burst
        self.rate = rate
        self.at = now

    def take(self, now):
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimit(logging.Filter):
    def __init__(self, clock=time.monotonic):
        super().__init__()
        self.clock = clock
        self.keys = {}               # kind -> _Bucket, oldest first
        self.debug_bucket = _Bucket(GLOBAL_BURST, GLOBAL_PER_S, clock())
        self.global_bucket = _Bucket(GLOBAL_BURST, GLOBAL_PER_S, clock())
        self.suppressed = 0          # since start
        self.unsaid = 0              # since the last line that passed

    def filter(self, record):
        if record.levelno >= logging.ERROR:
            return self._passed(record)
        now = self.clock()
        key = (record.levelno, _DIGITS.sub("#", str(record.msg))[:KEY_CHARS])
        bucket = self.keys.get(key)
        if bucket is None:
            bucket = self.keys[key] = _Bucket(KEY_BURST, 1.0 / KEY_EVERY_S, now)
            while len(self.keys) > MAX_KEYS:
                del self.keys[next(iter(self.keys))]
        overall = self.debug_bucket if record.levelno <= logging.DEBUG else self.global_bucket
        if bucket.take(now) and overall.take(now):
            return self._passed(record)
        self.suppressed += 1
        self.unsaid += 1
        return False

    def _passed(self, record):
        if self.unsaid:
            record.msg = "%s (%d lines held back by the log rate limit before it)" % (record.getMessage(), self.unsaid)
            record.args = None
            self.unsaid = 0
        return True


_installed = []


def install(handlers):
    """Put one RateLimit on every handler given (the daemon's stderr handler)."""
    limit = RateLimit()
    for handler in handlers:
        handler.addFilter(limit)
    _installed.append(limit)
    return limit


def suppressed_total():
    return sum(limit.suppressed for limit in _installed)


def keys_held():
    return sum(len(limit.keys) for limit in _installed)
