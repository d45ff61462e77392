"""A tiny test runner for MicroPython: runs the portable unit tests.

    micropython mpytest.py TESTDIR [MODULE_OR_TEST ...]

Start it through tests/micropython/run.py, which sets MICROPYPATH so that
src/ and tests/unit/ are importable.

A module TESTDIR/test_*.py is portable when its first line is exactly
PORTABLE_MARK; the others are left to pytest. In each portable module every
callable named test_* runs, sorted by name (dir() order is not definition
order), once per row of its testkit.parametrize table. A test fails by raising;
testkit.SkipTest skips it. Extra arguments keep only the modules
("test_wire") or tests ("test_wire.test_set_id", "test_set_id") named.

The last line printed is "N passed, N failed"; the exit status is 1 when
anything failed or nothing ran.
"""

import gc
import os
import sys

PORTABLE_MARK = "# portable: runs under MicroPython too"


def first_line(path):
    with open(path) as f:
        line = f.readline()
    return line.rstrip("\r\n")


def portable_modules(test_dir):
    names = []
    for entry in sorted(os.listdir(test_dir)):
        if not (entry.startswith("test_") and entry.endswith(".py")):
            continue
        if first_line(test_dir + "/" + entry) == PORTABLE_MARK:
            names.append(entry[:-3])
    return names


def selected(module, test, wanted):
    if not wanted:
        return True
    for w in wanted:
        if w == module or w == test or w == module + "." + test:
            return True
    return False


def describe(args):
    if not args:
        return ""
    parts = []
    for a in args:
        text = repr(a)
        if len(text) > 40:
            text = text[:37] + "..."
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


def main(argv):
    if len(argv) < 2:
        print("usage: micropython mpytest.py TESTDIR [MODULE_OR_TEST ...]")
        return 2
    test_dir = argv[1].rstrip("/")
    wanted = argv[2:]
    passed = 0
    failed = 0
    skipped = 0

    if test_dir not in sys.path:
        sys.path.append(test_dir)
    import testkit

    modules = portable_modules(test_dir)
    print("portable modules: %s" % (", ".join(modules) or "none"))
    for mod_name in modules:
        if wanted and not [w for w in wanted if "." not in w or w.split(".")[0] == mod_name]:
            continue
        try:
            module = __import__(mod_name)
        except Exception as exc:
            failed += 1
            print("ERROR importing %s" % mod_name)
            sys.print_exception(exc)
            continue
        mod_passed = mod_failed = 0
        for test_name in sorted(dir(module)):
            if not test_name.startswith("test_"):
                continue
            fn = getattr(module, test_name)
            if not callable(fn) or not selected(mod_name, test_name, wanted):
                continue
            for args in testkit.expand(fn):
                label = "%s.%s%s" % (mod_name, test_name, describe(args))
                try:
                    fn(*args)
                except testkit.SkipTest as exc:
                    skipped += 1
                    print("SKIP %s: %s" % (label, exc))
                except Exception as exc:
                    mod_failed += 1
                    print("FAIL %s" % label)
                    sys.print_exception(exc)
                else:
                    mod_passed += 1
                gc.collect()
        print("%s: %d passed, %d failed" % (mod_name, mod_passed, mod_failed))
        passed += mod_passed
        failed += mod_failed

    if skipped:
        print("%d skipped" % skipped)
    if passed + failed == 0:
        print("no tests ran")
    print("%d passed, %d failed" % (passed, failed))
    if failed or passed == 0:
        return 1
    return 0


sys.exit(main(sys.argv))
