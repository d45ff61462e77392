"""The two views, read with acorn and run against recording stand-ins:
well-formed LuCI modules; every rpc.declare is granted by the ACL and
matches a method of the daemon's ubus object; every option the settings
view binds or writes is one schema.py knows for that section."""

import pytest

from tests.luci_static.luckit import (ACL, CONFIG, LUCI_MODULES, OUR_MODULES, VIEW_DIR, VIEWS,
                                      acl_grants, js_info, load_json, ubus_methods)
from dprive import schema

SECTIONS = {schema.SECTION_MAIN: schema.MAIN_OPTIONS,
            schema.SECTION_UPSTREAM: schema.UPSTREAM_OPTIONS}


def test_both_views_exist():
    missing = [n for n in VIEWS if not (VIEW_DIR / f"{n}.js").is_file()]
    assert not missing, f"views not written yet: {missing}"


def view(views, name):
    if name not in views:
        pytest.fail(f"view/dprive/{name}.js does not exist")
    return views[name]


@pytest.mark.parametrize("name", VIEWS)
def test_view_is_a_luci_module(views, name):
    info = view(views, name)
    head = info["header"]
    assert head["ok"], head["pragmas"]            # only 'use strict' and 'require ...'
    assert head["pragmas"][0] == "use strict"
    modules = [r["module"] for r in head["requires"]]
    assert len(modules) == len(set(modules))
    assert set(modules) <= LUCI_MODULES | OUR_MODULES, modules
    assert "view" in modules
    assert info["returns"] == "view.extend"
    assert info["compiles"], info["compileError"]    # as function(window, document, L, deps)


@pytest.mark.parametrize("name", VIEWS)
def test_rpc_declarations_are_literal(views, recorded, name):
    """What acorn reads in the source is what the module declares when run:
    no declaration is hidden from the checks below."""
    info = view(views, name)
    for decl in info["rpc"]:
        assert decl["object"] and decl["method"] and decl["params"] is not None, decl
    assert [(d["object"], d["method"], d["params"]) for d in info["rpc"]] == \
        [(d["object"], d["method"], d["params"]) for d in recorded[name]["rpc"]]


# rpcd's `uci` object (openwrt/rpcd uci.c rpc_uci_order_policy): the one method a view
# declares itself (settings.js stages a drag's order); rpcd checks write access to the
# config it names against the "uci" scope of the session's ACL.
RPCD_UCI_METHODS = {"order": ["config", "sections"]}


@pytest.mark.parametrize("name", VIEWS)
def test_rpc_calls_are_granted_and_match_the_ubus_signatures(recorded, name):
    grants = {(obj, method) for _, scope, obj, method in acl_grants(load_json(ACL))
              if scope == "ubus"}
    obj, methods = ubus_methods()
    for decl in recorded[name]["rpc"]:
        if decl["object"] == "uci":
            assert RPCD_UCI_METHODS.get(decl["method"]) == decl["params"], decl
            assert CONFIG in load_json(ACL)["luci-app-dprive"]["write"]["uci"]
            continue
        key = (decl["object"], decl["method"])
        assert key in grants, f"{name}.js calls {key}, which the ACL does not grant"
        assert decl["object"] == obj, key
        assert decl["method"] in methods, f"{key}: no such method on the ubus object"
        signature = methods[decl["method"]]
        assert "ubus_rpc_session" not in decl["params"], key    # the server adds it
        assert sorted(decl["params"]) == sorted(k for k in signature if k != "ubus_rpc_session"), \
            (key, decl["params"], signature)
        assert len(set(decl["params"])) == len(decl["params"]), key


def test_the_status_view_polls_status_and_can_reconnect(recorded):
    methods = {d["method"] for d in recorded["status"]["rpc"]}
    assert {"status", "reconnect"} <= methods


@pytest.mark.parametrize("name", VIEWS)
def test_views_touch_only_the_dprive_config(views, recorded, name):
    info = view(views, name)
    configs = {m["config"] for m in info["maps"]} | {u["config"] for u in info["uci"]}
    configs |= {m["config"] for m in recorded[name]["maps"]}
    configs |= {u["config"] for u in recorded[name]["uci"]}
    assert configs <= {CONFIG}, configs
    assert set(load_json(ACL)["luci-app-dprive"]["write"]["uci"]) >= configs


def test_settings_binds_only_schema_options_of_their_sections(recorded):
    sections = recorded["settings"]["sections"]
    assert sections, "the settings view binds no section"
    bound = 0
    for sec in sections:
        if sec["class"] == "NamedSection":
            sid, stype = sec["args"][0], sec["args"][1]
            assert (sid, stype) == ("main", schema.SECTION_MAIN), sec["args"]
        else:
            stype = sec["args"][0]
        assert stype in SECTIONS, f"section type {stype!r} is not in schema.py"
        for opt in sec["options"]:
            assert opt["class"] in ("Value", "Flag", "ListValue", "DynamicList", "DummyValue",
                                    "MultiValue", "TextValue", "HiddenValue"), opt
            if opt["class"] == "DummyValue":
                continue
            assert opt["name"] in SECTIONS[stype], \
                f"option {opt['name']!r} is not in schema.py for section {stype!r}"
            bound += 1
    assert bound


def test_settings_widgets_fit_the_schema_types(recorded):
    """A bool is a Flag, an enum a ListValue, a list option a DynamicList."""
    for sec in recorded["settings"]["sections"]:
        stype = sec["args"][1] if sec["class"] == "NamedSection" else sec["args"][0]
        for opt in sec["options"]:
            spec = SECTIONS[stype].get(opt["name"])
            if spec is None:
                continue
            if spec["type"] == "bool":
                assert opt["class"] == "Flag", opt
            elif spec["type"] == "enum":
                assert opt["class"] == "ListValue", opt
            elif spec.get("list"):
                assert opt["class"] == "DynamicList", opt


def test_options_written_by_hand_are_in_the_schema(views, recorded):
    """uci.set(config, sid, 'option', ...) outside the form (the presets)."""
    allowed = set(schema.MAIN_OPTIONS) | set(schema.UPSTREAM_OPTIONS)
    for name in VIEWS:
        for call in view(views, name)["uci"] + recorded[name]["uci"]:
            if call["method"] in ("set", "unset"):
                assert call["option"] in allowed, (name, call)


def test_the_checks_see_dynamic_bindings(tmp_path, node):
    """acorn alone would miss options bound in a loop; the recording run
    does not (a scratch view, not ours)."""
    from tests.luci_static.luckit import SCHEMA_JS, node as run_node
    probe = tmp_path / "probe.js"
    probe.write_text("'use strict';\n'require view';\n'require form';\n"
                     "'require dprive.schema as schema';\n"
                     "return view.extend({ render: function() {\n"
                     "  var m = new form.Map('dprive'), s = m.section(form.GridSection, "
                     "schema.upstream.section);\n"
                     "  ['name', 'bogus'].forEach(function(n) { s.option(form.Value, n); });\n"
                     "  return m.render(); } });\n")
    record = run_node("record_view.mjs", probe, SCHEMA_JS, "--render")
    assert record["sections"] == [{"class": "GridSection", "args": ["upstream"],
                                   "options": [{"class": "Value", "name": "name"},
                                               {"class": "Value", "name": "bogus"}]}]
    assert [o["name"] for o in js_info(probe)[0]["options"]] == [None]
