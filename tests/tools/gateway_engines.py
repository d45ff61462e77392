"""The gateway's DTLS engines as a pytest parameter: each test that starts a
gateway runs once per engine, skipped (with the engine's own reason) where
that engine cannot run, e.g. pyOpenSSL not installed."""

import pytest

from dprive.tls import dtls_engines, dtls_support

ENGINES = (dtls_engines.MBEDTLS, dtls_engines.PYOPENSSL)


def require(engine, role=dtls_support.GATEWAY):
    """Skip unless `engine` runs here for `role`; returns its Choice."""
    choice = dtls_engines.choose(role, engine)
    if choice.engine is None:
        pytest.skip("DTLS engine %s cannot run here: %s" % (engine, choice.unavailable))
    return choice
