"""Throwaway certificates made with the openssl command line.

make_test_pki(directory) writes:
  ca.pem, ca.key                the test CA (ECDSA P-256)
  server.pem, server.key        server certificate signed by that CA, with
                                subjectAltName DNS:dns.test, IP:127.0.0.1
  server-chain.pem              server certificate followed by the CA
  wrong-ca.pem, wrong-ca.key    a second, unrelated CA (nothing trusts it)
  wrong-server.pem, .key        a server certificate for the same names,
                                signed by the wrong CA
and returns a TestPKI with the paths and the SPKI pins of the server keys.

spki_pin(cert_path) is the RFC 7858 pin: base64(SHA-256(DER SubjectPublicKeyInfo)).
"""

import base64
import hashlib
import os
import subprocess
from pathlib import Path

AUTH_NAME = "dns.test"
DAYS = 30


def _openssl(*args, input_bytes=None):
    proc = subprocess.run(
        ["openssl", *args], input=input_bytes, capture_output=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (
            " ".join(args), proc.stderr.decode(errors="replace").strip()))
    return proc.stdout


def _ec_key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(path))
    os.chmod(path, 0o600)


def _make_ca(directory, stem, common_name):
    key = directory / (stem + ".key")
    cert = directory / (stem + ".pem")
    _ec_key(key)
    _openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert),
             "-days", str(DAYS), "-sha256", "-subj", "/CN=" + common_name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return cert, key


def _make_server(directory, stem, ca_cert, ca_key, dns_name, ip):
    key = directory / (stem + ".key")
    csr = directory / (stem + ".csr")
    cert = directory / (stem + ".pem")
    ext = directory / (stem + ".ext")
    _ec_key(key)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", "/CN=" + dns_name)
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectAltName=DNS:%s,IP:%s\n" % (dns_name, ip))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", str(DAYS), "-sha256",
             "-extfile", str(ext))
    csr.unlink()
    ext.unlink()
    return cert, key


def spki_der(cert_path):
    """DER SubjectPublicKeyInfo of the certificate's key."""
    pub_pem = _openssl("x509", "-in", str(cert_path), "-noout", "-pubkey")
    return _openssl("pkey", "-pubin", "-outform", "DER", input_bytes=pub_pem)


def spki_pin(cert_path):
    """base64 SHA-256 of the SPKI, as dprive's `list spki` and kdig's +tls-pin take it."""
    return base64.b64encode(hashlib.sha256(spki_der(cert_path)).digest()).decode("ascii")


class TestPKI:
    """Paths of one generated set of certificates, plus the pins."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory):
        d = Path(directory)
        self.directory = d
        self.auth_name = AUTH_NAME
        self.ca_cert = d / "ca.pem"
        self.ca_key = d / "ca.key"
        self.server_cert = d / "server.pem"
        self.server_key = d / "server.key"
        self.server_chain = d / "server-chain.pem"
        self.wrong_ca_cert = d / "wrong-ca.pem"
        self.wrong_ca_key = d / "wrong-ca.key"
        self.wrong_server_cert = d / "wrong-server.pem"
        self.wrong_server_key = d / "wrong-server.key"
        self.server_pin = None
        self.wrong_pin = None

    def __repr__(self):
        return "TestPKI(%s)" % self.directory


def make_test_pki(directory):
    """Generate the CA, the server certificate and the wrong CA into directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pki = TestPKI(d)
    ca_cert, ca_key = _make_ca(d, "ca", "dprive test CA")
    _make_server(d, "server", ca_cert, ca_key, AUTH_NAME, "127.0.0.1")
    pki.server_chain.write_bytes(pki.server_cert.read_bytes() + pki.ca_cert.read_bytes())
    wca_cert, wca_key = _make_ca(d, "wrong-ca", "dprive wrong CA")
    _make_server(d, "wrong-server", wca_cert, wca_key, AUTH_NAME, "127.0.0.1")
    pki.server_pin = spki_pin(pki.server_cert)
    pki.wrong_pin = spki_pin(pki.wrong_server_cert)
    return pki


if __name__ == "__main__":
    import sys
    target = sys.argv[1] if len(sys.argv) > 1 else "."
    made = make_test_pki(target)
    print("CA:        %s" % made.ca_cert)
    print("server:    %s (pin %s)" % (made.server_cert, made.server_pin))
    print("wrong CA:  %s (wrong-server pin %s)" % (made.wrong_ca_cert, made.wrong_pin))
