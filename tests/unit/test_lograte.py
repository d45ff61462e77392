"""io/lograte.py: the rate limit on log lines, with a fake clock; and dprive/log.py's use of it."""

import io
import re

from dprive import log as dlog
from dprive.io import lograte


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _passes(limit, fmt, level=dlog.WARNING):
    return limit.admit(level, fmt) is not None


def test_a_flood_of_one_kind_passes_a_burst_then_one_per_interval():
    clock = Clock()
    limit = lograte.RateLimit(clock)
    passed = sum(_passes(limit, "dropped a client message: %d" % i) for i in range(1000))
    assert passed == lograte.KEY_BURST
    assert limit.suppressed == 1000 - lograte.KEY_BURST
    clock.now += lograte.KEY_EVERY_S
    suffix = limit.admit(dlog.WARNING, "dropped a client message: 7")
    assert "%d lines held back" % (1000 - lograte.KEY_BURST) in suffix
    assert limit.admit(dlog.ERROR, "then an error") == "", "the count is said once"


def test_a_debug_flood_does_not_silence_a_warning():
    clock = Clock()
    limit = lograte.RateLimit(clock)
    for i in range(5000):
        limit.admit(dlog.DEBUG, "line of kind %s" % chr(65 + i % 50) * 3)
    assert _passes(limit, "upstream: session lost: %s")


def test_errors_always_pass_and_kinds_stay_bounded():
    clock = Clock()
    limit = lograte.RateLimit(clock)
    for i in range(2000):
        name = "".join(chr(97 + (i >> shift) % 26) for shift in (0, 5, 10))   # no digits: each a kind
        limit.admit(dlog.INFO, "SERVFAIL for %s.test" % name)
    assert len(limit.keys) <= lograte.MAX_KEYS
    assert all(_passes(limit, "fatal %d" % i, dlog.ERROR) for i in range(100))


def test_a_kind_is_the_text_with_digit_runs_as_one_mark_as_re_would_make_it():
    for text in ("", "12", "a1b22c333", "port %d on 10.0.0.1:853", "x" * 60 + "1", "١٢ arabic digits",
                 "9" * 100, "q%d.test took %.1f ms" % (17, 3.25)):
        assert lograte.kind_of(text) == re.sub(r"\d+", "#", text)[:lograte.KEY_CHARS], text


def test_the_logger_writes_logging_s_line_and_holds_a_flood_back():
    out = io.StringIO()
    limit = dlog.setup("info", stream=out)
    try:
        log = dlog.getLogger("dprive")
        log.debug("not at info: %s", "hidden")
        for i in range(lograte.KEY_BURST + 3):
            log.warning("bad packet from %s port %d", "192.0.2.1", i)
        limit.clock = lambda: 1e9     # long after: the next line passes and says the count
        log.warning("bad packet from %s port %d", "192.0.2.1", 99)
        try:
            raise KeyError("boom")
        except KeyError:
            log.exception("internal error on %s", "a test")
    finally:
        dlog.setup("warning", rate_limit=False)
    lines = out.getvalue().splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING bad packet from 192\.0\.2\.1 port 0$",
                    lines[0]), lines[0]
    assert "hidden" not in out.getvalue()
    assert sum("bad packet" in line for line in lines) == lograte.KEY_BURST + 1
    assert lines[lograte.KEY_BURST].endswith("port 99 (3 lines held back by the log rate limit before it)")
    assert " ERROR internal error on a test" in out.getvalue()
    assert lines[-1] == "KeyError: 'boom'", "the traceback follows the line"


def test_capture_sees_lines_at_its_level_and_restores_the_level():
    log = dlog.getLogger("dprive")
    with dlog.capture(dlog.INFO) as out:
        log.info("one %d", 1)
        log.debug("two")
        assert log.isEnabledFor(dlog.INFO) and not log.isEnabledFor(dlog.DEBUG)
    assert out.getvalue().endswith(" INFO one 1\n")
    assert not log.isEnabledFor(dlog.INFO), "warning again after the capture"
