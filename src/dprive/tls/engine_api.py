"""What every TLS and DTLS engine shares, without importing any TLS library.

The exceptions the I/O shell catches, the SPKI pin check, the words for a
session that could not start, and the one CPython ssl quirk the shell must
know about. Here and not in tls/dot.py (the OpenSSL engine) so that the
mbedTLS engines and the shell never load the `ssl` module (libssl,
libcrypto and ssl.py's Python: about 4 MB of a daemon's RSS on x86-64).
"""

import sys

from dprive.tls.spki import DerError, spki_pin

# CPython gh-116810: each read of SSLObject.session leaks a copy of the session
# (about 6 kB: ticket, peer certificate) in 3.11 (OpenWrt 24.10's Python) and
# 3.12 before 3.12.7 (the fix, gh-123249, reached 3.13 before 3.13.1). With it,
# the daemon reads a session only after a full handshake and reuses a ticket
# that resumed instead of fetching each new one: an RSS that grew by 7 kB per
# reconnect stays flat (bench/wirefuzz.py; tests/integration/test_table_bounds.py).
# The mbedTLS engine's session() leaks nothing; reading less is harmless there.
SESSION_READ_LEAKS = (sys.implementation.name == "cpython"
                      and (sys.version_info[:2] == (3, 11)
                           or (3, 12) <= sys.version_info[:3] < (3, 12, 7)
                           or (3, 13) <= sys.version_info[:3] < (3, 13, 1)))


class TlsError(Exception):
    """The TLS session failed (handshake or record layer)."""


class AuthError(TlsError):
    """The server could not be authenticated."""


def checked_pin(der, pins):
    """The SPKI pin of the DER certificate `der` when it is one of `pins`, else
    AuthError saying why (no certificate, unreadable key, another key). Every
    engine checks pins with it: TLS and DTLS, on either library."""
    if der is None:
        raise AuthError("the server sent no certificate to check the pins against")
    try:
        pin = spki_pin(der)
    except DerError as err:
        raise AuthError("cannot read the server's key for pinning: %s" % err)
    if pin not in pins:
        raise AuthError("SPKI pin mismatch: server key is %s, not one of the %d configured pins"
                        % (pin, len(pins)))
    return pin


def start_failure(err, what="TLS"):
    """Why a session could not even start, in the exception's own words.

    A TlsError says it itself. Anything else keeps its type name, so the root
    cause reaches the log and the status: on a router without python3-codecs,
    wrap_bio's server_hostname raises `LookupError: unknown encoding: idna`.
    """
    if isinstance(err, TlsError):
        return str(err)
    return "%s session could not start: %s: %s" % (what, type(err).__name__, err)
