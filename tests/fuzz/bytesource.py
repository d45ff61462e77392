"""Structured choices read off a fuzzer's bytes, without atheris.

A harness takes plain `bytes` (libFuzzer's input, or a corpus file replayed
by pytest) and reads its decisions from them with this class, so the same
file means the same run with or without atheris installed. Past the end
every read gives zeros / empty bytes: an input never runs out, it only stops
steering.
"""


class ByteSource:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def left(self):
        return len(self.data) - self.pos

    def u8(self):
        if self.pos >= len(self.data):
            return 0
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self):
        return (self.u8() << 8) | self.u8()

    def below(self, n):
        """A number in range(n) (n <= 65536)."""
        return (self.u16() if n > 256 else self.u8()) % n

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def blob(self):
        """A length-prefixed (2 bytes) piece of the input."""
        return self.take(self.u16())

    def rest(self):
        return self.take(self.left())
