"""The gateway's one mbedTLS server configuration: certificate, key, cookies, tickets.

- The certificate chain (mbedtls_x509_crt_parse_file) and the key
  (mbedtls_pk_parse_keyfile) are checked against each other before anything
  is served: mbedtls_ssl_conf_own_cert takes any pair, and a key that does
  not match its certificate would only show as every handshake failing. The
  certificate's public key is parsed from its SubjectPublicKeyInfo (tls/spki.py
  on the crt's `raw` DER) and mbedtls_pk_check_pair compares it with the key.
- Cookies: the shell (stateless.py) answers ClientHellos without a valid
  cookie with its own HelloVerifyRequest before any session exists. mbedTLS
  checks the cookie once more (mbedtls_ssl_conf_dtls_cookies) with the
  callbacks here, which ask the same CookieJar; the "client transport ID"
  each session sets is its registry key, so the callbacks find the client's
  address, and whether it came without a cookie because none was demanded.
- Resumption by session tickets only (no mbedtls_ssl_cache: tickets cost the
  server no memory). The ticket context seals them with AES-256-GCM; from
  3.1 on mbedtls_ssl_ticket_rotate installs the key file's keys, so tickets
  survive a restart. mbedTLS replaces the active key with a random one once
  it is `lifetime` old (ssl_ticket_update_keys, on the wall clock), so
  `refresh()` rotates the file's key in again every half lifetime. 2.28 has
  no rotate: its keys are random per process, and install_ticket_keys says so.
"""

import ctypes
import itertools
import time
import weakref

from dprive.gateway.session_base import ContextError, check_readable
from dprive.tls import mbedtls_lib as mb
from dprive.tls.spki import DerError, spki_der

TICKET_NAME = slice(0, 16)          # the key file: name(16) HMAC secret(32) AES key(32)
TICKET_AES_KEY = slice(48, 80)
COOKIE_CHECK_FAILED = -1

# session key (int) -> the session whose ssl context asks about its cookie
SESSIONS = weakref.WeakValueDictionary()
_CONTEXTS = weakref.WeakValueDictionary()
_KEYS = itertools.count(1)


class ServerContext:
    """mbedtls_ssl_config for the gateway and what it points to (crt, pk, ticket)."""

    def __init__(self, lib, cookies, lifetime_s):
        self.lib = lib
        self.cookies = cookies
        self.lifetime_s = lifetime_s
        self.crt = self.pk = self.ticket = None
        self.ticket_keys = None
        self.rotated_at = None
        self.key = next(_KEYS)
        _CONTEXTS[self.key] = self
        self.conf = lib.new("ssl_config")

    def setup(self, cert_file, key_file):
        lib, fn = self.lib, self.lib.fn
        rc = fn.mbedtls_ssl_config_defaults(self.conf, mb.IS_SERVER, mb.TRANSPORT_DATAGRAM,
                                            mb.PRESET_DEFAULT)
        if rc != 0:
            raise ContextError("mbedtls_ssl_config_defaults: %s" % lib.error_text(rc))
        fn.mbedtls_ssl_conf_rng(self.conf, lib.rng, None)
        if lib.version[0] < 3 and lib.has("mbedtls_ssl_conf_min_version"):
            fn.mbedtls_ssl_conf_min_version(self.conf, 3, 3)      # DTLS 1.2, not 1.0
        fn.mbedtls_ssl_conf_authmode(self.conf, mb.VERIFY_NONE)  # no client certificates
        self._load_pair(cert_file, key_file)
        fn.mbedtls_ssl_conf_dtls_cookies(self.conf, ctypes.cast(_cookie_write, ctypes.c_void_p),
                                         ctypes.cast(_cookie_check, ctypes.c_void_p), self.key)
        self._setup_tickets()
        return self

    def _load_pair(self, cert_file, key_file):
        lib, fn = self.lib, self.lib.fn
        self.crt = lib.new("x509_crt")
        rc = fn.mbedtls_x509_crt_parse_file(self.crt, _path(cert_file))
        if rc != 0:
            why = lib.error_text(rc) if rc < 0 else "%d of its certificates cannot be parsed" % rc
            raise ContextError("cannot use certificate %s: %s" % (cert_file, why))
        self.pk = lib.new("pk")
        rc = fn.mbedtls_pk_parse_keyfile(self.pk, _path(key_file), None, *lib.rng_args())
        if rc != 0:
            raise ContextError("cannot use key %s: %s" % (key_file, lib.error_text(rc)))
        try:
            spki = spki_der(mb.crt_der(self.crt))
        except DerError as err:
            raise ContextError("cannot read the public key of %s: %s" % (cert_file, err))
        public = lib.new("pk")
        try:
            rc = fn.mbedtls_pk_parse_public_key(public, spki, len(spki))
            if rc != 0:
                raise ContextError("cannot read the public key of %s: %s"
                                   % (cert_file, lib.error_text(rc)))
            rc = fn.mbedtls_pk_check_pair(public, self.pk, *lib.rng_args())
            if rc != 0:
                raise ContextError("key %s does not belong to the certificate %s (%s)"
                                   % (key_file, cert_file, lib.error_text(rc)))
        finally:
            fn.mbedtls_pk_free(public)
        rc = fn.mbedtls_ssl_conf_own_cert(self.conf, self.crt, self.pk)
        if rc != 0:
            raise ContextError("mbedTLS would not take certificate %s with key %s: %s"
                               % (cert_file, key_file, lib.error_text(rc)))

    def _setup_tickets(self):
        lib, fn = self.lib, self.lib.fn
        write = lib.addresses.get("mbedtls_ssl_ticket_write")
        parse = lib.addresses.get("mbedtls_ssl_ticket_parse")
        if write is None or parse is None:
            return                  # a build without SSL_TICKET_C: full handshakes only
        self.ticket = lib.new("ssl_ticket")
        rc = fn.mbedtls_ssl_ticket_setup(self.ticket, lib.rng, None, mb.CIPHER_AES_256_GCM,
                                         self.lifetime_s)
        if rc != 0:
            raise ContextError("mbedtls_ssl_ticket_setup: %s" % lib.error_text(rc))
        fn.mbedtls_ssl_conf_session_tickets_cb(self.conf, write, parse, self.ticket)

    def install_ticket_keys(self, keys, now):
        """Seal tickets with the key file's keys: None, or why it cannot be done."""
        lib = self.lib
        if self.ticket is None:
            return "%s is built without session tickets (MBEDTLS_SSL_TICKET_C)" % lib.version_text
        if not lib.has("mbedtls_ssl_ticket_rotate"):
            return ("%s has no mbedtls_ssl_ticket_rotate (3.1 and later have it): its ticket "
                    "keys are random per process" % lib.version_text)
        self.ticket_keys = bytes(keys)
        why = self._rotate()
        if why is not None:
            self.ticket_keys = None
            return why
        self.rotated_at = now
        return None

    def refresh(self, now):
        """Rotate the file's key in again before mbedTLS swaps in a random one."""
        if self.ticket_keys is None or now - self.rotated_at < self.lifetime_s / 2.0:
            return
        self.rotated_at = now
        self._rotate()

    def _rotate(self):
        keys = self.ticket_keys
        name, aes = keys[TICKET_NAME], keys[TICKET_AES_KEY]
        rc = self.lib.fn.mbedtls_ssl_ticket_rotate(self.ticket, name, len(name), aes, len(aes),
                                                   self.lifetime_s)
        if rc != 0:
            return "mbedtls_ssl_ticket_rotate refused the keys: %s" % self.lib.error_text(rc)
        return None

    def __del__(self):
        lib = getattr(self, "lib", None)
        if lib is None:
            return
        for name, kind in (("conf", "ssl_config"), ("ticket", "ssl_ticket"),
                           ("crt", "x509_crt"), ("pk", "pk")):
            buf = getattr(self, name, None)
            if buf is not None:
                getattr(lib.fn, "mbedtls_%s_free" % kind)(buf)
                setattr(self, name, None)


def make_server_context(cert_file, key_file, cookies, session_lifetime_s):
    """The one ServerContext of the gateway; ContextError says what is wrong."""
    check_readable(cert_file, key_file)
    try:
        lib = mb.load()
    except mb.MbedtlsUnavailable as err:
        raise ContextError(str(err))
    return ServerContext(lib, cookies, session_lifetime_s).setup(cert_file, key_file)


def install_ticket_keys(context, keys):
    """The engine API's name for ServerContext.install_ticket_keys."""
    return context.install_ticket_keys(keys, time.monotonic())


def _session(info, ilen):
    try:
        return SESSIONS.get(int(ctypes.string_at(info, ilen)))
    except (ValueError, TypeError):
        return None


@mb.COOKIE_WRITE
def _cookie_write(ctx_key, p, end, info, ilen):
    """Only reached when mbedTLS rejects a cookie the shell accepted (a window
    boundary passed in between): the same cookie the shell would make."""
    try:
        context, session = _CONTEXTS.get(ctx_key or 0), _session(info, ilen)
        if context is None or session is None:
            return COOKIE_CHECK_FAILED
        cookie = context.cookies.make(session.addr, session.clock())
        if (end or 0) - (p[0] or 0) < len(cookie):
            return mb.ERR_BUFFER_TOO_SMALL
        ctypes.memmove(p[0], cookie, len(cookie))
        p[0] = p[0] + len(cookie)
        return 0
    except Exception:   # noqa: BLE001 - never raise into C
        return COOKIE_CHECK_FAILED


@mb.COOKIE_CHECK
def _cookie_check(ctx_key, cookie, clen, info, ilen):
    """0 when the ClientHello may go on: its cookie is valid for the client's
    address, or it has none and the shell did not demand one."""
    try:
        context, session = _CONTEXTS.get(ctx_key or 0), _session(info, ilen)
        if context is None or session is None:
            return COOKIE_CHECK_FAILED
        if clen == 0:
            return COOKIE_CHECK_FAILED if session.cookie_checked else 0
        value = ctypes.string_at(cookie, clen)
        return 0 if context.cookies.check(value, session.addr, session.clock()) else \
            COOKIE_CHECK_FAILED
    except Exception:   # noqa: BLE001
        return COOKIE_CHECK_FAILED


def _path(path):
    return path.encode() if isinstance(path, str) else path
