"""Memory of one established DTLS session in a real `dprive gateway` process, per engine.

    .venv/bin/python -m tests.tools.gateway_session_rss [--sessions 200] [--engines mbedtls,pyopenssl]

tracemalloc cannot see OpenSSL's or mbedTLS's C allocations, so this reads the
gateway's VmRSS (/proc/PID/status): once after one warm-up session (the
libraries, the context and the first buffers are then in), and once with N
more clients shaken hands and idle (session_idle_s is long), from N sockets of
this process, with dprive's mbedTLS client engine. Prints a table; a
measurement, not a test (the machine is shared: run it more than once).
"""

import argparse
import socket
import sys
import tempfile
from pathlib import Path

from dprive.tls import dtls_engines, dtls_support
from tests.tools import certs, common
from tests.tools.gateway_proc import GatewayProcess


def _handshake(module, context, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", port))
    client = module.DtlsClient(context, certs.AUTH_NAME)
    for datagram in client.start():
        sock.send(datagram)
    while True:
        _, up, _ = client.receive(sock.recv(65535))
        for datagram in client.pending_output():
            sock.send(datagram)
        if up:
            return client, sock


def measure(engine, sessions, workdir, pki):
    client_module = dtls_engines.choose(dtls_support.CLIENT, "mbedtls").client_module()
    context = client_module.make_dtls_context(str(pki.ca_cert), "1.2", True)
    gw = GatewayProcess(workdir / engine, pki, common.free_port(), {
        "dtls_engine": engine, "max_sessions": sessions + 10, "session_idle_s": 3600,
        "handshake_timeout_ms": 20000, "log_level": "info"})
    gw.start()
    try:
        kept = [_handshake(client_module, context, gw.port)]
        gw.wait_status(lambda s: s["counters"]["handshakes"] == 1)
        before = common.vm_kib(gw.proc.pid)
        kept += [_handshake(client_module, context, gw.port) for _ in range(sessions)]
        status = gw.wait_status(lambda s: s["counters"]["handshakes"] == sessions + 1,
                                timeout_s=30)
        after = common.vm_kib(gw.proc.pid)
        version = status["dtls"]["version"]
        for _, sock in kept:
            sock.close()
        return version, before, after, status["sessions"]
    finally:
        gw.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--engines", default="mbedtls,pyopenssl")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gwrss") as tmp:
        pki = certs.make_test_pki(Path(tmp) / "pki")
        print("| engine | library | sessions | RSS after 1 (KiB) | RSS after 1+N (KiB) | per session (KiB) |")
        print("|---|---|---|---|---|---|")
        for engine in args.engines.split(","):
            choice = dtls_engines.choose(dtls_support.GATEWAY, engine)
            if choice.engine is None:
                print("| %s | cannot run: %s | | | | |" % (engine, choice.unavailable))
                continue
            version, before, after, live = measure(engine, args.sessions, Path(tmp), pki)
            print("| %s | %s | %d | %d | %d | %.1f |" % (
                engine, version, live, before, after, (after - before) / float(args.sessions)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
