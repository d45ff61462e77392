"""The daemon's logger: what it used of the standard library's `logging`, for less.

`logging` costs about 1.2 MB of RSS on the router (it pulls threading,
traceback, string, weakref...) for one handler on stderr, one format and
one level. This module keeps that: the same level numbers, the same
%-formatting (done only when the level is enabled), the same line,
"%(asctime)s %(levelname)s %(message)s" with logging's asctime
("2026-12-04 18:30:36,123", local time), and the rate limit of
io/lograte.py, which setup() puts in front of the stream. procd hands the
daemon's stderr to logd. The gateway (the server side) keeps `logging`.

    log = getLogger("dprive")
    log.info("listening on %s port %d", address, port)
"""

import sys
import time

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40
CRITICAL = 50
_LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}


class _Config:
    """One for the process, as logging's root logger was: before setup(), warnings
    and worse go to stderr, as logging's last-resort handler sent them."""

    def __init__(self):
        self.level = WARNING
        self.stream = None       # None: sys.stderr at each line (so a test's capture sees it)
        self.limit = None        # io/lograte.py RateLimit, or None


_config = _Config()


def level_number(level_name):
    """"info" -> INFO; a ValueError for a name that is no level."""
    for number, name in _LEVEL_NAMES.items():
        if name == level_name.upper():
            return number
    raise ValueError("no log level %r" % (level_name,))


def setup(level_name, stream=None, rate_limit=True):
    """The daemon's start: its level, its stream (default stderr), the rate limit."""
    _config.level = level_number(level_name)
    _config.stream = stream
    if rate_limit:
        from dprive.io import lograte
        _config.limit = lograte.install()
    else:
        _config.limit = None
    return _config.limit


def set_level(level_name):
    """A reload's new log_level."""
    _config.level = level_number(level_name)


def asctime(now):
    """logging's default asctime: local time, then milliseconds after a comma."""
    return "%s,%03d" % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
                        int((now - int(now)) * 1000))


def _message(fmt, args):
    if len(args) == 1 and isinstance(args[0], dict) and args[0]:
        args = args[0]      # logging's rule: one mapping is the mapping to format with
    text = str(fmt)
    if args:
        try:
            text = text % args
        except Exception:   # noqa: BLE001 - a bad format must not take the daemon down
            text = "%s (unformattable with %r)" % (text, args)
    return text


def _emit(level, fmt, args, exc_info):
    suffix = ""
    limit = _config.limit
    if limit is not None:
        suffix = limit.admit(level, fmt)
        if suffix is None:
            return
    line = "%s %s %s%s" % (asctime(time.time()), _LEVEL_NAMES.get(level, "Level %d" % level),
                           _message(fmt, args), suffix)
    if exc_info is not None and exc_info[0] is not None:
        import traceback     # only for a traceback: it pulls linecache and tokenize
        line += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    stream = _config.stream or sys.stderr
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass                 # stderr gone (logd restarted): nothing better to do with the line


class Logger:
    """logging.Logger's calls that dprive makes; every logger shares the one level."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def isEnabledFor(self, level):
        return level >= _config.level

    def log(self, level, fmt, *args):
        if level >= _config.level:
            _emit(level, fmt, args, None)

    def debug(self, fmt, *args):
        if DEBUG >= _config.level:
            _emit(DEBUG, fmt, args, None)

    def info(self, fmt, *args):
        if INFO >= _config.level:
            _emit(INFO, fmt, args, None)

    def warning(self, fmt, *args):
        if WARNING >= _config.level:
            _emit(WARNING, fmt, args, None)

    def error(self, fmt, *args):
        if ERROR >= _config.level:
            _emit(ERROR, fmt, args, None)

    def exception(self, fmt, *args):
        """error(), and the traceback of the exception being handled."""
        if ERROR >= _config.level:
            _emit(ERROR, fmt, args, sys.exc_info())


_loggers = {}


def getLogger(name="dprive"):
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = Logger(name)
    return logger


class capture:
    """For tests: `with capture(INFO) as out: ...; out.getvalue()` (no rate limit),
    then the configuration as it was."""

    def __init__(self, level=DEBUG):
        self.level = level

    def __enter__(self):
        import io
        self.saved = (_config.level, _config.stream, _config.limit)
        self.out = io.StringIO()
        _config.level, _config.stream, _config.limit = self.level, self.out, None
        return self.out

    def __exit__(self, *exc):
        _config.level, _config.stream, _config.limit = self.saved
        return False
