#!/usr/bin/env python3
"""Build dprive's .ipk packages without the OpenWrt SDK, as the 24.10 SDK builds them.

    python3 package/build_ipk.py [--out build/ipk] [--python python3.11]

writes dprive_<v>-r<release>_all.ipk, dprive-src_..., dprive-dtls_... and
luci-app-dprive_..._all.ipk (the names ipkg-build gives: <name>_<VERSION>_<arch>.ipk,
VERSION being PKG_VERSION-rPKG_RELEASE), laid out as OpenWrt's
scripts/ipkg-build lays a package: a gzip'd tar holding ./debian-binary
("2.0"), ./data.tar.gz and ./control.tar.gz, in that order.

The main package installs what package/dprive/Makefile installs through
Py3Package (lang/python/python3-package.mk in openwrt/packages): src/dprive
as /usr/lib/dprive/dprive compiled to legacy .pyc next to where the source
was (`python3 -m compileall -b -d /`, PYTHONHASHSEED and SOURCE_DATE_EPOCH
fixed), sources deleted; dprive-src holds the .py files. OpenWrt 24.10 runs
Python 3.11, whose bytecode only 3.11 writes: the builder refuses another
interpreter. Also the /usr/sbin/dprive wrapper and everything under files/ at
its path, with the mode rule: 0755 for directories, for files under
etc/init.d, usr/bin, usr/sbin, usr/libexec and for files whose owner may
execute them in the repository, 0644 for the rest (tests/package checks that
the feed Makefile installs the same tree).

The control scripts are those package-pack.mk writes: postinst and prerm call
OpenWrt's default_postinst / default_prerm (/lib/functions.sh: the USERID
user from Require-User, enable on a fresh install only, start; on removal
stop and disable), and the package's own part goes to postinst-pkg, which
default_postinst sources first.

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
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The control fields package/dprive/Makefile gives (PKG_MAINTAINER, PKG_LICENSE,
# PKG_LICENSE_FILES, URL). No project address exists yet: the maintainer's
# address is a placeholder under .invalid (RFC 2606), to be replaced.
MAINTAINER = "dprive maintainers <maintainers@dprive.invalid>"
LICENSE = "GPL-2.0-only"
LICENSE_FILES = "LICENSE"
URL = "https://github.com/dprive/dprive"
SECTION = "net"
# Source: the package's folder under TOPDIR where the feeds put it
# (package-defaults.mk: SOURCE is CURDIR without TOPDIR).
SOURCE = "feeds/packages/net/dprive"
# package-defaults.mk adds +libc to every package's DEPENDS but kmod-*.
DEFAULT_DEPENDS = ["libc"]
# The feed Makefile's PKG_RELEASE is the release of every package here.
FEED_MAKEFILE = Path("package") / "dprive" / "Makefile"

# OpenWrt 24.10's Python (lang/python/python3-version.mk): the .pyc are for it.
PYTHON_24_10 = (3, 11)
# Where the Python package lives on the router; the wrapper puts it on PYTHONPATH.
PY_LIB = "usr/lib/dprive/"
# Py3Package's Python3/CompileAll: compileall -r $(PYTHON3_COMPILEALL_MAX_RECURSION_LEVEL).
COMPILEALL_MAX_RECURSION = 20

# What /usr/sbin/dprive says; package/dprive/Makefile prints the same lines.
WRAPPER = (
    "#!/bin/sh\n"
    "export PYTHONPATH=/usr/lib/dprive\n"
    'exec python3 -m dprive "$@"\n'
)

LUCI_NAME = "luci-app-dprive"
LUCI_SOURCE = "feeds/luci/applications/luci-app-dprive"
LUCI_SECTION = "luci"
LUCI_DEPENDS = ["luci-base", "dprive"]
# luci.mk serves htdocs/ from uhttpd's document root.
LUCI_HTDOCS = "www/"

# Directories (of the installed tree) whose files are programs.
EXEC_DIRS = ("etc/init.d/", "usr/bin/", "usr/sbin/", "usr/libexec/")

# The dprive system user, as USERID:=dprive=5453:dprive=5453 in the feed
# Makefile: the Require-User control field, which default_postinst's
# add_group_and_user reads.
USER = "dprive"
USER_ID = 5453
REQUIRE_USER = f"{USER}={USER_ID}:{USER}={USER_ID}"

# The postinst and prerm package-pack.mk (include/, the .ipk branch) writes
# for every package; a package's own Package/<name>/postinst becomes
# postinst-pkg, which default_postinst sources before it enables (fresh
# install only: PKG_UPGRADE is not 1) and starts the package's init scripts.
POSTINST_DEFAULT = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
"""
PRERM_DEFAULT = """#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
"""

# dprive's Package/dprive/postinst (postinst-pkg): ubusd reads
# /usr/share/acl.d only at its start and on SIGHUP, so until it is HUPed the
# dprive user may not publish the object 'dprive'. default_postinst sources
# this before it starts the service. Nothing in an image build: ubusd reads
# the ACLs when the image boots.
POSTINST_PKG_MAIN = """#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || killall -HUP ubusd 2>/dev/null
exit 0
"""

# dprive-dtls's postinst-pkg: the DTLS engine is chosen when the daemon starts,
# so a running dprive gets DTLS only after a restart (nothing in an image).
POSTINST_PKG_DTLS = """#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] && exit 0
if [ -x /etc/init.d/dprive ] && /etc/init.d/dprive enabled; then
	/etc/init.d/dprive restart
fi
exit 0
"""

DTLS_MARKER = "usr/share/dprive-dtls/README"
DTLS_MARKER_TEXT = ("dprive-dtls: DNS over DTLS for dprive and the dprive gateway (libmbedtls "
                    "through ctypes;\npyOpenSSL instead with option dtls_engine 'pyopenssl').\n")

TITLE_MAIN = "DNS forwarder with persistent DNS-over-TLS upstream sessions"
DESCRIPTION_MAIN = """\
dprive takes the queries dnsmasq forwards and carries them to upstream
resolvers over DNS-over-TLS (RFC 7858) or DNS-over-DTLS (RFC 8094) on
libmbedtls (python3-openssl optional), with authenticated servers (RFC 8310
strict profile), EDNS(0) padding and persistent sessions that recover from
lost state in the fewest round trips. It publishes the ubus object 'dprive'
(status, reconnect, stats) through python3-ubus, which LuCI
(luci-app-dprive) uses. The dprive gateway needs dprive-dtls."""

# Py3Package's Package/<name>-src: the title gets " (sources)", the
# description a last paragraph.
TITLE_SRC = TITLE_MAIN + " (sources)"
DESCRIPTION_SRC = DESCRIPTION_MAIN + """

This package contains the Python source files for dprive."""

TITLE_DTLS = "The dprive gateway: DNS over DTLS in front of a resolver"
DESCRIPTION_DTLS = """\
Pulls in python3-asyncio and python3-logging for 'dprive gateway', which
serves DNS over DTLS (RFC 8094) in front of a resolver; dprive speaks DTLS
to its upstreams without it. python3-pyopenssl, if installed and its libssl
has DTLS, can be chosen instead of libmbedtls with option dtls_engine 'pyopenssl'."""

# luci-app/Makefile's LUCI_TITLE and LUCI_DESCRIPTION.
TITLE_LUCI = "LuCI support for dprive"
DESCRIPTION_LUCI = "Settings and live status of dprive, the DNS-over-TLS forwarder."

# luci.mk's Package/<app>/postinst (it becomes postinst-pkg): LuCI caches its
# menu tree, rpcd its ACLs; both are dropped so the new menu.d and acl.d
# files are seen.
POSTINST_PKG_LUCI = """[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache
	rm -rf /tmp/luci-modulecache/
	killall -HUP rpcd 2>/dev/null
	exit 0
}
"""

# DoT and DTLS on libmbedtls through ctypes (src/dprive/tls/mbedtls_lib.py);
# python3-openssl optional (tls_engine). Bare `libmbedtls`: the SDK's
# libmbedtls<ABI_VERSION> package provides that name.
DEPENDS_MAIN = ["python3-light", "python3-ctypes", "libmbedtls", "python3-ubus", "ca-bundle"]
# The gateway, the one part still on asyncio and logging. pyOpenSSL is
# optional (option dtls_engine).
DEPENDS_DTLS = ["dprive", "python3-asyncio", "python3-logging"]


def release(root=ROOT):
    """PKG_RELEASE of the feed Makefile (of this repository when root has none)."""
    path = root / FEED_MAKEFILE
    if not path.is_file():
        path = ROOT / FEED_MAKEFILE
    m = re.search(r"^PKG_RELEASE:=(\d+)$", path.read_text(), re.M)
    if not m:
        raise SystemExit(f"no PKG_RELEASE:=<number> line in {path}")
    return int(m.group(1))


def full_version(root=ROOT):
    """The version the SDK gives the packages: <version>-r<release>
    (package-defaults.mk: VERSION:=$(PKG_VERSION)-r$(PKG_RELEASE))."""
    return f"{version(root)}-r{release(root)}"


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
    """{installed path (no leading /): (mode, bytes)} of dprive as installed
    before Py3Package compiles it: Python sources, wrapper, files/."""
    payload = {}
    for rel, path in _walk(root / "src" / "dprive"):
        payload[PY_LIB + "dprive/" + rel] = (0o644, path.read_bytes())
    payload["usr/sbin/dprive"] = (0o755, WRAPPER.encode())
    files = root / "files"
    if files.is_dir():
        for rel, path in _walk(files):
            payload[rel] = (file_mode(rel, path.stat().st_mode), path.read_bytes())
    return payload


def src_payload(payload):
    """Py3Package's <name>-src: only the .py files (DeleteNonSourceFiles)."""
    return {p: v for p, v in payload.items() if p.endswith(".py")}


def interpreter_version(python):
    """(major, minor) of the interpreter `python`."""
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"cannot run the Python that compiles the .pyc ({python}): "
                         f"{exc.stderr.strip() or exc}")
    except OSError as exc:
        raise SystemExit(f"cannot run the Python that compiles the .pyc ({python}): {exc}")
    major, minor = out.split()
    return int(major), int(minor)


def check_python(python, target=PYTHON_24_10):
    """Refuse an interpreter whose bytecode the router's Python cannot load."""
    found = interpreter_version(python)
    if found != tuple(target):
        want = "%d.%d" % tuple(target)
        raise SystemExit(
            f"the .pyc must be made by Python {want}, the Python of OpenWrt 24.10 "
            f"(a .pyc of another version is refused by the router's interpreter): "
            f"{python} is Python {found[0]}.{found[1]}; run "
            f"`make ipk PYTHON=python{want}` or build_ipk.py --python python{want}")


def compiled_payload(payload, epoch, python=sys.executable, target=PYTHON_24_10):
    """The payload as Py3Package installs it: every .py compiled to a legacy
    .pyc beside it and deleted (Python3/CompileAll, Python3/DeleteSourceFiles).
    Same command as the SDK: compileall -r 20 -b -d '/' on the installed tree,
    with PYTHONHASHSEED and SOURCE_DATE_EPOCH set to the build's epoch (the
    latter makes hash-checked .pyc, independent of file times)."""
    check_python(python, target)
    out = {p: v for p, v in payload.items() if not p.endswith(".py")}
    with tempfile.TemporaryDirectory(prefix="dprive-pyc-") as tmp:
        stage = Path(tmp)
        for path, (_, data) in payload.items():
            if path.endswith(".py"):
                dest = stage / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        env = dict(os.environ, PYTHONHASHSEED=str(epoch), SOURCE_DATE_EPOCH=str(epoch),
                   PYTHONDONTWRITEBYTECODE="1", PYTHONOPTIMIZE="")
        proc = subprocess.run([python, "-m", "compileall", "-r", str(COMPILEALL_MAX_RECURSION),
                               "-b", "-d", "/", str(stage)],
                              env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise SystemExit("compileall failed:\n" + proc.stdout + proc.stderr)
        for path in payload:
            if path.endswith(".py"):
                pyc = stage / (path + "c")
                out[path + "c"] = (0o644, pyc.read_bytes())
    return out


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


def scripts(postinst_pkg=None):
    """The control scripts of a package: package-pack.mk's postinst and prerm,
    and the package's own postinst as postinst-pkg."""
    out = {"postinst": POSTINST_DEFAULT, "prerm": PRERM_DEFAULT}
    if postinst_pkg:
        out["postinst-pkg"] = postinst_pkg
    return out


def packages(root=ROOT, python=sys.executable, target=PYTHON_24_10, epoch=None):
    """The packages: name -> dict(title, description (the text under the
    title), depends (as the Makefile's DEPENDS, without the libc the SDK
    adds), conffiles, scripts, payload, release, and for luci source/section).
    dprive's payload holds .pyc made by `python`, which must be `target`;
    with target None it holds the .py sources instead, and there is no
    dprive-src (for a router whose Python this machine cannot compile for)."""
    if epoch is None:
        epoch = source_date_epoch(root)
    sources = main_payload(root)
    conffiles = sorted("/" + p for p in sources if p.startswith("etc/config/"))
    rel = release(root)
    out = {
        "dprive": {
            "title": TITLE_MAIN, "description": DESCRIPTION_MAIN,
            "depends": DEPENDS_MAIN, "conffiles": conffiles, "user": REQUIRE_USER,
            "scripts": scripts(POSTINST_PKG_MAIN),
            "payload": compiled_payload(sources, epoch, python, target) if target else sources,
            "release": rel,
        },
    }
    if target:
        out["dprive-src"] = {
            "title": TITLE_SRC, "description": DESCRIPTION_SRC,
            "depends": [], "conffiles": [],
            "scripts": scripts(),
            "payload": src_payload(sources),
            "release": rel,
        }
    out["dprive-dtls"] = {
        "title": TITLE_DTLS, "description": DESCRIPTION_DTLS,
        "depends": DEPENDS_DTLS, "conffiles": [],
        "scripts": scripts(POSTINST_PKG_DTLS),
        "payload": dtls_payload(),
        "release": rel,
    }
    if (root / "luci-app").is_dir():
        out[LUCI_NAME] = {
            "title": TITLE_LUCI, "description": DESCRIPTION_LUCI,
            "depends": LUCI_DEPENDS, "conffiles": [],
            "scripts": scripts(POSTINST_PKG_LUCI),
            "payload": luci_payload(root),
            "source": LUCI_SOURCE, "section": LUCI_SECTION, "source_name": LUCI_NAME,
            "release": rel,
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


def tar_gz(entries, mtime, prefix="./"):
    """A gzip'd tar (GNU format) of {path: (mode, bytes)}; directories are
    made for every parent, members are prefix-ed ('./' as ipkg-build's
    `tar -c .`, or 'name-version/' for a source tarball) and sorted by path."""
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
                name = prefix + path + "/" if path else prefix
                tar.addfile(_info(name, 0o755, mtime, kind=tarfile.DIRTYPE))
            else:
                mode, data = content
                tar.addfile(_info(prefix + path, mode, mtime, len(data)), io.BytesIO(data))
    return _gzip(raw.getvalue(), mtime)


def _gzip(data, mtime):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9,
                       mtime=mtime) as gz:
        gz.write(data)
    return out.getvalue()


def control_description(text):
    """The Description field as package-pack.mk writes it: `printf
    "Description: "; echo "$DESCRIPTION" | sed -e 's,^[[:space:]]*, ,g'`."""
    return "Description: " + "\n".join(" " + line.strip() for line in text.splitlines())


def control_text(name, pkg, ver, installed_size, epoch):
    """The control file, fields in package-pack.mk's order; Installed-Size is
    what ipkg-build puts there: the size of the uncompressed data tar."""
    fields = [
        ("Package", name), ("Version", ver),
        ("Depends", ", ".join(DEFAULT_DEPENDS + list(pkg["depends"]))),
        ("Source", pkg.get("source", SOURCE)),
        ("SourceName", pkg.get("source_name", "dprive")),
        ("License", LICENSE), ("LicenseFiles", LICENSE_FILES),
        ("Section", pkg.get("section", SECTION)),
        ("Require-User", pkg.get("user")),
        ("SourceDateEpoch", str(epoch)), ("URL", URL),
        ("Maintainer", MAINTAINER), ("Architecture", "all"),
        ("Installed-Size", str(installed_size)),
    ]
    return ("".join(f"{k}: {v}\n" for k, v in fields if v)
            + control_description(pkg["description"]) + "\n")


def build_one(name, pkg, ver, mtime):
    data = tar_gz(pkg["payload"], mtime)
    installed_size = len(gzip.decompress(data))
    control = {"control": (0o644, control_text(name, pkg, ver, installed_size, mtime).encode())}
    if pkg["conffiles"]:
        control["conffiles"] = (0o644, "".join(c + "\n" for c in pkg["conffiles"]).encode())
    for script, text in pkg["scripts"].items():
        control[script] = (0o755, text.encode())
    parts = [
        ("./debian-binary", b"2.0\n"),
        ("./data.tar.gz", data),
        ("./control.tar.gz", tar_gz(control, mtime)),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, blob in parts:
            tar.addfile(_info(member, 0o644, mtime, len(blob)), io.BytesIO(blob))
    return _gzip(raw.getvalue(), mtime)


def ipk_name(name, ver):
    """ipkg-build's file name: <Package>_<Version>_<Architecture>.ipk."""
    return f"{name}_{ver}_all.ipk"


def write_atomically(path, data):
    """Write data to path through a temporary file beside it, so an
    interrupted build never leaves a half-written package behind."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build(out_dir, root=ROOT, mtime=None, python=sys.executable):
    """Write the .ipk files into out_dir; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ver = full_version(root)
    if mtime is None:
        mtime = source_date_epoch(root)
    written = []
    for name, pkg in packages(root, python=python, epoch=mtime).items():
        path = out_dir / ipk_name(name, ver)
        write_atomically(path, build_one(name, pkg, ver, mtime))
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "ipk"),
                        help="output directory (default build/ipk)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python %d.%d that compiles the .pyc (default: this one)"
                        % PYTHON_24_10)
    args = parser.parse_args(argv)
    for path in build(args.out, python=args.python):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
