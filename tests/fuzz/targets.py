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
