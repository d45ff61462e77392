"""The fuzz targets by name: each module has TARGET and one_input(bytes).

Importing this puts tests/fuzz and tests/unit on sys.path (the harnesses
import each other and tests/unit/coreharness.py by plain name, as the unit
tests do), and nothing else: no atheris, so pytest replays the corpus
without it.
"""

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (HERE, ROOT / "tests" / "unit", ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

NAMES = ("client", "upstream", "dtls", "config", "gateway")
CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"


def load(name):
    if name not in NAMES:
        raise KeyError("no fuzz target %r (targets: %s)" % (name, ", ".join(NAMES)))
    return importlib.import_module("fuzz_" + name)


def inputs(name):
    """(path, bytes) of the seed corpus and the regressions of target `name`."""
    found = []
    for base in (CORPUS / name, REGRESSIONS / name):
        if base.is_dir():
            for path in sorted(base.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    found.append((path, path.read_bytes()))
    return found


def dictionary(name):
    """Tokens for libFuzzer's -dict (the words a target's input is made of), or None.

    For config: the UCI keywords and every section type, option name and
    choice in schema.py, so the fuzzer writes options the schema knows and
    gets past "unknown option" into each type's checks.
    """
    if name != "config":
        return None
    from dprive import schema
    words = {"config", "option", "list", "package", "main", "'", '"', "#", "\\", "\n\t", "''",
             schema.SECTION_MAIN, schema.SECTION_UPSTREAM, schema.SECTION_GATEWAY,
             "1", "0", "yes", "off", "-1", "65536", "::1", "198.18.0.1", "/tmp/x", "fe80::1%eth0"}
    for options in (schema.MAIN_OPTIONS, schema.UPSTREAM_OPTIONS, schema.GATEWAY_OPTIONS):
        for option, spec in options.items():
            words.add(option)
            words.update(spec.get("choices", ()))
    return sorted(words)


def write_dictionary(name, path):
    """Write target `name`'s tokens to `path` in libFuzzer's format; False if it has none."""
    words = dictionary(name)
    if not words:
        return False
    with open(path, "w") as handle:
        for word in words:
            data = word.encode("utf-8")
            handle.write('"%s"\n' % "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C)
                                              else "\\x%02x" % b for b in data))
    return True
