"""The procd jail the init script declares, read back from the stand-ins'
record, and the daemon started in it on this machine.

declared_jail(router) collects what start_service told procd about the
instance (procd_add_jail, procd_add_jail_mount[_rw], procd_set_param user,
group, capabilities, no_new_privs). ujail_argv() is the command line procd
builds from that for /sbin/ujail (openwrt/procd service/instance.c,
jail_run()). JailedDprive runs the daemon under a jail runner (the real
ujail, or tests/openwrt/minijail.py) with exactly the declared mounts, but
for the router's Python, which is swapped for this machine's (host_python_mounts).
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.tools import common
from tests.tools.dprive_proc import DpriveProcess

# What on the router is Python and dprive's code: on this machine the venv's
# interpreter and its install take their place.
ROUTER_PYTHON = ("/usr/sbin/dprive", "/usr/bin/python3", "/usr/lib/python3", "/usr/lib/dprive")
# This machine has no dprive user; the jail's user and group become these.
HOST_USER, HOST_GROUP = "nobody", "nogroup"


@dataclass
class Jail:
    name: str = None
    flags: tuple = ()
    ro: list = field(default_factory=list)
    rw: list = field(default_factory=list)
    params: dict = field(default_factory=dict)     # procd_set_param name -> values
    command: tuple = ()

    def router_python(self):
        return [p for p in self.ro if p.startswith(ROUTER_PYTHON)]

    def system_ro(self):
        """The read-only mounts that are not Python: config, CA bundle, ..."""
        return [p for p in self.ro if not p.startswith(ROUTER_PYTHON)]


def declared_jail(router):
    """The jail of the last instance start_service declared, router paths."""
    jail, inside = Jail(), False
    for what, *args in router.records():
        if what == "procd_open_instance":
            jail, inside = Jail(), True
        elif not inside:
            continue
        elif what == "procd_close_instance":
            inside = False
        elif what == "procd_add_jail":
            jail.name, jail.flags = args[0], tuple(args[1:])
        elif what == "procd_add_jail_mount":
            jail.ro.extend(args)
        elif what == "procd_add_jail_mount_rw":
            jail.rw.extend(args)
        elif what == "procd_set_param":
            jail.params[args[0]] = tuple(args[1:])
            if args[0] == "command":
                jail.command = tuple(args[1:])
    return jail


def ujail_argv(jail, ujail="/sbin/ujail", term_timeout=5, user=None, group=None, ro=None, rw=None):
    """procd's jail_run(): /sbin/ujail and its options, in procd's order, up to `--`."""
    p = jail.params
    argv = [ujail, "-t", str(term_timeout)]
    if jail.name:
        argv += ["-n", jail.name]
    if "seccomp" in p:
        argv += ["-S", p["seccomp"][0]]
    if user or "user" in p:
        argv += ["-U", user or p["user"][0]]
    if group or "group" in p:
        argv += ["-G", group or p["group"][0]]
    if "capabilities" in p:
        argv += ["-C", p["capabilities"][0]]
    if p.get("no_new_privs") == ("1",):
        argv.append("-c")
    for flag, opt in (("procfs", "-p"), ("sysfs", "-s"), ("ubus", "-u"), ("log", "-l"),
                      ("ronly", "-o"), ("netns", "-N"), ("userns", "-f"), ("cgroupsns", "-F")):
        if flag in jail.flags:
            argv.append(opt)
    if "requirejail" in jail.flags:
        argv.append("-E")
    for path in (ro if ro is not None else jail.ro):
        argv += ["-r", path]
    for path in (rw if rw is not None else jail.rw):
        argv += ["-w", path]
    return argv + ["--"]


def host_python_mounts():
    """What this machine's dprive needs for Python: the venv, the interpreter's
    install, dprive's source, the system libraries they link."""
    paths = [sys.prefix, sys.base_prefix, str(common.REPO_ROOT / "src"),
             os.path.realpath(sys.executable)]
    paths += [p for p in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.exists(p)]
    return list(dict.fromkeys(paths))


def in_root(root, router_path):
    """A router path of the scratch root as this machine sees it."""
    return str(Path(str(root) + router_path))


class JailedDprive(DpriveProcess):
    """The daemon as procd starts it: the init script's command line under a jail runner."""

    def __init__(self, workdir, router, runner_argv, **kwargs):
        super().__init__(workdir, **kwargs)
        self.router = router
        self.runner_argv = list(runner_argv)

    def start(self, timeout_s=30.0):
        command = declared_jail(self.router).command
        assert command[:2] == ("/usr/sbin/dprive", "run"), command
        # /usr/sbin/dprive is `exec python3 -m dprive "$@"`; the config path is the scratch root's.
        args = [in_root(self.router.root, a) if a.startswith("/") else a for a in command[1:]]
        argv = [*self.runner_argv, sys.executable, "-m", "dprive", *args]
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.launch(argv, self.log_path, timeout_s, env=self._env(), cwd="/")
