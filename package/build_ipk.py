#!/usr/bin/env python3
"""Build dprive's .ipk packages without the OpenWrt SDK.

    python3 package/build_ipk.py [--out build/ipk]

writes dprive_<version>_all.ipk, dprive-dtls_<version>_all.ipk and
luci-app-dprive_<version>_all.ipk, laid out
as OpenWrt's ipkg-build lays a package: a gzip'd tar holding ./debian-binary
("2.0"), ./control.tar.gz (control, conffiles, postinst, prerm) and
./data.tar.gz (the files, at their installed paths), in that order.

The data of the main package is src/dprive as /usr/lib/dprive/dprive (Python
sources, no bytecode), the /usr/sbin/dprive wrapper, and everything under
files/ at its path. package/dprive/Makefile installs the same set (the tests
under tests/package check that), and applies the same mode rule: 0755 for
directories, for files under etc/init.d, usr/bin, usr/sbin, usr/libexec and
for files whose owner may execute them in the repository, 0644 for the rest.

Reproducible: every entry is owned by root:root (0:0), sorted, with the mtime
of SOURCE_DATE_EPOCH, or else of the last commit; the gzip headers carry the
same time and no file name. Python standard library only.
"""

import argparse
import gzip
import io
import os
import re
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MAINTAINER = "dprive developers"
LICENSE = "GPL-2.0-only"
SOURCE = "package/dprive"
SECTION = "net"

# What /usr/sbin/dprive says; package/dprive/Makefile prints the same lines.
WRAPPER = (
    "#!/bin/sh\n"
    "export PYTHONPATH=/usr/lib/dprive\n"
    'exec python3 -m dprive "$@"\n'
)

LUCI_NAME = "luci-app-dprive"
LUCI_SOURCE = "luci-app"
LUCI_SECTION = "luci"
LUCI_DEPENDS = ["luci-base", "dprive"]
# luci.mk serves htdocs/ from uhttpd's document root.
LUCI_HTDOCS = "www/"

# Directories (of the installed tree) whose files are programs.
EXEC_DIRS = ("etc/init.d/", "usr/bin/", "usr/sbin/", "usr/libexec/")

# The dprive system user: this id when free, else the next free one.
USER = "dprive"
USER_ID = 5453

POSTINST_MAIN = """#!/bin/sh
# dprive postinst: the dprive system user (also in an image build, where
# IPKG_INSTROOT is the image's root), then enable and start the service
# (only on a running system).
root="${IPKG_INSTROOT}"
passwd="$root/etc/passwd"
group="$root/etc/group"
shadow="$root/etc/shadow"
mkdir -p "$root/etc"
touch "$passwd" "$group"

gid=$(sed -n 's/^@USER@:[^:]*:\\([0-9]*\\):.*/\\1/p' "$group" | head -n 1)
if [ -z "$gid" ]; then
	gid=@ID@
	while grep -q "^[^:]*:[^:]*:$gid:" "$group"; do gid=$((gid + 1)); done
	echo "@USER@:x:$gid:" >> "$group"
fi
if ! grep -q '^@USER@:' "$passwd"; then
	uid=$gid
	while grep -q "^[^:]*:[^:]*:$uid:" "$passwd"; do uid=$((uid + 1)); done
	echo "@USER@:x:$uid:$gid:@USER@:/var/run/dprive:/bin/false" >> "$passwd"
fi
if [ -f "$shadow" ] && ! grep -q '^@USER@:' "$shadow"; then
	echo "@USER@:*:0:0:99999:7:::" >> "$shadow"
fi

[ -n "$root" ] && exit 0
if [ -x /etc/init.d/dprive ]; then
	/etc/init.d/dprive enable
	/etc/init.d/dprive start
fi
exit 0
""".replace("@USER@", USER).replace("@ID@", str(USER_ID))

PRERM_MAIN = """#!/bin/sh
# dprive prerm: stop and disable the service (nothing in an image build).
[ -n "${IPKG_INSTROOT}" ] && exit 0
if [ -x /etc/init.d/dprive ]; then
	/etc/init.d/dprive stop
	/etc/init.d/dprive disable
fi
exit 0
"""

# pyOpenSSL is imported when the daemon starts: a running dprive gets DTLS
# only after a restart.
POSTINST_DTLS = """#!/bin/sh
# dprive-dtls postinst: restart a running dprive so that it finds pyOpenSSL
# (nothing in an image build).
[ -n "${IPKG_INSTROOT}" ] && exit 0
if [ -x /etc/init.d/dprive ] && /etc/init.d/dprive enabled; then
	/etc/init.d/dprive restart
fi
exit 0
"""

DTLS_MARKER = "usr/share/dprive-dtls/README"
DTLS_MARKER_TEXT = "dprive-dtls: DNS over DTLS for dprive and the dprive gateway (pyOpenSSL).\n"

DESCRIPTION_MAIN = """\
DNS forwarder with persistent DNS-over-TLS upstream sessions
dprive takes the queries dnsmasq forwards and carries them to upstream
resolvers over DNS-over-TLS (RFC 7858), with authenticated servers
(RFC 8310 strict profile), EDNS(0) padding and persistent sessions that
recover from lost state in the fewest round trips. It publishes the ubus
object 'dprive' (status, reconnect, stats) through python3-ubus, which
LuCI (luci-app-dprive) uses. DNS over DTLS needs dprive-dtls."""

DESCRIPTION_DTLS = """\
DNS over DTLS for dprive (and the dprive gateway)
Pulls in pyOpenSSL so dprive can carry queries over DNS over DTLS
(RFC 8094, option transport 'dtls') and 'dprive gateway' can serve it."""

DESCRIPTION_LUCI = """\
LuCI support for dprive
Settings (/etc/config/dprive, validated with the rules of 'dprive check')
and live status of dprive, under Services, dprive. Status and reconnect go
through dprive's ubus object; rpcd grants them to the luci-app-dprive ACL."""

# LuCI caches its menu tree and rpcd its ACLs: a new menu.d or acl.d file is
# seen once both are dropped (as luci.mk's default postinst does).
POSTINST_LUCI = """#!/bin/sh
# luci-app-dprive postinst: forget LuCI's menu cache and reload rpcd's ACLs
# (nothing in an image build).
[ -n "${IPKG_INSTROOT}" ] && exit 0
rm -f /tmp/luci-indexcache /tmp/luci-indexcache.*
rm -rf /tmp/luci-modulecache/
[ -x /etc/init.d/rpcd ] && /etc/init.d/rpcd reload
exit 0
"""

DEPENDS_MAIN = ["python3-light", "python3-asyncio", "python3-openssl",
                "python3-logging", "python3-codecs", "python3-ubus"]
# The gateway's session tickets use ctypes (src/dprive/gateway/tickets.py).
DEPENDS_DTLS = ["dprive", "python3-pyopenssl", "python3-ctypes"]


def version(root=ROOT):
    """__version__ of src/dprive/__init__.py, read without importing it."""
    text = (root / "src" / "dprive" / "__init__.py").read_text()
    m = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise SystemExit("no __version__ in src/dprive/__init__.py")
    return m.group(1)


def source_date_epoch(root=ROOT):
    """SOURCE_DATE_EPOCH, else the time of the last commit, else 0."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return int(env)
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 0


def _skipped(rel_parts):
    """Editor leftovers, hidden files and bytecode are not shipped."""
    for part in rel_parts:
        if part.startswith(".") or part == "__pycache__":
            return True
    name = rel_parts[-1]
    return name.endswith("~") or name.endswith(".pyc") or name.endswith(".pyo")


def _walk(top):
    """Regular files under top, as (relative posix path, Path), sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(top)
            if _skipped(rel.parts) or not path.is_file():
                continue
            out.append((rel.as_posix(), path))
    return sorted(out)


def file_mode(dest, src_mode):
    """Mode of an installed file: see the module docstring."""
    if dest.startswith(EXEC_DIRS) or src_mode & stat.S_IXUSR:
        return 0o755
    return 0o644


def main_payload(root=ROOT):
    """{installed path (no leading /): (mode, bytes)} of the dprive package."""
    payload = {}
    for rel, path in _walk(root / "src" / "dprive"):
        payload["usr/lib/dprive/dprive/" + rel] = (0o644, path.read_bytes())
    payload["usr/sbin/dprive"] = (0o755, WRAPPER.encode())
    files = root / "files"
    if files.is_dir():
        for rel, path in _walk(files):
            payload[rel] = (file_mode(rel, path.stat().st_mode), path.read_bytes())
    return payload


def dtls_payload():
    return {DTLS_MARKER: (0o644, DTLS_MARKER_TEXT.encode())}


def luci_payload(root=ROOT):
    """{installed path: (mode, bytes)} of luci-app-dprive: htdocs/ under
    /www, root/ under /."""
    payload = {}
    app = root / "luci-app"
    for top, prefix in ((app / "htdocs", LUCI_HTDOCS), (app / "root", "")):
        if top.is_dir():
            for rel, path in _walk(top):
                dest = prefix + rel
                payload[dest] = (file_mode(dest, path.stat().st_mode), path.read_bytes())
    return payload


def packages(root=ROOT):
    """The packages: name -> dict(control fields, scripts, payload)."""
    main = main_payload(root)
    conffiles = sorted("/" + p for p in main if p.startswith("etc/config/"))
    out = {
        "dprive": {
            "depends": DEPENDS_MAIN, "description": DESCRIPTION_MAIN,
            "conffiles": conffiles,
            "scripts": {"postinst": POSTINST_MAIN, "prerm": PRERM_MAIN},
            "payload": main,
        },
        "dprive-dtls": {
            "depends": DEPENDS_DTLS, "description": DESCRIPTION_DTLS,
            "conffiles": [],
            "scripts": {"postinst": POSTINST_DTLS},
            "payload": dtls_payload(),
        },
    }
    if (root / "luci-app").is_dir():
        out[LUCI_NAME] = {
            "depends": LUCI_DEPENDS, "description": DESCRIPTION_LUCI,
            "conffiles": [],
            "scripts": {"postinst": POSTINST_LUCI},
            "payload": luci_payload(root),
            "source": LUCI_SOURCE, "section": LUCI_SECTION,
        }
    return out


def _info(name, mode, mtime, size=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.size = size
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def tar_gz(entries, mtime):
    """A gzip'd tar (GNU format) of {path: (mode, bytes)}; directories are
    made for every parent, members are './'-prefixed and sorted by path."""
    dirs = {""}
    for path in entries:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    members = [(d, None) for d in dirs] + [(p, entries[p]) for p in entries]
    members.sort(key=lambda m: m[0].split("/") if m[0] else [])

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, content in members:
            if content is None:
                name = "./" + path + "/" if path else "./"
                tar.addfile(_info(name, 0o755, mtime, kind=tarfile.DIRTYPE))
            else:
                mode, data = content
                tar.addfile(_info("./" + path, mode, mtime, len(data)), io.BytesIO(data))
    return _gzip(raw.getvalue(), mtime)


def _gzip(data, mtime):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9,
                       mtime=mtime) as gz:
        gz.write(data)
    return out.getvalue()


def control_text(name, pkg, ver):
    installed = sum(len(data) for _, data in pkg["payload"].values())
    title, *rest = pkg["description"].splitlines()
    desc = "Description: " + title + "".join("\n " + (line or ".") for line in rest)
    fields = [
        ("Package", name), ("Version", ver), ("Depends", ", ".join(pkg["depends"])),
        ("Source", pkg.get("source", SOURCE)), ("SourceName", name), ("License", LICENSE),
        ("Section", pkg.get("section", SECTION)), ("Maintainer", MAINTAINER),
        ("Architecture", "all"), ("Installed-Size", str(installed)),
    ]
    return "".join(f"{k}: {v}\n" for k, v in fields) + desc + "\n"


def build_one(name, pkg, ver, mtime):
    control = {"control": (0o644, control_text(name, pkg, ver).encode())}
    if pkg["conffiles"]:
        control["conffiles"] = (0o644, "".join(c + "\n" for c in pkg["conffiles"]).encode())
    for script, text in pkg["scripts"].items():
        control[script] = (0o755, text.encode())
    parts = [
        ("./debian-binary", b"2.0\n"),
        ("./control.tar.gz", tar_gz(control, mtime)),
        ("./data.tar.gz", tar_gz(pkg["payload"], mtime)),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, data in parts:
            tar.addfile(_info(member, 0o644, mtime, len(data)), io.BytesIO(data))
    return _gzip(raw.getvalue(), mtime)


def build(out_dir, root=ROOT, mtime=None):
    """Write the .ipk files into out_dir; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ver = version(root)
    if mtime is None:
        mtime = source_date_epoch(root)
    written = []
    for name, pkg in packages(root).items():
        path = out_dir / f"{name}_{ver}_all.ipk"
        tmp = path.with_suffix(".ipk.tmp")
        tmp.write_bytes(build_one(name, pkg, ver, mtime))
        tmp.replace(path)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "ipk"),
                        help="output directory (default build/ipk)")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
