"""SPKI pins (RFC 7858 section 4.2): base64 of SHA-256 over the certificate's SubjectPublicKeyInfo.

The standard library hands us the peer certificate only as DER, so we walk
just enough of the DER (X.509 TBSCertificate) to find the SPKI element.
"""

import sys

# CPython's own SHA-256 (3.12+: _sha2, 3.11: _sha256; both in python3-light), not
# hashlib's: hashlib loads _hashlib and with it libcrypto (3.4 MB of RSS here),
# which the mbedTLS engines otherwise never need, and without python3-openssl it
# wants python3-logging. No fallback to it: a CPython without its builtin hashes
# (--without-builtin-hashlib-hashes) is not what OpenWrt builds.
if sys.version_info >= (3, 12):
    from _sha2 import sha256
else:
    from _sha256 import sha256


class DerError(ValueError):
    pass


def _tlv(data, pos, limit=None):
    """(tag, start of content, end of element) of the DER element at `pos`,
    which must end by `limit` (default: the end of data)."""
    limit = len(data) if limit is None else limit
    if pos + 2 > limit:
        raise DerError("truncated DER element")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > limit:
            raise DerError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > limit:
        raise DerError("DER element runs past the end")
    return tag, pos, end


def der_items(data, pos, end):
    """(tag, content start, content end) of each DER element in data[pos:end]."""
    items = []
    while pos < end:
        item = _tlv(data, pos, end)
        items.append(item)
        pos = item[2]
    return items


SEQUENCE = 0x30
EXPLICIT_VERSION = 0xA0
FIELDS_BEFORE_SPKI = 5   # serialNumber, signature, issuer, validity, subject


def spki_der(cert_der):
    tag, content, _ = _tlv(cert_der, 0)
    if tag != SEQUENCE:
        raise DerError("certificate is not a SEQUENCE")
    tag, pos, tbs_end = _tlv(cert_der, content)
    if tag != SEQUENCE:
        raise DerError("tbsCertificate is not a SEQUENCE")
    tag, _, end = _tlv(cert_der, pos)
    if tag == EXPLICIT_VERSION:
        pos = end
    for _ in range(FIELDS_BEFORE_SPKI):
        _, _, pos = _tlv(cert_der, pos)
    tag, _, end = _tlv(cert_der, pos)
    if tag != SEQUENCE or end > tbs_end:
        raise DerError("no SubjectPublicKeyInfo where expected")
    return cert_der[pos:end]


def spki_pin(cert_der):
    """The RFC 7858 pin of a DER certificate."""
    import base64    # here: only an upstream with pins needs it
    return base64.b64encode(sha256(spki_der(cert_der)).digest()).decode("ascii")
