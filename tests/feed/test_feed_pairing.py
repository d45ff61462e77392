"""The feed tier runs in .venv-feed-<release> (Makefile: test-feed), with
DPRIVE_FEED_RELEASE naming the release: check that the venv holds exactly the
pyOpenSSL, cryptography, cffi and pycparser of tests/feed/requirements-<release>.txt,
so that the DTLS tests beside it really ran on the feed's versions."""

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

RELEASE = os.environ.get("DPRIVE_FEED_RELEASE")
HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not RELEASE, reason="only in a feed venv (make test-feed)")


def pins(release):
    """{name: version} from requirements-<release>.txt."""
    found = {}
    for line in (HERE / ("requirements-%s.txt" % release)).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line).groups()
            found[name] = version
    return found


def test_the_venv_has_the_feed_versions():
    wanted = pins(RELEASE)
    assert set(wanted) == {"pyOpenSSL", "cryptography", "cffi", "pycparser"}, wanted
    have = {name: metadata.version(name) for name in wanted}
    assert have == wanted


def test_dprive_sees_the_same_pyopenssl():
    from dprive.tls import dtls_support
    support = dtls_support.probe(dtls_support.CLIENT)
    wanted = pins(RELEASE)
    assert (support.versions["pyopenssl"], support.versions["cryptography"]) == (
        wanted["pyOpenSSL"], wanted["cryptography"])
    assert support.unavailable is None, support.unavailable
