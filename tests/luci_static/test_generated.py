"""The generated files of luci-app-dprive: dprive/schema.js is exactly what
package/gen_luci_schema.py makes from schema.py (so the page's rules cannot
drift from `dprive check`), and po/templates/dprive.pot holds exactly the
strings of the views and the menu (package/gen_luci_pot.py), which it finds
as acorn does."""

import importlib.util
import subprocess
import sys

import pytest

from tests.luci_static.luckit import APP, ROOT, SCHEMA_JS, VIEW_DIR, eval_schema, js_info
from dprive import schema

POT = APP / "po" / "templates" / "dprive.pot"


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "package" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "package" / script), *args],
                          capture_output=True, text=True, timeout=60)


def test_schema_js_is_what_the_generator_writes():
    assert SCHEMA_JS.read_text() == load("gen_luci_schema").render(), \
        "schema.js is stale: run python3 package/gen_luci_schema.py"
    assert run("gen_luci_schema.py", "--check").returncode == 0


def test_generator_rewrites_the_same_bytes(tmp_path):
    out = tmp_path / "schema.js"
    for _ in range(2):
        assert run("gen_luci_schema.py", "--out", str(out)).returncode == 0
        assert out.read_bytes() == SCHEMA_JS.read_bytes()
    out.write_text(out.read_text().replace('"max": 512', '"max": 513'))
    proc = run("gen_luci_schema.py", "--check", "--out", str(out))
    assert proc.returncode == 1 and "gen_luci_schema.py" in proc.stderr


def test_schema_js_header(node):
    text = SCHEMA_JS.read_text()
    assert text.startswith("'use strict';\n'require baseclass';\n")
    assert "generated, do not edit" in text.split("return", 1)[0]
    info = js_info(SCHEMA_JS)[0]
    assert info["header"]["ok"] and info["returns"] == "baseclass.extend" and info["compiles"]


def test_schema_js_carries_schema_py(node):
    """Evaluated, the module holds the dprive config's sections of
    schema_as_json(), every option with its type, default and help."""
    js = eval_schema()
    full = schema.schema_as_json()
    assert js == {"main": full["main"], "upstream": full["upstream"]}
    assert "gateway" not in js             # /etc/config/dprive-gateway: not the app's
    for key, section in js.items():
        py = full[key]["options"]
        assert set(section["options"]) == set(py), key
        for name, spec in section["options"].items():
            assert spec["type"] == py[name]["type"] and spec["help"] == py[name]["help"], name
            assert spec["help"].strip(), name
            if py[name].get("required"):
                assert spec["required"] is True and "default" not in spec, name
            else:
                assert spec["default"] == py[name]["default"], name
            for bound in ("min", "max", "choices", "list"):
                assert spec.get(bound) == py[name].get(bound), (name, bound)


def test_pot_holds_exactly_the_sources_strings():
    gen = load("gen_luci_pot")
    assert POT.is_file(), "run python3 package/gen_luci_pot.py"
    assert gen.pot_keys(POT.read_text()) == set(gen.collect()), \
        "dprive.pot is stale: run python3 package/gen_luci_pot.py"
    assert run("gen_luci_pot.py", "--check").returncode == 0


def test_pot_is_valid_and_reproducible(tmp_path):
    out = tmp_path / "dprive.pot"
    assert run("gen_luci_pot.py", "--out", str(out)).returncode == 0
    first = out.read_bytes()
    assert run("gen_luci_pot.py", "--out", str(out)).returncode == 0
    assert out.read_bytes() == first
    text = first.decode()
    assert text.startswith('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n')
    assert "POT-Creation-Date" not in text
    for title in ("Settings", "Status"):                    # menu titles
        assert f'msgid "{title}"' in text


@pytest.mark.parametrize("name", ["settings", "status"])
def test_pot_extractor_agrees_with_acorn(node, name):
    path = VIEW_DIR / f"{name}.js"
    if not path.is_file():
        pytest.fail(f"{path} does not exist")
    gen = load("gen_luci_pot")
    ours = {(m, p, c) for m, p, c, _ in gen.js_strings(path.read_text())}
    theirs = {(s["msgid"], s.get("plural"), s["context"]) for s in js_info(path)[0]["strings"]
              if s["msgid"] is not None}
    assert ours == theirs


def test_pot_extractor_on_tricky_javascript():
    gen = load("gen_luci_pot")
    src = ("var re = /[/'\"]_('no')/g, d = 4 / 2 / 1; // _('comment')\n"
           "/* _('block') */ var t = `a ${_('in template')} ${ {a: 1}.a } b`;\n"
           "x._('method'); _(`plain`); _('it\\'s\\n', 'ctx'); N_(n, 'one', 'many');\n"
           "_(name); _('a' + b);\n")
    assert [(m, p, c) for m, p, c, _ in gen.js_strings(src)] == [
        ("in template", None, None), ("plain", None, None), ("it's\n", None, "ctx"),
        ("one", "many", None)]
