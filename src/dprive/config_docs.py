"""The documentation of every option, made from schema.py alone.

LuCI's first Save & Apply rewrites /etc/config/dprive and drops every comment
in it, so the comments cannot be where the options are documented. This module
turns the schema (each option's `help`, its longer `doc`, type, range and
default) into:

- `dprive options [main|upstream|gateway]`: the reference on the router;
- the default config files, comments and all (package/gen_default_config.py
  writes files/etc/config/dprive and dprive-gateway, and their read-only
  copies files/usr/share/dprive/*.example, which no LuCI touches).

Standard library and schema.py only: `dprive options` runs on the router.
"""

import textwrap

from dprive import schema
from dprive.config import expected

WIDTH = 78
EXAMPLE_DIR = "/usr/share/dprive"

# file kind -> (installed path, example copy, sections as (schema key, section type, name))
FILES = {
    "dprive": ("/etc/config/dprive", EXAMPLE_DIR + "/dprive.example",
               (("main", schema.SECTION_MAIN, "main"), ("upstream", schema.SECTION_UPSTREAM, None))),
    "gateway": ("/etc/config/dprive-gateway", EXAMPLE_DIR + "/dprive-gateway.example",
                (("gateway", schema.SECTION_GATEWAY, "main"),)),
}

SECTIONS = ("main", "upstream", "gateway")     # the keys of schema.schema_as_json()

HEADERS = {
    "dprive": (
        "dprive: DNS over TLS forwarder. dnsmasq forwards LAN queries to it, and it "
        "carries them to the upstreams below over encrypted, authenticated sessions. "
        "Check this file after editing it: dprive check --config /etc/config/dprive"),
    "gateway": (
        "dprive gateway: DNS over DTLS (RFC 8094) in front of a resolver, so that you "
        "can run your own DoDTLS endpoint for dprive routers to use. Started with: "
        "dprive gateway --config /etc/config/dprive-gateway. Configuration errors are "
        "reported as FILE:LINE and the gateway exits with status 2."),
}

UPSTREAMS_INTRO = (
    "One 'config upstream' section per DNS over TLS server; queries go to the "
    "enabled ones. Besides the options written below, a section may carry:")


def _where_documented(kind):
    path, example, sections = FILES[kind]
    which = " ".join(key for key, _, _ in sections)
    return ("Saving in LuCI rewrites this file without its comments. Every option "
            "is described by `dprive options %s` and in %s (this file as "
            "installed, comments included)." % (which, example))


def value_text(spec):
    """What a value looks like and its default, in one sentence."""
    words = "1 (on) or 0 (off)" if spec["type"] == "bool" else expected(spec)
    if spec.get("list"):
        words = "one list line per value, each " + words
    if spec.get("required"):
        return "Value: %s. Required." % words
    return "Value: %s. Default: %s." % (words, default_text(spec))


def default_text(spec):
    default = spec.get("default")
    if spec["type"] == "bool":
        return "1" if default else "0"
    if spec.get("list"):
        return " ".join(default) if default else "none"
    if default == "":
        return "none"
    return str(default)


def option_text(spec):
    """The option's description: its one-line help, then the longer doc if any."""
    return " ".join(part for part in (spec["help"], spec.get("doc")) if part)


def _wrap(text, indent):
    return textwrap.wrap(text, WIDTH - len(indent), break_on_hyphens=False,
                         break_long_words=False)


def comment(text, indent=""):
    """`text` as comment lines, wrapped."""
    return ["%s#%s" % (indent, (" " + line) if line else "")
            for paragraph in text.split("\n") for line in (_wrap(paragraph, indent + "# ") or [""])]


# ---- dprive options ---------------------------------------------------------------

def options_reference(keys):
    """The text of `dprive options KEY...` (keys of schema.schema_as_json())."""
    full = schema.schema_as_json()
    lines = []
    for key in keys:
        kind = "gateway" if key == "gateway" else "dprive"
        path = FILES[kind][0]
        section = full[key]["section"]
        name = dict((k, n) for k, _, n in FILES[kind][2])[key]
        lines.append("%s, section config %s%s:" % (path, section, " '%s'" % name if name else ""))
        for option, spec in full[key]["options"].items():
            lines.append("")
            lines.append("  %s%s" % (option, " (list)" if spec.get("list") else ""))
            for line in _wrap(option_text(spec), "      ") + _wrap(value_text(spec), "      "):
                lines.append("      " + line)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ---- the default config files ---------------------------------------------------

def _uci_value(spec, value):
    if spec["type"] == "bool":
        return "1" if value else "0"
    return str(value)


def _option_lines(name, spec, value):
    lines = comment(option_text(spec), "\t") + comment(value_text(spec), "\t")
    if spec.get("list"):
        lines += ["\tlist %s '%s'" % (name, _uci_value(spec, v)) for v in value]
    else:
        lines.append("\toption %s '%s'" % (name, _uci_value(spec, value)))
    return lines


def _section(section_type, section_name, options, values):
    lines = ["config %s%s" % (section_type, " '%s'" % section_name if section_name else "")]
    for name, spec in options.items():
        if name in values:
            lines += _option_lines(name, spec, values[name])
    return lines


def _file_values(options):
    """Every option with its default, or its `example` where it has none (required ones)."""
    return {name: spec["example"] if "example" in spec else spec["default"]
            for name, spec in options.items() if "example" in spec or "default" in spec}


def default_config(kind):
    """The text of the default config file `kind` ('dprive' or 'gateway')."""
    lines = comment(HEADERS[kind]) + ["#"] + comment(_where_documented(kind)) + [""]
    if kind == "gateway":
        lines += _section(schema.SECTION_GATEWAY, "main", schema.GATEWAY_OPTIONS,
                          _file_values(schema.GATEWAY_OPTIONS))
        return "\n".join(lines) + "\n"
    lines += _section(schema.SECTION_MAIN, "main", schema.MAIN_OPTIONS,
                      _file_values(schema.MAIN_OPTIONS))
    written = set().union(*(up.keys() for up in schema.DEFAULT_UPSTREAMS))
    lines += [""] + comment(UPSTREAMS_INTRO)
    for name, spec in schema.UPSTREAM_OPTIONS.items():
        if name not in written:
            text = "%s%s: %s %s" % (name, " (list)" if spec.get("list") else "",
                                    option_text(spec), value_text(spec))
            lines += ["#   " + line for line in textwrap.wrap(
                text, WIDTH - 4, subsequent_indent="  ", break_on_hyphens=False)]
    for upstream in schema.DEFAULT_UPSTREAMS:
        lines += [""] + _section(schema.SECTION_UPSTREAM, None, schema.UPSTREAM_OPTIONS, upstream)
    return "\n".join(lines) + "\n"
