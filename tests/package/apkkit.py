"""Our own reader of apk v3 packages (apk-tools 3, the ADB format), for the
package tier: it checks what package/build_apk.py writes without trusting it.

Written from alpinelinux/apk-tools: doc/apk-v3.5.scd (tags, blocks),
src/adb.h (adb_block, adb_hdr, value types), src/adb.c adb_r_int,
adb_r_blob, adb_r_obj (reading values), src/apk_adb.h and src/apk_adb.c (the
package schema: field numbers, names and kinds), src/extract_v3.c
apk_extract_v3_data_block (DATA blocks: path and file index, then the bytes,
checked against the file's sha256) and src/app_mkpkg.c mkpkg_main (the
package id: the first 20 bytes of the ADB's sha256 with them zeroed).

The schema tables below are our own copy on purpose (not imported from the
builder): a wrong field number in the writer shows up as a wrong field here.
"""

import hashlib
import struct
import zlib
from pathlib import Path

from tests.package.ipkkit import ROOT

APK_BUILDER = ROOT / "package" / "build_apk.py"

_INT, _INT32, _INT64 = 0x1, 0x2, 0x3
_BLOB8, _BLOB16, _BLOB32 = 0x8, 0x9, 0xa
_ARRAY, _OBJECT = 0xd, 0xe

# Kinds: "str", "int", "oct", "hex", or ("obj", fields) / ("arr", item kind).
DEPENDENCY = ("obj", {1: ("name", "str"), 2: ("version", "str"), 3: ("match", "int")})
DEPENDENCIES = ("arr", DEPENDENCY)
PKGINFO = ("obj", {
    1: ("name", "str"), 2: ("version", "str"), 3: ("hashes", "hex"),
    4: ("description", "str"), 5: ("arch", "str"), 6: ("license", "str"),
    7: ("origin", "str"), 8: ("maintainer", "str"), 9: ("url", "str"),
    10: ("repo-commit", "hex"), 11: ("build-time", "int"), 12: ("installed-size", "int"),
    13: ("file-size", "int"), 14: ("provider-priority", "int"), 15: ("depends", DEPENDENCIES),
    16: ("provides", DEPENDENCIES), 17: ("replaces", DEPENDENCIES),
    18: ("install-if", DEPENDENCIES), 19: ("recommends", DEPENDENCIES),
    20: ("layer", "int"), 21: ("tags", ("arr", "str")),
})
ACL = ("obj", {1: ("mode", "oct"), 2: ("user", "str"), 3: ("group", "str"),
               4: ("xattrs", ("arr", "bytes"))})
FILE = ("obj", {1: ("name", "str"), 2: ("acl", ACL), 3: ("size", "int"), 4: ("mtime", "int"),
                5: ("hash", "hex"), 6: ("target", "hex")})
DIR = ("obj", {1: ("name", "str"), 2: ("acl", ACL), 3: ("files", ("arr", FILE))})
SCRIPTS = ("obj", {1: ("trigger", "str"), 2: ("pre-install", "str"), 3: ("post-install", "str"),
                   4: ("pre-deinstall", "str"), 5: ("post-deinstall", "str"),
                   6: ("pre-upgrade", "str"), 7: ("post-upgrade", "str")})
PACKAGE = ("obj", {1: ("info", PKGINFO), 2: ("paths", ("arr", DIR)), 3: ("scripts", SCRIPTS),
                   4: ("triggers", ("arr", "str")), 5: ("replaces-priority", "int")})


class ApkError(ValueError):
    """A malformed .apk; the text says where."""


class Adb:
    """The ADB block's bytes, read value by value (adb_r_*)."""

    def __init__(self, raw):
        if len(raw) < 8:
            raise ApkError("ADB block shorter than its 8-byte header")
        self.raw = raw
        self.compat_ver, self.ver = raw[0], raw[1]
        self.root = struct.unpack_from("<I", raw, 4)[0]
        # (offset, length) of the package id blob, for the id check.
        self.hashes_at = None

    def _at(self, offs, size):
        if offs + size > len(self.raw):
            raise ApkError(f"value at {offs} (+{size}) beyond the ADB block ({len(self.raw)} bytes)")
        return self.raw[offs:offs + size]

    def blob(self, val):
        kind, offs = val >> 28, val & 0x0fffffff
        width = {_BLOB8: 1, _BLOB16: 2, _BLOB32: 4}.get(kind)
        if width is None:
            raise ApkError(f"tag {val:#010x} is no blob")
        size = int.from_bytes(self._at(offs, width), "little")
        return offs + width, self._at(offs + width, size)

    def int(self, val):
        kind, v = val >> 28, val & 0x0fffffff
        if kind == _INT:
            return v
        if kind == _INT32:
            return struct.unpack("<I", self._at(v, 4))[0]
        if kind == _INT64:
            return struct.unpack("<Q", self._at(v, 8))[0]
        raise ApkError(f"tag {val:#010x} is no integer")

    def slots(self, val):
        kind, offs = val >> 28, val & 0x0fffffff
        if kind not in (_ARRAY, _OBJECT):
            raise ApkError(f"tag {val:#010x} is no object or array")
        n = struct.unpack("<I", self._at(offs, 4))[0]
        if n == 0:
            raise ApkError(f"object at {offs} has no slot count")
        return list(struct.unpack(f"<{n}I", self._at(offs, 4 * n)))[1:]

    def decode(self, val, kind, where):
        """A value as Python: str, int, bytes, dict (objects), list (arrays)."""
        if isinstance(kind, tuple) and kind[0] == "obj":
            out = {}
            for i, v in enumerate(self.slots(val), 1):
                if v == 0:
                    continue
                if i not in kind[1]:
                    raise ApkError(f"{where}: field {i} is not in the schema")
                name, sub = kind[1][i]
                out[name] = self.decode(v, sub, f"{where}.{name}")
                if where == "package.info" and name == "hashes":
                    self.hashes_at = self.blob(v)[0], len(out[name]) // 2
            return out
        if isinstance(kind, tuple):
            return [self.decode(v, kind[1], f"{where}[{i}]")
                    for i, v in enumerate(self.slots(val), 1) if v]
        if kind in ("int", "oct"):
            return self.int(val)
        data = self.blob(val)[1]
        if kind == "hex":
            return data.hex()
        if kind == "bytes":
            return data
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise ApkError(f"{where}: {exc}") from exc


def _blocks(stream):
    """(type, payload) of each block; blocks are 8-byte aligned (adb_c_block)."""
    pos = 8
    while pos < len(stream):
        type_size = struct.unpack_from("<I", stream, pos)[0]
        kind, raw = type_size >> 30, type_size & 0x3fffffff
        if kind == 3:
            raise ApkError(f"extended block at {pos}: not written for packages this size")
        if raw < 4 or pos + raw > len(stream):
            raise ApkError(f"block at {pos} of size {raw} runs past the end ({len(stream)})")
        yield kind, stream[pos + 4:pos + raw]
        pos += raw + (-raw % 8)


class Apk:
    """One .apk, read and checked: info, scripts, dirs and files."""

    def __init__(self, path):
        self.path = Path(path)
        blob = self.path.read_bytes()
        if blob[:4] != b"ADBd":
            raise ApkError(f"{self.path.name}: starts with {blob[:4]!r}, not ADBd (deflate)")
        self.stream = zlib.decompressobj(-15).decompress(blob[4:])
        if self.stream[:8] != b"ADB.pckg":
            raise ApkError(f"{self.path.name}: header {self.stream[:8]!r}, not ADB.pckg")
        blocks = list(_blocks(self.stream))
        self.block_types = [k for k, _ in blocks]
        if not blocks or blocks[0][0] != 0:
            raise ApkError(f"{self.path.name}: the first block is no ADB block")
        self.adb = Adb(blocks[0][1])
        self.package = self.adb.decode(self.adb.root, PACKAGE, "package")
        self.info = self.package["info"]
        self.scripts = self.package.get("scripts", {})
        self.dirs = self.package.get("paths", [])
        self.files = self._files([p for k, p in blocks[1:] if k == 2])

    def _files(self, data_blocks):
        """{'/path': (mode, bytes)} of every file, each checked against its
        size and sha256; every non-empty file has exactly one DATA block."""
        content = {}
        for payload in data_blocks:
            path_idx, file_idx = struct.unpack_from("<II", payload)
            content.setdefault((path_idx, file_idx), []).append(payload[8:])
        out = {}
        for p, d in enumerate(self.dirs, 1):
            for f, entry in enumerate(d.get("files", []), 1):
                path = "/" + "/".join(x for x in (d.get("name", ""), entry["name"]) if x)
                chunks = content.pop((p, f), [b""] if entry.get("size", 0) == 0 else [])
                if len(chunks) != 1:
                    raise ApkError(f"{path}: {len(chunks)} DATA blocks, not 1")
                data = chunks[0]
                if len(data) != entry.get("size", 0):
                    raise ApkError(f"{path}: {len(data)} bytes of data, size says {entry.get('size')}")
                if hashlib.sha256(data).hexdigest() != entry.get("hash"):
                    raise ApkError(f"{path}: sha256 {hashlib.sha256(data).hexdigest()} "
                                   f"is not the recorded {entry.get('hash')}")
                out[path] = (entry["acl"]["mode"], data)
        if content:
            raise ApkError(f"DATA blocks for no file: {sorted(content)}")
        return out

    def package_id_ok(self):
        """mkpkg_main's id: sha256 of the ADB block with the id zeroed, first 20 bytes."""
        offs, size = self.adb.hashes_at
        raw = bytearray(self.adb.raw)
        recorded = bytes(raw[offs:offs + size])
        raw[offs:offs + size] = b"\0" * size
        return hashlib.sha256(raw).digest()[:size] == recorded

    def depends(self):
        """The names depended on, in the package's order (apk sorts them)."""
        return [d["name"] for d in self.info.get("depends", [])]


def load_apk_builder():
    """package/build_apk.py as a module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_apk", APK_BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
