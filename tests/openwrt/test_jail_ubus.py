"""The jailed daemon reaches ubusd after ubusd restarted.

ubusd unlinks and recreates its socket whenever it starts (ubus
ubusd_main.c), so a jail that binds the socket file (procd's 'ubus' flag,
ujail -u) keeps the dead one. The init script's jail mounts ubusd's directory
instead (files/usr/share/dprive/jail.sh). A client in the declared jail
connects to the socket every 50 ms and prints when it got through; ubusd is
restarted; the client must get through to the new one. The real ubusd when it
is built (tests/openwrt/jail_runners.py), else a few lines of Python that do
what its start does to the socket (unlink, bind, listen). Root only.
"""

import os
import socket
import sys
import time

import pytest

from tests.openwrt import jail_runners
from tests.openwrt.jail import in_root
from tests.tools import common

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a jail needs root (mount namespaces)")

# Runs in the jail: one line per successful connect, with CLOCK_MONOTONIC
# (the same clock outside), for 20 s at most.
CLIENT = """
import socket, sys, time
end = time.monotonic() + 20
while time.monotonic() < end:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
        print("connected %.3f" % time.monotonic(), flush=True)
    except OSError as err:
        print("failed %.3f %s" % (time.monotonic(), err.strerror), flush=True)
    s.close()
    time.sleep(0.05)
"""


class PythonUbusd:
    """What ubusd_main.c does with its socket: unlink(path), then bind and listen."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = None

    def start(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(64)

    def stop(self):
        self.sock.close()
        os.unlink(self.path)


class RealUbusd:
    def __init__(self, path, log_path):
        self.path, self.log_path, self.proc = path, log_path, None

    def start(self):
        self.proc = jail_runners.start_ubusd(self.log_path, socket=self.path)
        common.wait_until(lambda: os.path.exists(self.path), 10, what="ubusd's socket")

    def stop(self):
        common.stop_process(self.proc)


def connected_after(log_path, since):
    for line in log_path.read_text().splitlines():
        words = line.split()
        if words and words[0] == "connected" and float(words[1]) > since:
            return True
    return False


@pytest.mark.parametrize("runner", ["minijail", "ujail"])
def test_the_jail_sees_the_socket_of_a_restarted_ubusd(router, tmp_path, request, runner):
    env = request.getfixturevalue("ujail_ubusd") if runner == "ujail" else {}
    router.init("start")
    ubus_dir = in_root(router.root, "/var/run/ubus")
    os.makedirs(ubus_dir)
    sock = os.path.join(ubus_dir, "ubus.sock")
    real = os.access(jail_runners.UBUSD, os.X_OK)
    bus = RealUbusd(sock, tmp_path / "ubusd.log") if real else PythonUbusd(sock)
    bus.start()
    log = tmp_path / "client.log"
    argv = jail_runners.runner_argv(router, runner, tmp_path) + [sys.executable, "-c", CLIENT, sock]
    client = common.spawn(argv, log, env=dict(os.environ, **env))
    try:
        common.wait_until(lambda: connected_after(log, 0), 15, what="the jailed client to connect")
        bus.stop()
        restarted = time.monotonic()
        bus.start()
        try:
            common.wait_until(lambda: connected_after(log, restarted), 5,
                              what="the jailed client to reach the restarted ubusd")
        except TimeoutError as exc:
            raise AssertionError("%s; its last lines:\n%s" % (exc, log.read_text()[-300:])) from None
    finally:
        common.stop_process(client)
        bus.stop()
