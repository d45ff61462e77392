"""The gateway core's import rules, checked on the source as test_core_imports.py does
for src/dprive/core.

gateway/core.py and the modules it stands on (actions, peer_state, deadlines,
stateless, session_base, counters) take no socket, no clock, no asyncio, no
os, no TLS engine and nothing MicroPython lacks (hmac: the CookieJar is given
by the shell); of dprive they may import the core and each other only, so
what they pull in is checked too.
"""

import ast
import pathlib

import pytest

from test_core_imports import imported_modules

GATEWAY = pathlib.Path(__file__).resolve().parents[2] / "src" / "dprive" / "gateway"

CORE_MODULES = ("core.py", "actions.py", "peer_state.py", "deadlines.py", "stateless.py",
                "session_base.py", "counters.py")
ALLOWED_GATEWAY = {"dprive.gateway." + name[:-3] for name in CORE_MODULES}

FORBIDDEN = frozenset({
    "socket", "asyncio", "ssl", "time", "os", "select", "selectors", "threading", "hmac",
    "ctypes", "OpenSSL", "json", "logging", "dataclasses", "enum", "typing",
})


def gateway_imports(source):
    """imported_modules, plus dprive.gateway.X for each X of `from dprive.gateway import X`
    (or `from . import X`): the package alone says nothing."""
    found = [(line, name) for line, name in imported_modules(source, "dprive.gateway")
             if name != "dprive.gateway"]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module == "dprive.gateway"
                                                 or node.level == 1 and not node.module):
            found.extend((node.lineno, "dprive.gateway." + alias.name) for alias in node.names)
    return found


def violations(source):
    bad = []
    for line, name in gateway_imports(source):
        top = name.split(".")[0]
        if top in FORBIDDEN:
            bad.append((line, name, "forbidden in the gateway core"))
        elif top == "dprive" and not (name == "dprive.core" or name.startswith("dprive.core.")
                                      or name in ALLOWED_GATEWAY):
            bad.append((line, name, "not the core's"))
    return bad


@pytest.mark.parametrize("name", CORE_MODULES)
def test_gateway_core_module_imports(name):
    bad = violations((GATEWAY / name).read_text(encoding="utf-8"))
    assert not bad, "%s: %s" % (name, "; ".join("line %d: %s (%s)" % b for b in bad))


@pytest.mark.parametrize("source", [
    "import os", "import time", "from dprive.gateway import session", "from dprive.tls import dtls_engines",
    "from dprive.gateway.cookies import CookieJar", "import asyncio", "from . import server",
    "from dprive.io.lan import DatagramListener", "import hmac", "from dprive.gateway import status",
    "from dprive.gateway import peer_state, session",
])
def test_checker_catches(source):
    assert violations(source), source


@pytest.mark.parametrize("source", [
    "from dprive.core import wire", "from . import stateless", "from dprive.gateway.peer_state import Peer",
    "import heapq", "from collections import OrderedDict",
])
def test_checker_allows(source):
    assert not violations(source), violations(source)
