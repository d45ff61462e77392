"""Every import of src/dprive resolves inside the packages its feed package declares.

A module finder over the source (ast), not a run: it also sees the code paths
the other tests never take. Scopes come from the command line: what
`dprive run|check|status` reach must be in dprive's DEPENDS, what only
`dprive gateway` reaches may use dprive-dtls's as well. Imports inside a
`try: ... except ImportError` are optional by design (python3-ubus, pyOpenSSL
for transport 'dtls') and not followed. The stdlib modules reached are
followed too, through their module-level imports, because a split package can
hide behind a module python3-light has (ssl -> _ssl in python3-openssl).
"""

import sys
import json
import subprocess

import pytest

from tests.tools import common
from tests.tools.import_scan import imports_of, module_file

SRC = common.REPO_ROOT / "src"
CLI = SRC / "dprive" / "cli.py"
SCANNER = common.REPO_ROOT / "tests" / "tools" / "import_scan.py"
# Which feed package each `dprive COMMAND` needs (cli.py's _cmd_<command>).
COMMAND_PACKAGE = {"run": "dprive", "check": "dprive", "status": "dprive", "options": "dprive",
                   "gateway": "dprive-dtls"}


def scan(roots, rp):
    """[(module, imported at)] outside dprive, reached from `roots` (tests/tools/import_scan.py,
    run by the branch's own CPython over its full stdlib)."""
    # cli.py itself is not followed: its imports per command are the roots
    argv = [rp.host_python, "-I", str(SCANNER), str(SRC), str(rp.stdlib), "--skip", "dprive.cli"]
    argv += ["%s:%s" % root for root in roots]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def roots_by_package():
    """{feed package: [(dprive module, why)]} from cli.py's _cmd_* functions."""
    roots = {"dprive": [("dprive.__main__", "python -m dprive"), ("dprive", "python -m dprive")],
             "dprive-dtls": []}
    commands = set()
    for module, line, function in imports_of("dprive.cli", CLI):
        command = function[len("_cmd_"):] if function and function.startswith("_cmd_") else None
        if command:
            commands.add(command)
        package = COMMAND_PACKAGE.get(command, "dprive")
        if not module.startswith("dprive") or module_file(module, SRC):
            roots[package].append((module, "cli.py:%d" % line))
    unknown = commands - set(COMMAND_PACKAGE)
    assert not unknown, "cli.py has commands this test does not place in a package: %s" % unknown
    return roots


def undeclared(roots, rp, allowed):
    problems = {}
    for module, why in scan(roots, rp):
        owner = rp.owner_of(module)
        if module_file(module, rp.stdlib) is None and owner is None:
            # `from pkg import name` also tried pkg.name: only a miss if pkg is unknown too
            parent = module.rpartition(".")[0]
            if parent and rp.owner_of(parent) is not None:
                continue
            problems.setdefault(module, "%s (imported at %s) is in no OpenWrt package" % (module, why))
        elif owner not in allowed and owner != "libpython3":
            top = module.split(".")[0]
            problems.setdefault(top, "%s (imported at %s) is in %s, which is not declared"
                                % (module, why, owner))
    return sorted(problems.values())


@pytest.fixture(scope="module")
def roots():
    return roots_by_package()


def test_cli_commands_are_placed_in_a_package(roots):
    assert any(name == "dprive.io.daemon" for name, _ in roots["dprive"]), roots
    assert any(name.startswith("dprive.gateway") for name, _ in roots["dprive-dtls"]), roots


def test_run_check_status_import_only_what_dprive_declares(roots, main_root):
    problems = undeclared(roots["dprive"], main_root, main_root.installed)
    assert not problems, "dprive's DEPENDS (%s) lack:\n  %s" % (
        " ".join(sorted(main_root.installed)), "\n  ".join(problems))


def test_gateway_imports_only_what_dprive_dtls_declares(roots, dtls_root):
    problems = undeclared(roots["dprive-dtls"], dtls_root, dtls_root.installed)
    assert not problems, "dprive-dtls's DEPENDS (%s) lack:\n  %s" % (
        " ".join(sorted(dtls_root.installed)), "\n  ".join(problems))


def test_the_scan_follows_only_the_version_branch_its_python_takes(tmp_path):
    """spki.py picks _sha2 (3.12+) or _sha256 (3.11) by sys.version_info: the scan
    of each branch's stdlib must see only the one that branch imports."""
    from tests.tools import import_scan
    path = tmp_path / "mod.py"
    path.write_text("import sys\nif sys.version_info >= (3, 12):\n    import new_one\n"
                    "else:\n    import old_one\nif other:\n    import both\n")
    found = {name for name, _, _ in import_scan.imports_of("mod", path)}
    taken, other = ("new_one", "old_one") if sys.version_info >= (3, 12) else ("old_one", "new_one")
    assert taken in found and other not in found and "both" in found
