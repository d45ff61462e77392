#!/usr/bin/env python3
"""Extract luci-app-dprive's translatable strings into luci-app/po/templates/dprive.pot.

    python3 package/gen_luci_pot.py            (re)write the template
    python3 package/gen_luci_pot.py --check    exit 1 if its strings are not those of the sources

Sources: the JavaScript under luci-app/htdocs (calls `_('text')`,
`_('text', 'context')`, `N_(n, 'singular', 'plural'[, 'context'])` whose
text arguments are string literals) and the menu titles of
luci-app/root/usr/share/luci/menu.d/*.json (LuCI translates them when it
draws the menu). A translator copies the template to po/<lang>/dprive.po;
luci.mk then builds luci-i18n-dprive-<lang> from it.

The JavaScript is read by a small tokenizer (comments, the three kinds of
string literal with `${...}` nesting, regular expression literals), enough
to find the calls; tests/luci_static checks that it finds the same strings as
acorn, a real parser. The output has no date and is sorted by msgid, so
re-running it on unchanged sources gives the same bytes. Standard library only.
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "luci-app"
OUT = APP / "po" / "templates" / "dprive.pot"

HEADER = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n'
REGEX_AFTER_WORDS = {"return", "typeof", "case", "do", "else", "in", "instanceof", "new",
                     "delete", "void", "throw", "yield", "await"}
PUNCT = re.compile(r">>>=|\.\.\.|===|!==|\*\*=|<<=|>>=|>>>|=>|&&|\|\||\?\?|\?\.|[-+*/%&|^<>!=]=|"
                   r"\+\+|--|<<|>>|\*\*|[{}()\[\];,<>+\-*/%&|^!~?:=.@#]")
IDENT = re.compile(r"[A-Za-z_$][\w$]*")
NUMBER = re.compile(r"(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)n?")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class Token:
    __slots__ = ("kind", "value", "line")

    def __init__(self, kind, value, line):
        self.kind, self.value, self.line = kind, value, line   # kind: id num str tpl punct regex

    def __repr__(self):
        return f"Token({self.kind}, {self.value!r}, {self.line})"


def _unescape(body):
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in ESCAPES and not (n == "0" and i + 2 < len(body) and body[i + 2].isdigit()):
            out.append(ESCAPES[n])
            i += 2
        elif n == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif n == "u" and body[i + 2] == "{":
            end = body.index("}", i)
            out.append(chr(int(body[i + 3:end], 16)))
            i = end + 1
        elif n == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif n == "\r":
            i += 3 if body[i + 2:i + 3] == "\n" else 2
        elif n in "\n\u2028\u2029":
            i += 2
        else:
            out.append(n)
            i += 2
    return "".join(out)


def tokenize(src):
    """Tokens of a JavaScript source. A template literal without
    substitutions is a 'str' token; one with them is a 'tpl' token (not a
    literal) and the code inside `${...}` is tokenized as well."""
    tokens, i, line = [], 0, 1
    braces = []      # per open `{`/`${`: True when it opened a template substitution

    def regex_allowed():
        if not tokens:
            return True
        last = tokens[-1]
        if last.kind in ("num", "str", "tpl", "regex"):
            return False
        if last.kind == "id":
            return last.value in REGEX_AFTER_WORDS
        return last.value not in (")", "]", "}")

    def template_from(start, start_line):
        """Scan a template literal's text from start (after ` or }); return
        (end index, line, text or None, True when it stops at `${`)."""
        j, ln, text = start, start_line, []
        while j < len(src):
            c = src[j]
            if c == "\\":
                text.append(src[j:j + 2])
                ln += src[j:j + 2].count("\n")
                j += 2
            elif c == "`":
                return j + 1, ln, "".join(text), False
            elif c == "$" and src[j + 1:j + 2] == "{":
                return j + 2, ln, None, True
            else:
                ln += c == "\n"
                text.append(c)
                j += 1
        raise SyntaxError(f"line {start_line}: unterminated template literal")

    while i < len(src):
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = len(src) if end < 0 else end
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            if end < 0:
                raise SyntaxError(f"line {line}: unterminated comment")
            line += src.count("\n", i, end)
            i = end + 2
        elif c in "'\"":
            j = i + 1
            while j < len(src) and src[j] != c:
                if src[j] == "\n":
                    raise SyntaxError(f"line {line}: unterminated string")
                j += 2 if src[j] == "\\" else 1
            body = src[i + 1:j]
            tokens.append(Token("str", _unescape(body), line))
            line += body.count("\n")
            i = j + 1
        elif c == "`" or (c == "}" and braces and braces[-1]):
            if c == "}":
                braces.pop()
            start_line = line
            j, line, text, opened = template_from(i + 1, line)
            if c == "`" and not opened:
                tokens.append(Token("str", _unescape(text), start_line))
            elif c == "`":
                tokens.append(Token("tpl", None, start_line))
            if opened:
                braces.append(True)
            i = j
        elif c == "/" and regex_allowed():
            j, in_class = i + 1, False
            while j < len(src):
                d = src[j]
                if d == "\\":
                    j += 2
                    continue
                if d == "\n":
                    raise SyntaxError(f"line {line}: unterminated regular expression")
                if d == "[":
                    in_class = True
                elif d == "]":
                    in_class = False
                elif d == "/" and not in_class:
                    break
                j += 1
            j += 1
            while j < len(src) and (src[j].isalnum() or src[j] == "_"):
                j += 1
            tokens.append(Token("regex", src[i:j], line))
            i = j
        else:
            m = IDENT.match(src, i) if not c.isdigit() else None
            if m:
                tokens.append(Token("id", m.group(), line))
                i = m.end()
                continue
            m = NUMBER.match(src, i)
            if m and (c.isdigit() or c == "."):
                tokens.append(Token("num", m.group(), line))
                i = m.end()
                continue
            m = PUNCT.match(src, i)
            if not m:
                raise SyntaxError(f"line {line}: unexpected {c!r}")
            if m.group() == "{":
                braces.append(False)
            elif m.group() == "}" and braces:
                braces.pop()
            tokens.append(Token("punct", m.group(), line))
            i = m.end()
    return tokens


def _args(tokens, k):
    """The arguments of the call whose '(' is tokens[k], each a list of
    tokens; None if the call is not closed."""
    depth, args, cur = 0, [], []
    for t in tokens[k + 1:]:
        if t.kind == "punct" and t.value in "([{":
            depth += 1
        elif t.kind == "punct" and t.value in ")]}":
            if depth == 0:
                if cur:
                    args.append(cur)
                return args
            depth -= 1
        elif t.kind == "punct" and t.value == "," and depth == 0:
            args.append(cur)
            cur = []
            continue
        cur.append(t)
    return None


def _literal(arg):
    return arg[0].value if arg and len(arg) == 1 and arg[0].kind == "str" else None


def js_strings(src):
    """[(msgid, plural or None, context or None, line)] of `_()` and `N_()`
    calls with literal texts, in source order."""
    tokens = tokenize(src)
    out = []
    for k, t in enumerate(tokens):
        if t.kind != "id" or t.value not in ("_", "N_"):
            continue
        if k and tokens[k - 1].kind == "punct" and tokens[k - 1].value in (".", "?."):
            continue
        if k + 1 >= len(tokens) or tokens[k + 1].value != "(" or tokens[k + 1].kind != "punct":
            continue
        args = _args(tokens, k + 1) or []
        if t.value == "_":
            msgid = _literal(args[0]) if args else None
            ctx = _literal(args[1]) if len(args) > 1 else None
            plural = None
        else:
            msgid = _literal(args[1]) if len(args) > 1 else None
            plural = _literal(args[2]) if len(args) > 2 else None
            ctx = _literal(args[3]) if len(args) > 3 else None
        if msgid is not None:
            out.append((msgid, plural, ctx, t.line))
    return out


def menu_titles(path):
    """[(title, line)] of a menu.d file."""
    text = path.read_text()
    out = []
    for node in json.loads(text).values():
        title = node.get("title")
        if title:
            needle = '"title": ' + json.dumps(title)
            pos = text.find(needle)
            out.append((title, text.count("\n", 0, pos) + 1 if pos >= 0 else 0))
    return out


def collect(app=APP, root=ROOT):
    """{(context, msgid, plural): [reference, ...]} of the app's sources."""
    entries = {}

    def add(msgid, plural, ctx, ref):
        entries.setdefault((ctx or "", msgid, plural or ""), []).append(ref)

    for path in sorted((app / "htdocs").rglob("*.js")):
        rel = path.relative_to(root).as_posix()
        for msgid, plural, ctx, line in js_strings(path.read_text()):
            add(msgid, plural, ctx, f"{rel}:{line}")
    for path in sorted((app / "root" / "usr" / "share" / "luci" / "menu.d").glob("*.json")):
        rel = path.relative_to(root).as_posix()
        for title, line in menu_titles(path):
            add(title, None, None, f"{rel}:{line}")
    return entries


def _po_string(text):
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\t", "\\t").replace("\r", "\\r")) + '"'


def render(entries):
    parts = [HEADER]
    for (ctx, msgid, plural), refs in sorted(entries.items(), key=lambda e: (e[0][1], e[0][0], e[0][2])):
        lines = ["#: " + ref for ref in sorted(set(refs), key=lambda r: (r.rsplit(":", 1)[0],
                                                                         int(r.rsplit(":", 1)[1])))]
        if ctx:
            lines.append("msgctxt " + _po_string(ctx))
        lines.append("msgid " + _po_string(msgid))
        if plural:
            lines.append("msgid_plural " + _po_string(plural))
            lines += ['msgstr[0] ""', 'msgstr[1] ""']
        else:
            lines.append('msgstr ""')
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def pot_keys(text):
    """{(context, msgid, plural)} of a .pot written by render()."""
    keys, cur = set(), {}
    for line in text.splitlines() + [""]:
        m = re.match(r'^(msgctxt|msgid|msgid_plural) (".*")$', line)
        if m:
            cur[m.group(1)] = json.loads(m.group(2))
        elif not line.strip() and "msgid" in cur:
            if cur["msgid"]:
                keys.add((cur.get("msgctxt", ""), cur["msgid"], cur.get("msgid_plural", "")))
            cur = {}
    return keys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare the template's strings with the sources' (line numbers aside)")
    parser.add_argument("--out", default=str(OUT), help="file to write (default: %(default)s)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    entries = collect()
    if args.check:
        have = pot_keys(out.read_text()) if out.is_file() else set()
        if have != set(entries):
            for key in sorted(set(entries) - have):
                print("missing from the template:", key, file=sys.stderr)
            for key in sorted(have - set(entries)):
                print("no longer in the sources:", key, file=sys.stderr)
            print("run python3 package/gen_luci_pot.py", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(entries))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
