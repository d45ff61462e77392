"""Which DTLS engine this router runs: libmbedtls (ctypes) or pyOpenSSL.

`dtls_engine` in the config says which: 'mbedtls', 'pyopenssl', or 'auto'
(the default): mbedTLS when libmbedtls loads, else pyOpenSSL. mbedTLS comes
first because it is the one stock OpenWrt builds with DTLS (its libopenssl
is built no-dtls, so pyOpenSSL imports there but cannot shake hands), and it
needs no compiled Python package.

`choose()` never raises and imports neither engine's Python module, only
what it takes to tell whether the engine can run: the caller imports the
module it names (`client_module()`, `gateway_module()`).
Not even mbedtls_lib at load time: it needs ctypes, which on OpenWrt is a
package of its own (python3-ctypes) that a TLS-only dprive does without.
"""

from dprive.tls import dtls_support

MBEDTLS = "mbedtls"
PYOPENSSL = "pyopenssl"
AUTO = "auto"
CHOICES = (AUTO, MBEDTLS, PYOPENSSL)
ORDER = (MBEDTLS, PYOPENSSL)


class Choice:
    """The engine picked for one role, and why the others were not."""

    def __init__(self, role, preference, engine, reasons, pyopenssl_support, mbedtls_version=None):
        self.role = role
        self.mbedtls_version = mbedtls_version    # "mbedTLS 3.6.6", when it loaded
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
            return self.mbedtls_version
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
        """The engine's client module (DtlsClient, make_dtls_context, DtlsSession).

        ImportError names the module: the probe found the engine's library, but
        the module's own imports (pyOpenSSL's cryptography and cffi, ctypes) may
        still fail. Both are optional parts of dprive (the DTLS packages).
        """
        name = "dprive.tls.dtls_mbedtls" if self.engine == MBEDTLS else "dprive.tls.dtls"
        try:
            if self.engine == MBEDTLS:
                from dprive.tls import dtls_mbedtls as module
            else:
                from dprive.tls import dtls as module
        except ImportError as err:
            raise ImportError("%s could not be imported: %s" % (name, err))
        return module

    def gateway_module(self):
        """The engine's gateway module (gateway/session_base.py says what it offers).

        In a try, as client_module: the import scan of tests/routerpy then keeps
        the gateway's modules out of what `dprive run` (policy.py) reaches.
        """
        name = "dprive.gateway.session_mbedtls" if self.engine == MBEDTLS else "dprive.gateway.session"
        try:
            if self.engine == MBEDTLS:
                from dprive.gateway import session_mbedtls as module
            else:
                from dprive.gateway import session as module
        except ImportError as err:
            raise ImportError("%s could not be imported: %s" % (name, err))
        return module


def choose(role, preference=AUTO, ruled_out=None):
    """The Choice for `role` (dtls_support.CLIENT or GATEWAY) under `preference`.

    `ruled_out`: engine -> why it cannot run, found out by the caller (its
    module would not import); such an engine is passed over, with that reason.
    """
    wanted = ORDER if preference == AUTO else (preference,)
    reasons, pyopenssl, mbedtls_version = dict(ruled_out or {}), None, None
    for engine in wanted:
        if engine in reasons:
            continue
        if engine == MBEDTLS:
            why, mbedtls_version = _probe_mbedtls()
        else:
            pyopenssl = dtls_support.probe(role)
            why = pyopenssl.unavailable
        if why is None:
            return Choice(role, preference, engine, reasons, pyopenssl, mbedtls_version)
        reasons[engine] = why
    return Choice(role, preference, None, reasons, pyopenssl, mbedtls_version)


def _probe_mbedtls():
    """(why libmbedtls cannot run, or None; its version when it loads)."""
    try:
        from dprive.tls import mbedtls_lib
    except ImportError as err:       # no ctypes: python3-ctypes is not installed
        return "ctypes (python3-ctypes) cannot be imported: %s" % err, None
    why = mbedtls_lib.unavailable_reason()
    return why, (mbedtls_lib.load().version_text if why is None else None)
