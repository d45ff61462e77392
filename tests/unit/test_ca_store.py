"""tls/ca_store.py: CAs from a hashed directory, read on demand, check exactly as a file does."""

import os
import subprocess

import pytest

from dprive.tls import ca_store, dot
from tests.tools import certs
from test_dot_engine import MemoryServer, handshake


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


def hashed_dir(path, *cas):
    """A directory as OpenWrt's ca-certificates installs it: each CA and its hash link."""
    path.mkdir()
    for n, ca in enumerate(cas):
        name = "ca%d.crt" % n
        (path / name).write_bytes(ca.read_bytes())
        digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
                                capture_output=True, text=True, check=True).stdout.strip()
        os.symlink(name, str(path / ("%s.0" % digest)))
    return path


def test_which_location_each_setting_gives(tmp_path, monkeypatch, pki):
    links = hashed_dir(tmp_path / "certs", pki.ca_cert)
    bundle = links / "ca-certificates.crt"
    bundle.write_bytes(pki.ca_cert.read_bytes())
    assert ca_store.locate(str(links)) == (None, str(links))
    assert ca_store.locate(str(bundle)) == (str(bundle), None), "a file named is that file"
    monkeypatch.setattr(ca_store, "DEFAULT_BUNDLE", str(bundle))
    assert ca_store.locate(str(bundle)) == (None, str(links)), "the default: the hashed directory"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "ca-certificates.crt").write_bytes(pki.ca_cert.read_bytes())
    monkeypatch.setattr(ca_store, "DEFAULT_BUNDLE", str(plain / "ca-certificates.crt"))
    assert ca_store.locate(ca_store.DEFAULT_BUNDLE) == (ca_store.DEFAULT_BUNDLE, None), "no links: the file"
    assert [ca_store.is_hash_link(n) for n in ("5ad8a5d6.0", "5ad8a5d6.12", "5AD8A5D6.0", "5ad8a5d.0",
                                               "5ad8a5d6.r0", "5ad8a5d6", "ca.crt")] == [
        True, True, False, False, False, False, False]


def test_a_hashed_directory_checks_the_ca_and_the_name(tmp_path, pki):
    good = str(hashed_dir(tmp_path / "good", pki.ca_cert))
    client = dot.TlsClient(dot.make_context(good, "1.2", True), certs.AUTH_NAME)
    handshake(client, MemoryServer(pki))
    assert client.established
    with pytest.raises(dot.AuthError, match="certificate rejected"):
        handshake(dot.TlsClient(dot.make_context(good, "1.2", True), "other.test"), MemoryServer(pki))
    with pytest.raises(dot.AuthError, match="certificate rejected"):
        handshake(dot.TlsClient(dot.make_context(good, "1.2", True), certs.AUTH_NAME),
                  MemoryServer(pki, wrong=True))
    wrong_only = str(hashed_dir(tmp_path / "wrong", pki.wrong_ca_cert))
    with pytest.raises(dot.AuthError, match="certificate rejected"):
        handshake(dot.TlsClient(dot.make_context(wrong_only, "1.2", True), certs.AUTH_NAME),
                  MemoryServer(pki))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(dot.AuthError, match="certificate rejected"):
        handshake(dot.TlsClient(dot.make_context(str(empty), "1.2", True), certs.AUTH_NAME),
                  MemoryServer(pki))
