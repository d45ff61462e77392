"""DNS over a byte stream: each message behind a two-byte length (RFC 1035 4.2.2, RFC 7766)."""

import struct


class FramingError(ValueError):
    """The stream cannot carry on: a zero length prefix."""


def frame(msg):
    return struct.pack("!H", len(msg)) + msg


class FrameDecoder:
    """Collects stream bytes and hands out whole messages."""

    def __init__(self):
        self._buf = b""

    def feed(self, data):
        """Return the complete messages that `data` finished; keep the rest."""
        buf = self._buf + data if self._buf else bytes(data)
        messages = []
        pos = 0
        while len(buf) - pos >= 2:
            length = struct.unpack_from("!H", buf, pos)[0]
            if length == 0:
                self._buf = b""
                raise FramingError("length prefix of 0 at stream offset %d" % pos)
            if len(buf) - pos - 2 < length:
                break
            messages.append(buf[pos + 2:pos + 2 + length])
            pos += 2 + length
        self._buf = buf[pos:]
        return messages

    def pending(self):
        """Bytes of an unfinished message (a peer that stops here stalled mid-message)."""
        return len(self._buf)
