"""Which DTLS engine a dprive process under test runs, chosen and then proved.

choose: `option dtls_engine` ('mbedtls' or 'pyopenssl') when the schema has
it; until that option is merged, the stand-in in tests/tools/dtls_engine_shim
(PYTHONPATH + DPRIVE_TEST_DTLS_ENGINE) swaps the client module that
src/dprive/io/policy.py (AuthPolicy._dtls_engine) imports.

proved: by what the process has mapped (/proc/PID/maps), not by what it says:
an mbedTLS client maps libmbedtls; a pyOpenSSL one maps cryptography's
binding (OpenSSL) and no libmbedtls.
"""

import os
from pathlib import Path

from dprive import schema
from dprive.tls import mbedtls_lib

MBEDTLS, PYOPENSSL = "mbedtls", "pyopenssl"
ENGINES = (MBEDTLS, PYOPENSSL)
SHIM_DIR = Path(__file__).resolve().parent / "dtls_engine_shim"
SHIM_ENV = "DPRIVE_TEST_DTLS_ENGINE"
# What each engine maps: mbedTLS's own library, or cryptography's Rust binding
# (pyOpenSSL's libssl calls go through it) / the system libssl _ssl also maps.
MAP_MARKS = {MBEDTLS: ("libmbedtls.so",), PYOPENSSL: ("_rust.abi3.so", "_openssl.abi3.so")}


def has_option():
    return "dtls_engine" in schema.MAIN_OPTIONS


def options_for(engine):
    """Main options that choose `engine` (none when the stand-in does it)."""
    return {"dtls_engine": engine} if engine and has_option() else {}


def gateway_options_keeping_tickets():
    """Options for a `dprive gateway` whose ticket keys must outlive a restart (the
    flows' "gateway lost state" rows): its default engine, unless that is mbedTLS
    without mbedtls_ssl_ticket_rotate (2.28: keys random per process), then
    pyOpenSSL. Also {} before the gateway has the option (it is pyOpenSSL then)."""
    if "dtls_engine" not in getattr(schema, "GATEWAY_OPTIONS", {}):
        return {}
    if mbedtls_lib.unavailable_reason() is not None:
        return {}
    lib = mbedtls_lib.load()
    has = getattr(lib, "has", None)
    if has is not None and has("mbedtls_ssl_ticket_rotate"):
        return {}
    return {"dtls_engine": PYOPENSSL}


def env_for(engine):
    """The environment a dprive process needs for `engine` when the option is missing."""
    if not engine or has_option():
        return {}
    path = str(SHIM_DIR) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH")
                            else "")
    return {SHIM_ENV: engine, "PYTHONPATH": path}


def mapped(pid):
    """The engines whose libraries process `pid` has mapped."""
    try:
        maps = Path("/proc/%d/maps" % pid).read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return set()
    return set(e for e, marks in MAP_MARKS.items() if any(m in maps for m in marks))


def running(pid, status=None):
    """The engine process `pid` runs DTLS on, or None. When the status JSON names
    it (status['dtls']['engine']), that engine's library must be mapped. Without a
    status: libmbedtls mapped means mbedTLS (pyOpenSSL may be mapped beside it,
    since its probe imports it), else pyOpenSSL's binding means pyOpenSSL. The
    daemon's TLS engine choice (tls_engine auto) maps libmbedtls too, so a
    daemon's status is the word to go by."""
    seen = mapped(pid)
    said = ((status or {}).get("dtls") or {}).get("engine")
    if said is not None:
        return said if said in seen else None
    return MBEDTLS if MBEDTLS in seen else (PYOPENSSL if PYOPENSSL in seen else None)


def libmbedtls_of(pid):
    """The libmbedtls file process `pid` mapped (its version is in the name), or None."""
    try:
        lines = Path("/proc/%d/maps" % pid).read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for line in lines:
        if "libmbedtls.so" in line:
            return line.split()[-1]
    return None
