"""config.py and uci.py check characters with plain sets, not `re` (re stays out of
the daemon's memory): each check says what the regular expression it replaced said."""

import re

from hypothesis import given, settings, strategies as st

from dprive import config, uci

# The expressions these checks replaced, with re's match/search as they were used.
REPLACED = [
    (config._is_int, re.compile(r"-?[0-9]+\Z").match),
    (config._is_label, re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z").match),
    (config._has_control, re.compile(r"[\x00-\x1f\x7f-\x9f]").search),
    (lambda t: uci.made_of(t, uci._TYPE_CHARS), re.compile(r"[A-Za-z0-9_-]+\Z").match),
    (lambda t: uci.made_of(t, uci._NAME_CHARS), re.compile(r"[A-Za-z0-9_]+\Z").match),
    (uci.is_config_line, re.compile(r"[ \t]*config([ \t]|\Z)").match),
]

EDGES = ["", "-", "--1", "-0", "007", "12\n", "1 ", "١٢", "a", "-a", "a-", "a-b", "x" * 63, "x" * 64,
         "_x", "A_b-9", "é", "\x00", "\x1f", " ", "\x7f", "\x9f", "\xa0", "ok\x85", "config", " \tconfig",
         "config ", "config\t'x'", "configx", "\nconfig", "  config\n", "Config", "\u2028config"]
ALPHABET = st.sampled_from(list("aZ09-_ \t\n\x00\x1f\x7f\x85\x9f\xa0é١") + ["config"])


def test_each_check_says_what_its_expression_said_on_the_edges():
    for check, expression in REPLACED:
        for text in EDGES:
            assert check(text) == bool(expression(text)), (check, expression, text)


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=70).map("".join))
def test_each_check_says_what_its_expression_said(text):
    for check, expression in REPLACED:
        assert check(text) == bool(expression(text)), (expression, text)


def test_the_checks_hold_in_use():
    ok = config.convert({"type": "hostname"}, "Dns.Example-1.net")
    assert ok == "dns.example-1.net"
    for spec, raw in (({"type": "hostname"}, "-bad.net"), ({"type": "int", "min": 0, "max": 9}, "1\n"),
                      ({"type": "path"}, "/etc/\x7fx"), ({"type": "spki"}, "!" * 44)):
        try:
            config.convert(spec, raw)
        except ValueError:
            continue
        raise AssertionError("%r accepted for %r" % (raw, spec))
