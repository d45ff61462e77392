"""/etc/config/dprive-gateway -> validated GatewaySettings, or every problem with its line.

The same machinery as the forwarder's config.py: the UCI syntax from uci.py,
one value checked and converted by config.convert, the section by
config._check_section (unknown options, repeats, `list` misuse, missing
required options), problems collected and reported together as FILE:LINE.
The rules come from schema.GATEWAY_OPTIONS only.

The file holds exactly one `config gateway 'main'` section; any other
section is an error, so that a forwarder config given by mistake is refused
rather than half read.
"""


from dprive import schema
from dprive.config import MAIN_SECTION_NAME, _check_section, _copy, _Problems
from dprive.uci import ConfigError, parse_uci, read_config_file, show

__all__ = ["ConfigError", "GatewaySettings", "load_gateway_config", "parse_gateway_settings"]


class GatewaySettings:
    """The gateway section, one attribute per schema option (converted), plus
    `source` (the file)."""

    def __init__(self, values=None, source=None):
        values = dict(values or {})
        for name, spec in schema.GATEWAY_OPTIONS.items():
            setattr(self, name, _copy(values.pop(name, spec.get("default"))))
        if values:
            raise TypeError("unknown gateway options: %s" % ", ".join(sorted(values)))
        self.source = source

    def __repr__(self):
        return "GatewaySettings(%r, port %r)" % (self.source, self.listen_port)


def gateway_settings_from_sections(sections, filename):
    problems = _Problems(filename)
    found, found_line = None, 0
    for index, section in enumerate(sections, 1):
        label = ("%s %s" % (section.type, show(section.name)) if section.name
                 else "%s #%d" % (section.type, index))
        if section.type != schema.SECTION_GATEWAY:
            problems.add(section.line, label + ": ", "unknown section type %s, expected '%s' "
                         "(this is the gateway's file, not the forwarder's)"
                         % (show(section.type), schema.SECTION_GATEWAY))
            continue
        if found is not None:
            problems.add(section.line, label + ": ", "another %s section (the first is on "
                         "line %d), expected exactly one" % (section.type, found_line))
        elif section.name != MAIN_SECTION_NAME:
            got = "named %s" % show(section.name) if section.name else "an unnamed section"
            problems.add(section.line, label + ": ", "got %s, expected config %s '%s'"
                         % (got, section.type, MAIN_SECTION_NAME))
        values, _ = _check_section(section, label, schema.GATEWAY_OPTIONS, problems)
        if found is None:
            found, found_line = GatewaySettings(values, filename), section.line
    if found is None:
        problems.add(0, "", "no %s section, expected one config %s '%s'"
                     % (schema.SECTION_GATEWAY, schema.SECTION_GATEWAY, MAIN_SECTION_NAME))
    if problems.items:
        raise ConfigError(problems.lines(), filename)
    return found


def parse_gateway_settings(text, filename):
    """GatewaySettings from the text of a UCI file (named `filename` in messages)."""
    return gateway_settings_from_sections(parse_uci(text, filename), filename)


def load_gateway_config(path):
    """GatewaySettings from the file at `path`, or ConfigError (also when unreadable)."""
    path, text = read_config_file(path)
    return parse_gateway_settings(text, path)
