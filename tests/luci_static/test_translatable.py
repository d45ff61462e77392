"""Every text the app shows goes through LuCI's _(): the views' own texts, and
the option help texts, which come from schema.py into dprive/schema.js as
literal _('...') calls (package/gen_luci_schema.py), so the i18n scanner puts
them into dprive.pot and LuCI looks them up in the user's language."""

import importlib.util

import pytest

from tests.luci_static.luckit import ROOT, SCHEMA_JS, VIEW_DIR, VIEWS, js_info
from dprive import schema

POT = ROOT / "luci-app" / "po" / "templates" / "dprive.pot"


def gen_pot():
    spec = importlib.util.spec_from_file_location("gen_luci_pot", ROOT / "package" / "gen_luci_pot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def helps():
    return {spec["help"] for opts in (schema.MAIN_OPTIONS, schema.UPSTREAM_OPTIONS)
            for spec in opts.values()}


@pytest.mark.parametrize("path", [VIEW_DIR / f"{n}.js" for n in VIEWS] + [SCHEMA_JS],
                         ids=lambda p: p.name)
def test_no_shown_text_escapes_translation(node, path):
    assert js_info(path)[0]["untranslated"] == []


def test_the_check_finds_untranslated_text(tmp_path, node):
    """A scratch view (not ours) with one bare text in each kind of place."""
    probe = tmp_path / "probe.js"
    probe.write_text(
        "'use strict';\n'require view';\n'require form';\n"
        "return view.extend({ render: function() {\n"
        "  var m = new form.Map('dprive', 'Bare map title'), s, o;\n"
        "  s = m.section(form.NamedSection, 'main', 'dprive', _('ok'), 'Bare section help');\n"
        "  o = s.option(form.Value, 'listen_port', _('Port'), 'Bare option help');\n"
        "  o.placeholder = 'Bare placeholder';\n"
        "  ui.addNotification(null, E('p', [ 'Bare notice %s'.format(1) ]));\n"
        "  return E('div', { 'title': 'Bare tooltip' }, [ E('span', {}, x ? 'Bare a' : _('b')), ' ', '%s (%s)' ]);\n"
        "} });\n")
    found = sorted(u["text"] for u in js_info(probe)[0]["untranslated"])
    assert found == ["Bare a", "Bare map title", "Bare notice %s", "Bare option help",
                     "Bare placeholder", "Bare section help", "Bare tooltip"]


def test_every_help_text_is_a_translatable_literal_in_schema_js():
    msgids = {m for m, _p, _c, _l in gen_pot().js_strings(SCHEMA_JS.read_text())}
    assert msgids == helps()


def test_every_help_text_is_in_the_pot():
    msgids = {msgid for _ctx, msgid, _plural in gen_pot().pot_keys(POT.read_text())}
    assert sorted(helps() - msgids) == []
