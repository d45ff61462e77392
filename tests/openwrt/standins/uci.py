"""Test stand-in for OpenWrt's `uci` command line, written for these tests.

Files live in $DPRIVE_ROOT/etc/config; changes are staged (as uci stages them
in /tmp/.uci) until `uci commit <config>`, and `get`/`show` see the staged
state. Supported: [-q] get | set | add_list | del_list | delete | show |
commit | revert, with `config.section[.option]` where section is a name or
`@type[index]`. Mutating commands are recorded in $DPRIVE_ROOT/record.log.
`uci __shell CONFIG` is private to the functions.sh stand-in (config_load).
"""

import json
import os
import re
import sys

from dprive.uci import parse_uci

ROOT = os.environ["DPRIVE_ROOT"]
CONFIG_DIR = os.path.join(ROOT, "etc", "config")
STAGE_DIR = os.path.join(ROOT, "tmp", ".uci")


class NotFound(Exception):
    pass


def record(*words):
    with open(os.path.join(ROOT, "record.log"), "a") as log:
        log.write("\t".join(("uci",) + words) + "\n")


def read_file(config):
    """[{'type', 'name', 'options': {name: str | [str]}}] of the committed file."""
    path = os.path.join(CONFIG_DIR, config)
    if not os.path.exists(path):
        raise NotFound(config)
    with open(path) as handle:
        sections = parse_uci(handle.read(), path)
    out = []
    for section in sections:
        options = {}
        for opt in section.options:
            if opt.is_list:
                old = options.get(opt.name)
                options[opt.name] = (old if isinstance(old, list) else []) + [opt.value]
            else:
                options[opt.name] = opt.value
        out.append({"type": section.type, "name": section.name, "options": options})
    return out


def quote(value):
    return "'%s'" % value.replace("'", "'\\''")


def write_file(config, sections):
    lines = []
    for section in sections:
        head = "config %s" % section["type"]
        if section["name"]:
            head += " " + quote(section["name"])
        lines.append(head)
        for name, value in section["options"].items():
            if isinstance(value, list):
                lines.extend("\tlist %s %s" % (name, quote(v)) for v in value)
            else:
                lines.append("\toption %s %s" % (name, quote(value)))
        lines.append("")
    with open(os.path.join(CONFIG_DIR, config), "w") as handle:
        handle.write("\n".join(lines))


def load(config):
    staged = os.path.join(STAGE_DIR, config)
    if os.path.exists(staged):
        with open(staged) as handle:
            return json.load(handle)
    return read_file(config)


def stage(config, sections):
    os.makedirs(STAGE_DIR, exist_ok=True)
    with open(os.path.join(STAGE_DIR, config), "w") as handle:
        json.dump(sections, handle)


def label(sections, index):
    section = sections[index]
    if section["name"]:
        return section["name"]
    same = [s for s in sections if s["type"] == section["type"]]
    return "@%s[%d]" % (section["type"], same.index(section))


def find(sections, ref):
    match = re.fullmatch(r"@([A-Za-z0-9_-]+)\[(-?\d+)\]", ref)
    if match:
        same = [s for s in sections if s["type"] == match.group(1)]
        try:
            return same[int(match.group(2))]
        except IndexError:
            raise NotFound(ref) from None
    for section in sections:
        if section["name"] == ref:
            return section
    raise NotFound(ref)


def split(path):
    """'a.b.c=v' -> (['a', 'b', 'c'], 'v' or None)."""
    value = None
    if "=" in path:
        path, value = path.split("=", 1)
    parts = path.split(".", 2)
    return parts, value


def show_lines(config, sections, only=None):
    out = []
    for index, section in enumerate(sections):
        if only is not None and section is not only:
            continue
        base = "%s.%s" % (config, label(sections, index))
        out.append("%s=%s" % (base, section["type"]))
        for name, value in section["options"].items():
            values = value if isinstance(value, list) else [value]
            out.append("%s.%s=%s" % (base, name, " ".join(quote(v) for v in values)))
    return out


def main(argv):
    quiet = False
    while argv and argv[0].startswith("-"):
        if argv[0] != "-q":
            raise SystemExit("uci stand-in: unsupported flag %s" % argv[0])
        quiet = True
        argv = argv[1:]
    command, args = argv[0], argv[1:]
    try:
        return run(command, args)
    except NotFound:
        if not quiet:
            print("uci: Entry not found", file=sys.stderr)
        return 1


def run(command, args):
    if command == "__shell":
        sections = load(args[0])
        for index, section in enumerate(sections):
            name = section["name"] or "cfg%d" % index
            for option, value in section["options"].items():
                text = " ".join(value) if isinstance(value, list) else value
                print("CONFIG_%s_%s=%s" % (name, option, quote(text)))
        return 0
    if command in ("commit", "revert"):
        record(command, *args)
        for config in args:
            staged = os.path.join(STAGE_DIR, config)
            if os.path.exists(staged):
                if command == "commit":
                    with open(staged) as handle:
                        write_file(config, json.load(handle))
                os.unlink(staged)
        return 0
    if command == "show":
        if not args:
            raise SystemExit("uci stand-in: show needs a config")
        parts, _ = split(args[0])
        sections = load(parts[0])
        only = find(sections, parts[1]) if len(parts) > 1 else None
        lines = show_lines(parts[0], sections, only)
        if len(parts) > 2:
            lines = [line for line in lines if line.split("=", 1)[0].endswith("." + parts[2])]
            if not lines:
                raise NotFound(args[0])
        print("\n".join(lines))
        return 0

    (path,) = args
    parts, value = split(path)
    sections = load(parts[0])
    if command == "get":
        section = find(sections, parts[1])
        if len(parts) == 2:
            print(section["type"])
            return 0
        if parts[2] not in section["options"]:
            raise NotFound(path)
        got = section["options"][parts[2]]
        print(" ".join(got) if isinstance(got, list) else got)
        return 0

    record(command, path)
    if command == "set" and len(parts) == 2:
        try:
            find(sections, parts[1])["type"] = value
        except NotFound:
            sections.append({"type": value, "name": parts[1], "options": {}})
    elif command == "set":
        find(sections, parts[1])["options"][parts[2]] = value
    elif command == "add_list":
        options = find(sections, parts[1])["options"]
        old = options.get(parts[2], [])
        options[parts[2]] = (old if isinstance(old, list) else [old]) + [value]
    elif command == "del_list":
        options = find(sections, parts[1])["options"]
        old = options.get(parts[2], [])
        kept = [v for v in (old if isinstance(old, list) else [old]) if v != value]
        if kept:
            options[parts[2]] = kept
        else:
            options.pop(parts[2], None)
    elif command == "delete" and len(parts) == 2:
        sections.remove(find(sections, parts[1]))
    elif command == "delete":
        options = find(sections, parts[1])["options"]
        if parts[2] not in options:
            raise NotFound(path)
        del options[parts[2]]
    else:
        raise SystemExit("uci stand-in: unsupported command %s" % command)
    stage(parts[0], sections)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
