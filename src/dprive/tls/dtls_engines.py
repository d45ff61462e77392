"""Which DTLS engine this router runs: libmbedtls (ctypes) or pyOpenSSL.

`dtls_engine` in the config says which: 'mbedtls', 'pyopenssl', or 'auto'
(the default): mbedTLS when libmbedtls loads, else pyOpenSSL. mbedTLS comes
first because it is the one stock OpenWrt builds with DTLS (its libopenssl
is built no-dtls, so pyOpenSSL imports there but cannot shake hands), and it
needs no compiled Python package.

`choose()` never raises and imports neither engine's Python module, only
what it takes to tell whether the engine can run: the caller imports the
module it names (`client_module()`, `gateway_module()`).
"""

from dprive.tls import dtls_support, mbedtls_lib

MBEDTLS = "mbedtls"
PYOPENSSL = "pyopenssl"
AUTO = "auto"
CHOICES = (AUTO, MBEDTLS, PYOPENSSL)
ORDER = (MBEDTLS, PYOPENSSL)


class Choice:
    """The engine picked for one role, and why the others were not."""

    def __init__(self, role, preference, engine, reasons, pyopenssl_support):
        self.role = role
        self.preference = preference
        self.engine = engine                  # MBEDTLS, PYOPENSSL or None
        self.reasons = reasons                # engine -> why it cannot run here
        self.pyopenssl = pyopenssl_support    # dtls_support.Support, when it was probed

    @property
    def unavailable(self):
        """None when an engine runs, else why none does, in one line."""
        if self.engine is not None:
            return None
        tried = [e for e in ORDER if e in self.reasons]
        return "; ".join("%s: %s" % (e, self.reasons[e]) for e in tried)

    @property
    def version(self):
        if self.engine == MBEDTLS:
            return mbedtls_lib.load().version_text
        if self.engine == PYOPENSSL:
            v = self.pyopenssl.versions
            return "pyOpenSSL %s, cryptography %s, %s" % (v["pyopenssl"], v["cryptography"],
                                                         v["openssl"])
        return None

    @property
    def notes(self):
        """What the engine in use cannot do here, one sentence each."""
        if self.engine == PYOPENSSL:
            return list(self.pyopenssl.notes)
        return []

    def status(self):
        body = {"engine": self.engine, "preference": self.preference, "version": self.version,
                "unavailable": self.unavailable, "notes": self.notes,
                "not_used": {e: why for e, why in self.reasons.items() if e != self.engine}}
        if self.pyopenssl is not None:
            body["pyopenssl"] = self.pyopenssl.status()
        return body

    def client_module(self):
        """The engine's client module (DtlsClient, make_dtls_context, DtlsSession)."""
        if self.engine == MBEDTLS:
            from dprive.tls import dtls_mbedtls
            return dtls_mbedtls
        from dprive.tls import dtls
        return dtls

    def gateway_module(self):
        """The engine's gateway module (gateway/session_base.py says what it offers)."""
        if self.engine == MBEDTLS:
            from dprive.gateway import session_mbedtls
            return session_mbedtls
        from dprive.gateway import session
        return session


def choose(role, preference=AUTO):
    """The Choice for `role` (dtls_support.CLIENT or GATEWAY) under `preference`."""
    wanted = ORDER if preference == AUTO else (preference,)
    reasons, pyopenssl = {}, None
    for engine in wanted:
        if engine == MBEDTLS:
            why = mbedtls_lib.unavailable_reason()
        else:
            pyopenssl = dtls_support.probe(role)
            why = pyopenssl.unavailable
        if why is None:
            return Choice(role, preference, engine, reasons, pyopenssl)
        reasons[engine] = why
    return Choice(role, preference, None, reasons, pyopenssl)
