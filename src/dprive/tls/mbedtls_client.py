"""What the two mbedTLS client engines share: TLS over TCP (tls/dot_mbedtls.py)
and DTLS (tls/dtls_mbedtls.py), which differ only in transport and I/O.

- ClientConfig: an mbedtls_ssl_config for clients and the CA chain it points to.
- the server name: SNI and the certificate check (mbedtls_ssl_set_hostname),
- sessions as mbedtls_ssl_session_save's bytes (SavedSession),
- a failed handshake told as AuthError (the certificate) or TlsError, in
  mbedTLS's own words, and the peer certificate's DER for the SPKI pins.
"""

import ctypes

from dprive.tls import mbedtls_lib as mb
from dprive.tls.dtls_common import ip_literal
from dprive.tls.engine_api import AuthError, TlsError
from dprive.tls.hostname import ascii_hostname
from dprive.tls.spki import sha256

FIRST_IP_CHECK = (3, 5)       # mbedTLS matches an IP address against iPAddress SANs from 3.5
BADCERT_CN_MISMATCH = 0x04    # MBEDTLS_X509_BADCERT_CN_MISMATCH (x509.h, 2.28 and 3.6)
NO_FLAGS = (0, 0xFFFFFFFF)    # get_verify_result before any verification: -1


class ClientConfig:
    """An mbedtls_ssl_config for clients on `transport` (mb.TRANSPORT_STREAM or _DATAGRAM)."""

    def __init__(self, lib, verify_name, transport):
        self.lib = lib
        self.verify_name = verify_name
        self.conf = lib.new("ssl_config")
        self.ca = None
        rc = lib.fn.mbedtls_ssl_config_defaults(self.conf, mb.IS_CLIENT, transport, mb.PRESET_DEFAULT)
        if rc != 0:
            raise TlsError("mbedtls_ssl_config_defaults: %s" % lib.error_text(rc))
        lib.fn.mbedtls_ssl_conf_rng(self.conf, lib.rng, None)
        lib.fn.mbedtls_ssl_conf_session_tickets(self.conf, mb.SESSION_TICKETS_ENABLED)
        lib.fn.mbedtls_ssl_conf_authmode(self.conf, mb.VERIFY_REQUIRED if verify_name
                                         else mb.VERIFY_NONE)

    def load_ca(self, ca_bundle):
        self.ca = self.lib.new("x509_crt")
        path = ca_bundle.encode() if isinstance(ca_bundle, str) else bytes(ca_bundle)
        rc = self.lib.fn.mbedtls_x509_crt_parse_file(self.ca, path)
        if rc < 0:
            raise TlsError("cannot load the CA bundle %s: %s" % (ca_bundle, self.lib.error_text(rc)))
        self.lib.fn.mbedtls_ssl_conf_ca_chain(self.conf, self.ca, None)

    def __del__(self):
        lib = getattr(self, "lib", None)
        if lib is None:
            return
        if getattr(self, "conf", None) is not None:
            lib.fn.mbedtls_ssl_config_free(self.conf)
        if getattr(self, "ca", None) is not None:
            lib.fn.mbedtls_x509_crt_free(self.ca)


class SavedSession:
    """A session to resume: mbedtls_ssl_session_save's bytes, for `context` only.

    `id` and `has_ticket` are what tls.sessions.SessionStore reads. The id
    is a hash of the bytes of the handshake (or TLS 1.3 ticket) that made the
    session; a resumption that brings no new ticket keeps the offered
    session's id (the saved bytes change anyway: they carry the handshake's
    time), so the store does not take a resumed session for a new one.
    """

    def __init__(self, context, blob, has_ticket, id=None):
        self.context = context
        self.blob = blob
        self.id = id if id is not None else sha256(blob).digest()[:16]
        self.has_ticket = has_ticket

    def __repr__(self):
        return "SavedSession(id=%s, ticket=%s)" % (self.id.hex()[:16], self.has_ticket)


def new_ssl(lib, conf):
    """An mbedtls_ssl_context set up on `conf`."""
    ssl = lib.new("ssl")
    rc = lib.fn.mbedtls_ssl_setup(ssl, conf)
    if rc != 0:
        lib.fn.mbedtls_ssl_free(ssl)
        raise TlsError("mbedtls_ssl_setup: %s" % lib.error_text(rc))
    return ssl


def free_engine(engine, io_name):
    """An engine's __del__: its ssl context (new_ssl's) freed and its I/O (the
    attribute `io_name`: a Channel or StreamBuffers) released; safe on an engine
    whose __init__ stopped half-way."""
    if getattr(engine, "_ssl", None) is not None:
        engine._lib.fn.mbedtls_ssl_free(engine._ssl)
        engine._ssl = None
    io = getattr(engine, io_name, None)
    if io is not None:
        io.release()


def check_name(lib, server_hostname, verify_name):
    """Whether `server_hostname` is an IP address; ValueError/TlsError when it cannot be checked."""
    if verify_name and not server_hostname:
        raise ValueError("checking the name needs a server_hostname")
    address = ip_literal(server_hostname)
    if verify_name and address is not None and lib.version < FIRST_IP_CHECK:
        raise TlsError("%s cannot check the IP address %s against a certificate"
                       " (3.5 and later can): give the upstream an auth name"
                       % (lib.version_text, server_hostname))
    return address is not None


def set_name(lib, ssl, server_hostname, verify_name, is_address):
    """SNI for a name; for an address only the certificate check (RFC 6066: no SNI)."""
    if server_hostname and (not is_address or verify_name):
        rc = lib.fn.mbedtls_ssl_set_hostname(ssl, name_bytes(server_hostname))
        if rc != 0:
            raise TlsError("mbedTLS would not take %r as the name to check: %s"
                           % (server_hostname, lib.error_text(rc)))


def name_bytes(name):
    """The name as mbedTLS takes it: ASCII, the idna codec only for a name that is
    not (tls/hostname.py)."""
    return ascii_hostname(name).encode("ascii")


def load_session(lib, ssl, blob):
    """Offer the saved session `blob` on `ssl`'s next handshake."""
    sess = lib.new("ssl_session")
    try:
        rc = lib.fn.mbedtls_ssl_session_load(sess, blob, len(blob))
        if rc != 0:
            raise ValueError("not a saved mbedTLS session: %s" % lib.error_text(rc))
        rc = lib.fn.mbedtls_ssl_set_session(ssl, sess)
        if rc != 0:
            raise TlsError("mbedTLS refused the session: %s" % lib.error_text(rc))
    finally:
        lib.fn.mbedtls_ssl_session_free(sess)


def save_session(lib, ssl):
    """The current session of `ssl` as bytes, or None. From 3.0 on each session
    (each TLS 1.3 ticket) can be exported once: a second call gives None."""
    sess = lib.new("ssl_session")
    try:
        if lib.fn.mbedtls_ssl_get_session(ssl, sess) != 0:
            return None
        size = ctypes.c_size_t(0)
        lib.fn.mbedtls_ssl_session_save(sess, None, 0, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value or 1)
        if lib.fn.mbedtls_ssl_session_save(sess, buf, len(buf), ctypes.byref(size)) != 0:
            return None
        return buf.raw[:size.value]
    finally:
        lib.fn.mbedtls_ssl_session_free(sess)


def handshake_failure(lib, ssl, rc, verify_name, is_address, what):
    """The exception for a handshake that returned `rc`: AuthError when the
    certificate was rejected, else TlsError; `what` is "TLS" or "DTLS"."""
    flags = lib.fn.mbedtls_ssl_get_verify_result(ssl)
    if rc == mb.ERR_X509_CERT_VERIFY_FAILED or (verify_name and flags not in NO_FLAGS):
        return AuthError("certificate rejected: %s" % verify_text(lib, flags, is_address))
    return TlsError("%s handshake failed: %s" % (what, lib.error_text(rc)))


def verify_text(lib, flags, is_address):
    """mbedTLS's words for the flags, led by the ones OpenSSL uses for a name
    mismatch (mbedTLS says 'Common Name (CN)' whatever it compared against)."""
    text = lib.verify_text(flags)
    if flags & BADCERT_CN_MISMATCH:
        what = "IP address mismatch" if is_address else "hostname mismatch"
        return "%s (%s)" % (what, text)
    return text


def peer_der(lib, ssl):
    """The DER of the server's certificate, or None when the session holds none."""
    cert = lib.fn.mbedtls_ssl_get_peer_cert(ssl)
    der = mb.crt_der(cert) if cert else b""
    return der or None
