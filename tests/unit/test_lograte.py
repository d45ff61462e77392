"""io/lograte.py: the rate limit on log lines, with a fake clock."""

import logging

from dprive.io import lograte


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _record(msg, level=logging.WARNING, args=()):
    return logging.LogRecord("dprive", level, __file__, 1, msg, args, None)


def test_a_flood_of_one_kind_passes_a_burst_then_one_per_interval():
    clock = Clock()
    limit = lograte.RateLimit(clock)
    passed = sum(limit.filter(_record("dropped a client message: %d" % i)) for i in range(1000))
    assert passed == lograte.KEY_BURST
    assert limit.suppressed == 1000 - lograte.KEY_BURST
    clock.now += lograte.KEY_EVERY_S
    record = _record("dropped a client message: 7")
    assert limit.filter(record)
    assert "%d lines held back" % (1000 - lograte.KEY_BURST) in record.getMessage()


def test_a_debug_flood_does_not_silence_a_warning():
    clock = Clock()
    limit = lograte.RateLimit(clock)
    for i in range(5000):
        limit.filter(_record("line of kind %s" % chr(65 + i % 50) * 3, logging.DEBUG))
    assert limit.filter(_record("upstream: session lost: %s", args=("RST",)))


def test_errors_always_pass_and_kinds_stay_bounded():
    clock = Clock()
    limit = lograte.RateLimit(clock)
    for i in range(2000):
        name = "".join(chr(97 + (i >> shift) % 26) for shift in (0, 5, 10))   # no digits: each a kind
        limit.filter(_record("SERVFAIL for %s.test" % name, logging.INFO))
    assert len(limit.keys) <= lograte.MAX_KEYS
    assert all(limit.filter(_record("fatal %d" % i, logging.ERROR)) for i in range(100))
