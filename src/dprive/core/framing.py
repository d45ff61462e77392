"""DNS over a byte stream: each message behind a two-byte length (RFC 1035 4.2.2, RFC 7766)."""

import struct


class FramingError(ValueError):
    """The stream cannot carry on: a zero length prefix."""


def frame(msg):
    return struct.pack("!H", len(msg)) + msg


class FrameDecoder:
    """Collects stream bytes and hands out whole messages.

    A peer may send a message a byte at a time: bytes are appended to one
    bytearray and parsed only once enough have come for the message the prefix
    announced, so a 64 KiB message dripped byte by byte costs linear time, not
    the quadratic copying of buf = buf + data on every segment."""

    def __init__(self):
        self._buf = bytearray()
        self._need = 2      # bytes the next whole message (or prefix) needs

    def feed(self, data):
        """Return the complete messages that `data` finished; keep the rest."""
        if self._buf or type(data) is not bytes:
            self._buf += data
            if len(self._buf) < self._need:
                return []
            buf = self._buf
        else:
            # Nothing kept from before (the usual case: answers come in whole
            # records): messages are cut from `data` itself, one copy each,
            # and only an unfinished tail is kept.
            buf = data
        messages = []
        pos = 0
        self._need = 2
        while len(buf) - pos >= 2:
            length = (buf[pos] << 8) | buf[pos + 1]
            if length == 0:
                self._buf = bytearray()
                raise FramingError("length prefix of 0 at stream offset %d" % pos)
            if len(buf) - pos - 2 < length:
                self._need = 2 + length
                break
            messages.append(bytes(buf[pos + 2:pos + 2 + length]))
            pos += 2 + length
        if buf is data:
            if pos < len(buf):
                self._buf = bytearray(buf[pos:])
        elif pos:
            self._buf = buf[pos:]
        return messages

    def pending(self):
        """Bytes of an unfinished message (a peer that stops here stalled mid-message)."""
        return len(self._buf)
