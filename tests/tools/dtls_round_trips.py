#!/usr/bin/env python3
"""Round trips to the first DNS answer, per client DTLS engine, counted as
tests/unit/test_dtls_engine.py counts them (its memory-BIO pyOpenSSL server
and its first_answer()): a full handshake, a resumption by ticket and by
session ID, each with and without the cookie exchange. No sockets, no clock:
a count, not a timing. The libmbedtls is DPRIVE_MBEDTLS_LIBDIR's.

    .venv/bin/python tests/tools/dtls_round_trips.py
    DPRIVE_MBEDTLS_LIBDIR=$PWD/build/mbedtls-3.6/lib .venv/bin/python tests/tools/dtls_round_trips.py
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dprive.tls import dtls, mbedtls_lib  # noqa: E402
from tests.tools import certs  # noqa: E402
from tests.unit.test_dtls_engine import MemoryServer, first_answer, query, server_context  # noqa: E402

CASES = [("full", False, True), ("full + cookie", True, True),
         ("resumed (ticket)", False, True), ("resumed (ticket) + cookie", True, True),
         ("resumed (session ID)", False, False), ("resumed (session ID) + cookie", True, False)]


def count(engine, pki, name, cookie, tickets):
    ctx = engine.make_dtls_context(str(pki.ca_cert), "1.2", True)
    sctx = server_context(pki, cookie=cookie, tickets=tickets)
    client = engine.DtlsClient(ctx, certs.AUTH_NAME)
    server = MemoryServer(sctx)
    rtt, _ = first_answer(client, server, query())
    if not name.startswith("resumed"):
        return rtt
    server.retire()
    again = engine.DtlsClient(ctx, certs.AUTH_NAME, session=client.session())
    rtt, _ = first_answer(again, MemoryServer(sctx), query())
    assert again.info()["resumed"], name
    return rtt


def main():
    engines = [("pyOpenSSL %s" % dtls.SUPPORT.versions["pyopenssl"], dtls)]
    why = mbedtls_lib.unavailable_reason()
    if why is None:
        from dprive.tls import dtls_mbedtls
        engines.append((mbedtls_lib.load().version_text, dtls_mbedtls))
    else:
        print("mbedTLS: %s" % why)
    with tempfile.TemporaryDirectory() as tmp:
        pki = certs.make_test_pki(Path(tmp))
        print("%-32s %s" % ("round trips to the first answer", "  ".join("%-18s" % n for n, _ in engines)))
        for name, cookie, tickets in CASES:
            cells = ["%-18d" % count(engine, pki, name, cookie, tickets) for _, engine in engines]
            print("%-32s %s" % (name, "  ".join(cells)))


if __name__ == "__main__":
    main()
