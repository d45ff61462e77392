"""libmbedtls through ctypes: finding it, its version, its functions, its contexts.

Why ctypes: stock OpenWrt builds libopenssl without DTLS, but libmbedtls
(3.6 on 24.10 and 25.12, already in most images for apk, uclient and
ustream-ssl) with it; ctypes is the stdlib's (python3-ctypes on the router),
so DTLS needs no compiled Python extension at all.

The ABI rules this module keeps:

- mbedTLS's contexts (ssl, config, session, x509_crt, pk, ticket) are
  allocated by the caller, and their size depends on the library's build
  config: there is no exported sizeof. Every *_init function writes the whole
  context (a memset, then a few fields), so `Library.size_of` measures a
  context by what its init writes into a buffer pre-filled with a pattern, and
  `new` allocates twice that. No field of any context is ever read or written
  here; the one structure read is x509_crt's `raw` (the certificate's DER,
  after `int own_buffer`), public and of the same layout in every version.
- Functions whose signature changed between 2.28 and 3.x (the pk_* parsers
  take an RNG from 3.0 on) are declared by the version the library reports.
- Nothing here touches a socket or a clock: tls/mbedtls_bio.py carries the
  TLS byte stream, tls/mbedtls_channel.py the datagrams and the timer
  between mbedTLS and Python.

Tested with Debian 12's libmbedtls 2.28.3 and 3.6.6 (Debian 13's build, and
one built with OpenWrt's configuration, which has no MBEDTLS_VERSION_C: the
release is then told by the soname).
"""

import ctypes
import glob
import os

# The sonames of the releases that matter: 3.6 LTS (OpenWrt 24.10, 25.12),
# 2.28 LTS (Debian 12). Newest first; a library directory can be forced with
# DPRIVE_MBEDTLS_LIBDIR (tests, or a library outside the loader's path).
SONAMES = (
    ("libmbedcrypto.so.16", "libmbedx509.so.7", "libmbedtls.so.21"),   # 3.6
    ("libmbedcrypto.so.7", "libmbedx509.so.1", "libmbedtls.so.14"),    # 2.28
)
LIBDIR_ENV = "DPRIVE_MBEDTLS_LIBDIR"
# libmbedtls soname -> release, for builds without MBEDTLS_VERSION_C (OpenWrt's).
SONAME_RELEASES = {"21": (3, 6), "20": (3, 5), "19": (3, 4), "18": (3, 2), "17": (3, 1),
                   "16": (3, 0), "14": (2, 28)}
SEARCH_DIRS = ("/usr/lib", "/lib", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu",
               "/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf")

# ssl.h / x509.h constants, the same in 2.28 and 3.6 (checked in both headers)
IS_CLIENT, IS_SERVER = 0, 1
TRANSPORT_STREAM, TRANSPORT_DATAGRAM = 0, 1
PRESET_DEFAULT = 0
VERIFY_NONE, VERIFY_OPTIONAL, VERIFY_REQUIRED = 0, 1, 2
SESSION_TICKETS_ENABLED = 1
CIPHER_AES_256_GCM = 16          # mbedtls_cipher_type_t, 2.28 and 3.6 alike

ERR_WANT_READ = -0x6900
ERR_WANT_WRITE = -0x6880
ERR_TIMEOUT = -0x6800
ERR_PEER_CLOSE_NOTIFY = -0x7880
ERR_HELLO_VERIFY_REQUIRED = -0x6A80
ERR_CLIENT_RECONNECT = -0x6780
ERR_FATAL_ALERT_MESSAGE = -0x7780
ERR_CONN_EOF = -0x7280
ERR_BUFFER_TOO_SMALL = -0x6A00
ERR_X509_CERT_VERIFY_FAILED = -0x2700
ERR_UNEXPECTED_RECORD = -0x6700
ERR_RECEIVED_NEW_SESSION_TICKET = -0x7B00   # 3.x, TLS 1.3 only, once signalling is on
SIGNAL_NEW_SESSION_TICKETS_ENABLED = 1

MEASURE_BYTES = 16384            # larger than any context in any config seen
PATTERNS = (0xA5, 0x5A)

c_int, c_void_p, c_size_t, c_char_p, c_uint = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                               ctypes.c_char_p, ctypes.c_uint)
RNG = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
SEND = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
RECV = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
SET_TIMER = ctypes.CFUNCTYPE(None, c_void_p, ctypes.c_uint32, ctypes.c_uint32)
GET_TIMER = ctypes.CFUNCTYPE(c_int, c_void_p)
COOKIE_WRITE = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(c_void_p), c_void_p,
                                c_void_p, c_size_t)
COOKIE_CHECK = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)


class MbedtlsUnavailable(Exception):
    """libmbedtls cannot be used here; the message says why, in one line."""


class X509Buf(ctypes.Structure):
    """mbedtls_x509_buf: the type of mbedtls_x509_crt's `raw` (the certificate's DER)."""
    _fields_ = [("tag", c_int), ("len", c_size_t), ("p", ctypes.POINTER(ctypes.c_ubyte))]


class X509CrtHead(ctypes.Structure):
    """The first two members of mbedtls_x509_crt, the same in 2.28 and 3.6
    (x509_crt.h: `int own_buffer;` then `mbedtls_x509_buf raw;`): `raw` is the
    second member, after an int, not the first."""
    _fields_ = [("own_buffer", c_int), ("raw", X509Buf)]


def crt_der(crt):
    """The DER of the first certificate of an mbedtls_x509_crt (a buffer or a
    POINTER(X509CrtHead)), or b"" when it holds none."""
    head = crt.contents if isinstance(crt, ctypes.POINTER(X509CrtHead)) else \
        ctypes.cast(crt, ctypes.POINTER(X509CrtHead)).contents
    if not head.raw.p or not head.raw.len:
        return b""
    return ctypes.string_at(head.raw.p, head.raw.len)


# name -> (restype, argtypes); "RNG" in argtypes means (f_rng, p_rng), from 3.0 on only.
_COMMON = {
    "mbedtls_ssl_init": (None, [c_void_p]),
    "mbedtls_ssl_free": (None, [c_void_p]),
    "mbedtls_ssl_setup": (c_int, [c_void_p, c_void_p]),
    "mbedtls_ssl_session_reset": (c_int, [c_void_p]),
    "mbedtls_ssl_config_init": (None, [c_void_p]),
    "mbedtls_ssl_config_free": (None, [c_void_p]),
    "mbedtls_ssl_config_defaults": (c_int, [c_void_p, c_int, c_int, c_int]),
    "mbedtls_ssl_conf_rng": (None, [c_void_p, RNG, c_void_p]),
    "mbedtls_ssl_conf_authmode": (None, [c_void_p, c_int]),
    "mbedtls_ssl_conf_ca_chain": (None, [c_void_p, c_void_p, c_void_p]),
    "mbedtls_ssl_conf_own_cert": (c_int, [c_void_p, c_void_p, c_void_p]),
    "mbedtls_ssl_conf_session_tickets": (None, [c_void_p, c_int]),
    "mbedtls_ssl_conf_handshake_timeout": (None, [c_void_p, ctypes.c_uint32, ctypes.c_uint32]),
    "mbedtls_ssl_conf_dtls_cookies": (None, [c_void_p, c_void_p, c_void_p, c_void_p]),
    "mbedtls_ssl_conf_session_tickets_cb": (None, [c_void_p, c_void_p, c_void_p, c_void_p]),
    "mbedtls_ssl_set_bio": (None, [c_void_p, c_void_p, SEND, RECV, c_void_p]),
    "mbedtls_ssl_set_timer_cb": (None, [c_void_p, c_void_p, SET_TIMER, GET_TIMER]),
    "mbedtls_ssl_set_mtu": (None, [c_void_p, ctypes.c_uint16]),
    "mbedtls_ssl_set_hostname": (c_int, [c_void_p, c_char_p]),
    "mbedtls_ssl_set_client_transport_id": (c_int, [c_void_p, c_char_p, c_size_t]),
    "mbedtls_ssl_handshake": (c_int, [c_void_p]),
    "mbedtls_ssl_read": (c_int, [c_void_p, c_void_p, c_size_t]),
    "mbedtls_ssl_write": (c_int, [c_void_p, c_char_p, c_size_t]),
    "mbedtls_ssl_close_notify": (c_int, [c_void_p]),
    "mbedtls_ssl_check_pending": (c_int, [c_void_p]),
    "mbedtls_ssl_get_verify_result": (ctypes.c_uint32, [c_void_p]),
    "mbedtls_ssl_get_version": (c_char_p, [c_void_p]),
    "mbedtls_ssl_get_ciphersuite": (c_char_p, [c_void_p]),
    "mbedtls_ssl_get_max_out_record_payload": (c_int, [c_void_p]),
    "mbedtls_ssl_get_peer_cert": (ctypes.POINTER(X509CrtHead), [c_void_p]),
    "mbedtls_ssl_get_session": (c_int, [c_void_p, c_void_p]),
    "mbedtls_ssl_set_session": (c_int, [c_void_p, c_void_p]),
    "mbedtls_ssl_session_init": (None, [c_void_p]),
    "mbedtls_ssl_session_free": (None, [c_void_p]),
    "mbedtls_ssl_session_save": (c_int, [c_void_p, c_void_p, c_size_t, ctypes.POINTER(c_size_t)]),
    "mbedtls_ssl_session_load": (c_int, [c_void_p, c_char_p, c_size_t]),
    "mbedtls_ssl_ticket_init": (None, [c_void_p]),
    "mbedtls_ssl_ticket_free": (None, [c_void_p]),
    "mbedtls_ssl_ticket_setup": (c_int, [c_void_p, RNG, c_void_p, c_int, ctypes.c_uint32]),
    "mbedtls_x509_crt_init": (None, [c_void_p]),
    "mbedtls_x509_crt_free": (None, [c_void_p]),
    "mbedtls_x509_crt_parse_file": (c_int, [c_void_p, c_char_p]),
    "mbedtls_x509_crt_verify_info": (c_int, [c_char_p, c_size_t, c_char_p, ctypes.c_uint32]),
    "mbedtls_pk_init": (None, [c_void_p]),
    "mbedtls_pk_free": (None, [c_void_p]),
    "mbedtls_pk_parse_keyfile": (c_int, [c_void_p, c_char_p, c_char_p, "RNG"]),
    "mbedtls_pk_parse_public_key": (c_int, [c_void_p, c_char_p, c_size_t]),
    "mbedtls_pk_check_pair": (c_int, [c_void_p, c_void_p, "RNG"]),
}
# Present or not by version and build; each is looked up before use.
_OPTIONAL = {
    "mbedtls_version_get_number": (ctypes.c_uint, []),
    "mbedtls_version_get_string_full": (None, [c_char_p]),
    "mbedtls_strerror": (None, [c_int, c_char_p, c_size_t]),
    "psa_crypto_init": (ctypes.c_int32, []),
    "mbedtls_ssl_conf_min_version": (None, [c_void_p, c_int, c_int]),     # 2.x: DTLS 1.0 off
    # 3.x builds with TLS 1.3 (MBEDTLS_SSL_PROTO_TLS1_3) only; the first tells them apart
    "mbedtls_ssl_conf_tls13_key_exchange_modes": (None, [c_void_p, c_int]),
    "mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets": (None, [c_void_p, c_int]),
    "mbedtls_ssl_ticket_rotate": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t,
                                          ctypes.c_uint32]),            # 3.1 and later
}
# Passed to mbedTLS as function pointers, never called from Python.
_ADDRESSES = ("mbedtls_ssl_ticket_write", "mbedtls_ssl_ticket_parse")


@RNG
def _urandom(_unused, output, length):
    """mbedTLS's RNG callback: the kernel's, as Python's ssl and secrets use."""
    try:
        ctypes.memmove(output, os.urandom(length), length)
        return 0
    except Exception:   # noqa: BLE001 - a callback must never raise into C
        return -0x0034   # MBEDTLS_ERR_ENTROPY_SOURCE_FAILED


class Library:
    """The loaded libmbedtls: `fn.<name>` for each function, version, contexts."""

    def __init__(self, handles, path):
        self.path = path
        self._handles = handles
        probe = self._lookup("mbedtls_version_get_number")
        if probe is not None:
            probe.restype, probe.argtypes = ctypes.c_uint, []
            number = probe()
            self.version = (number >> 24, (number >> 16) & 0xFF, (number >> 8) & 0xFF)
            self.version_text = "mbedTLS %d.%d.%d" % self.version
        else:
            # OpenWrt builds without MBEDTLS_VERSION_C: the soname tells the release
            soname = os.path.basename(path)
            release = SONAME_RELEASES.get(soname.rsplit(".so.", 1)[-1])
            if release is None:
                raise MbedtlsUnavailable("%s exports no version and its soname is not one of"
                                         " a known release" % path)
            self.version = release + (0,)
            self.version_text = "mbedTLS %d.%d (%s)" % (release + (soname,))
        self.fn = _Functions()
        missing = []
        for name, (restype, argtypes) in _COMMON.items():
            if not self._bind(name, restype, argtypes):
                missing.append(name)
        if missing:
            raise MbedtlsUnavailable("%s (%s) lacks %s" % (self.version_text, path, ", ".join(missing)))
        for name, (restype, argtypes) in _OPTIONAL.items():
            self._bind(name, restype, argtypes)
        self.addresses = {}
        for name in _ADDRESSES:
            func = self._lookup(name)
            if func is not None:
                self.addresses[name] = ctypes.cast(func, c_void_p).value
        self.rng = _urandom
        self._sizes = {}
        if self.has("psa_crypto_init"):
            # 3.x: TLS 1.3 and USE_PSA_CRYPTO builds need PSA set up before any handshake
            status = self.fn.psa_crypto_init()
            if status != 0:
                raise MbedtlsUnavailable("%s: psa_crypto_init() returned %d" % (self.version_text, status))

    def has(self, name):
        return getattr(self.fn, name, None) is not None

    def rng_args(self):
        """The (f_rng, p_rng) pair that 3.x's pk functions take, or () on 2.x."""
        return (self.rng, None) if self.version[0] >= 3 else ()

    def size_of(self, kind):
        """Bytes that mbedtls_<kind>_init writes: the context's size in this build."""
        if kind not in self._sizes:
            init = getattr(self.fn, "mbedtls_%s_init" % kind)
            written = 0
            for pattern in PATTERNS:
                buf = (ctypes.c_ubyte * MEASURE_BYTES)(*([pattern] * MEASURE_BYTES))
                init(buf)
                raw = bytes(buf)
                last = max(i for i in range(MEASURE_BYTES) if raw[i] != pattern) if raw.count(
                    pattern) != MEASURE_BYTES else -1
                written = max(written, last + 1)
                getattr(self.fn, "mbedtls_%s_free" % kind)(buf)
            if written <= 0 or written >= MEASURE_BYTES:
                raise MbedtlsUnavailable("cannot tell the size of mbedtls_%s in %s"
                                         % (kind, self.version_text))
            self._sizes[kind] = written
        return self._sizes[kind]

    def new(self, kind):
        """A zeroed buffer for one mbedtls_<kind> context (twice its measured size), initialised."""
        size = self.size_of(kind)
        buf = ctypes.create_string_buffer(max(2 * size, size + 256))
        getattr(self.fn, "mbedtls_%s_init" % kind)(buf)
        return buf

    def error_text(self, code):
        """mbedTLS's own words for an error code, with the code."""
        if code >= 0:
            return "no error (%d)" % code
        if self.has("mbedtls_strerror"):
            buf = ctypes.create_string_buffer(200)
            self.fn.mbedtls_strerror(code, buf, len(buf))
            text = buf.value.decode("ascii", "replace")
            if text and "UNKNOWN ERROR CODE" not in text:
                return "%s (-0x%04X)" % (text, -code)
        return "mbedTLS error -0x%04X" % -code

    def verify_text(self, flags):
        """What mbedtls_ssl_get_verify_result's flags say, in one line."""
        buf = ctypes.create_string_buffer(1024)
        self.fn.mbedtls_x509_crt_verify_info(buf, len(buf), b"", flags)
        lines = [line.strip() for line in buf.value.decode("ascii", "replace").splitlines()]
        return "; ".join(line for line in lines if line) or "verify flags 0x%x" % flags

    def _lookup(self, name):
        for handle in self._handles:
            try:
                return getattr(handle, name)
            except AttributeError:
                continue
        return None

    def _bind(self, name, restype, argtypes):
        func = self._lookup(name)
        if func is None:
            setattr(self.fn, name, None)
            return False
        if "RNG" in argtypes:
            argtypes = [a for a in argtypes if a != "RNG"]
            if self.version[0] >= 3:
                argtypes += [RNG, c_void_p]
        func.restype, func.argtypes = restype, argtypes
        setattr(self.fn, name, func)
        return True


class _Functions:
    """Attribute bag: Library.fn.mbedtls_ssl_init and so on (None when absent)."""


def _candidates():
    """(directory or None, sonames) pairs to try, in order."""
    forced = os.environ.get(LIBDIR_ENV)
    if forced:
        return [(forced, names) for names in SONAMES]
    found = [(None, names) for names in SONAMES]
    # A build that names its libraries otherwise still has libmbedtls.so.N beside
    # libmbedx509 and libmbedcrypto: take the newest soname in the usual places.
    for directory in SEARCH_DIRS:
        for path in sorted(glob.glob(os.path.join(directory, "libmbedtls.so.*")), reverse=True):
            soname = os.path.basename(path)
            if all(soname != names[2] for names in SONAMES):
                found.append((directory, None))
                break
    return found


def _open_set(directory, names):
    if names is None:
        names = tuple(sorted(glob.glob(os.path.join(directory, "%s.so.*" % lib)))[-1:]
                      for lib in ("libmbedcrypto", "libmbedx509", "libmbedtls"))
        if any(not n for n in names):
            raise OSError("no complete libmbedtls set in %s" % directory)
        names = tuple(os.path.basename(n[0]) for n in names)
    handles = []
    for name in names:
        path = os.path.join(directory, name) if directory else name
        handles.append(ctypes.CDLL(path))
    handles.reverse()            # libmbedtls first: most lookups end there
    return handles, os.path.join(directory, names[2]) if directory else names[2]


_LOADED = None


def load():
    """The Library (loaded once per process); MbedtlsUnavailable says why not."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    errors = []
    for directory, names in _candidates():
        try:
            handles, path = _open_set(directory, names)
        except OSError as err:
            errors.append(str(err).split(":")[0] if directory is None else str(err))
            continue
        _LOADED = Library(handles, path)
        return _LOADED
    where = os.environ.get(LIBDIR_ENV) or "the loader's path"
    raise MbedtlsUnavailable("libmbedtls (3.6 or 2.28) cannot be loaded from %s: %s"
                             % (where, "; ".join(errors[-2:]) or "not found"))


def unavailable_reason():
    """None when libmbedtls loads here, else why not. Never raises."""
    try:
        load()
    except MbedtlsUnavailable as err:
        return str(err)
    except (OSError, AttributeError, ValueError) as err:
        return "libmbedtls cannot be used: %s" % err
    return None
