"""menu.d and acl.d of luci-app-dprive, against the views and the daemon:
every menu entry leads to a view that exists, behind the app's ACL group;
the ACL grants the dprive config and methods of dprive's ubus object that
LuCI can call, and nothing else (no file, exec or other ubus objects)."""

import pytest

from tests.luci_static.luckit import (ACL, ACL_GROUP, CONFIG, MENU, VIEW_DIR, VIEWS,
                                      acl_grants, load_json, ubus_methods)

PARENT = "admin/services/dprive"


@pytest.fixture(scope="module")
def menu():
    return load_json(MENU)


@pytest.fixture(scope="module")
def acl():
    return load_json(ACL)


def test_menu_has_the_parent_and_the_two_views(menu):
    assert set(menu) == {PARENT, PARENT + "/settings", PARENT + "/status"}
    assert menu[PARENT]["action"] == {"type": "alias", "path": PARENT + "/settings"}
    for name in VIEWS:
        node = menu[f"{PARENT}/{name}"]
        assert node["action"] == {"type": "view", "path": f"dprive/{name}"}
        assert node["title"] and isinstance(node["order"], int)
    assert menu[PARENT + "/settings"]["order"] < menu[PARENT + "/status"]["order"]
    for key, node in menu.items():
        assert set(node) <= {"title", "order", "action", "depends"}, key
        assert key.startswith("admin/services/dprive"), key


def test_every_menu_entry_depends_on_the_acl_group_and_the_config(menu, acl):
    for key, node in menu.items():
        assert node["depends"] == {"acl": [ACL_GROUP], "uci": {CONFIG: True}}, key
    assert ACL_GROUP in acl


@pytest.mark.parametrize("name", VIEWS)
def test_menu_views_exist(menu, name):
    path = menu[f"{PARENT}/{name}"]["action"]["path"]
    assert (VIEW_DIR.parent / (path + ".js")).is_file(), path


def test_acl_grants_only_the_dprive_config_and_ubus_object(acl):
    assert list(acl) == [ACL_GROUP]
    group = acl[ACL_GROUP]
    assert set(group) <= {"description", "read", "write"}
    assert group["description"]
    for level in ("read", "write"):
        assert set(group[level]) <= {"ubus", "uci"}, level     # no file, exec, cgi-io...
        assert group[level]["uci"] == [CONFIG], level
        assert set(group[level].get("ubus", {})) <= {"dprive"}, level
    for level, scope, obj, method in acl_grants(acl):
        for name in (obj, method or ""):
            assert not set(name) & set("*?["), (level, scope, obj, method)   # no fnmatch patterns


def test_every_granted_method_exists_and_takes_luci_session(acl):
    obj, methods = ubus_methods()
    assert obj == "dprive"
    for level, scope, name, method in acl_grants(acl):
        if scope != "ubus":
            continue
        assert method in methods, (level, method)
        # python3-ubus checks arguments strictly and LuCI adds ubus_rpc_session.
        assert "ubus_rpc_session" in methods[method], method


def test_reconnect_needs_write_and_status_read(acl):
    grants = acl_grants(acl)
    assert ("write", "ubus", "dprive", "reconnect") in grants
    assert ("read", "ubus", "dprive", "reconnect") not in grants
    assert ("read", "ubus", "dprive", "status") in grants
