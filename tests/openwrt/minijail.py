"""A stand-in for procd's ujail where the real one is not built: the part of
openwrt/procd jail/jail.c (main's option parsing, build_jail_fs, apply_rlimits
aside) and jail/fs.c (add_path_and_deps, do_mount) that decides what the
jailed process can see and do. Run as root:

    python3 minijail.py --root DIR [-t secs] [-n name] [-u] [-U user] [-G group] [-C caps.json] [-c] [-o]
                        [-r path]... [-w path]... -- command [args...]

In a mount namespace of its own it builds a new root on a tmpfs mounted on DIR
(an empty directory the caller removes; ujail makes /tmp/ujail-XXXXXX): every -r
path bind-mounted read-only, every -w path read-write, each at its own path
(a path that does not exist is skipped, as ujail's add_path_and_deps does for
-r/-w), /dev with null, zero, full, random, urandom and tty bound from the
host, /etc/passwd and /etc/group for -U/-G. -o remounts the root read-only.
Then chroot, the capabilities JSON's bounding set applied (only an empty set
is supported: every capability dropped), -c PR_SET_NO_NEW_PRIVS, the group
and user taken (setgroups, setgid, setuid), the environment emptied but for
container=ujail (ujail passes only -e variables), and exec. What it does not
model: ujail's ELF dependency lookup (give the library directories as -r),
PID/UTS/IPC namespaces, seccomp, /proc and /sys (-p/-s); -u binds the ubus
socket if there is one (ujail fails without it).
Standard library only.
"""

import argparse
import ctypes
import ctypes.util
import grp
import json
import os
import pwd
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
CLONE_NEWNS = 0x00020000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
CAP_LAST_FALLBACK = 40
UBUS_SOCKET = "/var/run/ubus/ubus.sock"     # jail.c main(): -u
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           "mount %s on %s" % (source, target))


def bind(root, path, writable):
    """fs.c do_mount: the host's path at the same path in the jail."""
    if not os.path.exists(path):
        return
    target = root + path
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(path, target, None, MS_BIND | MS_REC)
    if not writable:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def read_capabilities(caps_file):
    """jail.c reads -C when it parses its options, before the jail is built."""
    with open(caps_file) as f:
        caps = json.load(f)
    if caps.get("bounding", None) != []:
        raise SystemExit("minijail: only an empty bounding set is supported: %s" % caps_file)
    return caps


def drop_bounding_set():
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
    except OSError:
        last = CAP_LAST_FALLBACK
    for cap in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability %d" % cap)


def parse(argv):
    ap = argparse.ArgumentParser(prog="minijail")
    ap.add_argument("--root", required=True)
    ap.add_argument("-t", dest="term_timeout")   # procd always passes it; no effect on what is seen
    ap.add_argument("-n", dest="name")
    ap.add_argument("-u", dest="ubus", action="store_true")
    ap.add_argument("-U", dest="user")
    ap.add_argument("-G", dest="group")
    ap.add_argument("-C", dest="caps")
    ap.add_argument("-c", dest="no_new_privs", action="store_true")
    ap.add_argument("-o", dest="ronly", action="store_true")
    ap.add_argument("-r", dest="ro", action="append", default=[])
    ap.add_argument("-w", dest="rw", action="append", default=[])
    ap.add_argument("command", nargs="+")
    return ap.parse_args(argv)


def main(argv=None):
    opts = parse(sys.argv[1:] if argv is None else argv)
    user = pwd.getpwnam(opts.user) if opts.user else None
    gid = grp.getgrnam(opts.group).gr_gid if opts.group else (user.pw_gid if user else None)

    caps = read_capabilities(opts.caps) if opts.caps else None

    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = os.path.realpath(opts.root)
    mount("tmpfs", root, "tmpfs", MS_NOSUID, "mode=0755")
    for path in opts.ro + (["/etc/passwd", "/etc/group"] if user or gid is not None else []):
        bind(root, path, writable=False)
    for path in opts.rw + ([UBUS_SOCKET] if opts.ubus else []):
        bind(root, path, writable=True)
    os.makedirs(root + "/dev", exist_ok=True)
    for dev in DEVICES:
        bind(root, "/dev/" + dev, writable=True)
    if opts.ronly:
        mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    os.chroot(root)
    os.chdir("/")

    if caps is not None:
        drop_bounding_set()
    if opts.no_new_privs:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if user:
        os.setuid(user.pw_uid)
    os.execve(opts.command[0], opts.command, {"container": "ujail"})


if __name__ == "__main__":
    main()
