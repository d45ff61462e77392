"""One fuzz target under atheris (libFuzzer for Python), coverage-guided.

    .venv/bin/python tests/fuzz/run.py TARGET [libFuzzer flags] [CORPUS_DIR ...]

TARGET is one of targets.NAMES. Only dprive's own modules are instrumented
(atheris.instrument_imports), so coverage (libFuzzer's cov/ft) counts the
code under test, not the harness or the standard library. An exception out
of the harness, an invariant Violation included, is a finding: libFuzzer
writes the input as crash-<sha1> under -artifact_prefix and exits non-zero.
make fuzz (tests/fuzz/fuzz_all.py) runs every target this way.
"""

import sys

import targets


def main(argv):
    if len(argv) < 2 or argv[1] not in targets.NAMES:
        print("usage: run.py TARGET [libFuzzer flags] [CORPUS_DIR ...]; targets: %s"
              % " ".join(targets.NAMES), file=sys.stderr)
        return 2
    import atheris
    with atheris.instrument_imports(include=["dprive"]):
        module = targets.load(argv[1])
    atheris.Setup([argv[0]] + argv[2:], module.one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
