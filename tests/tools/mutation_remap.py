"""Carry tests/tools/mutation_equivalent.txt over to a new `make mutation` run.

    .venv-mutation/bin/python tests/tools/mutation_remap.py OLD_MUTANTS_DIR [NEW_MUTANTS_DIR]

mutmut 3 numbers the mutants of a function anew whenever the function
changes, so an entry of the list (a mutant's name and why it is equivalent)
can name another mutant, or none, in the next run. This finds each entry's
mutant in the run it was judged on (OLD_MUTANTS_DIR, kept aside) by what it
changes: the lines it removes and adds against its function's original, and
where in the function. It then names the survivor of the new run
(NEW_MUTANTS_DIR, default mutants) that makes the same change in the same
function, and prints the new list; entries it cannot place are said on
stderr, to be judged again. A survivor whose code is the original's (a
"mutation" such as upper-casing b"") is equivalent by construction and
listed as such. Standard library only.
"""

import ast
import difflib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mutation_score import EQUIVALENT, load, load_equivalent  # noqa: E402

NO_OP = "the mutant's code is the original's (a no-op change, e.g. casing b\"\")"


def functions(path):
    """{function name: source} of every mutant and original in one mutants file."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        src = f.read()
    return dict((node.name, ast.get_source_segment(src, node)) for node in ast.walk(ast.parse(src))
                if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name)


def where(name, mutants_dir):
    """The mutants file of a mutant's module and the mutant's function name there."""
    module, _, rest = name.partition(".x")
    return os.path.join(mutants_dir, "src", *module.split(".")) + ".py", "x" + rest


def change(funcs, key):
    """What a mutant changes: ((removed lines, added lines), place from the function's end)."""
    match = re.match(r"(.*)__mutmut_\d+$", key)
    orig, mutant = funcs.get(match.group(1) + "__mutmut_orig"), funcs.get(key)
    if orig is None or mutant is None:
        return None, None

    def lines(src, fname):
        out = [line.strip() for line in src.splitlines()]
        out[0] = out[0].replace(fname, "F", 1)      # a default argument can be mutated
        return out

    a, b = lines(orig, match.group(1) + "__mutmut_orig"), lines(mutant, key)
    removed, added, place, i = [], [], None, 0
    for line in difflib.ndiff(a, b):
        if line.startswith("? "):
            continue
        if line[:2] in ("- ", "+ ") and place is None:
            place = len(a) - i      # from the end: stabler when code is added above
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
        if not line.startswith("+ "):
            i += 1
    return (tuple(removed), tuple(added)), place


def function_of(name):
    """The function a mutant belongs to, a leading underscore aside (renames happen)."""
    return re.sub(r"__mutmut_\d+$", "", name.partition(".x")[2]).replace("ǁ_", "ǁ").lstrip("_")


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    old_dir, new_dir = argv[0], argv[1] if len(argv) > 1 else "mutants"
    cache = {}

    def funcs_of(path):
        if path not in cache:
            cache[path] = functions(path)
        return cache[path]

    survivors = [key for statuses in load(new_dir).values()
                 for key, status in statuses.items() if status == "survived"]
    found = {}
    for name in survivors:
        what, place = change(funcs_of(where(name, new_dir)[0]), where(name, new_dir)[1])
        if what is not None:
            found.setdefault((name.partition(".x")[0], what), []).append((place, name))
    new, lost = {}, []
    for name, why in load_equivalent().items():
        path, key = where(name, old_dir)
        what, place = change(funcs_of(path), key)
        candidates = [(p, n) for p, n in found.get((name.partition(".x")[0], what), [])
                      if function_of(n) == function_of(name)]
        here = [n for p, n in candidates if p == place]
        pick = here[0] if len(here) == 1 else candidates[0][1] if len(candidates) == 1 else None
        if what == ((), ()):
            continue        # no-ops: listed below from the new run itself
        if pick is None:
            lost.append(name)
        else:
            new[pick] = why
    for (module, what), candidates in found.items():
        if what == ((), ()):
            for place, name in candidates:
                new[name] = NO_OP
    print("# Survivors of `make mutation` judged equivalent: NAME  why the program behaves the same.")
    print("# Read by tests/tools/mutation_score.py; carried to a new run by mutation_remap.py.")
    for name in sorted(new):
        print("%s  %s" % (name, new[name]))
    for name in lost:
        print("not placed in the new run (judge it again): %s" % name, file=sys.stderr)
    print("%d placed, %d not placed; the list is %s" % (len(new), len(lost), EQUIVALENT),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
