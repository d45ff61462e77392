#!/usr/bin/env python3
"""Build dprive's .apk packages (apk-tools 3, OpenWrt 25.12+) without the SDK.

    python3 package/build_apk.py [--out build/apk]

writes dprive-<version>-r1.apk, dprive-dtls-<version>-r1.apk and
luci-app-dprive-<version>-r1.apk, unsigned, byte for byte as the SDK's
`apk mkpkg` writes them before the index is signed. What goes in is what
package/build_ipk.py's packages() says (names, depends, description,
conffiles, scripts, payload), laid out as OpenWrt packs it:

- include/package-pack.mk (openwrt/openwrt, BuildTarget/ipkg, the
  CONFIG_USE_APK branch): the file name <name>-<version>.apk; the --info
  fields (name, version, description = $(strip) of the description, arch
  noarch for PKGARCH all, license, origin, url, maintainer, depends); the
  scripts post-install (OpenWrt's wrapper calling add_group_and_user and
  default_postinst, then the package's postinst minus its #! lines),
  post-upgrade (export PKG_UPGRADE=1, then post-install), pre-deinstall
  (default_prerm, then the prerm), pre-install/pre-upgrade only with a
  preinst, post-deinstall only with a postrm; and in the data
  /lib/apk/packages/<name>.rusers (USERID), .list (every file, sorted),
  .conffiles and .conffiles_static ("<path> <sha256>").
- apk-tools 3 (alpinelinux/apk-tools), src/app_mkpkg.c mkpkg_main,
  mkpkg_process_directory, mkpkg_process_dirent: the order in which the
  package object is written; src/adb.c adb_w_data (identical values are
  written once: the write cache), adb_w_blob_vec, adb_w_int, __adb_w_obj
  (trailing nulls dropped), adb_wa_sort, adb_c_block, adb_c_block_data;
  src/apk_adb.c and src/apk_adb.h: the schema (field numbers and types);
  src/adb_comp.c adb_compress and src/io_gunzip.c apk_ostream_zlib: "ADBd"
  then raw deflate, level 9. Default --compat (3.0.0_pre1): every
  directory gets an entry, the root too.

Python bytecode: the router of 25.12 runs Python 3.13. Given a CPython 3.13
(--python), dprive is compiled as the 25.12 SDK's Py3Package compiles it
(.pyc only, and the sources in dprive-src); .pyc of another Python would not
load there, so without one the .apk ships the .py sources (and no dprive-src). Reproducible: every mtime is SOURCE_DATE_EPOCH (or the
last commit's time), as apk mkpkg does when SOURCE_DATE_EPOCH is set.
Python standard library only.
"""

import argparse
import hashlib
import re
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# package/build_ipk.py says what the packages contain: one source for both formats.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_ipk as ipk  # noqa: E402

# The Python of OpenWrt 25.12 (lang/python/python3-version.mk).
PYTHON_25_12 = (3, 13)

# Every package is PKGARCH:=all, which package-pack.mk writes as noarch.
ARCH = "noarch"
# package/dprive/Makefile: USERID:=dprive=5453:dprive=5453 (the uid and gid asked for).
USERIDS = {"dprive": f"{ipk.USER}={ipk.USER_ID}:{ipk.USER}={ipk.USER_ID}"}
APK_DB_DIR = "lib/apk/packages/"

# apk-package(5): number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}
_APK_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*[a-z]?"
                          r"(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*"
                          r"(~[0-9a-f]+)?(-r[0-9]+)?")


def full_version(root=ROOT):
    """The SDK's version, <PKG_VERSION>-r<PKG_RELEASE>; build_ipk.full_version
    once it exists there."""
    if hasattr(ipk, "full_version"):
        return ipk.full_version(root)
    return ipk.version(root) + "-r1"


# apk-package(5): [a-zA-Z0-9._+-], starting with a letter or digit.
_APK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._+-]*")


def check_name(name, what="package"):
    if not _APK_NAME.fullmatch(name):
        raise SystemExit(f"{what} name {name!r} is not a valid apk name "
                         "(apk-package(5): letters, digits and ._+- , starting with a letter or digit)")
    return name


def check_version(ver):
    if not _APK_VERSION.fullmatch(ver):
        raise SystemExit(f"version {ver!r} is not a valid apk version "
                         "(apk-package(5): e.g. 1.2.3, 1.2.3_rc1, 1.2.3-r1)")
    return ver


# --- the ADB writer (src/adb.c) -------------------------------------------

T_INT, T_INT32, T_INT64 = 0x10000000, 0x20000000, 0x30000000
T_BLOB8, T_BLOB16, T_BLOB32 = 0x80000000, 0x90000000, 0xa0000000
T_ARRAY, T_OBJECT = 0xd0000000, 0xe0000000
NULL = 0

SCHEMA_PACKAGE = b"pckg"
BLOCK_ADB, BLOCK_DATA = 0, 2

# src/apk_adb.h field numbers.
PI = {"name": 1, "version": 2, "hashes": 3, "description": 4, "arch": 5, "license": 6,
      "origin": 7, "maintainer": 8, "url": 9, "installed-size": 12, "depends": 15}
PI_MAX = 0x16
SCRIPTS = ("trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall",
           "pre-upgrade", "post-upgrade")        # ADBI_SCRPT_TRIGGER (1) .. POSTUPGRADE (7)


class Adb:
    """The ADB buffer as adb_w_* fills it: an 8-byte adb_hdr, then values,
    each aligned; identical bytes at a fitting alignment are written once."""

    def __init__(self):
        self.buf = bytearray(8)           # adb_hdr: compat 0, ver 0, reserved, root
        self.cache = {}

    def data(self, raw, align, cached=True):
        """adb_w_data: the offset of raw in the buffer."""
        if cached:
            offs = self.cache.get(raw)
            if offs is not None and offs % align == 0:
                return offs
        self.buf.extend(b"\0" * (-len(self.buf) % align))
        offs = len(self.buf)
        self.buf.extend(raw)
        if cached:
            self.cache[raw] = offs
        return offs

    def blob(self, b, cached=True):
        """adb_w_blob_vec: a length of 1, 2 or 4 bytes, then the bytes."""
        if isinstance(b, str):
            b = b.encode()
        if not b:
            return NULL
        if len(b) > 0xffff:
            kind, prefix = T_BLOB32, struct.pack("<I", len(b))
        elif len(b) > 0xff:
            kind, prefix = T_BLOB16, struct.pack("<H", len(b))
        else:
            kind, prefix = T_BLOB8, bytes([len(b)])
        return kind | self.data(prefix + b, len(prefix), cached)

    def int(self, v):
        """adb_w_int: in the tag below 2**28, else 4 or 8 bytes aligned to 4."""
        if v >= 1 << 32:
            return T_INT64 | self.data(struct.pack("<Q", v), 4)
        if v >= 0x10000000:
            return T_INT32 | self.data(struct.pack("<I", v), 4)
        return T_INT | v

    def obj(self, slots, kind=T_OBJECT):
        """__adb_w_obj: slots[0] is the count; trailing nulls are dropped and
        an object without values is null."""
        n = len(slots)
        while n > 1 and slots[n - 1] == NULL:
            n -= 1
        if n <= 1:
            return NULL
        return kind | self.data(struct.pack(f"<{n}I", n, *slots[1:n]), 4)


def _slots(size, values):
    """An object of `size` slots (schema num_fields) with {index: value}."""
    slots = [0] * size
    for i, v in values.items():
        slots[i] = v
    return slots


def _tree(files):
    """{dir: [(name, mode, bytes)]} for every directory of the package: the
    root (""), then every parent of every file, in apk's sorted order."""
    dirs = {"": []}
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:i]), [])
    for path, (mode, data) in files.items():
        parent, _, name = path.rpartition("/")
        dirs[parent].append((name, mode, data))
    order = [""] + sorted((d for d in dirs if d), key=str.encode)
    return [(d, sorted(dirs[d], key=lambda f: f[0].encode())) for d in order]


def write_adb(info, depends, files, scripts, mtime):
    """The ADB block's bytes of one package, in mkpkg_main's order.
    info: {field name: str}; files: {path: (mode, bytes)}; scripts: {type: str}."""
    db = Adb()
    pkgi = [0] * PI_MAX
    for field in sorted(info, key=PI.get):          # assign_fields: by field number
        if info[field]:
            pkgi[PI[field]] = db.blob(info[field])
    if depends:                                      # dependencies_fromstring
        deps = [db.obj(_slots(4, {1: db.blob(name)})) for name in depends]
        deps = sorted(set(deps), key=lambda v: _blob_of(db, v))   # adb_wa_sort_unique
        pkgi[PI["depends"]] = db.obj([0] + deps)     # adb_w_fromstring: an object tag

    root_user = db.blob("root")
    paths, installed = [], 0
    tree = _tree(files)
    for dirname, entries in tree:
        fobjs = []
        for name, mode, data in entries:           # mkpkg_process_dirent
            v_name = db.blob(name)
            v_hash = db.blob(hashlib.sha256(data).digest())
            v_mtime = db.int(mtime)
            v_size = db.int(len(data))
            acl = db.obj(_slots(5, {1: db.int(mode), 2: root_user, 3: root_user}))
            fobjs.append(db.obj(_slots(7, {1: v_name, 2: acl, 3: v_size, 4: v_mtime, 5: v_hash})))
            installed += len(data)
        v_dir = db.blob(dirname)                   # mkpkg_process_directory
        acl = db.obj(_slots(5, {1: db.int(0o755), 2: root_user, 3: root_user}))
        v_files = db.obj([0] + fobjs)
        paths.append(db.obj(_slots(4, {1: v_dir, 2: acl, 3: v_files})))

    pkgi[PI["installed-size"]] = db.int(installed or 1)
    # adb_wo_blob_raw: 20 bytes (a sha1's length) kept out of the write cache,
    # filled in at the end.
    pkgi[PI["hashes"]] = db.blob(b"\0" * 20, cached=False)
    uid_offs = (pkgi[PI["hashes"]] & 0x0fffffff) + 1
    v_info = db.obj(pkgi)
    v_paths = db.obj([0] + paths)
    script_slots = [0] * (len(SCRIPTS) + 1)
    for i, kind in enumerate(SCRIPTS, 1):
        if scripts.get(kind):
            script_slots[i] = db.blob(scripts[kind])
    v_scripts = db.obj(script_slots)
    root = db.obj(_slots(6, {1: v_info, 2: v_paths, 3: v_scripts}))
    struct.pack_into("<I", db.buf, 4, root)
    # The package's unique id: the first 20 bytes of the ADB's sha256.
    db.buf[uid_offs:uid_offs + 20] = hashlib.sha256(bytes(db.buf)).digest()[:20]
    return bytes(db.buf), tree


def _blob_of(db, val):
    """The name blob of a dependency object (the key adb_wa_sort orders by)."""
    offs = val & 0x0fffffff
    name_val = struct.unpack_from("<I", db.buf, offs + 4)[0]
    noffs = name_val & 0x0fffffff
    return bytes(db.buf[noffs + 1:noffs + 1 + db.buf[noffs]])


def block(kind, payload):
    """adb_c_block: a 4-byte type and size, the payload, zeros to 8 bytes."""
    raw = struct.pack("<I", (kind << 30) + 4 + len(payload)) + payload
    return raw + b"\0" * (-len(raw) % 8)


def apk_bytes(info, depends, files, scripts, mtime):
    """The whole .apk: "ADBd", then raw deflate of the file header, the ADB
    block and one DATA block per non-empty file (path and file index, 1-based)."""
    adb, tree = write_adb(info, depends, files, scripts, mtime)
    parts = [b"ADB." + SCHEMA_PACKAGE, block(BLOCK_ADB, adb)]
    for path_idx, (_, entries) in enumerate(tree, 1):
        for file_idx, (_, _, data) in enumerate(entries, 1):
            if data:
                parts.append(block(BLOCK_DATA, struct.pack("<II", path_idx, file_idx) + data))
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    return b"ADBd" + z.compress(b"".join(parts)) + z.flush()


# --- what package-pack.mk adds ----------------------------------------------

def _make_script(body):
    """A script of the Makefile as the SDK writes it: make's define has no last
    newline, echo adds one."""
    return body if body.endswith("\n") else body + "\n"


def _drop_shebangs(text):
    """sed '/^\\s*#!/d'"""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not re.match(r"\s*#!", line))


def openwrt_scripts(name, pkg):
    """The apk scripts package-pack.mk makes from the package's postinst,
    prerm, preinst and postrm."""
    # build_ipk's scripts: package-pack.mk's ipk wrappers, which apk does not
    # use, and the Makefile's own Package/<name>/postinst as postinst-pkg.
    own = {"postinst": pkg["scripts"]["postinst-pkg"]} if "postinst-pkg" in pkg["scripts"] else {}
    head = ("#!/bin/sh\n"
            '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n'
            ". ${IPKG_INSTROOT}/lib/functions.sh\n"
            'export root="${IPKG_INSTROOT}"\n'
            f'export pkgname="{name}"\n')
    post_install = ("#!/bin/sh\n"
                    '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n'
                    + head[len("#!/bin/sh\n"):]
                    + "add_group_and_user\ndefault_postinst\n"
                    + (_drop_shebangs(_make_script(own["postinst"])) if "postinst" in own else ""))
    out = {
        "post-install": post_install,
        "post-upgrade": "#!/bin/sh\nexport PKG_UPGRADE=1\n" + _drop_shebangs(post_install),
        "pre-deinstall": head + "default_prerm\n"
        + (_drop_shebangs(_make_script(own["prerm"])) if "prerm" in own else ""),
    }
    if "preinst" in own:
        out["pre-install"] = _make_script(own["preinst"])
        out["pre-upgrade"] = "#!/bin/sh\nexport PKG_UPGRADE=1\n" + _drop_shebangs(_make_script(own["preinst"]))
    if "postrm" in own:
        out["post-deinstall"] = re.sub(r"\A\s*#!", "#!", _make_script(own["postrm"]))
    return out


def data_files(name, pkg):
    """The package's files plus /lib/apk/packages/<name>.{rusers,list,
    conffiles,conffiles_static}, in the order package-pack.mk makes them
    (.list is taken before the conffiles lists are moved in)."""
    files = dict(pkg["payload"])
    if name in USERIDS:
        files[APK_DB_DIR + name + ".rusers"] = (0o644, (USERIDS[name] + "\n").encode())
    # `find -printf "/%P\n" | sort` under the LC_ALL=C OpenWrt's top Makefile exports: byte order.
    listing = "".join("/" + p + "\n" for p in sorted(files, key=str.encode))
    files[APK_DB_DIR + name + ".list"] = (0o644, listing.encode())
    if pkg["conffiles"]:
        files[APK_DB_DIR + name + ".conffiles"] = (
            0o644, "".join(c + "\n" for c in pkg["conffiles"]).encode())
        static = ""
        for conf in pkg["conffiles"]:
            if conf.lstrip("/") in files:
                digest = hashlib.sha256(files[conf.lstrip("/")][1]).hexdigest()
                static += f"{conf} {digest}\n"
        files[APK_DB_DIR + name + ".conffiles_static"] = (0o644, static.encode())
    return files


def description(pkg):
    """$(strip $(Package/<name>/description)), on one line (the title is TITLE,
    not part of the description)."""
    return " ".join(pkg["description"].split())


def package_info(name, pkg, ver):
    return {
        "name": name, "version": ver, "description": description(pkg), "arch": ARCH,
        "license": ipk.LICENSE, "origin": pkg.get("source", ipk.SOURCE),
        "url": pkg.get("url", ""), "maintainer": ipk.MAINTAINER,
    }


def build_one(name, pkg, ver, mtime):
    check_name(name)
    for dep in pkg["depends"]:
        check_name(dep, f"{name}'s dependency")
    return apk_bytes(package_info(name, pkg, ver), pkg["depends"], data_files(name, pkg),
                     openwrt_scripts(name, pkg), mtime)


def apk_packages(root=ROOT, python=None):
    """build_ipk's packages for 25.12: .pyc made by `python` when it is a
    CPython 3.13, else the .py sources (a note on stderr says so)."""
    if python:
        found = ipk.interpreter_version(python)
        if found != PYTHON_25_12:
            raise SystemExit("make apk: %s is Python %d.%d; OpenWrt 25.12 runs %d.%d, whose "
                             "interpreter refuses other .pyc" % ((python,) + found + PYTHON_25_12))
        return ipk.packages(root, python=python, target=PYTHON_25_12)
    print("make apk: no CPython %d.%d given (--python): the .apk ships dprive's .py sources, "
          "which the router compiles at every start" % PYTHON_25_12, file=sys.stderr)
    return ipk.packages(root, target=None)


def build(out_dir, root=ROOT, mtime=None, python=None):
    """Write the .apk files into out_dir; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ver = check_version(full_version(root))
    if mtime is None:
        mtime = ipk.source_date_epoch(root)
    written = []
    for name, pkg in apk_packages(root, python).items():
        path = out_dir / f"{name}-{ver}.apk"
        ipk.write_atomically(path, build_one(name, pkg, ver, mtime))
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "apk"),
                        help="output directory (default build/apk)")
    parser.add_argument("--python", help="a CPython %d.%d to compile dprive with, as the "
                        "25.12 SDK does (without it the .apk ships the .py sources)" % PYTHON_25_12)
    args = parser.parse_args(argv)
    for path in build(args.out, python=args.python):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
