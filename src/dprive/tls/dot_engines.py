"""Which DoT engine this daemon runs: the standard library's ssl (OpenSSL) or
libmbedtls through ctypes (tls/dot_mbedtls.py).

`tls_engine` in the config says which: 'openssl' (the default), 'mbedtls',
or 'auto' (see choose()): mbedTLS where libmbedtls loads with TLS 1.3, else
OpenSSL. mbedTLS saves OpenSSL's ~4 MB of RSS and needs no
libopenssl on the router; OpenSSL is the engine every flow was first
verified on. Only the chosen engine's module is imported: with mbedtls,
`ssl` is never loaded.
"""

OPENSSL = "openssl"
MBEDTLS = "mbedtls"
AUTO = "auto"
CHOICES = (AUTO, OPENSSL, MBEDTLS)


class DotEngine:
    """One engine: its name, version, make_context, client class and the
    exceptions its make_context raises for a CA bundle it cannot load."""

    def __init__(self, name, version, module, load_errors):
        self.name = name
        self.version = version
        self.make_context = module.make_context
        self.client_class = module.TlsClient
        self.load_errors = load_errors
        self.chosen_for_tls13 = False     # auto took it over an mbedTLS without TLS 1.3


def _openssl():
    """The OpenSSL engine, or the reason it cannot run here (a str)."""
    try:
        from dprive.tls import dot, ossl
    except ImportError as err:            # python3-openssl missing
        return "cannot be imported: %s" % err
    return DotEngine(OPENSSL, ossl.OPENSSL_VERSION, dot, (OSError, ossl.SSLError))


def _mbedtls(min_version):
    """The mbedTLS engine, or the reason it cannot run here (a str)."""
    try:
        from dprive.tls import mbedtls_lib
        lib = mbedtls_lib.load()
        from dprive.tls import dot_mbedtls
        from dprive.tls.engine_api import TlsError
    except ImportError as err:            # python3-ctypes missing
        return "cannot be imported: %s" % err
    except mbedtls_lib.MbedtlsUnavailable as err:
        return str(err)
    engine = DotEngine(MBEDTLS, lib.version_text, dot_mbedtls, (OSError, TlsError))
    engine.tls13 = dot_mbedtls.has_tls13(lib)
    if min_version == "1.3" and not engine.tls13:
        return "%s has no TLS 1.3 (tls_min_version 1.3)" % lib.version_text
    return engine


def choose(preference, min_version):
    """(DotEngine or None, {engine: why it does not run}). Never raises.

    auto: mbedTLS when it has TLS 1.3 (3.x), else OpenSSL (TLS 1.3 beats the
    memory), else an mbedTLS without TLS 1.3 (a router without python3-openssl).
    """
    if preference not in CHOICES:
        raise ValueError("unknown tls_engine %r" % preference)
    if preference == OPENSSL:
        found = _openssl()
        return (None, {OPENSSL: found}) if isinstance(found, str) else (found, {})
    mbed = _mbedtls(min_version)
    if preference == MBEDTLS:
        return (None, {MBEDTLS: mbed}) if isinstance(mbed, str) else (mbed, {})
    if not isinstance(mbed, str) and mbed.tls13:
        return mbed, {}
    why_not_mbed = mbed if isinstance(mbed, str) else "%s has no TLS 1.3" % mbed.version
    ossl = _openssl()
    if not isinstance(ossl, str):
        ossl.chosen_for_tls13 = not isinstance(mbed, str)
        return ossl, {MBEDTLS: why_not_mbed}
    if not isinstance(mbed, str):
        return mbed, {OPENSSL: ossl}
    return None, {MBEDTLS: mbed, OPENSSL: ossl}
