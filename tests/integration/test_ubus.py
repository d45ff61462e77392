"""The ubus object `dprive` on a bus as it really behaves: the daemon loads the
python3-ubus stand-in (tests/standins/ubus.py, from python-ubus's
ubus_python.c) and publishes on the fake ubusd (tests/standins/ubusd.py, from
openwrt/ubus). Calls are made the way LuCI (with ubus_rpc_session, through
rpcd) and `ubus call` (without) make them."""

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.tools import common
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.ubusd_proc import INVALID_ARGUMENT, METHOD_NOT_FOUND, NOT_FOUND, OK, FakeUbusd

PACKAGE_ACL = common.REPO_ROOT / "files" / "usr" / "share" / "acl.d" / "dprive.json"
PUBLISHED = "ubus object dprive published"


@pytest.fixture
def bus(tmp_path):
    with FakeUbusd(tmp_path / "ubusd") as ubusd:
        yield ubusd


def start_dprive(workdir, pki, unbound, bus, **kw):
    dp = DpriveProcess(workdir, pki.ca_cert, [upstream("local", unbound.tls_port)],
                       options={"log_level": "debug"}, **kw)
    dp.extra_env = bus.env()
    return dp.start()


@pytest.fixture
def daemon(tmp_path, pki, unbound, bus):
    dp = start_dprive(tmp_path / "dprive", pki, unbound, bus)
    try:
        common.wait_until(lambda: PUBLISHED in dp.log_text(), 10, what="the ubus object")
        yield dp
    finally:
        dp.stop()


def test_published_with_its_signatures(daemon, bus):
    S = 3   # BLOBMSG_TYPE_STRING
    assert bus.lookup("dprive") == {"dprive": {
        "status": {"ubus_rpc_session": S}, "stats": {"ubus_rpc_session": S},
        "reconnect": {"name": S, "ubus_rpc_session": S}, "dump": {}}}


def test_status_as_luci_calls_it(daemon, bus):
    status, reply = bus.call("dprive", "status", {"ubus_rpc_session": "0123abcd"})
    assert status == OK
    assert reply["version"] and [u["name"] for u in reply["upstreams"]] == ["local"]


def test_dump_for_the_command_line(daemon, bus):
    status, reply = bus.call("dprive", "dump")
    assert status == OK and reply["upstreams"][0]["name"] == "local"


def test_stats(daemon, bus):
    status, reply = bus.call("dprive", "stats", {"ubus_rpc_session": "s"})
    assert status == OK and "queries" in reply["counters"]


def test_strict_arguments_are_refused_as_python3_ubus_does(daemon, bus):
    assert bus.call("dprive", "status")[0] == INVALID_ARGUMENT                  # key missing
    assert bus.call("dprive", "status", {"ubus_rpc_session": "s", "x": "1"})[0] == INVALID_ARGUMENT
    assert bus.call("dprive", "dump", {"ubus_rpc_session": "s"})[0] == INVALID_ARGUMENT
    assert bus.call("dprive", "reconnect", {"name": 1, "ubus_rpc_session": "s"})[0] == INVALID_ARGUMENT
    assert bus.call("dprive", "nope")[0] == METHOD_NOT_FOUND
    assert bus.call("dprivex", "status")[0] == NOT_FOUND


def test_reconnect_all_one_and_unknown(daemon, bus):
    connects = daemon.upstream_status("local")["connects"]
    assert bus.call("dprive", "reconnect", {"name": "", "ubus_rpc_session": "s"}) == (OK, {"ok": True})
    assert bus.call("dprive", "reconnect", {"name": "local", "ubus_rpc_session": "s"}) == (OK, {"ok": True})
    status, reply = bus.call("dprive", "reconnect", {"name": "nope", "ubus_rpc_session": "s"})
    assert status == OK and reply["ok"] is False and "nope" in reply["error"]
    common.wait_until(lambda: daemon.upstream_status("local")["connects"] >= connects + 2, 5,
                      what="two new sessions")


def test_ubusd_started_after_dprive_and_restarted(tmp_path, pki, unbound):
    """No ubusd at first: the root cause is logged and dprive keeps trying; a
    restarted ubusd gets the object again on a new connection."""
    bus = FakeUbusd(tmp_path / "ubusd")
    dp = start_dprive(tmp_path / "dprive", pki, unbound, bus)
    try:
        common.wait_until(lambda: "Failed to connect to the ubus socket" in dp.log_text(), 10,
                          what="the publish failure in the log")
        assert bus.socket_path in dp.log_text()
        down = dp.status()["ubus"]
        assert down["published"] is False and "Failed to connect" in down["error"]
        assert "ubus: object dprive not published: " in dp.cli("status").stdout
        bus.start()
        common.wait_until(lambda: bus.lookup("dprive"), 15, what="dprive on the bus started late")
        common.wait_until(lambda: dp.status()["ubus"]["published"], 5, what="published in the status")
        assert "ubus: object dprive published" in dp.cli("status").stdout
        bus.stop()
        bus.start()
        common.wait_until(lambda: bus.lookup("dprive"), 15, what="dprive on the restarted bus")
        assert "lost the ubus connection" in dp.log_text()
        assert bus.call("dprive", "dump")[0] == OK
    finally:
        dp.stop()
        bus.stop()


def test_a_second_publisher_is_refused_with_the_cause_in_its_log(daemon, bus, tmp_path, pki, unbound):
    second = start_dprive(tmp_path / "second", pki, unbound, bus, name="second")
    try:
        common.wait_until(lambda: "cannot publish the ubus object dprive" in second.log_text(), 10,
                          what="the refusal in the log")
        assert "ubus error occured: Invalid argument" in second.log_text()
    finally:
        second.stop()


# -- ACL timing: a non-root dprive publishes only once ubusd has read its ACL ---------

def _service_user():
    """The package's user (its ACL names it); ubusd treats an unknown user as root only."""
    try:
        return pwd.getpwnam(json.loads(PACKAGE_ACL.read_text())["user"])
    except KeyError:
        return None


def _world_python():
    """A Python 3 the service user may run (a venv under /root is not)."""
    for path in (shutil.which("python3", path="/usr/bin:/bin"), os.path.realpath(sys.executable)):
        if path and os.access(path, os.X_OK) and all(
                os.stat(p).st_mode & 0o001 for p in Path(path).parents if str(p) != "/"):
            return path
    return None


@pytest.fixture
def as_service_user():
    """argv_prefix and a workdir to run the daemon as the package's user, or a skip."""
    user = _service_user()
    if os.getuid() != 0 or user is None or shutil.which("setpriv") is None:
        pytest.skip("needs root, setpriv and the `%s` user (tests/tools/ensure-deps.sh makes it)"
                    % "dprive")
    python = _world_python()
    src = common.REPO_ROOT / "src"
    if python is None or subprocess.run(
            ["setpriv", "--reuid", str(user.pw_uid), "--regid", str(user.pw_gid), "--clear-groups",
             python, "-c", "import sys; sys.path.insert(0, %r); import dprive" % str(src)],
            capture_output=True).returncode != 0:
        pytest.skip("user %s cannot run Python on %s" % (user.pw_name, src))
    workdir = Path(tempfile.mkdtemp(prefix="dprive-acl-"))
    os.chmod(workdir, 0o755)
    try:
        yield user, python, workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_acl_installed_after_ubusd_starts_counts_only_after_sighup(tmp_path, pki, unbound, as_service_user):
    user, python, workdir = as_service_user
    for sub in ("ubusd", "dprive"):
        (workdir / sub).mkdir()
        os.chown(workdir / sub, user.pw_uid, user.pw_gid)
    ca = workdir / "ca.pem"
    shutil.copy(pki.ca_cert, ca)
    os.chmod(ca, 0o644)
    bus = FakeUbusd(workdir / "ubusd", acl_dir=workdir / "acl.d").start()
    dp = DpriveProcess(workdir / "dprive", ca, [upstream("local", unbound.tls_port)],
                       options={"log_level": "debug"}, python=python,
                       argv_prefix=["setpriv", "--reuid", str(user.pw_uid), "--regid",
                                    str(user.pw_gid), "--clear-groups"])
    dp.extra_env = bus.env()
    try:
        dp.start()
        common.wait_until(lambda: "cannot publish the ubus object dprive" in dp.log_text(), 10,
                          what="the ACL refusal")
        assert "ubus error occured: Invalid argument" in dp.log_text()
        assert "uid %d may not publish dprive" % user.pw_uid in bus.log_text()
        # postinst installs the file while ubusd runs: not read yet, still refused
        installed = workdir / "acl.d" / "dprive.json"
        shutil.copy(PACKAGE_ACL, installed)
        os.chmod(installed, 0o644)
        refusals = bus.log_text().count("may not publish dprive")
        common.wait_until(lambda: bus.log_text().count("may not publish dprive") > refusals, 15,
                          what="one more refused retry")
        assert not bus.lookup("dprive")
        bus.hup()
        common.wait_until(lambda: bus.lookup("dprive"), 15, what="dprive published after SIGHUP")
        assert bus.call("dprive", "dump")[0] == OK
    finally:
        dp.stop()
        bus.stop()
