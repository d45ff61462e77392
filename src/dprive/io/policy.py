"""Which engine, context and pins each upstream session gets, by privacy profile (RFC 8310).

strict: a server is authenticated by its auth name against the CA bundle,
and by its SPKI pins when given (or by pins alone); one that fails gets no
query. opportunistic: encrypted always, authenticated when it works; never
cleartext in either profile. The same rules hold for DNS over TLS (on the
engine tls/dot_engines.py picks under `tls_engine`: the standard library's
OpenSSL through tls/ossl.py, or libmbedtls) and DNS over DTLS, on the engine tls/dtls_engines.py
picks under the `dtls_engine` option (libmbedtls through ctypes, or pyOpenSSL,
the optional dprive-dtls package), loaded only when an upstream uses DTLS.
"""

from dprive import log as dlog
from dprive.errors import StartupError
from dprive.tls import dot_engines, dtls_support
from dprive.tls.engine_api import TlsError

log = dlog.getLogger("dprive")

# DTLS 1.3 is not in the OpenSSL that pyOpenSSL brings; 1.2 is the floor and the ceiling.
DTLS_MIN_VERSION = "1.2"


class _Engine:
    """Contexts of one engine: one that checks the name against the CA, one that does not."""

    def __init__(self, settings, make, client_class, min_version, load_errors):
        self.client_class = client_class
        self.strict = settings.profile == "strict"
        self.plain = make(settings.ca_bundle, min_version, False)
        self.verifying = None
        if any(u.auth_name for u in settings.upstreams if u.enabled):
            try:
                self.verifying = make(settings.ca_bundle, min_version, True)
            except load_errors as err:
                if self.strict:
                    raise StartupError("cannot load CA bundle %s: %s" % (settings.ca_bundle, err))
                log.warning("cannot load CA bundle %s (%s): upstreams stay unauthenticated",
                            settings.ca_bundle, err)

    def client_for(self, upstream, session):
        make = self.client_class
        if self.strict:
            if upstream.auth_name:
                return make(self.verifying, upstream.auth_name, upstream.spki, session)
            return make(self.plain, None, upstream.spki, session)
        if upstream.auth_name and self.verifying is not None:
            return make(self.verifying, upstream.auth_name, upstream.spki, session)
        return make(self.plain, upstream.auth_name or None, (), session)


class AuthPolicy:
    def __init__(self, settings):
        self.strict = settings.profile == "strict"
        engine, passed_over = dot_engines.choose(settings.tls_engine, settings.tls_min_version)
        if engine is None:
            why = "; ".join("%s: %s" % item for item in passed_over.items())
            raise StartupError("no TLS engine for tls_engine %s: %s" % (settings.tls_engine, why))
        # A library that would not load is a warning; TLS 1.3 preferred is a choice.
        level = dlog.WARNING if passed_over and not engine.chosen_for_tls13 else dlog.INFO
        log.log(level, "TLS engine %s (%s, tls_engine %s)%s", engine.name, engine.version, settings.tls_engine,
                "".join("; not %s: %s" % item for item in passed_over.items()))
        self.tls_engine = engine.name
        self.tls = _Engine(settings, engine.make_context, engine.client_class,
                           settings.tls_min_version, engine.load_errors)
        self.dtls = None
        self.dtls_choice = None      # tls.dtls_engines.Choice, once an upstream wants DTLS
        if any("dtls" in u.transport.split() for u in settings.upstreams if u.enabled):
            self.dtls = self._dtls_engine(settings)
            self._log_choice()

    def _dtls_engine(self, settings):
        """The DTLS engine, or None; not fatal: 'dtls tls' upstreams move to TLS,
        'dtls' ones stay down, both saying why."""
        # Imported here: it is what DTLS needs, and a TLS-only router may lack it (ctypes).
        from dprive.tls import dtls_engines
        ruled_out = {}
        for _ in range(len(dtls_engines.ORDER) + 1):     # each pass rules one engine out
            choice = self.dtls_choice = dtls_engines.choose(
                dtls_support.CLIENT, settings.dtls_engine, ruled_out)
            if choice.engine is None or choice.engine in ruled_out:
                return None
            try:
                module = choice.client_module()
            except ImportError as err:     # said as "dprive.tls.<module> could not be imported"
                ruled_out[choice.engine] = str(err)
                continue
            try:
                return _Engine(settings, module.make_dtls_context, module.DtlsClient,
                               DTLS_MIN_VERSION, (OSError, TlsError))
            except TlsError as err:     # no context at all; a CA bundle in strict is a StartupError
                ruled_out[choice.engine] = "cannot make a DTLS context: %s" % err
        return None

    def _log_choice(self):
        """Which engine runs and why the others do not: a warning whenever one was passed over."""
        choice = self.dtls_choice
        if choice.engine is None:
            log.warning("DTLS unavailable: %s", choice.unavailable)
            return
        passed_over = "".join("; not %s: %s" % (engine, why) for engine, why in choice.reasons.items())
        line = "DTLS engine %s (%s, dtls_engine %s)%s" % (
            choice.engine, choice.version, choice.preference, passed_over)
        log.log(dlog.WARNING if passed_over else dlog.INFO, "%s", line)
        for note in choice.notes:
            log.warning("DTLS: %s", note)

    @property
    def dtls_unavailable(self):
        """Why DTLS cannot be used here, or None (also None when no upstream asks for it)."""
        return self.dtls_choice.unavailable if self.dtls_choice is not None else None

    @property
    def dtls_status(self):
        """The engine chosen, its version, why none or another does not run; None without DTLS."""
        return self.dtls_choice.status() if self.dtls_choice is not None else None

    def client_for(self, upstream, transport, session=None):
        if transport == "dtls" and self.dtls is None:
            raise TlsError("DTLS unavailable: %s" % (self.dtls_unavailable
                                                     or "no enabled upstream asked for it at start"))
        engine = self.dtls if transport == "dtls" else self.tls
        return engine.client_for(upstream, session)

    def auth_label(self, upstream):
        if self.strict or upstream.auth_name:
            parts = []
            if upstream.auth_name:
                parts.append("name " + upstream.auth_name)
            if upstream.spki:
                parts.append("SPKI pin")
            return " + ".join(parts) if parts else "none"
        return "none (opportunistic)"
