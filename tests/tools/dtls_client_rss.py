#!/usr/bin/env python3
"""RSS of this process across N client DTLS sessions (every other one resumed),
each with one query and a close_notify, against test_dtls_engine's memory-BIO
pyOpenSSL server: whether a client engine keeps anything per closed session
(tracemalloc cannot see mbedTLS's C memory; RSS can). A figure, not a test.
The libmbedtls is DPRIVE_MBEDTLS_LIBDIR's.

    .venv/bin/python tests/tools/dtls_client_rss.py [--engine mbedtls|pyopenssl] [--sessions 3000]
"""

import argparse
import gc
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.tools import certs  # noqa: E402
from tests.unit.test_dtls_engine import MemoryServer, first_answer, query, server_context  # noqa: E402


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["mbedtls", "pyopenssl"], default="mbedtls")
    parser.add_argument("--sessions", type=int, default=3000)
    args = parser.parse_args()
    if args.engine == "mbedtls":
        from dprive.tls import dtls_mbedtls as engine, mbedtls_lib
        name = mbedtls_lib.load().version_text
    else:
        from dprive.tls import dtls as engine
        name = "pyOpenSSL %s" % engine.SUPPORT.versions["pyopenssl"]
    marks = sorted({args.sessions // 6, args.sessions // 3, args.sessions * 2 // 3, args.sessions})
    with tempfile.TemporaryDirectory() as tmp:
        pki = certs.make_test_pki(Path(tmp))
        ctx = engine.make_dtls_context(str(pki.ca_cert), "1.2", True)
        sctx = server_context(pki)
        saved, rows = None, []
        for i in range(1, args.sessions + 1):
            client = engine.DtlsClient(ctx, certs.AUTH_NAME, session=saved if i % 2 else None)
            server = MemoryServer(sctx)
            first_answer(client, server, query())
            server.feed(client.close())
            saved = client.session()
            server.retire()
            del client, server
            if i in marks:
                gc.collect()
                rows.append((i, rss_kib()))
    print("%s: sessions  RSS KiB" % name)
    for i, kib in rows:
        print("%8d  %8d" % (i, kib))


if __name__ == "__main__":
    main()
