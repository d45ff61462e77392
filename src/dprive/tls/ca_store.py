"""Where an OpenSSL context finds the certificate authorities: a file, or a hashed directory.

A bundle file is parsed whole when the context is made: on this machine 144
certificates and about 0.6 MB of RSS (1.3 MB in a bare interpreter) held
for the daemon's life, for the one or two CAs its upstreams chain to. A
directory of hash links (<subject hash>.<n>, as `openssl rehash` makes them)
lets OpenSSL read a CA when a chain needs it and keep only those. OpenWrt's
ca-certificates package installs such links in /etc/ssl/certs; its
ca-bundle package (dprive's DEPENDS) installs only the bundle file there
(package/system/ca-certificates/Makefile in openwrt/openwrt).

- ca_bundle naming a directory: that directory;
- ca_bundle left at its default: its directory when hash links are there
  (both packages carry the same certificates), else the file;
- any other file: that file.
The checks are the same either way: OpenSSL builds and verifies the same
chain and only finds the issuer another way; a CA that is in neither is
refused both ways. mbedTLS (the DTLS engine) always reads a file.
"""

import os

DEFAULT_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_HEX = "0123456789abcdef"


def is_hash_link(name):
    """'5ad8a5d6.0': 8 hex digits of the subject hash, a dot, a number."""
    stem, dot, number = name.partition(".")
    return bool(dot) and len(stem) == 8 and all(c in _HEX for c in stem) and number.isdigit()


def has_hash_links(directory):
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    return any(is_hash_link(name) for name in names)


def locate(ca_bundle):
    """(cafile, capath) for load_verify_locations: one of them None."""
    if os.path.isdir(ca_bundle):
        return None, ca_bundle
    if ca_bundle == DEFAULT_BUNDLE and has_hash_links(os.path.dirname(ca_bundle)):
        return None, os.path.dirname(ca_bundle)
    return ca_bundle, None
