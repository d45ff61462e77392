"""Run the fake ubusd (tests/standins/ubusd.py) for a test, and call objects
on it the way `ubus call` and rpcd do.

    bus = FakeUbusd(workdir).start()      # ACLs from workdir/acl.d, read now and on bus.hup()
    dp.extra_env = bus.env()              # the daemon's python3-ubus stand-in connects to it
    bus.call("dprive", "status", {"ubus_rpc_session": "s"})   # -> (status, reply)
"""

import os
import signal
import sys
import types

from dprive import status_client, ubus_object
from tests.tools import common


def published_methods():
    """What the daemon gives ubus.add(): UbusObject.method_table, in python3-ubus's
    {name: {"signature": {arg: type}, "method": fn}} form (for the ACL checks)."""
    fake_ubus = types.SimpleNamespace(BLOBMSG_TYPE_STRING=3)
    return ubus_object.UbusObject(daemon=None, loop=None).method_table(fake_ubus)

STANDINS = common.REPO_ROOT / "tests" / "standins"
OK, INVALID_ARGUMENT, METHOD_NOT_FOUND, NOT_FOUND = 0, 2, 3, 4
UNKNOWN_ERROR = 9


class FakeUbusd(common.ServerProcess):
    def __init__(self, workdir, acl_dir=None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = str(self.workdir / "ubus.sock")
        self.acl_dir = acl_dir or self.workdir / "acl.d"
        self.acl_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "ubusd.log"

    def start(self, timeout_s=10):
        # ubusd lets uid 0 do anything; a test run by another user is that user's bus.
        argv = [sys.executable, str(STANDINS / "ubusd.py"), "-s", self.socket_path,
                "-A", str(self.acl_dir), "--superuser-uid", str(os.getuid())]
        self.proc = common.spawn(argv, self.log_path)
        common.wait_until(self._answers, timeout_s, what="the fake ubusd on %s" % self.socket_path)
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise common.StopWaiting("the fake ubusd exited: %s" % self.log_text())
        try:
            self.lookup("*")
            return True
        except OSError:
            return False

    def log_text(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def env(self):
        """What a daemon needs to load the python3-ubus stand-in and find this bus."""
        return {"PYTHONPATH": str(STANDINS), "DPRIVE_TEST_UBUS": self.socket_path}

    def hup(self):
        """`killall -HUP ubusd`: reread the ACL files."""
        reads = self.log_text().count("reading ACLs")
        os.kill(self.proc.pid, signal.SIGHUP)
        common.wait_until(lambda: self.log_text().count("reading ACLs") > reads, 5,
                          what="ubusd to reread its ACLs")

    def call(self, obj, method, args=None, timeout_s=5):
        """`ubus call OBJ METHOD ARGS`: (status, first reply or None)."""
        answer = status_client.request(self.socket_path, {"object": obj, "method": method,
                                                          "args": args or {}}, timeout_s)
        return answer["status"], answer["reply"]

    def lookup(self, path="*"):
        """`ubus -v list PATH`: {object: {method: {arg: blobmsg type}}}."""
        return status_client.request(self.socket_path, {"op": "lookup", "path": path}, 5)["objects"]
