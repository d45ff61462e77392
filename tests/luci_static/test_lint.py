"""ESLint (pinned in package-lock.json) with LuCI's globals read-only
(eslint.config.mjs): the views and schema.js pass, and a module used
without its 'require' line is caught."""

import json
import os
import shutil

from tests.luci_static.luckit import APP, VIEW_DIR, VIEWS, eslint


def test_views_and_schema_pass_eslint(node):
    missing = [n for n in VIEWS if not (VIEW_DIR / f"{n}.js").is_file()]
    assert not missing, f"views not written yet: {missing}"
    proc = eslint(APP / "htdocs")
    assert proc.returncode == 0, messages(proc) or proc.stderr
    linted = {os.path.basename(r["filePath"]) for r in json.loads(proc.stdout)}
    assert linted == {"settings.js", "status.js", "schema.js"}


def messages(proc):
    """'file:line:col rule message' lines of ESLint's JSON report."""
    out = []
    for result in json.loads(proc.stdout or "[]"):
        for m in result["messages"]:
            out.append(f"{os.path.basename(result['filePath'])}:{m.get('line')}:{m.get('column')} "
                       f"{m.get('ruleId')} {m['message']}")
    return out


def test_eslint_config_catches_a_module_used_without_require(node, tmp_path):
    htdocs = tmp_path / "luci-app" / "htdocs"
    shutil.copytree(APP / "htdocs", htdocs)
    bad = htdocs / "luci-static" / "resources" / "view" / "dprive" / "probe.js"
    bad.write_text("'use strict';\n'require view';\n\n"
                   "return view.extend({ render: function() { return E('div', {}, [ _('x'), "
                   "uci.get('dprive', 'main', 'listen_port'), L.env.sessionid ]); } });\n")
    env = dict(os.environ, DPRIVE_LUCI_HTDOCS=str(htdocs))
    proc = eslint(htdocs, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert messages(proc) == ["probe.js:4:73 no-undef 'uci' is not defined."], proc.stdout
    bad.write_text(bad.read_text().replace("'require view';", "'require view';\n'require uci';"))
    proc = eslint(htdocs, env=env, cwd=tmp_path)
    assert proc.returncode == 0, messages(proc)
