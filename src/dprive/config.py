"""/etc/config/dprive -> validated Settings, or every problem with its line.

The rules come from schema.py only; this module adds the ones that span
options or sections (unique names, one main section, strict profile needs
authentication). Nothing is silently ignored: an unknown section or option
is an error, as a typo in a security setting must not pass unnoticed.

Syntax errors stop here, before validation: once a line could not be read,
every later rule would be guessing which section its options belonged to.
Validation errors are all collected and reported together, sorted by line.
"""

import ipaddress

from dprive import schema
from dprive.uci import ALNUM, ConfigError, UciOption, UciSection, made_of, parse_uci, read_config_file, show

__all__ = ["ConfigError", "Settings", "UpstreamConfig", "load_config", "parse_settings",
           "parse_uci", "UciOption", "UciSection"]

MAIN_SECTION_NAME = "main"
# The spellings OpenWrt's config_get_bool accepts, case as written there.
TRUE_WORDS = ("1", "yes", "on", "true", "enabled")
FALSE_WORDS = ("0", "no", "off", "false", "disabled")

# Character sets, not `re` (see uci.py); base64 and difflib are imported where
# used: for pins, and for a typo's suggestion.
_DIGITS = frozenset("0123456789")
_LABEL_CHARS = ALNUM | frozenset("-")


def _is_int(raw):
    """An optional minus, then ASCII digits (as re's -?[0-9]+ matching the whole)."""
    return made_of(raw[1:] if raw.startswith("-") else raw, _DIGITS)


def _is_label(label):
    """A host name label: 1 to 63 letters, digits or hyphens, no hyphen at either end."""
    return len(label) <= 63 and made_of(label, _LABEL_CHARS) and label[0] != "-" and label[-1] != "-"


def _has_control(text):
    """A C0 or C1 control character, or DEL, anywhere in `text`."""
    return any(c <= "\x1f" or "\x7f" <= c <= "\x9f" for c in text)


_FILE_LEVEL = 1 << 30  # sorts problems that have no line after all the others


def _copy(value):
    return list(value) if isinstance(value, list) else value


class Settings:
    """The main section, one attribute per schema option (converted), plus
    `source` (the file) and `upstreams` (every upstream, in file order)."""

    def __init__(self, values=None, upstreams=None, source=None):
        values = dict(values or {})
        for name, spec in schema.MAIN_OPTIONS.items():
            setattr(self, name, _copy(values.pop(name, spec.get("default"))))
        if values:
            raise TypeError("unknown main options: %s" % ", ".join(sorted(values)))
        self.upstreams = list(upstreams or [])
        self.source = source

    def __repr__(self):
        return "Settings(%r, %d upstreams)" % (self.source, len(self.upstreams))


class UpstreamConfig:
    """One `config upstream` section, one attribute per schema option, plus
    `line` (where its `config` line is)."""

    def __init__(self, values=None, line=0):
        values = dict(values or {})
        for name, spec in schema.UPSTREAM_OPTIONS.items():
            setattr(self, name, _copy(values.pop(name, spec.get("default"))))
        if values:
            raise TypeError("unknown upstream options: %s" % ", ".join(sorted(values)))
        self.line = line

    def identity(self):
        """What a TLS session depends on: a reload keeps the sessions of
        upstreams whose identity did not change (renaming one costs nothing)."""
        return (self.address, self.port, self.auth_name, tuple(sorted(self.spki)))

    def __repr__(self):
        return "UpstreamConfig(%r, %r, %r)" % (self.name, self.address, self.port)


# ---- one value ---------------------------------------------------------------

def _bounds(spec):
    if spec["type"] == "port":
        return 1, 65535
    return spec.get("min", 0), spec.get("max")


def expected(spec):
    """What a value of this option must look like, in words (used after 'expected')."""
    kind = spec["type"]
    if kind in ("int", "port"):
        return "an integer from %d to %d" % _bounds(spec)
    if kind == "bool":
        return "a boolean: %s or %s" % ("/".join(TRUE_WORDS), "/".join(FALSE_WORDS))
    if kind == "enum":
        return "one of " + ", ".join("'%s'" % c for c in spec["choices"])
    if kind == "ip":
        return "an IPv4 or IPv6 address (no prefix length, no scope id)"
    if kind == "hostname":
        text = "a host name such as dns.example.net"
        return text + " (or '' for none)" if spec.get("default") == "" else text
    if kind == "path":
        return "an absolute path (starting with /)"
    if kind == "string":
        return "text of %d to %d characters without control characters" % _bounds(spec)
    if kind == "spki":
        return "base64 of a 32-byte SHA-256 digest (44 characters)"
    raise AssertionError("schema type %r has no checker" % kind)


def convert(spec, raw):
    """The value as the daemon uses it. ValueError (its text: a detail to show
    after the value, or '') when `raw` does not fit `spec`."""
    kind = spec["type"]
    if kind in ("int", "port"):
        low, high = _bounds(spec)
        # No bound has 19 digits; and int() of over 4300 digits would raise
        # with a message meant for developers.
        if not _is_int(raw) or len(raw.lstrip("-").lstrip("0")) > 18 or not low <= int(raw) <= high:
            raise ValueError("")
        return int(raw)
    if kind == "bool":
        if raw in TRUE_WORDS or raw in FALSE_WORDS:
            return raw in TRUE_WORDS
        raise ValueError("")
    if kind == "enum":
        if raw not in spec["choices"]:
            raise ValueError("")
        return raw
    if kind == "ip":
        # ipaddress accepts "fe80::1%eth0" since 3.9; a scope id means nothing upstream.
        if "%" in raw:
            raise ValueError("")
        try:
            return str(ipaddress.ip_address(raw))  # canonical, so duplicates compare equal
        except ValueError:
            raise ValueError("")
    if kind == "hostname":
        if raw == "" and spec.get("default") == "":
            return ""
        if len(raw) > 253 or not all(_is_label(label) for label in raw.split(".")):
            raise ValueError("")
        return raw.lower()
    if kind == "path":
        if not raw.startswith("/") or _has_control(raw):
            raise ValueError("")
        return raw
    if kind == "string":
        low, high = _bounds(spec)
        if _has_control(raw):
            raise ValueError("")
        if not low <= len(raw) <= high:
            raise ValueError(" (%d characters)" % len(raw))
        return raw
    if kind == "spki":
        import base64
        import binascii
        try:
            digest = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(" (not base64)")
        if len(digest) != 32:
            raise ValueError(" (decodes to %d bytes)" % len(digest))
        return raw
    raise AssertionError("schema type %r has no checker" % kind)


# ---- one section -------------------------------------------------------------

class _Problems:
    """Collects `FILE:LINE: where: what` lines; sorted by line in the end."""

    def __init__(self, filename):
        self.filename = filename
        self.items = []

    def add(self, line, where, text):
        prefix = "%s:%d: " % (self.filename, line) if line else "%s: " % self.filename
        self.items.append((line or _FILE_LEVEL, len(self.items), prefix + where + text))

    def lines(self):
        return [text for _, _, text in sorted(self.items)]


def _label(section, index):
    """How messages name a section: the upstream's `name` when it has a usable
    one (that is what logs and LuCI show), else the UCI name, else its index."""
    if section.type == schema.SECTION_UPSTREAM:
        name = section.get("name")
        if name and len(name) <= 64 and not _has_control(name):
            return "upstream %s" % show(name)
    if section.name:
        return "%s %s" % (section.type, show(section.name))
    return "%s #%d" % (section.type, index)


def _check_section(section, label, specs, problems):
    """Converted values of one section, and the names of options that were
    present but wrong (cross-field rules skip those instead of piling on)."""
    values, bad, first = {}, set(), {}
    for opt in section.options:
        where = "%s option '%s': " % (label, opt.name)
        spec = specs.get(opt.name)
        if spec is None:
            import difflib
            close = difflib.get_close_matches(opt.name, list(specs), 1)
            hint = " (did you mean '%s'?)" % close[0] if close else ""
            problems.add(opt.line, where, "unknown option%s, expected one of %s"
                         % (hint, ", ".join(sorted(specs))))
            continue
        earlier = first.setdefault(opt.name, opt)
        if spec.get("list"):
            # One `option` line is accepted as a one-item list (OpenWrt scripts
            # read both); mixing it with more lines is ambiguous in libuci.
            if earlier is not opt and not (opt.is_list and earlier.is_list):
                problems.add(opt.line, where, "given again (first on line %d), expected only "
                             "'list %s' lines for this list option" % (earlier.line, opt.name))
                bad.add(opt.name)
        elif opt.is_list:
            problems.add(opt.line, where, "'list' used for a single-value option, expected "
                         "option %s '<value>'" % opt.name)
            bad.add(opt.name)
        elif earlier is not opt:
            problems.add(opt.line, where, "given again (first on line %d), expected it once"
                         % earlier.line)
            bad.add(opt.name)
        try:
            value = convert(spec, opt.value)
        except ValueError as err:
            problems.add(opt.line, where, "got %s%s, expected %s"
                         % (show(opt.value), err, expected(spec)))
            bad.add(opt.name)
            continue
        if spec.get("list"):
            values.setdefault(opt.name, []).append(value)
        else:
            values[opt.name] = value
    for name, spec in specs.items():
        if spec.get("required") and name not in first:
            problems.add(section.line, label + ": ", "missing option '%s', expected %s"
                         % (name, expected(spec)))
            bad.add(name)
    return values, bad


# ---- the whole file ----------------------------------------------------------

def _check_upstreams(upstreams, profile, problems):
    """Rules between upstreams. `upstreams`: (label, config, bad) triples."""
    names, endpoints = {}, {}
    for label, up, bad in upstreams:
        if "name" not in bad:
            if up.name in names:
                problems.add(up.line, label + ": ", "name %s already used by the upstream on "
                             "line %d, expected a name no other upstream has"
                             % (show(up.name), names[up.name]))
            names.setdefault(up.name, up.line)
        if not up.enabled:
            continue
        if (profile == "strict" and not up.auth_name and not up.spki
                and not bad & {"auth_name", "spki"}):
            problems.add(up.line, label + ": ", "neither auth_name nor spki is set, expected "
                         "at least one, because profile 'strict' (RFC 8310) sends queries "
                         "only to an authenticated upstream")
        if not bad & {"address", "port"}:
            key = (up.address, up.port)
            if key in endpoints:
                other_label, other_line = endpoints[key]
                problems.add(up.line, label + ": ", "address %s port %d is also used by %s on "
                             "line %d, expected each enabled upstream at its own address "
                             "and port" % (show(up.address), up.port, other_label, other_line))
            endpoints.setdefault(key, (label, up.line))
    if not any(up.enabled for _, up, _ in upstreams):
        problems.add(0, "", "no enabled upstream, expected at least one 'config upstream' "
                     "section with option enabled '1'")


def settings_from_sections(sections, filename):
    """Settings from parsed sections, or ConfigError listing every problem."""
    problems = _Problems(filename)
    main, main_line, main_bad, upstreams = None, 0, set(), []
    seen_names, counts = {}, {}
    for section in sections:
        counts[section.type] = index = counts.get(section.type, 0) + 1
        label = _label(section, index)
        if section.type == schema.SECTION_MAIN:
            if main is not None:
                problems.add(section.line, label + ": ", "another %s section (the first is on "
                             "line %d), expected exactly one" % (section.type, main_line))
            elif section.name != MAIN_SECTION_NAME:
                got = "named %s" % show(section.name) if section.name else "an unnamed section"
                problems.add(section.line, label + ": ", "got %s, expected config %s '%s'"
                             % (got, section.type, MAIN_SECTION_NAME))
            values, bad = _check_section(section, label, schema.MAIN_OPTIONS, problems)
            if main is None:
                main = Settings(values, source=filename)
                main_line, main_bad = section.line, bad
            continue
        if section.name is not None:
            if section.name in seen_names:
                problems.add(section.line, label + ": ", "section name %s already used on line "
                             "%d, expected unique section names" % (show(section.name),
                                                                    seen_names[section.name]))
            seen_names.setdefault(section.name, section.line)
        if section.type == schema.SECTION_UPSTREAM:
            values, bad = _check_section(section, label, schema.UPSTREAM_OPTIONS, problems)
            upstreams.append((label, UpstreamConfig(values, section.line), bad))
        else:
            problems.add(section.line, label + ": ", "unknown section type %s, expected '%s' or '%s'"
                         % (show(section.type), schema.SECTION_MAIN, schema.SECTION_UPSTREAM))
    if main is None:
        problems.add(0, "", "no %s section, expected one config %s '%s'"
                     % (schema.SECTION_MAIN, schema.SECTION_MAIN, MAIN_SECTION_NAME))
        main = Settings(source=filename)
    profile = None if "profile" in main_bad else main.profile
    _check_upstreams(upstreams, profile, problems)
    if problems.items:
        raise ConfigError(problems.lines(), filename)
    main.upstreams = [up for _, up, _ in upstreams]
    return main


def parse_settings(text, filename):
    """Settings from the text of a UCI file (named `filename` in messages)."""
    return settings_from_sections(parse_uci(text, filename), filename)


def load_config(path):
    """Settings from the file at `path`, or ConfigError (also when unreadable)."""
    path, text = read_config_file(path)
    return parse_settings(text, path)
