#!/usr/bin/env python3
"""Debian 13 (trixie)'s libmbedtls 3.6 binaries, unpacked under build/mbedtls-3.6/,
for the tests that run DTLS on mbedTLS 3.6 (OpenWrt's version) on this
Debian 12 machine, whose own libmbedtls is 2.28.

A distro binary, not a build: the three runtime packages (libmbedcrypto16,
libmbedx509-7, libmbedtls21) come from deb.debian.org as apt would fetch them,
and are checked the way apt checks them: the InRelease file's signature
against the Debian archive keyring (gpgv), the Packages.xz index against the
SHA256 InRelease gives it, each .deb against the SHA256 the index gives it.
Then `dpkg -x` into the directory and a stamp naming what is there.

    python3 tests/tools/fetch_mbedtls36.py [--dest build/mbedtls-3.6]

Tests point the loader at the result with
DPRIVE_MBEDTLS_LIBDIR=build/mbedtls-3.6/lib (a link to usr/lib/<multiarch>).
Set-up time only (`make mbedtls36`); nothing here runs during a test.
"""

import argparse
import ctypes
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "trixie"
PACKAGES = ("libmbedcrypto16", "libmbedx509-7", "libmbedtls21")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
STAMP = ".stamp"
TIMEOUT_S = 60


def fetch(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:
        return reply.read()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def verified_release(inrelease, keyring):
    """The signed text of InRelease, once gpgv has checked its signature."""
    with tempfile.TemporaryDirectory() as tmp:
        signed = Path(tmp, "InRelease")
        signed.write_bytes(inrelease)
        out = Path(tmp, "Release")
        run = subprocess.run(["gpgv", "--keyring", keyring, "--output", str(out), str(signed)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("InRelease of %s: bad or unknown signature (gpgv, keyring %s):\n%s"
                     % (SUITE, keyring, run.stderr.strip()))
        return out.read_text()


def release_sha256(release, path):
    """(sha256, size) that the Release text gives for `path` (e.g. main/binary-amd64/Packages.xz)."""
    in_section = False
    for line in release.splitlines():
        if not line.startswith(" "):
            in_section = line.strip() == "SHA256:"
            continue
        if in_section:
            digest, size, name = line.split()
            if name == path:
                return digest, int(size)
    sys.exit("the %s Release names no %s" % (SUITE, path))


def stanzas(index_text):
    for block in index_text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            yield fields


def pick(index_text, arch):
    """Package -> its stanza, for PACKAGES on `arch`."""
    found = {}
    for fields in stanzas(index_text):
        if fields.get("Package") in PACKAGES and fields.get("Architecture") == arch:
            found[fields["Package"]] = fields
    missing = [name for name in PACKAGES if name not in found]
    if missing:
        sys.exit("the %s index for %s has no %s" % (SUITE, arch, ", ".join(missing)))
    return found


def multiarch_dir(root):
    libs = sorted(root.glob("usr/lib/*/libmbedtls.so.21"))
    if not libs:
        sys.exit("no usr/lib/*/libmbedtls.so.21 in the unpacked packages")
    return libs[0].parent


def check_loads(libdir):
    """The unpacked library loads (its sonames resolve among themselves) and says 3.6."""
    for name in ("libmbedcrypto.so.16", "libmbedx509.so.7", "libmbedtls.so.21"):
        ctypes.CDLL(str(libdir / name), mode=ctypes.RTLD_GLOBAL)
    crypto = ctypes.CDLL(str(libdir / "libmbedcrypto.so.16"))
    buf = ctypes.create_string_buffer(32)
    crypto.mbedtls_version_get_string(buf)
    version = buf.value.decode()
    if not version.startswith("3.6."):
        sys.exit("%s says mbedTLS %s, not 3.6" % (libdir, version))
    return version


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default="build/mbedtls-3.6")
    parser.add_argument("--keyring", default=KEYRING)
    args = parser.parse_args()
    dest = Path(args.dest)
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()

    release = verified_release(fetch("%s/dists/%s/InRelease" % (MIRROR, SUITE)), args.keyring)
    index_path = "main/binary-%s/Packages.xz" % arch
    digest, size = release_sha256(release, index_path)
    index = fetch("%s/dists/%s/%s" % (MIRROR, SUITE, index_path))
    if (sha256(index), len(index)) != (digest, size):
        sys.exit("%s: SHA256 or size differs from the signed Release" % index_path)
    wanted = pick(lzma.decompress(index).decode("utf-8", "replace"), arch)

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))   # same filesystem: rename
    try:
        lines = []
        for name in PACKAGES:
            fields = wanted[name]
            deb = fetch("%s/%s" % (MIRROR, fields["Filename"]))
            if sha256(deb) != fields["SHA256"]:
                sys.exit("%s: SHA256 %s, the index says %s" % (fields["Filename"], sha256(deb),
                                                               fields["SHA256"]))
            path = work / Path(fields["Filename"]).name
            path.write_bytes(deb)
            subprocess.run(["dpkg", "-x", str(path), str(work / "root")], check=True)
            path.unlink()
            lines.append("%s %s %s %s" % (name, fields["Version"], arch, fields["SHA256"]))
        root = work / "root"
        libdir = multiarch_dir(root)
        (root / "lib").symlink_to(libdir.relative_to(root))
        version = check_loads(libdir)
        (root / STAMP).write_text("mbedTLS %s from Debian %s (%s)\n%s\n"
                                  % (version, SUITE, MIRROR, "\n".join(lines)))
        if dest.exists():
            shutil.rmtree(dest)
        root.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("mbedTLS %s in %s/lib (DPRIVE_MBEDTLS_LIBDIR)" % (version, dest))


if __name__ == "__main__":
    main()
