"""What the fuzz tier (tests/fuzz, target config) found in config.py."""

import pytest

from dprive.config import ConfigError, parse_settings

BASE = ("config dprive 'main'\n\toption query_timeout_ms '%s'\nconfig upstream\n\toption name 'x'\n"
        "\toption address '198.18.0.1'\n\toption auth_name 'dns.example'\n")


def test_an_integer_of_thousands_of_digits_is_out_of_range_not_a_python_message():
    # int() refuses strings over 4300 digits (CVE-2020-10735) with a message
    # for developers ("use sys.set_int_max_str_digits()"), which ended up
    # in the config error glued to the value.
    with pytest.raises(ConfigError) as caught:
        parse_settings(BASE % ("1" * 5000), "dprive")
    (problem,) = caught.value.problems
    assert problem.startswith("dprive:2: dprive 'main' option 'query_timeout_ms': got '111")
    assert problem.endswith("...', expected an integer from 200 to 30000"), problem[-200:]
    assert "sys." not in problem


def test_long_but_plain_integers_still_read():
    assert parse_settings(BASE % ("0" * 30 + "5000"), "dprive").query_timeout_ms == 5000

