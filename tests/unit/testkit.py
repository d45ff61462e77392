"""The few pytest features a portable test module uses, for CPython and MicroPython.

A test module whose first line is exactly

    # portable: runs under MicroPython too

is collected by pytest as usual and also run by tests/micropython/mpytest.py.
Such a module uses plain `test_*` functions (no fixtures, no classes) and takes
everything else from here:

    raises(ExcType)         context manager; `.value` is the exception caught
    eq(a, b)                fails with both values shown (asserts are not
                            rewritten under MicroPython)
    ok(cond, msg)           assert with a message that survives MicroPython
    parametrize(names, rows)  like pytest.mark.parametrize; under MicroPython
                            the rows live in PARAMS, keyed by the function,
                            because MicroPython functions take no attributes
    skip(reason)            skip the running test
    numbers(text)           the decimal numbers in an error text, in order: tests
                            pin an error's figures, not its wording

Under CPython, raises/parametrize/skip are pytest's own.
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"

# function -> (tuple of argument names, list of rows); read by mpytest.py.
PARAMS = {}


def _split_names(names):
    if isinstance(names, str):
        return tuple(n.strip() for n in names.split(",") if n.strip())
    return tuple(names)


def eq(a, b, msg=None):
    """Fail unless a == b, showing both values."""
    if not (a == b):
        text = "%r != %r" % (a, b)
        if msg:
            text = "%s: %s" % (msg, text)
        raise AssertionError(text)


def ok(cond, msg="condition is false"):
    if not cond:
        raise AssertionError(msg)


if MICROPYTHON:

    class SkipTest(Exception):
        pass

    def skip(reason=""):
        raise SkipTest(reason)

    class raises:
        """`with raises(WireError) as info:` ... `info.value` is the exception."""

        def __init__(self, exc_type):
            self.exc_type = exc_type
            self.value = None

        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                raise AssertionError("DID NOT RAISE %r" % (self.exc_type,))
            if not issubclass(exc_type, self.exc_type):
                return False        # the wrong exception: let it propagate
            self.value = exc
            return True

    def parametrize(names, rows):
        names = _split_names(names)

        def mark(fn):
            PARAMS[fn] = (names, list(rows))
            return fn
        return mark

else:
    import pytest

    SkipTest = pytest.skip.Exception
    skip = pytest.skip

    def raises(exc_type):
        return pytest.raises(exc_type)

    def parametrize(names, rows):
        names = _split_names(names)
        rows = list(rows)
        mark = pytest.mark.parametrize(",".join(names), rows)

        def apply(fn):
            PARAMS[fn] = (names, rows)
            return mark(fn)
        return apply


def expand(fn):
    """The argument tuples `fn` is to be called with: [()] unless parametrized."""
    entry = PARAMS.get(fn)
    if entry is None:
        return [()]
    names, rows = entry
    calls = []
    for row in rows:
        if len(names) == 1:
            calls.append((row,))
        else:
            calls.append(tuple(row))
    return calls


def numbers(text):
    """The decimal numbers in `text`, in order (the wording around them aside)."""
    found, digits = [], ""
    for ch in text + " ":
        if "0" <= ch <= "9":
            digits += ch
        elif digits:
            found.append(int(digits))
            digits = ""
    return found
