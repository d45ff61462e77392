"""The real LuCI views of luci-app-dprive in headless Chromium, against the stand-in
runtime/backend (tests/luci/standin) and a real dprive daemon on loopback.

Waits are on DOM state or on files/logs (bounded), never fixed sleeps."""

import re

from dprive import schema
from dprive.uci import parse_uci
from tests.luci.conftest import SCREENSHOTS
from tests.tools import clients, common

WRITES = {"set", "add", "delete", "order"}
# luci.js View.addFooter(): Save & Apply is a ui.ComboButton, a div.cbi-dropdown, not a <button>
APPLY = ".cbi-page-actions .cbi-button-apply"


def uci_writes(server):
    return [c for c in server.backend.calls if c[0] == "uci" and c[1] in WRITES]


def upstreams_in(path):
    return [sec for sec in parse_uci(path.read_text(), str(path)) if sec.type == "upstream"]


def field(page, sid, option):
    return page.locator('[id="widget.cbid.dprive.%s.%s"]' % (sid, option))


def open_settings(page, server):
    page.goto(server.page_url("settings"))
    page.wait_for_selector("#cbi-dprive .cbi-page-actions, .cbi-page-actions")
    field(page, "main", "listen_port").wait_for()


def open_status(page, server):
    page.goto(server.page_url("status"))
    page.wait_for_selector("#dprive-running, #dprive-not-running")


def grid_text(page, sid, option):
    """What a grid cell shows (form.js GridSection.renderTextValue)."""
    return page.locator('tr[data-sid="%s"] td[data-name="%s"]' % (sid, option)).inner_text()


def open_edit_dialog(page, sid):
    page.click('tr[data-sid="%s"] button.cbi-button-edit' % sid)
    page.wait_for_selector("body.modal-overlay-active .modal.cbi-modal .cbi-map")
    return page.locator(".modal.cbi-modal")


def wait_dialog_closed(page):
    # ui.js hideModal() only drops body.modal-overlay-active; the dialog stays in the DOM
    page.wait_for_selector("body:not(.modal-overlay-active)")


def save_edit_dialog(page):
    page.click(".modal.cbi-modal button.cbi-button-positive")
    wait_dialog_closed(page)


def cell(page, name, col):
    return page.locator('tr.dprive-upstream[data-name="%s"] td[data-col="%s"]' % (name, col))


def test_invalid_port_blocks_save_and_nothing_is_written(page, make_daemon, make_luci):
    dp = make_daemon()
    server = make_luci(dp)
    before = dp.conf_path.read_text()
    open_settings(page, server)
    port = field(page, "main", "listen_port")
    for bad in ("70000", "0", "abc", "1.5"):
        port.fill(bad)
        port.press("End")           # ui.js validates on keyup and blur, not on input
        assert "cbi-input-invalid" in (port.get_attribute("class") or ""), bad
    page.click("button.cbi-button-save")
    page.wait_for_selector(".modal >> text=Save error")
    assert "invalid input value" in page.inner_text(".modal")
    assert uci_writes(server) == []
    page.click(".modal button")
    page.click(APPLY)
    page.wait_for_selector(".modal >> text=Save error")
    assert uci_writes(server) == [] and server.backend.applied == 0
    assert dp.conf_path.read_text() == before
    # the rejected save surfaces only as the form's own error (as in LuCI: an unhandled rejection)
    assert all("invalid input value" in e for e in page.errors)


def test_save_stages_apply_writes_and_the_daemon_reloads(page, make_daemon, make_luci):
    dp = make_daemon()
    server = make_luci(dp)
    before = dp.conf_path.read_text()
    open_settings(page, server)
    field(page, "main", "padding_block").fill("256")
    field(page, "main", "profile").select_option("opportunistic")
    page.click("button.cbi-button-save")
    common.wait_until(lambda: any(c[1] == "set" for c in uci_writes(server)), 10, what="uci set")
    sets = [c[2] for c in uci_writes(server) if c[1] == "set" and c[2]["section"] == "main"]
    assert len(sets) == 1 and sets[0]["config"] == "dprive"
    assert sets[0]["values"]["padding_block"] == "256" and sets[0]["values"]["profile"] == "opportunistic"
    assert dp.conf_path.read_text() == before           # Save only stages
    assert "configuration reloaded" not in dp.log_text()
    page.wait_for_selector("button.cbi-button-save:not([disabled])")
    page.click(APPLY)
    page.wait_for_selector("text=Configuration changes applied.")
    main = parse_uci(dp.conf_path.read_text(), "dprive")[0]
    assert main.get("padding_block") == "256" and main.get("profile") == "opportunistic"
    assert main.get("control_socket") == str(dp.control_socket)     # untouched options survive
    common.wait_until(lambda: "configuration reloaded" in dp.log_text(), 10,
                      what="the daemon's reload; log:\n" + dp.log_tail(8))
    assert dp.status()["profile"] == "opportunistic"
    field(page, "main", "padding_block").wait_for()
    assert field(page, "main", "padding_block").input_value() == "256"
    page.screenshot(path=str(SCREENSHOTS / "settings.png"))
    assert page.errors == []


def test_upstream_from_preset_removed_and_reordered(page, make_daemon, make_luci, luci_unbound):
    dp = make_daemon(("local", "second"))
    server = make_luci(dp)
    open_settings(page, server)
    rows = page.locator("tr.cbi-section-table-row")
    assert rows.count() == 2
    page.select_option("#dprive-preset", "quad9")
    page.click("#dprive-preset-add")
    rows.nth(2).wait_for()
    new_sid = rows.nth(2).get_attribute("data-sid")
    assert grid_text(page, new_sid, "address") == "9.9.9.9"
    assert grid_text(page, new_sid, "auth_name") == "dns.quad9.net"
    assert grid_text(page, new_sid, "name") == "Quad9"
    # traffic stays on loopback: the daemon connects at once, so the preset is pointed at a
    # loopback address of its own before applying (the daemon wants distinct address+port)
    edit = open_edit_dialog(page, new_sid)
    assert field(edit, new_sid, "address").input_value() == "9.9.9.9"
    field(edit, new_sid, "address").fill("127.0.0.3")
    field(edit, new_sid, "port").fill(str(luci_unbound.tls_port))
    save_edit_dialog(page)
    page.wait_for_function("document.querySelector('tr[data-sid=\"%s\"] td[data-name=\"address\"]')"
                           ".textContent == '127.0.0.3'" % new_sid)
    # remove "second"
    second = page.locator("tr.cbi-section-table-row", has=page.locator('td[data-name="name"]', has_text="second"))
    second.locator("button.cbi-button-remove").click()
    page.wait_for_function("document.querySelectorAll('tr.cbi-section-table-row').length == 2")
    # drag the preset's row above "local"
    rows = page.locator("tr.cbi-section-table-row")
    quad9_row = page.locator('tr.cbi-section-table-row[data-sid="%s"]' % new_sid)
    quad9_row.locator(".drag-handle").drag_to(rows.nth(0), target_position={"x": 5, "y": 2})
    page.wait_for_function("document.querySelector('tr.cbi-section-table-row').getAttribute('data-sid') == %r" % new_sid)
    page.click(APPLY)
    page.wait_for_selector("text=Configuration changes applied.")
    ups = upstreams_in(dp.conf_path)
    assert [u.get("name") for u in ups] == ["Quad9", "local"]
    assert ups[0].get("auth_name") == "dns.quad9.net" and ups[0].get("address") == "127.0.0.3"
    assert ups[0].get("transport") == "tls" and ups[0].get("enabled", "1") == "1"
    common.wait_until(lambda: "configuration reloaded" in dp.log_text(), 10,
                      what="the daemon's reload; log:\n" + dp.log_tail(8))
    assert [u["name"] for u in dp.status()["upstreams"]] == ["Quad9", "local"]
    orders = [c[2] for c in uci_writes(server) if c[1] == "order"]
    assert orders and orders[-1]["config"] == "dprive"
    assert page.errors == []


def drag_above(page, moving_sid, target_sid):
    """Drag a grid row by its handle onto the upper half of another row (form.js
    TableSection.handleDrop inserts it above, then uci.move)."""
    page.locator('tr.cbi-section-table-row[data-sid="%s"] .drag-handle' % moving_sid).drag_to(
        page.locator('tr.cbi-section-table-row[data-sid="%s"]' % target_sid), target_position={"x": 5, "y": 2})
    page.wait_for_function("document.querySelector('tr.cbi-section-table-row').getAttribute('data-sid') == %r"
                           % moving_sid)


def applied_upstream_names(page, dp):
    page.click(APPLY)
    page.wait_for_selector("text=Configuration changes applied.")
    return [u.get("name") for u in upstreams_in(dp.conf_path)]


def test_drag_survives_apply_of_a_config_holding_default_values(page, make_daemon, make_luci):
    """The reorder trap, first half: the config spells out values equal to their defaults
    (profile 'strict', enabled '1', as the shipped /etc/config/dprive does). form.js removes
    such a value when rmempty, a pending delete makes uci.js reorderSections() skip `uci
    order`, and the drag is lost. The view must neither lose the order nor delete the values."""
    dp = make_daemon(("local", "second"))
    server = make_luci(dp)
    open_settings(page, server)
    sids = [r.get_attribute("data-sid") for r in page.locator("tr.cbi-section-table-row").all()]
    drag_above(page, sids[1], sids[0])
    assert applied_upstream_names(page, dp) == ["second", "local"]
    main = parse_uci(dp.conf_path.read_text(), "dprive")[0]
    assert main.get("profile") == "strict" and main.get("log_level") == "info"
    assert [u.get("enabled") for u in upstreams_in(dp.conf_path)] == ["1", "1"]
    assert [c for c in uci_writes(server) if c[1] == "delete"] == []
    assert page.errors == []


def test_drag_survives_apply_that_clears_a_field(page, make_daemon, make_luci):
    """The reorder trap, second half: a delete the user asked for (a cleared field, so the
    default applies) in the same Save & Apply as a drag."""
    dp = make_daemon(("local", "second"), padding_block=256)
    server = make_luci(dp)
    open_settings(page, server)
    sids = [r.get_attribute("data-sid") for r in page.locator("tr.cbi-section-table-row").all()]
    drag_above(page, sids[1], sids[0])
    field(page, "main", "padding_block").fill("")
    assert applied_upstream_names(page, dp) == ["second", "local"]
    assert parse_uci(dp.conf_path.read_text(), "dprive")[0].get("padding_block") is None
    deletes = [c[2] for c in uci_writes(server) if c[1] == "delete"]
    assert deletes == [{"config": "dprive", "section": "main", "options": ["padding_block"]}]
    assert page.errors == []


def test_a_login_without_luci_base_gets_access_denied(page, make_daemon, make_luci):
    """The app's ACL grants the "uci" scope of config dprive; the ubus methods of object
    uci are luci-base's (seen in the real stack): without that group the page cannot load."""
    dp = make_daemon()
    server = make_luci(dp, luci_base=False)
    page.goto(server.page_url("settings"))
    page.wait_for_selector(".alert-message.danger")
    assert "-32002: Access denied" in page.inner_text(".alert-message.danger")
    assert uci_writes(server) == []


def test_an_empty_upstream_needs_name_and_address(page, make_daemon, make_luci):
    """GridSection.handleAdd opens the Edit dialog for the new row; its Save refuses the
    required options left empty (form.js parse: not rmempty), nothing is added, and
    Dismiss takes the row away again."""
    dp = make_daemon()
    server = make_luci(dp)
    open_settings(page, server)
    page.click("#cbi-dprive-upstream .cbi-section-create button")
    page.wait_for_selector("body.modal-overlay-active .modal.cbi-modal .cbi-map")
    page.click(".modal.cbi-modal button.cbi-button-positive")
    page.wait_for_selector("body.modal-overlay-active .modal.cbi-modal button.cbi-button-positive:not([disabled])")
    assert page.locator("body.modal-overlay-active").count() == 1
    assert uci_writes(server) == []
    page.click(".modal.cbi-modal .button-row button:not(.cbi-button-positive)")     # Dismiss
    wait_dialog_closed(page)
    assert page.locator("tr.cbi-section-table-row").count() == 1
    assert uci_writes(server) == [] and page.errors == []


def test_save_without_changes_writes_nothing(page, make_daemon, make_luci):
    """Defaults: a Save of an untouched form neither writes the defaults of options the
    config leaves out (tcp_fastopen, keepalive_count ...) nor deletes the values it spells
    out equal to their defaults (profile 'strict', enabled '1')."""
    dp = make_daemon(("local", "second"))
    server = make_luci(dp)
    open_settings(page, server)
    page.click("button.cbi-button-save")
    page.wait_for_selector("button.cbi-button-save:not([disabled])")
    field(page, "main", "listen_port").wait_for()
    assert uci_writes(server) == []
    assert page.errors == []


def test_help_is_in_the_form_and_the_edit_dialog_not_in_the_grid(page, make_daemon, make_luci):
    """Every option's help from schema.py is on the page: under the field for the main
    options, in the row's Edit dialog for the upstream options; the grid itself has no
    row of help texts (form.js renderHeaderRows without nodescriptions)."""
    dp = make_daemon(("local", "second"))
    server = make_luci(dp)
    open_settings(page, server)
    grid = page.locator("#cbi-dprive-upstream")
    assert grid.locator("tr.cbi-section-table-descr").count() == 0
    table_text = grid.locator("table").inner_text()
    assert [h for h in (o["help"] for o in schema.UPSTREAM_OPTIONS.values()) if h in table_text] == []
    shown = page.locator("#view .cbi-value-description").all_inner_texts()
    assert sorted(shown) == sorted(o["help"] for o in schema.MAIN_OPTIONS.values())
    grid.screenshot(path=str(SCREENSHOTS / "settings-upstreams.png"))
    sid = page.locator("tr.cbi-section-table-row").first.get_attribute("data-sid")
    edit = open_edit_dialog(page, sid)
    shown = edit.locator(".cbi-value-description").all_inner_texts()
    assert sorted(shown) == sorted(o["help"] for o in schema.UPSTREAM_OPTIONS.values())
    edit.screenshot(path=str(SCREENSHOTS / "settings-edit-upstream.png"))
    page.click(".modal.cbi-modal .button-row button:not(.cbi-button-positive)")     # Dismiss
    wait_dialog_closed(page)
    assert uci_writes(server) == [] and page.errors == []


def test_status_shows_the_daemon_and_updates_on_the_next_poll(page, make_daemon, make_luci):
    dp = make_daemon()
    server = make_luci(dp)
    clients.kdig("a.test", "A", port=dp.port)
    open_status(page, server)
    row = page.locator('tr.dprive-upstream[data-name="local"]')
    row.wait_for()
    assert cell(page, "local", "state").inner_text() == dp.upstream_status("local")["state"]
    assert cell(page, "local", "transport").inner_text() == "tls"
    assert re.match(r"^[\d.]+ ms$", cell(page, "local", "srtt").inner_text())
    shown = int(cell(page, "local", "queries").inner_text())
    assert shown >= 1
    for name in ("a.test", "b.test", "c.test"):
        clients.kdig(name, "A", port=dp.port)
    page.wait_for_function(
        "document.querySelector('tr.dprive-upstream[data-name=\"local\"] td[data-col=\"queries\"]').textContent >= %d"
        % (shown + 3), timeout=15000)
    assert page.locator("#dprive-chart polyline").count() == 1
    assert page.locator(".cbi-button-save, .cbi-button-apply, .cbi-button-reset").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "status.png"))
    calls = [c for c in server.backend.calls if c[0] == "dprive"]
    assert calls and all(c[1] == "status" and c[2] == {} for c in calls)
    assert page.errors == []


def test_not_running_then_recovers(page, make_daemon, make_luci):
    dp = make_daemon()
    server = make_luci(dp)
    open_status(page, server)
    page.wait_for_selector("#dprive-running")
    dp.stop()
    page.wait_for_selector("#dprive-not-running", timeout=15000)
    assert "dprive is not running" in page.inner_text("#dprive-not-running")
    assert page.locator(".alert-message.danger").count() == 0
    dp.restart_keeping_config()
    page.wait_for_selector('tr.dprive-upstream[data-name="local"]', timeout=15000)
    assert page.errors == []


def test_reconnect_reaches_the_daemon(page, make_daemon, make_luci):
    dp = make_daemon()
    server = make_luci(dp)
    clients.kdig("a.test", "A", port=dp.port)
    connects = dp.upstream_status("local")["connects"]
    open_status(page, server)
    page.click('tr.dprive-upstream[data-name="local"] button.dprive-reconnect')
    page.wait_for_selector("text=Reconnecting local.")
    clients.kdig("b.test", "A", port=dp.port)
    common.wait_until(lambda: dp.upstream_status("local")["connects"] > connects, 10, what="a new session")
    page.click("#dprive-reconnect-all")
    page.wait_for_selector("text=Reconnecting every upstream.")
    reconnects = [c[2] for c in server.backend.calls if c[:2] == ("dprive", "reconnect")]
    assert reconnects == [{"name": "local"}, {"name": ""}]
    clients.kdig("c.test", "A", port=dp.port)
    common.wait_until(lambda: dp.upstream_status("local")["connects"] > connects + 1, 10, what="another session")
    page.wait_for_function(
        "+document.querySelector('tr.dprive-upstream[data-name=\"local\"] td[data-col=\"connects\"]').textContent > %d"
        % (connects + 1), timeout=15000)
    assert page.errors == []


def test_html_in_an_upstream_name_renders_as_text(page, make_daemon, make_luci):
    evil = "<img src=x onerror=alert(1)>"
    dp = make_daemon((evil,))
    server = make_luci(dp)
    open_status(page, server)
    page.locator("tr.dprive-upstream").first.wait_for()
    assert cell(page, evil, "name").inner_text() == evil
    assert page.locator("#view img").count() == 0
    assert page.locator("#dprive-chart text", has_text=evil).count() == 1
    open_settings(page, server)
    sid = page.locator("tr.cbi-section-table-row").first.get_attribute("data-sid")
    assert grid_text(page, sid, "name") == evil
    assert field(open_edit_dialog(page, sid), sid, "name").input_value() == evil
    assert page.locator("#view img").count() == 0
    assert page.dialogs == [] and page.errors == []
