"""A module finder over source (ast): what a set of dprive modules imports,
followed through dprive's own modules and then through the stdlib's.

    python3.X -I tests/tools/import_scan.py SRC STDLIB [--skip MODULE] MODULE:WHY...

prints JSON [[module, imported at], ...] for every module outside dprive that
is reached. It runs under the interpreter whose stdlib it reads (3.13's
sources do not parse on 3.11). Imports inside `try: ... except ImportError`
are optional by design and not followed; in dprive's modules every import
counts (also those inside functions; of an `if sys.version_info ...` only the
branch the scanning Python takes), in the stdlib's only module-level ones
(what importing the module runs) outside `if` blocks. --skip leaves a module
out (the caller took its imports as the roots, e.g. cli.py's per command). Standard library only.
"""

import ast
import json
import sys
from pathlib import Path

OPTIONAL = {"ImportError", "ModuleNotFoundError"}


def _catches_import_error(handler):
    names = []
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for kind in kinds:
        if isinstance(kind, ast.Name):
            names.append(kind.id)
    return bool(OPTIONAL & set(names))


def _version_test(test):
    """True or False for `sys.version_info <op> (tuple)` under the Python running
    this scan (the branch's own), None for any other test."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and ast.unparse(test.left) == "sys.version_info"):
        return None
    try:
        other = ast.literal_eval(test.comparators[0])
    except ValueError:
        return None
    ops = {ast.GtE: tuple.__ge__, ast.Gt: tuple.__gt__, ast.Lt: tuple.__lt__, ast.LtE: tuple.__le__}
    op = ops.get(type(test.ops[0]))
    return None if op is None or not isinstance(other, tuple) else op(tuple(sys.version_info), other)


class Imports(ast.NodeVisitor):
    """(module, line, function) for each import that is not optional;
    `function` is the top-level def it sits in (None at module level)."""

    def __init__(self, package, module_level_only=False):
        self.package = package          # for relative imports
        self.module_level_only = module_level_only
        self.found = []
        self.function = None

    def visit_Try(self, node):
        if any(_catches_import_error(h) for h in node.handlers if h.type is not None):
            for child in node.handlers + node.orelse + node.finalbody:
                self.visit(child)
            return                       # the body's imports are optional
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_If(self, node):
        # In the stdlib, module-level `if`s pick a platform (`if _mswindows: import _winapi`)
        # or a script's main (`if __name__ == "__main__": import doctest`): not followed.
        if self.module_level_only:
            return
        taken = _version_test(node.test)
        if taken is None:
            self.generic_visit(node)
        else:            # `if sys.version_info >= (3, 12):` only the branch this Python takes
            for child in (node.body if taken else node.orelse):
                self.visit(child)

    def visit_FunctionDef(self, node):
        if self.module_level_only:
            return
        outer, self.function = self.function, self.function or node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, node.lineno, self.function))

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        self.found.append((base, node.lineno, self.function))
        for alias in node.names:   # `from pkg import submodule`
            self.found.append((base + "." + alias.name, node.lineno, self.function))


def module_file(name, root):
    """The source file of module `name` under `root`, or None."""
    path = root.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(name, path, module_level_only=False):
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    visitor = Imports(package, module_level_only)
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.found


def reach(roots, src, stdlib, skip=()):
    """Walk dprive's modules from `roots` ((module, why) pairs), then the stdlib's;
    yields (module, imported at) for every module outside dprive."""
    todo, seen = list(roots), set(skip)
    while todo:
        name, why = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        ours = name == "dprive" or name.startswith("dprive.")
        path = module_file(name, src if ours else stdlib)
        if not ours:
            yield name, why
        if path is None:
            continue     # an extension module, a builtin or a third-party package
        parts = name.split(".")
        for i in range(1, len(parts)):   # importing a.b.c runs a and a.b first
            todo.append((".".join(parts[:i]), why))
        where = path.relative_to(src if ours else stdlib)
        for module, line, _ in imports_of(name, path, module_level_only=not ours):
            # `from dprive.x import Name` also yields dprive.x.Name: only real modules count
            if module and (not module.startswith("dprive") or module_file(module, src)):
                todo.append((module, "%s:%d" % (where, line)))


def main(argv):
    src, stdlib, rest, skip = Path(argv[0]), Path(argv[1]), list(argv[2:]), []
    while rest[:1] == ["--skip"]:
        skip.append(rest[1])
        del rest[:2]
    roots = [tuple(arg.split(":", 1)) for arg in rest]
    json.dump(list(reach(roots, src, stdlib, skip)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
