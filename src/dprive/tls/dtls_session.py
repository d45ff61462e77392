"""The resumable session of the pyOpenSSL DTLS engine (tls/dtls.py): what it
holds, how it goes into and out of an OpenSSL SSL, and its ID and ticket.

OpenSSL marks an SSL_SESSION not resumable for good when an SSL that used it
is freed without sending close_notify, as happens to a session whose server
lost state. A DtlsSession therefore keeps the session as DER
(i2d_SSL_SESSION), and each client decodes a fresh SSL_SESSION from it
(d2i_SSL_SESSION), through cryptography's bindings since pyOpenSSL has
neither. Without them (cryptography before 44, e.g. 41.0.7 on OpenWrt 24.10)
it holds pyOpenSSL's Session object instead, which dtls.DtlsClient.__del__
keeps resumable.

The session store (tls/sessions.py) keeps a session that can resume (one
with a ticket or an ID) when its ID is new; both are read here from the DER,
in OpenSSL's ssl/ssl_asn1.c layout.
"""

import hashlib

from cryptography.hazmat.bindings.openssl.binding import Binding

from dprive.tls.engine_api import TlsError
from dprive.tls.spki import DerError, der_items

_binding = Binding()
_lib = _binding.lib
_ffi = _binding.ffi


class DtlsSession:
    """A session to resume.

    Kept as DER where cryptography binds i2d_SSL_SESSION (44+), else as
    pyOpenSSL's Session object (`handle`) with its master secret (`master`).
    `id` and `has_ticket` are what tls.sessions.SessionStore reads; `context`
    is the Context it may be resumed with.
    """

    def __init__(self, context, der=None, handle=None, master=None):
        self.context = context
        self.der = der
        self.handle = handle
        self.master = master
        if der is not None:
            self.id, ticket = session_fields(der)
            self.has_ticket = bool(ticket)
        else:
            # These bindings read neither the ID nor the ticket. The master secret
            # names the session as well: a resumption keeps it, a full handshake
            # makes a new one. Hashed, so that no log shows a part of it.
            self.id = hashlib.sha256(master).digest()[:16]
            self.has_ticket = False

    def __repr__(self):
        return "DtlsSession(id=%s, ticket=%s)" % (self.id.hex()[:16], self.has_ticket)


# --- into and out of an SSL ----------------------------------------------------

def session_der(pointer):
    """The DER of the SSL_SESSION at `pointer`."""
    size = _lib.i2d_SSL_SESSION(pointer, _ffi.NULL)
    if size <= 0:
        raise TlsError("cannot encode the DTLS session")
    buf = _ffi.new("unsigned char[]", size)
    _lib.i2d_SSL_SESSION(pointer, _ffi.new("unsigned char **", buf))
    return bytes(_ffi.buffer(buf, size))


def use_session(ssl, der):
    """Offer the session encoded in `der` on the SSL* `ssl`."""
    buf = _ffi.new("unsigned char[]", der)
    pointer = _lib.d2i_SSL_SESSION(_ffi.NULL, _ffi.new("unsigned char **", buf), len(der))
    if pointer == _ffi.NULL:
        _lib.ERR_clear_error()
        raise ValueError("not an encoded TLS session")
    try:
        if _lib.SSL_set_session(ssl, pointer) != 1:
            _lib.ERR_clear_error()
            raise TlsError("OpenSSL refused the session")
    finally:
        _lib.SSL_SESSION_free(pointer)     # SSL_set_session took its own reference


# --- the SSL_SESSION ASN.1 (OpenSSL ssl/ssl_asn1.c), just for its ID and ticket --

DER_SEQUENCE = 0x30
DER_OCTET_STRING = 0x04
SESSION_ID_INDEX = 3          # version, ssl_version, cipher, session_id, ...
SESSION_TICKET_TAG = 0xAA     # [10] EXPLICIT OCTET STRING


def _der_items(data, pos, end):
    try:
        return der_items(data, pos, end)
    except DerError as err:
        raise TlsError("the encoded session is not DER: %s" % err)


def session_fields(der):
    """(session ID, ticket) from an encoded SSL_SESSION; either may be empty."""
    top = _der_items(der, 0, len(der))
    if len(top) != 1 or top[0][0] != DER_SEQUENCE:
        raise TlsError("the encoded session is not one SEQUENCE")
    items = _der_items(der, top[0][1], top[0][2])
    if len(items) <= SESSION_ID_INDEX or items[SESSION_ID_INDEX][0] != DER_OCTET_STRING:
        raise TlsError("no session ID where expected in the encoded session")
    _, start, end = items[SESSION_ID_INDEX]
    session_id = der[start:end]
    ticket = b""
    for tag, start, end in items[SESSION_ID_INDEX + 1:]:
        if tag == SESSION_TICKET_TAG:
            for inner, s, e in _der_items(der, start, end):
                if inner == DER_OCTET_STRING:
                    ticket = der[s:e]
    return session_id, ticket
