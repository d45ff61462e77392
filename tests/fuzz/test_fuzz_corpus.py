"""The fuzz tier inside `make test`: replay every seed and every regression
through its harness, then a short coverage-guided run of each target.

The replay needs no atheris (the harnesses read plain bytes); the short run
does, and is skipped with the reason where atheris is not installed. It is
a fixed number of runs with a fixed seed, so it is the same run each time;
should it find something, the input is printed (base64) for
tests/fuzz/regressions/<target>/. `make fuzz` is the long run.
"""

import base64
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

import targets

# Runs of the short fuzz per target: about 20 s for all five together on this
# machine's two shared cores (each harness has its own speed).
SHORT_RUNS = {"client": 400, "upstream": 1500, "dtls": 800, "config": 800, "gateway": 5000}
RUN_PY = str(targets.HERE / "run.py")


def _cases():
    for name in targets.NAMES:
        for path, _ in targets.inputs(name):
            yield pytest.param(name, path, id="%s/%s/%s" % (name, path.parent.parent.name, path.name))


@pytest.mark.parametrize("name,path", list(_cases()))
def test_replay(name, path):
    targets.load(name).one_input(path.read_bytes())


@pytest.mark.parametrize("name", targets.NAMES)
def test_every_target_has_seeds(name):
    seeds = [p for p, _ in targets.inputs(name) if p.parent.parent == targets.CORPUS]
    assert seeds, "tests/fuzz/corpus/%s is empty: run tests/fuzz/make_corpus.py" % name


def test_a_violation_fails_the_replay():
    """The harness can fail: an input whose reply breaks a rule is caught."""
    import coreshell
    harness = coreshell.CheckedHarness()
    key = harness.ask(b"\x12\x34")           # too short for a header: to be dropped
    with pytest.raises(coreshell.Violation):
        harness.check_action(("reply", key, b"\x12\x34" + b"\x00" * 10))


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (requirements-dev.txt pins it)")
@pytest.mark.parametrize("name", targets.NAMES)
def test_short_fuzz(name, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(targets.CORPUS / name, corpus)
    findings = tmp_path / "findings"
    findings.mkdir()
    cmd = [sys.executable, RUN_PY, name, str(corpus), "-runs=%d" % SHORT_RUNS[name], "-seed=1",
           "-artifact_prefix=%s/" % findings, "-timeout=60", "-rss_limit_mb=2048"]
    regressions = targets.REGRESSIONS / name
    if regressions.is_dir() and any(regressions.iterdir()):
        cmd.append(str(regressions))
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    found = sorted(findings.iterdir())
    if proc.returncode != 0 or found:
        shown = ["%s: %s" % (p.name, base64.b64encode(p.read_bytes()[:4096]).decode()) for p in found]
        pytest.fail("fuzz target %s failed (exit %d); inputs (base64):\n%s\n%s"
                    % (name, proc.returncode, "\n".join(shown), proc.stderr[-4000:]))
    # libFuzzer may end one run past -runs (seen: "Done 401 runs" for -runs=400)
    done = re.search(r"Done (\d+) runs", proc.stderr)
    assert done and int(done.group(1)) >= SHORT_RUNS[name], proc.stderr[-2000:]


def test_no_other_tier_imports_the_fuzz_tier():
    """The MicroPython tier (tests/unit's portable files) and the router's
    Python (src/ under OpenWrt's stdlib) must not come to need atheris or
    the harnesses."""
    names = ["atheris", "coreshell", "corescript", "bytesource", "targets", "fuzz_"]
    for tier in ("src", "tests/unit", "tests/micropython", "tests/routerpy", "tests/tools"):
        for path in (targets.ROOT / tier).rglob("*.py"):
            for line in path.read_text(errors="replace").splitlines():
                words = line.split()
                if words[:1] in (["import"], ["from"]) and len(words) > 1:
                    module = words[1]
                    assert not any(module == n or module.startswith(n + ".") or n == "fuzz_" and
                                   module.startswith(n) for n in names) and "tests.fuzz" not in module, \
                        "%s imports %s" % (path, module)
