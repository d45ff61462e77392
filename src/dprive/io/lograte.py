"""Rate-limited logging: a flood of bad packets must not fill the router's log.

procd hands stderr to logd, whose ring buffer is small (64 KiB by default):
one line per bad datagram would push every useful line out within a second.
dprive/log.py asks a RateLimit before it writes a line; it lets through, per
kind of line (its format string with the numbers taken out, cut short), a burst of KEY_BURST lines and then
one every KEY_EVERY_S; all kinds together at most GLOBAL_PER_S a second (debug
lines on a budget of their own, so a debug flood cannot silence a warning).
Errors always pass.
What it held back is counted (`log_suppressed` in the status) and said in
the next line that passes: "(N lines held back by the log rate limit before it)".
"""

import time

# dprive/log.py's levels (logging's numbers), not imported: log.py imports this module.
DEBUG = 10
ERROR = 40

KEY_BURST = 5
KEY_EVERY_S = 10.0
GLOBAL_BURST = 50
GLOBAL_PER_S = 10.0
# Kinds remembered at once; the oldest is forgotten first (a name in the text
# could otherwise make every line a kind of its own).
MAX_KEYS = 256
KEY_CHARS = 48



def kind_of(text):
    """`text` with each run of digits made one "#", cut to KEY_CHARS (as re.sub of r"\\d+" by "#"
    would, without importing re for it)."""
    out = []
    in_digits = False
    for ch in text:
        if ch.isdecimal():
            if not in_digits:
                out.append("#")
            in_digits = True
        else:
            out.append(ch)
            in_digits = False
        if len(out) >= KEY_CHARS:
            break
    return "".join(out)


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


class RateLimit:
    """Consulted by dprive/log.py for each line it is about to write."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.keys = {}               # kind -> _Bucket, oldest first
        self.debug_bucket = _Bucket(GLOBAL_BURST, GLOBAL_PER_S, clock())
        self.global_bucket = _Bucket(GLOBAL_BURST, GLOBAL_PER_S, clock())
        self.suppressed = 0          # since start
        self.unsaid = 0              # since the last line that passed

    def admit(self, level, fmt):
        """None to hold the line back, else what to add to it ("" or the count held back)."""
        if level >= ERROR:
            return self._passed()
        now = self.clock()
        key = (level, kind_of(str(fmt)))
        bucket = self.keys.get(key)
        if bucket is None:
            bucket = self.keys[key] = _Bucket(KEY_BURST, 1.0 / KEY_EVERY_S, now)
            while len(self.keys) > MAX_KEYS:
                del self.keys[next(iter(self.keys))]
        overall = self.debug_bucket if level <= DEBUG else self.global_bucket
        if bucket.take(now) and overall.take(now):
            return self._passed()
        self.suppressed += 1
        self.unsaid += 1
        return None

    def _passed(self):
        if self.unsaid:
            unsaid, self.unsaid = self.unsaid, 0
            return " (%d lines held back by the log rate limit before it)" % unsaid
        return ""


_installed = []


def install():
    """A new RateLimit, counted in the status (dprive/log.py setup() consults it)."""
    limit = RateLimit()
    _installed.append(limit)
    return limit


def suppressed_total():
    return sum(limit.suppressed for limit in _installed)


def keys_held():
    return sum(len(limit.keys) for limit in _installed)
