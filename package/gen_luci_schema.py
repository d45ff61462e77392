#!/usr/bin/env python3
"""Generate luci-app/htdocs/luci-static/resources/dprive/schema.js.

    python3 package/gen_luci_schema.py           (re)write the file
    python3 package/gen_luci_schema.py --check   exit 1 if it is not up to date

The LuCI views validate with the same rules as `dprive check`: this script
writes the part of dprive.schema.schema_as_json() that describes
/etc/config/dprive (the sections "main" and "upstream"; "gateway" lives in
/etc/config/dprive-gateway, which the LuCI app does not edit) as a LuCI
module. A view loads it with `'require dprive.schema as schema'` and reads
`schema.main.options.listen_port.max` and the like.

Every option's `help` (schema.py is the one source of the option
documentation) is written as a literal `_('...')` call, not as a JSON
string: LuCI's i18n scanner (build/i18n-scan.pl, and our
package/gen_luci_pot.py) only sees literal `_()` calls, so this puts the help
texts into dprive.pot, and LuCI's global `_()` looks each one up in the
catalog of the user's language when the module loads (LuCI loads the catalog
before any view module). The views show them as the options' descriptions.

The module shape is the one LuCI's L.require() accepts: the header strings
first ('use strict', 'require baseclass'), then the factory's return value,
a baseclass subclass (LuCI instantiates it once and caches the instance).
tests/luci_static checks that regenerating gives the same bytes.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "luci-app" / "htdocs" / "luci-static" / "resources" / "dprive" / "schema.js"
SECTIONS = ("main", "upstream")


def load_schema():
    """schema_as_json() of the repository's src/dprive (not of whatever
    dprive the interpreter would import)."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from dprive import schema
    finally:
        sys.path.pop(0)
    return schema.schema_as_json()


def luci_schema(full):
    return copy.deepcopy({name: full[name] for name in SECTIONS})


def js_string(text):
    """A single-quoted JavaScript string literal of text (ASCII only)."""
    body = json.dumps(text, ensure_ascii=True)[1:-1]       # \\ \" \n \uXXXX escaped
    return "'" + body.replace('\\"', '"').replace("'", "\\'") + "'"


def render(full=None):
    """The text of schema.js."""
    if full is None:
        full = load_schema()
    sections = luci_schema(full)
    helps = []
    for section in sections.values():
        for spec in section["options"].values():
            if "help" in spec:
                helps.append(spec["help"])
                spec["help"] = "\0help%d\0" % (len(helps) - 1)
    body = json.dumps(sections, indent="\t", ensure_ascii=True)
    for i, text in enumerate(helps):
        body = body.replace('"\\u0000help%d\\u0000"' % i, "_(%s)" % js_string(text))
    return (
        "'use strict';\n"
        "'require baseclass';\n"
        "\n"
        "// generated, do not edit: package/gen_luci_schema.py writes this file from\n"
        "// dprive.schema.schema_as_json() (src/dprive/schema.py), the rules of `dprive check`;\n"
        "// each help text is a _() literal, so it is in dprive.pot and shown translated.\n"
        "return baseclass.extend(" + body + ");\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if the file is missing or differs")
    parser.add_argument("--out", default=str(OUT), help="file to write (default: %(default)s)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    text = render()
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} is not up to date: run python3 package/gen_luci_schema.py",
                  file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
