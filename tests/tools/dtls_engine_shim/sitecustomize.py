"""Test-only stand-in for `option dtls_engine` until it is merged.

Stands for src/dprive/io/policy.py, AuthPolicy._dtls_engine, choosing the
client module by tls/dtls_engines.choose(CLIENT, preference): with
DPRIVE_TEST_DTLS_ENGINE=mbedtls, `from dprive.tls import dtls` (what policy.py
imports today) yields tls/dtls_mbedtls.py, the same API. 'pyopenssl' changes
nothing. Loaded by Python at start-up from PYTHONPATH (tests/tools/dtls_engine_pick.py).
"""

import os

if os.environ.get("DPRIVE_TEST_DTLS_ENGINE") == "mbedtls":
    import sys

    import dprive.tls
    from dprive.tls import dtls_mbedtls

    sys.modules["dprive.tls.dtls"] = dtls_mbedtls
    dprive.tls.dtls = dtls_mbedtls
