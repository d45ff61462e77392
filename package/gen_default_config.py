#!/usr/bin/env python3
"""Write the default config files, comments and all, from src/dprive/schema.py.

    python3 package/gen_default_config.py           (re)write them
    python3 package/gen_default_config.py --check   exit 1 if one is not up to date

The comments of /etc/config/dprive are gone after the first Save & Apply in
LuCI, so they are generated (dprive.config_docs) from the schema's `help` and
`doc`, which `dprive options` prints too, and the same text is shipped
read-only as /usr/share/dprive/*.example:

    files/etc/config/dprive            files/usr/share/dprive/dprive.example
    files/etc/config/dprive-gateway    files/usr/share/dprive/dprive-gateway.example

tests/unit/test_config_docs.py checks that the files are what this writes.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_docs():
    """dprive.config_docs of the repository's src (not of whatever dprive is installed)."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from dprive import config_docs
    finally:
        sys.path.pop(0)
    return config_docs


def outputs():
    """{path in the repository: text} for every generated file."""
    docs = load_docs()
    files = {}
    for kind, (installed, example, _) in docs.FILES.items():
        text = docs.default_config(kind)
        files[ROOT / "files" / installed.lstrip("/")] = text
        files[ROOT / "files" / example.lstrip("/")] = text
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if a file is missing or differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT))
    for path in stale:
        print("%s is not up to date: run python3 package/gen_default_config.py"
              % path.relative_to(ROOT), file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
