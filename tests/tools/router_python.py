"""The router's Python on this machine: the stdlib split as OpenWrt's python3-* packages install it.

    rp = build_root(workdir / "root", ["python3-light", "python3-asyncio"], branch="24.10",
                    extra_paths=[repo / "src"])
    subprocess.run([rp.python, "-c", "import unicodedata"])   # fails: no python3-codecs

From this machine's CPython of the branch's version (3.11 for 24.10, 3.13 for
25.12) it makes ROOT/usr/lib/python$V holding exactly the files the named
packages (and what their DEPENDS pull in, as opkg would) install, by the
filespecs in tests/tools/python3_filespecs.txt: python3-base's list, each split
package's list, and python3-light = the rest minus its `-|` lines. Like
Python3/CompileAll + Python3/DeleteSourceFiles in OpenWrt's python3-package.mk,
modules are X.pyc only (the host's own compiled bytecode), unless sources=True
(the python3-*-src packages too).

The host's install tree is first cut to what OpenWrt's build installs:
configure --disable-test-modules (no test packages, no _test* extension
modules) and py_cv_module_nis / py_cv_module__tkinter = n/a
(lang/python/python3/Makefile).

The interpreter is the host's binary, run through ROOT/usr/bin/python$V (a
symlink) with ROOT/usr/bin/python$V._pth beside it: CPython's getpath then
takes sys.path from that file alone and runs isolated, without site (as -I -S):
the split stdlib, its lib-dynload, site-packages and the extra paths (dprive's
code, as the router's /usr/sbin/dprive puts /usr/lib/dprive on PYTHONPATH).
ROOT/usr/bin/python3 adds -B: OpenWrt's patch 004-do-not-write-bytes-codes
makes that the default there.

Third-party packages (`site` entries) are copied from site_dirs (e.g. the
venv's site-packages) when the host has them; the ones it has not (python3-ubus)
are listed in RouterPython.absent and left out, as on a router without them.

Standard library only; run `python3 tests/tools/router_python.py -h`.
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

FILESPECS = Path(__file__).with_name("python3_filespecs.txt")
BRANCH_VERSIONS = {"24.10": "3.11", "25.12": "3.13"}
TEST_DIRS = {"test", "tests", "idle_test"}
TEST_EXTENSIONS = ("_test*", "_xxtestfuzz*", "_ctypes_test*", "xxlimited*", "nis.*", "_tkinter.*")


class RouterPythonError(RuntimeError):
    pass


# ---- the filespecs ---------------------------------------------------------------

class Filespecs:
    """The entries of python3_filespecs.txt for one branch."""

    def __init__(self, branch, path=FILESPECS):
        if branch not in BRANCH_VERSIONS:
            raise RouterPythonError("unknown branch %r (known: %s)" % (branch, ", ".join(BRANCH_VERSIONS)))
        self.branch = branch
        self.version = BRANCH_VERSIONS[branch]
        self.depends, self.files, self.site = {}, {}, {}
        self.light_remove = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) < 3:
                raise RouterPythonError("%s:%d: want BRANCHES PACKAGE KIND VALUES" % (path, number))
            branches, package, kind, values = words[0].split(","), words[1], words[2], words[3:]
            if branch not in branches:
                continue
            self.depends.setdefault(package, [])
            values = [self._expand(v) for v in values]
            if kind == "depends":
                self.depends[package] += values
            elif kind == "file":
                self.files.setdefault(package, []).extend(values)
            elif kind == "site":
                self.site.setdefault(package, []).extend(values)
            elif kind == "remove" and package == "python3-light":
                self.light_remove += values
            else:
                raise RouterPythonError("%s:%d: unknown kind %r for %s" % (path, number, kind, package))

    def _expand(self, value):
        return (value.replace("$SO", "cpython-%s-*.so" % self.version.replace(".", ""))
                .replace("$V", self.version))

    def closure(self, packages):
        """The packages opkg installs for `packages`: them and their DEPENDS, recursively."""
        todo, seen = list(packages), set()
        while todo:
            package = todo.pop()
            if package in seen:
                continue
            if package not in self.depends:
                raise RouterPythonError("no python3 package %r on %s (%s)" % (package, self.branch, FILESPECS.name))
            seen.add(package)
            todo += self.depends[package]
        return seen

    def owners(self, tree):
        """{relative path: package} for the files of `tree` (paths under /usr/lib/python$V)."""
        def matches(rel, pattern):
            return fnmatch.fnmatchcase(rel, pattern) or rel.startswith(pattern.rstrip("/") + "/")

        owner = {}
        for rel in tree:
            for package, patterns in self.files.items():
                if any(matches(rel, p) for p in patterns):
                    owner[rel] = package
                    break
            else:
                if not any(matches(rel, p) for p in self.light_remove):
                    owner[rel] = "python3-light"
        return owner


# ---- the host's interpreter --------------------------------------------------------

_HOST_QUERY = """import json, sys, sysconfig
print(json.dumps({"version": "%d.%d" % sys.version_info[:2], "stdlib": sysconfig.get_path("stdlib"),
    "dynload": sysconfig.get_path("platstdlib") + "/lib-dynload", "executable": sys.executable,
    "cache_tag": sys.implementation.cache_tag, "builtins": sorted(sys.builtin_module_names)}))"""


def host_python(python):
    """What the interpreter `python` is: version, stdlib and lib-dynload dirs, cache tag."""
    res = subprocess.run([str(python), "-I", "-c", _HOST_QUERY], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RouterPythonError("%s does not run: %s" % (python, res.stderr.strip() or res.returncode))
    info = json.loads(res.stdout)
    info["executable"] = os.path.realpath(info["executable"])
    return info


def find_python(version):
    """This machine's CPython `version` (e.g. "3.13"), or None: the running one,
    python$V on PATH, or pyenv's (its shims refuse versions not selected)."""
    if "%d.%d" % sys.version_info[:2] == version:
        return os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    candidates = [os.environ.get("DPRIVE_PYTHON%s" % version.replace(".", "")), shutil.which("python" + version)]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", version + ".*", "bin", "python" + version)))
    for candidate in filter(None, candidates):
        try:
            info = host_python(candidate)
        except (OSError, RouterPythonError, subprocess.TimeoutExpired):
            continue
        if info["version"] == version:
            return info["executable"]
    return None


def install_tree(info):
    """The host's stdlib files as OpenWrt's build installs them, relative to /usr/lib/python$V."""
    stdlib, dynload = Path(info["stdlib"]), Path(info["dynload"])
    tree = {}
    for dirpath, dirnames, filenames in os.walk(stdlib):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d not in TEST_DIRS and d != "__pycache__"
                       and not (here == stdlib and d in ("site-packages", "lib-dynload"))]
        for name in filenames:
            tree[str((here / name).relative_to(stdlib))] = here / name
    for so in dynload.iterdir():
        if not any(fnmatch.fnmatchcase(so.name, p) for p in TEST_EXTENSIONS):
            tree["lib-dynload/" + so.name] = so
    return tree


def declared_depends(makefile):
    """{package: [python3-* names]} from the DEPENDS:= line of each `define Package/NAME`
    of a feed Makefile; a dependency on a package of the same Makefile (+dprive) brings
    its DEPENDS along, as opkg would."""
    text = makefile.read_text()
    found = {}
    for name, body in re.findall(r"^define Package/([\w-]+)\n(.*?)^endef", text, re.M | re.S):
        line = re.search(r"^\s*DEPENDS\s*:?=(.*)$", body, re.M)
        if line:
            # `+pkg`, or `+CONDITION:pkg`: the package is what follows the last colon
            found[name] = [word.lstrip("+@").rsplit(":", 1)[-1] for word in line.group(1).split()]
    result = {}
    for name, deps in found.items():
        names = set(deps)
        for dep in deps:
            names |= set(found.get(dep, ()))      # +dprive brings dprive's own DEPENDS
        result[name] = sorted(n for n in names if n.startswith("python3-"))
    return result


# ---- making the root ---------------------------------------------------------------

class RouterPython:
    def __init__(self, root, python, version, installed, absent, owners, builtins, stdlib):
        self.root = Path(root)
        self.stdlib = Path(stdlib)       # the host's full stdlib, with sources (for module finders)
        self.host_python = str(Path(python).with_name("python" + version).resolve())  # with its full stdlib
        self.python = str(python)        # the wrapper: run this
        self.version = version
        self.installed = installed       # python3-* packages, DEPENDS included
        self.absent = absent             # third-party packages this machine has no build of
        self.owners = owners             # {module name: package} over all packages of the branch
        self.builtins = builtins         # compiled into the interpreter (libpython3)

    @property
    def lib(self):
        return self.root / "usr" / "lib" / ("python" + self.version)

    def owner_of(self, module):
        """The package that has the top-level module `module`, or None."""
        top = module.split(".")[0]
        if top in self.builtins:
            return "libpython3"
        return self.owners.get(top)


def _module_name(rel):
    """The top-level import name a stdlib file provides ("asyncio/x.py" -> "asyncio")."""
    if rel.startswith("lib-dynload/"):
        return rel.split("/", 1)[1].split(".", 1)[0]
    first = rel.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def _copy_modules(files, dest_dir, cache_tag, sources, compile_python):
    """Copy {rel: src}; .py become rel.pyc (the host's cached bytecode, or compiled
    by `compile_python`) unless `sources`. Returns the number of files."""
    to_compile = []
    for rel, src in files.items():
        dest = dest_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix != ".py" or sources:
            shutil.copy2(src, dest)
            continue
        cached = src.parent / "__pycache__" / ("%s.%s.pyc" % (src.stem, cache_tag))
        if cached.exists():
            shutil.copy2(cached, dest.with_suffix(".pyc"))
        else:
            to_compile.append((str(src), str(dest.with_suffix(".pyc"))))
    if to_compile:
        script = ("import json, py_compile, sys\n"
                  "for src, dest in json.load(sys.stdin):\n"
                  "    py_compile.compile(src, cfile=dest, doraise=True)\n")
        res = subprocess.run([compile_python, "-I", "-c", script], input=json.dumps(to_compile),
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            raise RouterPythonError("compiling %d modules failed: %s" % (len(to_compile), res.stderr.strip()))
    return len(files)


def _site_files(names, site_dirs):
    """{rel: src} for the top-level names (globs) in the first site dir that has them all
    (a name starting with ? only if there), or None."""
    for site in map(Path, site_dirs):
        found = {}
        for pattern in names:
            hits = sorted(site.glob(pattern.lstrip("?")))
            if not hits and not pattern.startswith("?"):
                break
            for hit in hits:
                if hit.is_dir():
                    for f in hit.rglob("*"):
                        if f.is_file() and "__pycache__" not in f.parts:
                            found[str(f.relative_to(site))] = f
                else:
                    found[hit.name] = hit
        else:
            return found
    return None


def build_root(root, packages, branch="24.10", python=None, site_dirs=(), extra_paths=(), sources=False):
    """Make ROOT for `packages` (python3-* names, DEPENDS followed); returns a RouterPython."""
    specs = Filespecs(branch)
    python = python or find_python(specs.version)
    if python is None:
        raise RouterPythonError("no CPython %s on this machine for OpenWrt %s" % (specs.version, branch))
    info = host_python(python)
    if info["version"] != specs.version:
        raise RouterPythonError("%s is Python %s; OpenWrt %s has %s" % (python, info["version"], branch,
                                                                       specs.version))
    installed = specs.closure(["python3-base", *packages])
    tree = install_tree(info)
    owner = specs.owners(tree)

    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    lib = root / "usr" / "lib" / ("python" + specs.version)
    (lib / "lib-dynload").mkdir(parents=True)       # libpython3 makes it, even empty
    (lib / "site-packages").mkdir()
    chosen = {rel: src for rel, src in tree.items() if owner.get(rel) in installed}
    _copy_modules(chosen, lib, info["cache_tag"], sources, info["executable"])

    absent = []
    for package in sorted(installed):
        if package not in specs.site:
            continue
        files = _site_files(specs.site[package], site_dirs)
        if files is None:
            absent.append(package)
        else:
            _copy_modules(files, lib / "site-packages", info["cache_tag"], sources, info["executable"])

    bindir = root / "usr" / "bin"
    bindir.mkdir(parents=True)
    real = bindir / ("python" + specs.version)
    real.symlink_to(info["executable"])
    paths = ["../lib/python%s" % specs.version, "../lib/python%s/lib-dynload" % specs.version,
             "../lib/python%s/site-packages" % specs.version] + [str(Path(p).resolve()) for p in extra_paths]
    real.with_name(real.name + "._pth").write_text("\n".join(paths) + "\n")
    wrapper = bindir / "python3"
    wrapper.write_text('#!/bin/sh\nexec "${0%%/*}/python%s" -B "$@"\n' % specs.version)
    wrapper.chmod(0o755)

    modules = {}
    for rel, package in owner.items():
        modules.setdefault(_module_name(rel), package)
    for package, names in specs.site.items():
        for name in names:
            modules.setdefault(name.split(".", 1)[0], package)
    return RouterPython(root, wrapper, specs.version, installed, absent, modules, set(info["builtins"]),
                        info["stdlib"])


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--find"] and len(argv) == 2:     # for the Makefile: this machine's CPython X.Y
        found = find_python(argv[1])
        print(found or "", end="\n" if found else "")
        return 0 if found else 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="%(prog)s --find X.Y prints this machine's CPython X.Y")
    parser.add_argument("root", help="directory to make (emptied first)")
    parser.add_argument("packages", nargs="+", help="python3-* package names")
    parser.add_argument("--branch", default="24.10", choices=sorted(BRANCH_VERSIONS))
    parser.add_argument("--python", help="the host interpreter (default: CPython of the branch's version)")
    parser.add_argument("--site-dir", action="append", default=[], help="where third-party packages come from")
    parser.add_argument("--path", action="append", default=[], help="extra sys.path entry (dprive's code)")
    parser.add_argument("--sources", action="store_true", help="keep the .py files (the -src packages)")
    args = parser.parse_args(argv)
    try:
        rp = build_root(args.root, args.packages, args.branch, args.python, args.site_dir, args.path, args.sources)
    except RouterPythonError as err:
        print("router_python: %s" % err, file=sys.stderr)
        return 2
    print("python: %s" % rp.python)
    print("packages: %s" % " ".join(sorted(rp.installed)))
    if rp.absent:
        print("absent (no build here): %s" % " ".join(rp.absent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
