"""A server name as the TLS libraries take it: ASCII, without the idna codec when it is ASCII.

ssl.py, and dprive's DTLS engines, passed every name through name.encode("idna").
On OpenWrt that codec is in python3-codecs (encodings.idna needs unicodedata);
an ASCII name comes out of it unchanged, after a check of its label lengths,
so only a non-ASCII name needs it. The config accepts ASCII host names only
(config.py), so the daemon never does.
"""


def ascii_hostname(name):
    """`name` as name.encode("idna").decode("ascii") gives it (None stays None)."""
    if name is None:
        return None
    if not name.isascii():
        return name.encode("idna").decode("ascii")    # needs python3-codecs on OpenWrt
    # The idna codec's checks on an ASCII name, which it otherwise leaves as it is.
    labels = name.split(".")
    if any(not 0 < len(label) < 64 for label in labels[:-1]) or len(labels[-1]) >= 64:
        raise UnicodeError("label empty or too long")
    return name
