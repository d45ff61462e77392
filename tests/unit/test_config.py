"""The UCI loader, `dprive check`, and the default /etc/config/dprive.

Error tests assert whole messages: their wording (where, what, expected what)
is the user interface of `dprive check` and of a failed start in logread.
"""

import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from dprive import schema
from dprive.config import (
    ConfigError, Settings, UpstreamConfig, load_config, parse_settings, parse_uci,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "files" / "etc" / "config" / "dprive"
F = "/etc/config/dprive"  # the name messages carry in the in-memory tests

# Appended after a case's own lines, so those keep their line numbers and the
# file is otherwise valid.
GOOD_UPSTREAM = """
config upstream
\toption name 'good'
\toption address '192.0.2.1'
\toption auth_name 'dns.example.net'
"""
MAIN = "config dprive 'main'\n"


def m(lines):
    """The main section with `lines` under it, then one valid upstream."""
    return MAIN + lines + GOOD_UPSTREAM


def problems_of(text, filename=F):
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, filename)
    return caught.value.problems


# --- the default file ---------------------------------------------------------

def test_default_file_loads_with_expected_values():
    cfg = load_config(DEFAULT_FILE)
    assert cfg.source == str(DEFAULT_FILE)
    assert cfg.listen_address == ["127.0.0.1", "::1"]
    assert cfg.listen_port == 5453
    assert cfg.profile == "strict"
    assert cfg.padding_block == 128
    got = [(u.name, u.address, u.port, u.auth_name, u.spki, u.enabled) for u in cfg.upstreams]
    assert got == [
        ("cloudflare-1", "1.1.1.1", 853, "cloudflare-dns.com", [], True),
        ("cloudflare-2", "1.0.0.1", 853, "cloudflare-dns.com", [], True),
        ("quad9", "9.9.9.9", 853, "dns.quad9.net", [], True),
        ("google", "8.8.8.8", 853, "dns.google", [], True),
    ]


def test_default_file_writes_every_main_option_with_the_schema_default():
    # The file documents the defaults; it must not drift from schema.py.
    text = DEFAULT_FILE.read_text()
    cfg = load_config(DEFAULT_FILE)
    for name, spec in schema.MAIN_OPTIONS.items():
        assert " %s '" % name in text, name
        assert getattr(cfg, name) == spec["default"], name


def test_default_file_has_a_comment_above_every_option():
    lines = DEFAULT_FILE.read_text().split("\n")
    for number, line in enumerate(lines):
        words = line.split()
        if not words or words[0] not in ("option", "list"):
            continue
        assert line.startswith("\t") and "'" in line, "line %d: OpenWrt style" % (number + 1)
        above = lines[number - 1].split()
        # A run of `list` lines for one option shares the comment above it.
        if above[:2] == ["list", words[1]]:
            continue
        assert above and above[0] == "#", "line %d has no comment above it" % (number + 1)


# --- what loads, and how ------------------------------------------------------

def test_minimal_file_takes_schema_defaults():
    cfg = parse_settings(MAIN + GOOD_UPSTREAM, F)
    for name, spec in schema.MAIN_OPTIONS.items():
        assert getattr(cfg, name) == spec["default"], name
    (up,) = cfg.upstreams
    assert (up.port, up.spki, up.enabled, up.line) == (853, [], True, 3)
    # Defaults are copies: changing one Settings' list leaves the schema alone.
    cfg.listen_address.append("192.0.2.9")
    assert schema.MAIN_OPTIONS["listen_address"]["default"] == ["127.0.0.1", "::1"]


def test_values_are_converted():
    pin = "A" * 43 + "="
    cfg = parse_settings(MAIN + (
        "\toption listen_port 53\n"
        "\toption listen_address '2001:DB8:0::1'\n"  # one `option` = a one-item list
        "\toption profile opportunistic\n"
        "config upstream 'u1'\n"
        "\toption name 'off one'\n"
        "\toption address '2001:db8::53'\n"
        "\tlist spki '%s'\n"
        "\toption enabled 'no'\n" % pin) + GOOD_UPSTREAM, F)
    assert cfg.listen_port == 53
    assert cfg.listen_address == ["2001:db8::1"]
    assert cfg.profile == "opportunistic"
    off, good = cfg.upstreams  # disabled upstreams are kept, in file order
    assert (off.name, off.enabled, off.spki, off.auth_name, off.line) == ("off one", False, [pin], "", 5)
    assert off.identity() == ("2001:db8::53", 853, "", (pin,))
    assert good.identity() == ("192.0.2.1", 853, "dns.example.net", ())


@pytest.mark.parametrize("word,value", [
    ("1", True), ("yes", True), ("on", True), ("true", True), ("enabled", True),
    ("0", False), ("no", False), ("off", False), ("false", False), ("disabled", False),
])
def test_bool_spellings(word, value):
    cfg = parse_settings(MAIN + GOOD_UPSTREAM + "\toption enabled '%s'\n" % word +
                         GOOD_UPSTREAM.replace("good", "other").replace(".1'", ".2'"), F)
    assert cfg.upstreams[0].enabled is value


def test_uci_quoting_comments_and_whitespace():
    text = (
        "# comment\n"
        "\n"
        "config  dprive   main   # trailing comment\n"
        "  option\tlog_level\t\"de\\bug\"\r\n"      # double quotes, backslash escape, CRLF
        "\toption ca_bundle /etc/'a b'\"#c\"\n"    # pieces join; # inside quotes is text
        "\tlist listen_address 127.0.0.1\n"
    )
    (section,) = parse_uci(text, F)
    assert (section.type, section.name, section.line) == ("dprive", "main", 3)
    got = [(o.name, o.value, o.line, o.is_list) for o in section.options]
    assert got == [
        ("log_level", "debug", 4, False),
        ("ca_bundle", "/etc/a b#c", 5, False),
        ("listen_address", "127.0.0.1", 6, True),
    ]
    assert section.get("log_level") == "debug" and section.values("nope") == []


def test_anonymous_section_and_package_line():
    sections = parse_uci("package dprive\nconfig upstream\n\toption name x\n", F)
    assert [(s.type, s.name, s.line) for s in sections] == [("upstream", None, 2)]


def test_objects_can_be_built_without_a_file():
    up = UpstreamConfig({"name": "a", "address": "192.0.2.1"}, line=7)
    cfg = Settings({"listen_port": 53}, upstreams=[up], source="x")
    assert (cfg.listen_port, cfg.profile, cfg.upstreams, up.port) == (53, "strict", [up], 853)
    with pytest.raises(TypeError):
        Settings({"no_such_option": 1})


# --- every kind of error, with its line ---------------------------------------

LONG_LABEL = "a" * 64 + ".example"
ERROR_CASES = [
    # syntax
    ("keyword", m("\toptoin log_level info\n"),
     ":2: cannot parse line: unknown keyword 'optoin', expected config, option or list"),
    ("single quote", m("\toption log_level 'info\n"),
     ":2: cannot parse line: unterminated ' quote, expected a closing ' on the same line"),
    ("double quote", m('\toption log_level "info\n'),
     ':2: cannot parse line: unterminated " quote, expected a closing " on the same line'),
    ("too many words", m("\toption log_level info debug\n"),
     ":2: cannot parse line: got 3 words after 'option', expected option <name> '<value>'"),
    ("no value", m("\toption log_level\n"),
     ":2: cannot parse line: got 1 words after 'option', expected option <name> '<value>'"),
    ("no type", "config\n",
     ":1: cannot parse line: got 0 words after 'config', expected config <type> ['<name>']"),
    ("section name", "config dprive 'ma in'\n",
     ":1: cannot parse line: bad section name 'ma in', expected letters, digits or _"),
    ("option name", m("\toption 'log-level' info\n"),
     ":2: cannot parse line: bad option name 'log-level', expected letters, digits or _"),
    ("outside section", "option log_level info\n" + MAIN,
     ":1: cannot parse line: 'option' before any section, expected a config line first"),
    # one value
    ("int word", m("\toption listen_port abc\n"),
     ":2: dprive 'main' option 'listen_port': got 'abc', expected an integer from 1 to 65535"),
    ("port zero", m("\toption listen_port 0\n"),
     ":2: dprive 'main' option 'listen_port': got '0', expected an integer from 1 to 65535"),
    ("port high", MAIN + GOOD_UPSTREAM + "\toption port '65536'\n",
     ":7: upstream 'good' option 'port': got '65536', expected an integer from 1 to 65535"),
    ("int max", m("\toption padding_block 513\n"),
     ":2: dprive 'main' option 'padding_block': got '513', expected an integer from 0 to 512"),
    ("int min", m("\toption query_timeout_ms '199'\n"),
     ":2: dprive 'main' option 'query_timeout_ms': got '199', expected an integer from 200 to 30000"),
    ("int sign", m("\toption padding_block '+5'\n"),
     ":2: dprive 'main' option 'padding_block': got '+5', expected an integer from 0 to 512"),
    ("bool", MAIN + GOOD_UPSTREAM + "\toption enabled 'maybe'\n",
     ":7: upstream 'good' option 'enabled': got 'maybe', expected a boolean: "
     "1/yes/on/true/enabled or 0/no/off/false/disabled"),
    ("enum", m("\toption profile 'paranoid'\n"),
     ":2: dprive 'main' option 'profile': got 'paranoid', expected one of 'strict', 'opportunistic'"),
    ("ip prefix", m("\tlist listen_address '192.0.2.0/24'\n"),
     ":2: dprive 'main' option 'listen_address': got '192.0.2.0/24', "
     "expected an IPv4 or IPv6 address (no prefix length, no scope id)"),
    ("ip scope", m("\tlist listen_address 'fe80::1%eth0'\n"),
     ":2: dprive 'main' option 'listen_address': got 'fe80::1%eth0', "
     "expected an IPv4 or IPv6 address (no prefix length, no scope id)"),
    ("ip name", MAIN + GOOD_UPSTREAM.replace("192.0.2.1", "localhost"),
     ":5: upstream 'good' option 'address': got 'localhost', "
     "expected an IPv4 or IPv6 address (no prefix length, no scope id)"),
    ("ip octet", m("\tlist listen_address '256.0.0.1'\n"),
     ":2: dprive 'main' option 'listen_address': got '256.0.0.1', "
     "expected an IPv4 or IPv6 address (no prefix length, no scope id)"),
    ("hostname hyphen", MAIN + GOOD_UPSTREAM.replace("dns.example.net", "-x.example"),
     ":6: upstream 'good' option 'auth_name': got '-x.example', "
     "expected a host name such as dns.example.net (or '' for none)"),
    ("hostname empty label", MAIN + GOOD_UPSTREAM.replace("dns.example.net", "dns..net"),
     ":6: upstream 'good' option 'auth_name': got 'dns..net', "
     "expected a host name such as dns.example.net (or '' for none)"),
    ("hostname long label", MAIN + GOOD_UPSTREAM.replace("dns.example.net", LONG_LABEL),
     ":6: upstream 'good' option 'auth_name': got '%s...', "
     "expected a host name such as dns.example.net (or '' for none)" % LONG_LABEL[:60]),
    ("path", m("\toption ca_bundle 'etc/ssl/ca.pem'\n"),
     ":2: dprive 'main' option 'ca_bundle': got 'etc/ssl/ca.pem', "
     "expected an absolute path (starting with /)"),
    ("string empty", MAIN + GOOD_UPSTREAM.replace("'good'", "''"),
     ":4: upstream #1 option 'name': got '' (0 characters), "
     "expected text of 1 to 64 characters without control characters"),
    ("string long", MAIN + GOOD_UPSTREAM.replace("'good'", "'%s'" % ("n" * 65)),
     ":4: upstream #1 option 'name': got '%s...' (65 characters), "
     "expected text of 1 to 64 characters without control characters" % ("n" * 60)),
    ("string control", MAIN + GOOD_UPSTREAM.replace("'good'", "'go\tod'"),
     ":4: upstream #1 option 'name': got 'go\\x09od', "
     "expected text of 1 to 64 characters without control characters"),
    ("spki base64", MAIN + GOOD_UPSTREAM + "\tlist spki 'not base64!'\n",
     ":7: upstream 'good' option 'spki': got 'not base64!' (not base64), "
     "expected base64 of a 32-byte SHA-256 digest (44 characters)"),
    ("spki length", MAIN + GOOD_UPSTREAM + "\tlist spki 'AAAA'\n",
     ":7: upstream 'good' option 'spki': got 'AAAA' (decodes to 3 bytes), "
     "expected base64 of a 32-byte SHA-256 digest (44 characters)"),
    # options and sections
    ("list for single", m("\tlist profile strict\n"),
     ":2: dprive 'main' option 'profile': 'list' used for a single-value option, "
     "expected option profile '<value>'"),
    ("option repeated", m("\toption profile strict\n\toption profile strict\n"),
     ":3: dprive 'main' option 'profile': given again (first on line 2), expected it once"),
    ("option then list", m("\toption listen_address ::1\n\tlist listen_address ::1\n"),
     ":3: dprive 'main' option 'listen_address': given again (first on line 2), "
     "expected only 'list listen_address' lines for this list option"),
    ("unknown option", MAIN + GOOD_UPSTREAM + "\toption adress '192.0.2.1'\n",
     ":7: upstream 'good' option 'adress': unknown option (did you mean 'address'?), "
     "expected one of address, auth_name, enabled, keepalive_count, keepalive_idle_s, keepalive_interval_s, name, port, spki, transport"),
    ("unknown section", MAIN + "config forwarder 'fw'\n\toption anything 'x'\n" + GOOD_UPSTREAM,
     ":2: forwarder 'fw': unknown section type 'forwarder', expected 'dprive' or 'upstream'"),
    ("missing required", MAIN + "config upstream\n\toption name 'q'\n\toption auth_name q.example\n"
     + GOOD_UPSTREAM,
     ":2: upstream 'q': missing option 'address', "
     "expected an IPv4 or IPv6 address (no prefix length, no scope id)"),
    ("missing main", GOOD_UPSTREAM,
     ": no dprive section, expected one config dprive 'main'"),
    ("main unnamed", "config dprive\n" + GOOD_UPSTREAM,
     ":1: dprive #1: got an unnamed section, expected config dprive 'main'"),
    ("main misnamed", "config dprive 'global'\n" + GOOD_UPSTREAM,
     ":1: dprive 'global': got named 'global', expected config dprive 'main'"),
    ("two mains", MAIN + GOOD_UPSTREAM + MAIN,
     ":7: dprive 'main': another dprive section (the first is on line 1), expected exactly one"),
    ("section names", MAIN + "config upstream 'u'\n\toption name a\n\toption address 192.0.2.7\n"
     "\toption auth_name x.example\nconfig upstream 'u'\n\toption name b\n"
     "\toption address 192.0.2.8\n\toption auth_name x.example\n",
     ":6: upstream 'b': section name 'u' already used on line 2, expected unique section names"),
    # rules across sections
    ("names", MAIN + GOOD_UPSTREAM + GOOD_UPSTREAM.replace("192.0.2.1", "192.0.2.2"),
     ":8: upstream 'good': name 'good' already used by the upstream on line 3, "
     "expected a name no other upstream has"),
    ("none enabled", MAIN + GOOD_UPSTREAM + "\toption enabled 0\n",
     ": no enabled upstream, expected at least one 'config upstream' section with option enabled '1'"),
    ("no upstream", MAIN,
     ": no enabled upstream, expected at least one 'config upstream' section with option enabled '1'"),
    ("strict", MAIN + "config upstream\n\toption name 'plain'\n\toption address '192.0.2.9'\n",
     ":2: upstream 'plain': neither auth_name nor spki is set, expected at least one, because "
     "profile 'strict' (RFC 8310) sends queries only to an authenticated upstream"),
    ("same endpoint", MAIN + GOOD_UPSTREAM.replace("192.0.2.1", "2001:db8::1")
     + GOOD_UPSTREAM.replace("good", "twin").replace("192.0.2.1", "2001:DB8:0::1"),
     ":8: upstream 'twin': address '2001:db8::1' port 853 is also used by upstream 'good' on "
     "line 3, expected each enabled upstream at its own address and port"),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_error_message(text, message):
    problems = problems_of(text)
    assert F + message in problems
    # No other complaint: each case breaks exactly one rule.
    assert problems == [F + message]


@pytest.mark.parametrize("text", [
    MAIN + GOOD_UPSTREAM + "\toption enabled 0\n"
    + GOOD_UPSTREAM.replace("good", "twin"),                       # disabled twin: no clash
    MAIN + "\toption profile opportunistic\nconfig upstream\n\toption name p\n"
    "\toption address 192.0.2.9\n",                                # no auth outside strict
    MAIN + "config upstream\n\toption name p\n\toption address 192.0.2.9\n"
    "\tlist spki '%s'\n" % ("B" * 43 + "="),                       # a pin is enough in strict
    MAIN + GOOD_UPSTREAM + GOOD_UPSTREAM.replace("good", "b").replace("'192.0.2.1'", "192.0.2.1")
    + "\toption port 8853\n",                                      # same address, other port
])
def test_valid_edge_cases(text):
    parse_settings(text, F)


def test_all_errors_are_reported_in_line_order_with_a_count():
    text = (MAIN +                                  # 1
            "\toption listen_port abc\n"            # 2
            "\toption paddng 1\n"                   # 3
            "config upstream\n"                     # 4
            "\toption name 'q'\n"                   # 5
            "\toption port 0\n"                     # 6
            "config bogus\n")                       # 7
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, F)
    err = caught.value
    lines = err.report().split("\n")
    assert [line.split(": ")[0] for line in lines[:-1]] == [
        F + ":2", F + ":3", F + ":4", F + ":4", F + ":6", F + ":7"]
    assert "missing option 'address'" in lines[2]
    assert "neither auth_name nor spki" in lines[3]
    assert lines[-1] == "6 errors in " + F
    assert err.problems == lines[:-1]


def test_all_syntax_errors_are_reported_and_stop_validation():
    text = "config dprive main\n\toptoin a b\nconfig up 'x y'\n\toption q r\n\toption w 'v\n"
    problems = problems_of(text)
    # Line 4 sits under the unreadable line 3 and is not blamed on anything;
    # unknown options are not reported because validation did not run.
    assert [p.split(": ")[0] for p in problems] == [F + ":2", F + ":3", F + ":5"]


def test_load_config_unreadable_and_not_utf8(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope")
    assert caught.value.report() == "%s: cannot read: No such file or directory" % (tmp_path / "nope")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems == ["%s: cannot read: Is a directory" % tmp_path]
    bad = tmp_path / "latin1"
    bad.write_bytes(MAIN.encode() + b"\toption log_level 'caf\xe9'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert caught.value.problems == ["%s:2: byte 0xe9 is not UTF-8, expected UTF-8 text" % bad]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("config option list dprive upstream name address '\"\\#\t\n x1"),
               max_size=200))
def test_any_text_gives_settings_or_config_error(text):
    try:
        parse_settings(text, F)
    except ConfigError as err:
        assert err.problems and all(p.startswith(F + ":") for p in err.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_characters="'\n", blacklist_categories=("Cs",)), max_size=40))
def test_single_quoted_values_come_back_unchanged(value):
    (section,) = parse_uci("config x\n\toption v '%s'\n" % value, F)
    assert section.get("v") == value


# --- dprive check ---------------------------------------------------------------

def run_check(path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "dprive", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, env=env)


def test_check_accepts_the_default_file():
    result = run_check(DEFAULT_FILE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "%s: OK (4 upstreams, 4 enabled)\n" % DEFAULT_FILE
    assert result.stderr == ""


def test_check_rejects_a_bad_file(tmp_path):
    path = tmp_path / "dprive"
    text = DEFAULT_FILE.read_text().replace("option listen_port '5453'", "option listen_port 'abc'")
    text = text.replace("option address '9.9.9.9'", "option address '9.9.9'")
    path.write_text(text)
    result = run_check(path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(" dprive 'main' option 'listen_port': got 'abc', "
                             "expected an integer from 1 to 65535")
    assert lines[0].startswith("%s:" % path)
    assert "upstream 'quad9' option 'address': got '9.9.9'" in lines[1]
    assert lines[2] == "2 errors in %s" % path


def test_check_missing_file_is_one_line(tmp_path):
    result = run_check(tmp_path / "missing")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr == "%s: cannot read: No such file or directory\n" % (tmp_path / "missing")
