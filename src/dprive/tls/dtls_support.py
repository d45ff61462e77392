"""What of pyOpenSSL and cryptography dprive's DTLS needs, and whether this Python has it.

OpenWrt's feed pairs older versions than PyPI (lang/python/python-pyopenssl and
python-cryptography Makefiles in openwrt/packages): 24.10 ships pyOpenSSL 24.2.1
with cryptography 41.0.7, 25.12 pyOpenSSL 23.3.0 with cryptography 46.0.6.
The first version of each pyOpenSSL API below is read from pyOpenSSL's
CHANGELOG.rst and from src/OpenSSL/SSL.py at its release tags. The bindings
came and went: importing cryptography's wheels, 41.0.7 has neither
SSL_session_reused nor i2d/d2i_SSL_SESSION, 42 and 43 have the first, 44 all
three; Debian 12's 38.0.4 has SSL_session_reused. So the version given for a
binding is the one from which on it stays.

A missing REQUIRED name means no DTLS at all: the client treats every
upstream as DTLS-unavailable ('dtls tls' moves to TLS), the gateway does not
start; both say which name is missing and from which version. A missing
OPTIONAL name only costs a feature, which `notes` names.

This module imports nothing of pyOpenSSL at load time: it must answer even
where python3-pyopenssl is not installed.
"""

CLIENT = "client"
GATEWAY = "gateway"
DTLS1_2_VERSION = 0xFEFD

# (owner in OpenSSL.SSL, name, first pyOpenSSL version, roles that need it)
REQUIRED_PYOPENSSL = (
    ("SSL", "DTLS_METHOD", "22.0.0", (CLIENT, GATEWAY)),
    ("SSL", "OP_NO_RENEGOTIATION", "22.0.0", (CLIENT, GATEWAY)),
    ("SSL", "OpenSSL_version", "22.1.0", (CLIENT,)),
    ("Context", "set_min_proto_version", "21.0.0", (CLIENT,)),
    ("Context", "set_cookie_generate_callback", "22.0.0", (GATEWAY,)),
    ("Context", "set_cookie_verify_callback", "22.0.0", (GATEWAY,)),
    ("Connection", "set_ciphertext_mtu", "22.0.0", (CLIENT, GATEWAY)),
    ("Connection", "get_cleartext_mtu", "22.0.0", (CLIENT, GATEWAY)),
    ("Connection", "DTLSv1_listen", "22.0.0", (GATEWAY,)),
    ("Connection", "DTLSv1_get_timeout", "23.1.0", (CLIENT,)),
    ("Connection", "DTLSv1_handle_timeout", "23.1.0", (CLIENT,)),
)

# feature -> (Connection methods, first pyOpenSSL version, roles, what is lost). The
# client cannot do without its retransmission timer; the gateway can, less well.
OPTIONAL_PYOPENSSL = {
    "retransmit_timer": (("DTLSv1_get_timeout", "DTLSv1_handle_timeout"), "23.1.0", (GATEWAY,),
                         "the gateway does not resend a lost handshake flight of its own"),
}

# cryptography's cffi bindings the client calls directly (host name check,
# verify result); present in every cryptography pyOpenSSL 21+ accepts.
REQUIRED_BINDINGS = (
    "SSL_get0_param", "X509_VERIFY_PARAM_set1_host", "X509_VERIFY_PARAM_set1_ip",
    "X509_VERIFY_PARAM_set_hostflags", "SSL_get_verify_result",
    "X509_verify_cert_error_string", "ERR_clear_error", "SSL_get_session",
    "SSL_set_session", "SSL_SESSION_free",
)

# feature -> (bindings it needs, first cryptography version with them, roles that
# lose something without them (and get a note), what is lost). The client does
# without both: it keeps pyOpenSSL Session objects instead of DER, and tells a
# resumption by its master secret (tls/dtls.py); `features` still shows them.
OPTIONAL_BINDINGS = {
    "session_der": (("i2d_SSL_SESSION", "d2i_SSL_SESSION"), "44.0.0", (), None),
    "session_reused": (("SSL_session_reused",), "42.0.0", (GATEWAY,),
                       "resumed DTLS sessions are not counted (handshakes_resumed stays 0)"),
}


class Support:
    """The answer for one role: versions, `missing` (fatal), `features`, `notes`."""

    def __init__(self, role, versions, missing, features, notes):
        self.role = role
        self.versions = versions      # {"pyopenssl": ..., "cryptography": ..., "openssl": ...}
        self.missing = missing        # ["Connection.DTLSv1_get_timeout (pyOpenSSL 23.1.0)", ...]
        self.features = features      # {"retransmit_timer": bool, "session_der": bool, ...}
        self.notes = notes            # what an optional gap costs, one sentence each

    @property
    def unavailable(self):
        """None when DTLS works here, else why not, in one line."""
        if not self.missing:
            return None
        if self.versions.get("pyopenssl") is None:
            return "; ".join(self.missing)
        return "pyOpenSSL %s with cryptography %s lacks %s" % (
            self.versions["pyopenssl"], self.versions["cryptography"], ", ".join(self.missing))

    def status(self):
        return {
            "pyopenssl": self.versions.get("pyopenssl"),
            "cryptography": self.versions.get("cryptography"),
            "openssl": self.versions.get("openssl"),
            "unavailable": self.unavailable,
            "features": dict(self.features),
            "notes": list(self.notes),
        }


def probe(role=CLIENT):
    """What this Python offers `role` (CLIENT or GATEWAY). Never raises."""
    try:
        import cryptography
        import OpenSSL
        from cryptography.hazmat.bindings.openssl.binding import Binding
        from OpenSSL import SSL
    except ImportError as err:
        return Support(role, {}, ["pyOpenSSL (python3-pyopenssl) cannot be imported: %s" % err],
                       dict.fromkeys(list(OPTIONAL_PYOPENSSL) + list(OPTIONAL_BINDINGS), False), [])
    versions = {"pyopenssl": OpenSSL.__version__, "cryptography": cryptography.__version__,
                "openssl": _openssl_version(SSL)}
    owners = {"SSL": SSL, "Context": SSL.Context, "Connection": SSL.Connection}
    missing = ["%s (pyOpenSSL %s)" % (name if owner == "SSL" else "%s.%s" % (owner, name), since)
               for owner, name, since, roles in REQUIRED_PYOPENSSL
               if role in roles and not hasattr(owners[owner], name)]
    lib = Binding().lib
    missing += ["binding %s (cryptography)" % name
                for name in REQUIRED_BINDINGS if role == CLIENT and not hasattr(lib, name)]
    if not missing:
        missing += _no_dtls_in_libssl(SSL, versions["openssl"])
    features, notes = {}, []
    for feature, (names, since, roles, cost) in OPTIONAL_PYOPENSSL.items():
        absent = [name for name in names if not hasattr(SSL.Connection, name)]
        features[feature] = not absent
        if absent and role in roles:
            notes.append("%s: pyOpenSSL %s has no Connection.%s (from pyOpenSSL %s)"
                         % (cost, versions["pyopenssl"], " or ".join(absent), since))
    for feature, (names, since, roles, cost) in OPTIONAL_BINDINGS.items():
        absent = [name for name in names if not hasattr(lib, name)]
        features[feature] = not absent
        if absent and role in roles:
            notes.append("%s: cryptography %s has no %s (cryptography %s and later bind it)"
                         % (cost, versions["cryptography"], " or ".join(absent), since))
    return Support(role, versions, missing, features, notes)


def _no_dtls_in_libssl(ssl_module, openssl_version):
    """[why] when the OpenSSL under pyOpenSSL cannot speak DTLS 1.2, else [].

    OpenWrt builds libopenssl `no-dtls`, which still exports DTLS_method and
    the rest: the names above are all there, but SSL_CTX_set_min_proto_version
    (DTLS 1.2) returns 0, which pyOpenSSL raises as SSL.Error, and without it a
    handshake ends in "no protocols available" (OpenSSL 3.0.22 and 3.5.7 built
    with OpenWrt's options). So ask the library itself.
    """
    try:
        ssl_module.Context(ssl_module.DTLS_METHOD).set_min_proto_version(DTLS1_2_VERSION)
    except ssl_module.Error:
        return ["DTLS 1.2 in %s (a libssl built no-dtls, as OpenWrt's is)" % openssl_version]
    return []


def _openssl_version(ssl_module):
    if hasattr(ssl_module, "OpenSSL_version"):
        return ssl_module.OpenSSL_version(ssl_module.OPENSSL_VERSION).decode()
    return ssl_module.SSLeay_version(ssl_module.SSLEAY_VERSION).decode()   # before pyOpenSSL 22.1
