"""The jail runners of the jail tests, as procd would start the instance.

  minijail  tests/openwrt/minijail.py, the stand-in for ujail (root only);
  ujail     procd's real ujail, built out of the repository from openwrt/procd
            (DPRIVE_UJAIL, default /opt/real/procd/src/procd/ujail). It needs
            a ubusd to connect to (jail.c main: ubus_connect, or it exits):
            DPRIVE_UBUSD, default /opt/real/procd/inst/sbin/ubusd, listening
            where the libubus built with it connects, and LD_LIBRARY_PATH for
            those libraries (DPRIVE_UJAIL_LIBS, default /opt/real/procd/inst/lib).
            Without them the ujail tests skip, saying so.
"""

import os
import sys
from pathlib import Path

import pytest

from tests.openwrt.harness import FILES
from tests.openwrt.jail import HOST_GROUP, HOST_USER, declared_jail, host_python_mounts, in_root, ujail_argv
from tests.tools import common

MINIJAIL = Path(__file__).with_name("minijail.py")
UJAIL = os.environ.get("DPRIVE_UJAIL", "/opt/real/procd/src/procd/ujail")
UBUSD = os.environ.get("DPRIVE_UBUSD", "/opt/real/procd/inst/sbin/ubusd")
UJAIL_LIBS = os.environ.get("DPRIVE_UJAIL_LIBS", "/opt/real/procd/inst/lib")
UBUSD_ENV = {"LD_LIBRARY_PATH": UJAIL_LIBS}


def require_ujail():
    if not (os.access(UJAIL, os.X_OK) and os.access(UBUSD, os.X_OK)):
        pytest.skip("procd's ujail is not built here (%s, %s): see tests/openwrt/jail_runners.py"
                    % (UJAIL, UBUSD))


def start_ubusd(log_path, socket=None):
    """The real ubusd: on its built-in socket (the one ujail connects to), or on `socket`."""
    return common.spawn([UBUSD] + (["-s", str(socket)] if socket else []), log_path, env=UBUSD_ENV)


def runner_argv(router, runner, tmp_path):
    """procd's ujail command line for the declared jail, at this machine's paths,
    up to `--`: the router's Python mounts swapped for this machine's, the
    user and group for ones this machine has."""
    jail = declared_jail(router)
    ro = [in_root(router.root, p) for p in jail.system_ro()] + host_python_mounts()
    rw = [in_root(router.root, p) for p in jail.rw]
    argv = ujail_argv(jail, ujail=UJAIL, user=HOST_USER, group=HOST_GROUP, ro=ro, rw=rw)
    argv[argv.index("-C") + 1] = str(FILES / "etc/capabilities/dprive.json")
    if runner == "minijail":
        (tmp_path / "jailroot").mkdir()
        argv = [sys.executable, str(MINIJAIL), "--root", str(tmp_path / "jailroot")] + argv[1:]
    return argv
