"""The gateway's stateless cookies (RFC 6347 4.2.1): an HMAC of the client's address.

The shell makes one CookieJar per process and gives it to both the core
(core.py checks the cookie of a ClientHello before any state is kept) and the
engine's server context, whose own cookie callbacks must agree with it. Kept
apart from stateless.py because it needs hmac, which MicroPython lacks.
"""

import hashlib
import hmac
import struct

from dprive.gateway.stateless import COOKIE_LEN


def _peer_bytes(addr):
    return ("%s|%d" % (addr[0], addr[1])).encode("ascii", "replace")


class CookieJar:
    """Stateless cookies: HMAC-SHA256(secret, window | client address), cut to 16 bytes.

    A cookie is accepted in the window it was made in and the next one, so
    it lives between `lifetime_s` and twice that. The secret is random per
    process: after a restart old cookies fail, and the client simply gets a
    new HelloVerifyRequest (RFC 6347 4.2.1 allows exactly that).
    """

    def __init__(self, secret, lifetime_s=30.0):
        self.secret = bytes(secret)
        self.lifetime_s = lifetime_s

    def _mac(self, window, addr):
        msg = struct.pack("!Q", window) + _peer_bytes(addr)
        return hmac.new(self.secret, msg, hashlib.sha256).digest()[:COOKIE_LEN]

    def make(self, addr, now):
        return self._mac(int(now // self.lifetime_s), addr)

    def check(self, cookie, addr, now):
        if len(cookie) != COOKIE_LEN:
            return False
        window = int(now // self.lifetime_s)
        # No window before the first (the monotonic clock starts near boot).
        return (hmac.compare_digest(cookie, self._mac(window, addr))
                or window > 0 and hmac.compare_digest(cookie, self._mac(window - 1, addr)))
