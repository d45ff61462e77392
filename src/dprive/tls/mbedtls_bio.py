"""mbedTLS's I/O callbacks (mbedtls_ssl_set_bio), answered from Python objects.

One pair of module-level C callbacks serves every ssl context: each context's
p_bio is an integer key into `ENDPOINTS`, so no ctypes closure is made per
session and a freed session leaves no pointer to Python memory behind. An
endpoint is any object with on_send(bytes) and on_recv(buf, size) -> int:
tls/mbedtls_channel.py's Channel (DTLS datagrams, with its timer) and
StreamBuffers here (the TLS byte stream of tls/dot_mbedtls.py).
"""

import ctypes
import itertools

from dprive.tls import mbedtls_lib as mb

ENDPOINTS = {}
_KEYS = itertools.count(1)


def register(endpoint):
    """A new key under which the callbacks find `endpoint`."""
    key = next(_KEYS)
    ENDPOINTS[key] = endpoint
    return key


def release(key):
    ENDPOINTS.pop(key, None)


def attach(lib, ssl, key):
    lib.fn.mbedtls_ssl_set_bio(ssl, key, _send, _recv, None)


class StreamBuffers:
    """The two directions of a TLS byte stream as byte buffers: what arrived
    (`feed`), what mbedTLS wrote (`take`). Each instance registers itself."""

    def __init__(self):
        self.incoming = b""       # what arrived, read from `offset` on (no copy per read)
        self.offset = 0
        self.outgoing = bytearray()
        self.starved = False      # the last read found nothing: mbedTLS's WANT_READ is ours
        self.key = register(self)

    def feed(self, data):
        if self.offset < len(self.incoming):
            self.incoming = self.incoming[self.offset:] + data
        else:
            self.incoming = bytes(data)
        self.offset = 0

    def drained(self):
        return self.offset >= len(self.incoming)

    def take(self):
        out = bytes(self.outgoing)
        self.outgoing.clear()
        return out

    def release(self):
        release(self.key)

    def on_send(self, data):
        self.outgoing += data

    def on_recv(self, buf, size):
        start = self.offset
        left = len(self.incoming) - start
        if left <= 0:
            self.starved = True
            return mb.ERR_WANT_READ
        size = min(size, left)
        ctypes.memmove(buf, self.incoming[start:start + size], size)
        self.offset = start + size
        return size


@mb.SEND
def _send(key, data, length):
    target = ENDPOINTS.get(key)       # key None (0) finds nothing, as a released one
    if target is None:
        return mb.ERR_WANT_WRITE
    try:
        target.on_send(ctypes.string_at(data, length))
    except Exception:   # noqa: BLE001 - never raise into C
        return mb.ERR_WANT_WRITE
    return length


@mb.RECV
def _recv(key, buf, size):
    target = ENDPOINTS.get(key)
    if target is None:
        return mb.ERR_WANT_READ
    try:
        return target.on_recv(buf, size)
    except Exception:   # noqa: BLE001
        return mb.ERR_WANT_READ
