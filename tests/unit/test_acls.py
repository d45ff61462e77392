"""The ubusd ACL (the non-root daemon may publish `dprive`) and LuCI's rpcd ACL
(read status, call reconnect, the dprive UCI config; nothing else:
no file, exec or other objects), checked against the methods the daemon
registers."""

import json

from tests.tools import common
from tests.tools.ubusd_proc import published_methods

UBUSD_ACL = common.REPO_ROOT / "files" / "usr" / "share" / "acl.d" / "dprive.json"
RPCD_ACL = common.REPO_ROOT / "luci-app" / "root" / "usr" / "share" / "rpcd" / "acl.d" / "luci-app-dprive.json"


def test_ubusd_acl_lets_the_dprive_user_publish_only_its_object():
    acl = json.loads(UBUSD_ACL.read_text())
    assert acl == {"user": "dprive", "publish": ["dprive"]}


def test_rpcd_acl_grants_exactly_what_the_views_need():
    acl = json.loads(RPCD_ACL.read_text())
    assert list(acl) == ["luci-app-dprive"]
    grants = acl["luci-app-dprive"]
    assert set(grants) == {"description", "read", "write"}
    assert grants["read"] == {"ubus": {"dprive": ["status"]}, "uci": ["dprive"]}
    assert grants["write"] == {"ubus": {"dprive": ["reconnect"]}, "uci": ["dprive"]}


def test_every_granted_method_exists_with_the_session_key_luci_adds():
    methods = published_methods()
    grants = json.loads(RPCD_ACL.read_text())["luci-app-dprive"]
    for mode in ("read", "write"):
        for name in grants[mode]["ubus"]["dprive"]:
            assert name in methods, name
            assert "ubus_rpc_session" in methods[name]["signature"], name
    assert methods["dump"]["signature"] == {}, "the shell's twin takes no arguments"
