"""Print the mutation score of `make mutation`'s last run, from mutmut's own results.

    .venv-mutation/bin/python tests/tools/mutation_score.py [MUTANTS_DIR]

mutmut 3 keeps one JSON file per mutated source file (mutants/<path>.meta) with
the exit code of the test run on each mutant; this reads them with mutmut's
meaning of each code, and prints killed / total overall and per module, then
every mutant that was not killed (`mutmut show NAME` prints its diff).

A survivor judged equivalent (the program behaves the same whatever the
tests do: an error's wording, a default no caller uses) is listed with the
reason in tests/tools/mutation_equivalent.txt, one `NAME  reason` a line; it
is shown as "equivalent" and the score is also given without them. mutmut
numbers the mutants of a function anew when the function changes, so an
entry can go stale: entries that name no survivor are counted and shown.
Standard library only, so it can also read a copy of mutants/ elsewhere.
"""

import glob
import json
import os
import sys

# mutmut 3.3.1's status_by_exit_code, the codes it writes.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 35: "suspicious", 36: "timeout", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", -11: "segfault", None: "not checked"}
SHOWN = ("killed", "survived", "equivalent", "timeout", "no tests", "suspicious", "not checked")


EQUIVALENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mutation_equivalent.txt")


def load(mutants_dir):
    """{module path: {mutant name: status}} for every .meta file under `mutants_dir`
    (paths below the package: core/wire.py, gateway/core.py)."""
    modules = {}
    root = os.path.join(mutants_dir, "src", "dprive")
    for meta in sorted(glob.glob(os.path.join(mutants_dir, "**", "*.py.meta"), recursive=True)):
        with open(meta) as f:
            codes = json.load(f).get("exit_code_by_key", {})
        name = os.path.relpath(meta, root)[:-len(".meta")]
        modules[name] = {key: STATUS.get(code, "exit %s" % code) for key, code in codes.items()}
    return modules


def load_equivalent(path=EQUIVALENT):
    """{mutant name: why it is equivalent} from the list, comments and blank lines skipped."""
    found = {}
    if not os.path.exists(path):
        return found
    with open(path) as f:
        for text in f:
            text = text.strip()
            if text and not text.startswith("#"):
                name, _, why = text.partition(" ")
                found[name] = why.strip()
    return found


def tally(statuses):
    counts = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def line(label, statuses):
    counts = tally(statuses)
    total = len(statuses)
    killed = counts.get("killed", 0)
    rest = ", ".join("%s %d" % (s, counts[s]) for s in SHOWN[1:] if counts.get(s))
    others = ", ".join("%s %d" % (s, n) for s, n in sorted(counts.items()) if s not in SHOWN)
    pct = 100.0 * killed / total if total else 0.0
    return "%-24s %5d / %-5d killed  %5.1f%%  %s" % (label, killed, total, pct,
                                                       ", ".join(x for x in (rest, others) if x))


def main(argv):
    mutants_dir = argv[0] if argv else "mutants"
    modules = load(mutants_dir)
    if not modules:
        print("no mutmut results under %s/ (run `make mutation`)" % mutants_dir)
        return 1
    equivalent = load_equivalent()
    for statuses in modules.values():
        for key, status in statuses.items():
            if status == "survived" and key in equivalent:
                statuses[key] = "equivalent"
    everything = [s for statuses in modules.values() for s in statuses.values()]
    print("mutation score of the sans-I/O cores (killed / mutants):")
    for name, statuses in modules.items():
        if statuses:
            print("  " + line(name, list(statuses.values())))
    print("  " + line("total", everything))
    counts = tally(everything)
    judged = len(everything) - counts.get("equivalent", 0)
    if judged:
        print("  without the %d equivalent: %d / %d killed, %.1f%%" % (
            counts.get("equivalent", 0), counts.get("killed", 0), judged,
            100.0 * counts.get("killed", 0) / judged))
    names = set(key for statuses in modules.values() for key in statuses)
    stale = sorted(set(equivalent) - names)
    if stale:
        print("  %d entries of %s name no mutant of this run (stale)" % (
            len(stale), os.path.basename(EQUIVALENT)))
    print("not killed (`.venv-mutation/bin/mutmut show NAME` for the diff):")
    for statuses in modules.values():
        for key, status in sorted(statuses.items()):
            if status != "killed":
                why = equivalent.get(key) if status == "equivalent" else None
                print("  %-10s %s%s" % (status, key, "  (%s)" % why if why else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
