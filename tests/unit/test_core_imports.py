"""The sans-I/O core's import rules (DESIGN.md section 2), checked on the source.

No module under src/dprive/core may import a module that does I/O or keeps a
clock (socket, asyncio, ssl, time, select, selectors, threading), nor one that
MicroPython lacks (dataclasses, enum, typing). There is no exception for
`if TYPE_CHECKING:` blocks or imports inside functions: every import statement
and every __import__ / importlib.import_module call with a literal name counts.
The core also does not reach into the other layers (dprive.io, dprive.tls, ...).
"""

import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parents[2] / "src" / "dprive" / "core"

FORBIDDEN = frozenset({
    "socket", "asyncio", "ssl", "time", "select", "selectors", "threading",
    "dataclasses", "enum", "typing",
})


def imported_modules(source, package="dprive.core"):
    """(line, absolute module name) for every import in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.append((node.lineno, name))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = (func.id if isinstance(func, ast.Name) else
                      func.attr if isinstance(func, ast.Attribute) else None)
            arg = node.args[0]
            if (called in ("__import__", "import_module") and
                    isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                found.append((node.lineno, arg.value))
    return found


def violations(source, package="dprive.core"):
    bad = []
    for line, name in imported_modules(source, package):
        top = name.split(".")[0]
        if top in FORBIDDEN:
            bad.append((line, name, "forbidden in the core"))
        elif top == "dprive" and name != "dprive.core" and not name.startswith("dprive.core."):
            bad.append((line, name, "the core must not import other layers"))
    return bad


def package_of(path):
    """The package a relative import in `path` starts from: dprive.core for wire.py."""
    return ".".join(path.relative_to(CORE.parent.parent).parent.parts)


def core_files():
    return sorted(CORE.rglob("*.py"))


def test_core_has_modules():
    names = [p.name for p in core_files()]
    assert "wire.py" in names and "__init__.py" in names, names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports(path):
    bad = violations(path.read_text(encoding="utf-8"), package_of(path))
    assert not bad, "%s: %s" % (path, "; ".join("line %d: %s (%s)" % b for b in bad))


# The checker itself: each of these must be caught.
CAUGHT = [
    "import socket",
    "import os, ssl",
    "import asyncio.events",
    "from time import monotonic",
    "from select import poll",
    "import selectors as sel",
    "import threading",
    "from dataclasses import dataclass",
    "import enum",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import socket",
    "if False:\n    import typing",
    "def f():\n    import time\n    return time.time()",
    "class C:\n    def m(self):\n        from asyncio import sleep",
    "try:\n    import ssl\nexcept ImportError:\n    ssl = None",
    "mod = __import__('socket')",
    "import importlib\nt = importlib.import_module('time')",
    "from ..io import shell",
    "from dprive.tls import engine",
    "import dprive.io",
]

ALLOWED = [
    "import struct",
    "from . import wire",
    "from .wire import WireError",
    "from dprive.core import wire",
    "import dprive.core.wire",
    "import os",
    "timeout_ms = 5\nsocket_count = 1",
    "# import socket\n'import time'",
]


@pytest.mark.parametrize("source", CAUGHT)
def test_checker_catches(source):
    assert violations(source), source


@pytest.mark.parametrize("source", ALLOWED)
def test_checker_allows(source):
    assert not violations(source), violations(source)


def test_checker_reports_line_and_name():
    source = '"""A clock."""\n\nimport struct\nimport time\n'
    assert violations(source) == [(4, "time", "forbidden in the core")]
