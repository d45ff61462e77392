"""OpenSSL for DNS over TLS through `_ssl`, the C module under the standard library's ssl.

Why not `import ssl`: on the router ssl.py costs about 1.4 MB of RSS over
_ssl (it turns every constant into an enum, and pulls enum, socket, base64,
warnings...) for what dprive uses of it: a client context, a CA store, an
SSL object on two MemoryBIOs and the exceptions. ssl.SSLContext and
ssl.SSLObject are thin Python wrappers over _ssl._SSLContext and the object
its _wrap_bio() returns; dprive calls those directly. Where _ssl lacks one
of them (another Python, a future CPython), `ssl` itself is used: the same
OpenSSL, the same checks, only the memory differs (USING_SSL_PY says so).

Both sides are CPython's own (3.11 on OpenWrt 24.10, 3.13 on 25.12):
- new_client_context(): PROTOCOL_TLS_CLIENT, as ssl.SSLContext(PROTOCOL_TLS_CLIENT)
  (check_hostname and CERT_REQUIRED on; no more than ssl.py's __new__ does);
- wrap_client(): ssl.SSLContext.wrap_bio() without its wrapper object: the
  object answers do_handshake, read(n, buffer), write, cipher, version,
  session, session_reused and getpeercert(True); shutdown() sends close_notify;
- server names go to OpenSSL as ssl.py's idna encoding would give them,
  without the codec for an ASCII name (tls/hostname.py).
"""

from dprive.tls.hostname import ascii_hostname

try:
    import _ssl
except ImportError:      # no OpenSSL at all: ssl would fail the same way, and say so
    _ssl = None

_NEEDED = ("_SSLContext", "MemoryBIO", "SSLError", "SSLWantReadError", "SSLZeroReturnError",
           "SSLCertVerificationError", "PROTOCOL_TLS_CLIENT", "CERT_NONE", "CERT_REQUIRED")
USING_SSL_PY = (_ssl is None or not all(hasattr(_ssl, name) for name in _NEEDED)
                or not hasattr(_ssl._SSLContext, "_wrap_bio"))

if USING_SSL_PY:
    import ssl as _lib
    _Context = _lib.SSLContext
else:
    _lib = _ssl
    _Context = _ssl._SSLContext

MemoryBIO = _lib.MemoryBIO
SSLError = _lib.SSLError
SSLWantReadError = _lib.SSLWantReadError
SSLZeroReturnError = _lib.SSLZeroReturnError
SSLCertVerificationError = _lib.SSLCertVerificationError
CERT_NONE = int(_lib.CERT_NONE)
CERT_REQUIRED = int(_lib.CERT_REQUIRED)
# OpenSSL's version numbers (TLS1_2_VERSION, TLS1_3_VERSION), which ssl.TLSVersion names.
TLS_VERSIONS = {"1.2": 0x0303, "1.3": 0x0304}


def new_client_context():
    return _Context(int(_lib.PROTOCOL_TLS_CLIENT))


def wrap_client(context, incoming, outgoing, server_hostname, session):
    """A client SSL object on the two MemoryBIOs."""
    hostname = ascii_hostname(server_hostname)
    if USING_SSL_PY:
        return _SslPyObject(context.wrap_bio(incoming, outgoing, server_side=False,
                                             server_hostname=hostname, session=session))
    return context._wrap_bio(incoming, outgoing, server_side=False,
                             server_hostname=hostname, session=session)


class _SslPyObject:
    """ssl.SSLObject with _ssl's shutdown() (its unwrap()), for the fallback."""

    __slots__ = ("_obj",)

    def __init__(self, obj):
        self._obj = obj

    def __getattr__(self, name):
        return getattr(self._obj, name)

    def shutdown(self):
        return self._obj.unwrap()
