"""Fuzz target `config`: arbitrary bytes as /etc/config/dprive and /etc/config/dprive-gateway.

The bytes are written to a file and read as `dprive check` and the gateway
read theirs (config.load_config, gateway.config.load_gateway_config: the
UTF-8 check in uci.read_config_file, the syntax in uci.parse_uci, the
schema in config.py). Checked:

- the outcome is settings or a ConfigError, never another exception;
- every problem is one line `FILE:LINE: ...` (LINE within the file) or
  `FILE: ...`, with no control character (uci.show escapes values) and
  none of Python's own words (an exception's text passed on), and report()
  gives them all;
- what parse_uci reads, written out again in canonical quoting, reads the
  same; and settings that load, written out so, load the same.
"""

import atexit
import os
import shutil
import tempfile

from dprive import config as cfg
from dprive.gateway import config as gwcfg
from dprive.uci import ConfigError, parse_uci

from coreshell import CONTROL, Violation, require

TARGET = "config"
_DIR = tempfile.mkdtemp(prefix="dprive-fuzz-config-")
atexit.register(shutil.rmtree, _DIR, True)
PATH = os.path.join(_DIR, "dprive")
# What Python says, not dprive: such text in a problem means an exception's
# message went to the user instead of an "expected ..." of our own.
PYTHON_WORDS = ("Traceback", "sys.", "Exceeds the limit", "invalid literal", "object has no attribute",
                "codec can't")


def quote(value):
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def write_uci(sections):
    lines = []
    for section in sections:
        lines.append("config %s%s" % (section.type, " " + section.name if section.name else ""))
        for opt in section.options:
            lines.append("\t%s %s %s" % ("list" if opt.is_list else "option", opt.name, quote(opt.value)))
    return "\n".join(lines) + "\n"


def shape(sections):
    return [(s.type, s.name, [(o.name, o.value, o.is_list) for o in s.options]) for s in sections]


def check_error(err, lines):
    require(err.problems, "a ConfigError with no problem")
    for problem in err.problems:
        require(isinstance(problem, str) and problem.startswith(PATH + ":"),
                "a problem that does not start with the file: %r", problem)
        rest = problem[len(PATH) + 1:]
        number = rest.split(":", 1)[0]
        if rest.startswith(" "):
            pass                                   # file level: no line applies
        else:
            require(number.isdigit() and 1 <= int(number) <= lines,
                    "a problem with line %r of a %d-line file: %r", number, lines, problem)
        require(not CONTROL.search(problem), "a control character in %r", problem)
        for leak in PYTHON_WORDS:
            require(leak not in problem, "Python's own words in a problem: %r", problem[:300])
    require(err.report().startswith(err.problems[0]), "report() lost the first problem")


def load(loader, data, lines):
    try:
        return loader(PATH)
    except ConfigError as err:
        check_error(err, lines)
        return None
    except Exception as err:
        raise Violation("%s raised %s: %s" % (loader.__name__, type(err).__name__, err))


def attrs(settings):
    out = dict(vars(settings))
    out.pop("source", None)
    ups = out.pop("upstreams", None)
    if ups is not None:
        out["upstreams"] = [dict((k, v) for k, v in vars(u).items() if k != "line") for u in ups]
    return out


def one_input(data):
    with open(PATH, "wb") as handle:
        handle.write(data)
    lines = data.count(b"\n") + 1
    settings = load(cfg.load_config, data, lines)
    gateway = load(gwcfg.load_gateway_config, data, lines)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        require(settings is None and gateway is None, "settings from text that is not UTF-8")
        return
    try:
        sections = parse_uci(text, PATH)
    except ConfigError:
        require(settings is None and gateway is None, "settings from a file with syntax errors")
        return
    again = write_uci(sections)
    require(shape(parse_uci(again, PATH)) == shape(sections), "parse_uci reads its own output otherwise")
    with open(PATH, "w") as handle:
        handle.write(again)
    for loaded, loader in ((settings, cfg.load_config), (gateway, gwcfg.load_gateway_config)):
        if loaded is not None:
            reloaded = load(loader, again, again.count("\n") + 1)
            require(reloaded is not None and attrs(reloaded) == attrs(loaded),
                    "settings written out and read again differ")
