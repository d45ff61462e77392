"""OpenWrt UCI file syntax, parsed line by line with line numbers kept.

The grammar, as libuci reads /etc/config files:

    package <name>                 (accepted and ignored)
    config <type> ['<name>']
    option <name> '<value>'
    list <name> '<value>'          (may repeat; values accumulate)

A word is bare, 'single-quoted' (no escapes) or "double-quoted" (backslash
escapes the next character); adjacent pieces join into one word, as in libuci.
A `#` outside quotes starts a comment. Spaces and tabs separate words.

Deliberately stricter than libuci, because a router that silently reads a
different config than its owner wrote is worse than one that refuses to start:
a quoted value may not span lines, and a line with too many words is an error
(libuci keeps the first ones).

This module knows only the syntax. What the sections and options mean is
checked in config.py against schema.py. Every syntax error in the file is
reported, each with its line number, in one ConfigError.
"""

import os

# libuci's rules: types may contain '-', section and option names may not.
# Plain character sets, not `re`: the daemon reads its config at start, and
# re costs about 0.5 MB of RSS it would keep for nothing afterwards.
ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_TYPE_CHARS = ALNUM | frozenset("_-")
_NAME_CHARS = ALNUM | frozenset("_")
_SPACE = " \t\r\f\v"


def made_of(text, chars):
    """`text` is not empty and every character of it is in `chars`."""
    return text != "" and all(c in chars for c in text)


def is_config_line(line):
    """Spaces or tabs, then the word config, then a space, a tab or the end."""
    rest = line.lstrip(" \t")
    return rest.startswith("config") and (len(rest) == 6 or rest[6] in " \t")


class ConfigError(Exception):
    """The config cannot be used. `problems` holds one line per problem,
    each starting with `FILE:LINE:` (or `FILE:` when no line applies)."""

    def __init__(self, problems, source=None):
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))

    def report(self):
        """All problems, then a count when there is more than one.

        One problem is left on its own line so that a missing file, say,
        reads as exactly one line in a log."""
        lines = list(self.problems)
        if len(lines) > 1:
            lines.append("%d errors in %s" % (len(lines), self.source or "config"))
        return "\n".join(lines)


class UciOption:
    """One `option` or `list` line. `is_list` tells which keyword was used."""

    def __init__(self, name, value, line, is_list):
        self.name = name
        self.value = value
        self.line = line
        self.is_list = is_list

    def __repr__(self):
        return "UciOption(%r, %r, line=%d, is_list=%r)" % (
            self.name, self.value, self.line, self.is_list)


class UciSection:
    """One `config` line and the options under it, in file order.
    `name` is None for an anonymous section."""

    def __init__(self, type, name, line):
        self.type = type
        self.name = name
        self.line = line
        self.options = []

    def values(self, name):
        """Every value given for option `name` (by `option` or `list`), in order."""
        return [opt.value for opt in self.options if opt.name == name]

    def get(self, name, default=None):
        """The last value of option `name`, as libuci would keep it."""
        found = self.values(name)
        return found[-1] if found else default

    def __repr__(self):
        return "UciSection(%r, %r, line=%d, %d options)" % (
            self.type, self.name, self.line, len(self.options))


class _SyntaxProblem(Exception):
    pass


def show(text, limit=60):
    """A value as it appears in a message: quoted, control characters escaped
    (so a stray byte cannot garble the terminal), long values cut short."""
    out = []
    for char in text[:limit]:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0:
            out.append("\\x%02x" % code)
        else:
            out.append(char)
    return "'%s'" % ("".join(out) + ("..." if len(text) > limit else ""))


def split_words(line):
    """The words of one line, quotes removed, comment dropped."""
    words = []
    pos, end = 0, len(line)
    while True:
        while pos < end and line[pos] in _SPACE:
            pos += 1
        if pos >= end or line[pos] == "#":
            return words
        word = []
        while pos < end and line[pos] not in _SPACE and line[pos] != "#":
            char = line[pos]
            if char == "'":
                close = line.find("'", pos + 1)
                if close < 0:
                    raise _SyntaxProblem("unterminated ' quote, expected a closing ' on the same line")
                word.append(line[pos + 1:close])
                pos = close + 1
            elif char == '"':
                pos += 1
                while pos < end and line[pos] != '"':
                    if line[pos] == "\\" and pos + 1 < end:
                        pos += 1
                    word.append(line[pos])
                    pos += 1
                if pos >= end:
                    raise _SyntaxProblem('unterminated " quote, expected a closing " on the same line')
                pos += 1
            elif char == "\\" and pos + 1 < end:
                word.append(line[pos + 1])
                pos += 2
            else:
                word.append(char)
                pos += 1
        words.append("".join(word))


def _parse_line(words):
    """('config', type, name) | ('option'|'list', name, value) | None (package)."""
    keyword = words[0]
    if keyword == "package":
        if len(words) != 2:
            raise _SyntaxProblem("got %d words after 'package', expected package <name>" % (len(words) - 1))
        return None
    if keyword == "config":
        if len(words) not in (2, 3):
            raise _SyntaxProblem("got %d words after 'config', expected config <type> ['<name>']"
                                 % (len(words) - 1))
        if not made_of(words[1], _TYPE_CHARS):
            raise _SyntaxProblem("bad section type %s, expected letters, digits, _ or -" % show(words[1]))
        if len(words) == 3 and not made_of(words[2], _NAME_CHARS):
            raise _SyntaxProblem("bad section name %s, expected letters, digits or _" % show(words[2]))
        return ("config", words[1], words[2] if len(words) == 3 else None)
    if keyword in ("option", "list"):
        if len(words) != 3:
            raise _SyntaxProblem("got %d words after '%s', expected %s <name> '<value>'"
                                 % (len(words) - 1, keyword, keyword))
        if not made_of(words[1], _NAME_CHARS):
            raise _SyntaxProblem("bad option name %s, expected letters, digits or _" % show(words[1]))
        return (keyword, words[1], words[2])
    raise _SyntaxProblem("unknown keyword %s, expected config, option or list" % show(keyword))


def parse_uci(text, filename):
    """Sections of a UCI file, in order. Raises ConfigError listing every bad line."""
    sections, problems = [], []
    current = None
    after_bad_config = False  # options under an unreadable `config` line belong nowhere
    for number, line in enumerate(text.split("\n"), 1):
        try:
            words = split_words(line)
            if not words:
                continue
            parsed = _parse_line(words)
        except _SyntaxProblem as err:
            problems.append("%s:%d: cannot parse line: %s" % (filename, number, err))
            if is_config_line(line):
                current, after_bad_config = None, True
            continue
        if parsed is None:
            continue
        if parsed[0] == "config":
            current = UciSection(parsed[1], parsed[2], number)
            sections.append(current)
            after_bad_config = False
        elif current is not None:
            current.options.append(UciOption(parsed[1], parsed[2], number, parsed[0] == "list"))
        elif not after_bad_config:
            problems.append("%s:%d: cannot parse line: '%s' before any section, expected a config line first"
                            % (filename, number, parsed[0]))
    if problems:
        raise ConfigError(problems, filename)
    return sections


def read_config_file(path):
    """(path as str, its text), or ConfigError in one line: unreadable, or not UTF-8."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ConfigError(["%s: cannot read: %s" % (path, err.strerror or err)], path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(["%s:%d: byte 0x%02x is not UTF-8, expected UTF-8 text"
                           % (path, line, data[err.start])], path)
    return path, text
