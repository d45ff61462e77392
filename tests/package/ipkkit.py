"""Helpers of the package tier (tests/package): building and reading .ipk files."""

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "package" / "build_ipk.py"
FEED_MAKEFILE = ROOT / "package" / "dprive" / "Makefile"
STUBS = Path(__file__).resolve().parent / "openwrt-stubs"
EPOCH = 1700000000          # SOURCE_DATE_EPOCH of the test builds
PACKAGES = ("dprive", "dprive-src", "dprive-dtls")   # of the feed Makefile package/dprive/Makefile
LUCI_PACKAGE = "luci-app-dprive"               # of luci-app/Makefile (luci.mk style)
LUCI_MAKEFILE = ROOT / "luci-app" / "Makefile"
ALL_PACKAGES = PACKAGES + (LUCI_PACKAGE,)      # what `make ipk` builds


DIST = ROOT / "package" / "dist.py"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_builder():
    """package/build_ipk.py as a module (its name is no package path)."""
    return _load("build_ipk", BUILDER)


def load_dist():
    """package/dist.py (`make dist`) as a module."""
    return _load("dist", DIST)


def run_builder(out_dir, epoch=EPOCH, builder=BUILDER, extra=()):
    """The builder as `make ipk` (or `make apk`) runs it (a separate process)."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    proc = subprocess.run([sys.executable, str(builder), "--out", str(out_dir), *extra],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [Path(line) for line in proc.stdout.split()]


class Ipk:
    """One .ipk, read: its outer members, control tar and data tar."""

    def __init__(self, path):
        self.path = Path(path)
        blob = self.path.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as outer:
            self.outer = outer.getmembers()
            self.parts = {m.name: outer.extractfile(m).read() for m in self.outer}
        self.control_members, self.control_files = self._read(self.parts["./control.tar.gz"])
        self.data_members, self.data_files = self._read(self.parts["./data.tar.gz"])

    @staticmethod
    def _read(blob):
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            members = tar.getmembers()
            files = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
        return members, files

    def control(self):
        """The control file as {field: value}; Description keeps its lines."""
        fields, key = {}, None
        for line in self.control_files["./control"].decode().splitlines():
            if line.startswith(" ") and key:
                fields[key] += "\n" + line[1:]
            else:
                key, _, value = line.partition(": ")
                fields[key] = value
        return fields

    def data_modes(self):
        """{'/installed/path': mode} of the regular files of data.tar.gz."""
        return {m.name[1:]: m.mode for m in self.data_members if m.isfile()}

    def extract_data(self, root):
        """data.tar.gz into root, with the modes of the archive."""
        root = Path(root)
        for m in sorted(self.data_members, key=lambda m: m.name):
            assert (m.name == "." or m.name.startswith("./")) and ".." not in m.name.split("/")
            dest = root / m.name
            if m.isdir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                assert m.isfile(), m.name
                dest.write_bytes(self.data_files[m.name])
            os.chmod(dest, m.mode)
        return root
