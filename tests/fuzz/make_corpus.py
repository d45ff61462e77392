"""Writes the seed corpus, tests/fuzz/corpus/<target>/: real inputs in each harness's format.

    .venv/bin/python tests/fuzz/make_corpus.py [--out tests/fuzz/corpus]

- client, upstream: queries and answers made with dnspython (A, AAAA, MX,
  with and without EDNS, DO, a cookie, the client's own padding), as UDP
  datagrams, as a TCP stream, and as scripts of shell events (corescript.py);
- dtls, gateway: the datagrams of a real DTLS 1.2 handshake between two
  pyOpenSSL endpoints on memory BIOs (certificates from tests/tools/certs.py,
  openssl CLI), the application data and close_notify after it, and the
  plaintext alert a gateway sends;
- config: files/etc/config/dprive, dprive-gateway and files/usr/share/dprive/*.example.

The output is committed (small: a few dozen files); run this again only to
change the seeds. Every byte layout here mirrors what the harness reads.
"""

import argparse
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import targets  # noqa: F401  (sys.path)

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset

ROOT = Path(__file__).resolve().parents[2]


def u16(n):
    return struct.pack("!H", n)


def blob(data):
    return u16(len(data)) + data


def queries():
    out = []
    for name, rdtype, edns, opts, want_dnssec in (
            ("example.test.", "A", -1, [], False),
            ("www.example.test.", "AAAA", 0, [], False),
            ("example.test.", "MX", 0, [dns.edns.GenericOption(10, b"\x01" * 8)], True),
            ("a.b.c.example.test.", "TXT", 0, [dns.edns.GenericOption(12, b"\x00" * 20)], False),
            (".", "NS", 0, [dns.edns.GenericOption(11, b"")], False)):
        q = dns.message.make_query(name, rdtype, use_edns=edns, options=opts, want_dnssec=want_dnssec,
                                   payload=1232)
        q.id = 0x1234 + len(out)
        out.append(q)
    return out


def answer_to(query, big=False):
    r = dns.message.make_response(query)
    r.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "198.18.0.1"))
    if big:
        for i in range(40):
            r.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "TXT", '"%s"' % ("x" * 200 + str(i))))
    return r.to_wire()


def client_seeds():
    wires = [q.to_wire() for q in queries()]
    seeds = {}
    seeds["udp-queries"] = b"\x00" + u16(0) + b"".join(blob(w) for w in wires)
    seeds["udp-queries-big-answers"] = b"\x0e" + u16(0) + b"".join(blob(w) for w in wires)
    seeds["tcp-stream-cut-every-7"] = b"\x01" + u16(6) + b"".join(blob(w) for w in wires)
    seeds["tcp-stream-whole"] = b"\x01" + u16(2047) + b"".join(blob(w) for w in wires)
    seeds["tcp-zero-length-prefix"] = b"\x01" + u16(3) + blob(wires[0]) + b"\x00\x00" + blob(wires[1])
    seeds["udp-response-and-notify"] = b"\x00" + u16(0) + blob(answer_to(queries()[0])) + blob(
        wires[0][:2] + bytes([wires[0][2] | 0x20]) + wires[0][3:])
    seeds["made-queries-tcp"] = b"\x81" + u16(100) + b"\x00\x00\x00\x00\x00\x01" + b"\x3f\x04\xd0\x12\x34\x01\x00\x00\x01"
    return seeds


# corescript.py ops (UP takes two bytes after it: which session, and whether TFO was used)
Q_MADE, Q_RAW, UP, ANSWER, RAW, MUTATED, LATE, GARBLED, CLOSED, FAILED, ALERT, TICK, RECONNECT, STREAM, TC, RELOAD = range(16)


def upstream_seeds():
    answers = [answer_to(q) for q in queries()]
    seeds = {}
    # setup: first byte (1 upstream, padding 128), then one transport byte per upstream
    tls1 = b"\x00\x00"
    seeds["tls-query-answer"] = tls1 + bytes([UP, 0, 0, Q_MADE, 0, 0, 0, 0x12, 0x34, 1, ANSWER, 5, 0, 0, 0])
    seeds["edns-answer-with-keepalive"] = tls1 + bytes([UP, 0, 0, Q_MADE, 0x01, 0x04, 0xd0, 0, 0, 0x12, 0x34, 0,
                                                        ANSWER, 5, 0, 1, 0x00, 0x64])
    seeds["five-losses-found-while-quiet"] = tls1 + bytes([UP, 0, 0]) + bytes(
        [TICK, 0x30, 0x00, 0, CLOSED, 0, 0, 0, UP, 0, 0]) * 5
    seeds["tls-raw-real-answers"] = tls1 + bytes([UP, 0, 0]) + b"".join(
        bytes([Q_MADE, 1, 0, 0, 0, 0, 0, 0]) + bytes([RAW, 0]) + blob(a) for a in answers)
    seeds["tls-stream-of-answers"] = tls1 + bytes([UP, 0, 0, Q_MADE, 0, 0, 0, 0, 0, 0, STREAM, 0]) + blob(
        b"".join(blob(a) for a in answers)) + b"\x05"
    seeds["tls-close-replay-timeout"] = tls1 + bytes([UP, 0, 0, Q_MADE, 0, 0, 0, 0, 0, 1, CLOSED, 0, 0, 0,
                                                      UP, 0, 0, TICK, 0x10, 0, 3, ANSWER, 0, 0, 0, 0])
    seeds["two-upstreams-mutated"] = b"\x01\x00\x00" + bytes([UP, 0, 0, UP, 1, 0, Q_MADE, 0x11, 0x04, 0xd0, 0, 0, 0, 0, 0,
                                                              MUTATED, 0, 0, 0, 2, 3, 0xff, 1, 20])
    seeds["dtls-alert-and-truncated"] = b"\x00\x02" + bytes([UP, 0, 0, Q_MADE, 0x01, 0x10, 0x00, 0, 0, 0, 0, 0,
                                                             ALERT, 0, UP, 0, 0, TC, 0, 0, 0, UP, 0, 0, ANSWER, 0, 0, 0, 0])
    seeds["dtls-probe-keepwarm-reload"] = b"\x41\x01" + bytes([UP, 0, 0, TICK, 0xff, 0xff, 0, RELOAD, 1, 0, 1, 1, 1,
                                                               GARBLED, 0, LATE, 0, 0, 0, 0, RECONNECT, 1])
    seeds["overload-max-pending"] = b"\x80\x00" + bytes([UP, 0, 0]) + bytes([Q_MADE, 0, 0, 0, 0, 0, 0]) * 4 + bytes(
        [Q_RAW]) + blob(queries()[0].to_wire()) + b"\x00" + bytes([FAILED, 0, 1])
    return seeds


def dtls_handshake(workdir):
    """Datagrams of a real DTLS 1.2 handshake and its traffic, in order: [(from, datagram)]."""
    from OpenSSL import SSL
    from dprive.core import dtls_record
    from tests.tools import certs
    pki = certs.make_test_pki(workdir)
    sctx = SSL.Context(SSL.DTLS_METHOD)
    sctx.use_certificate_chain_file(str(pki.server_chain))
    sctx.use_privatekey_file(str(pki.server_key))
    sctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_COOKIE_EXCHANGE)
    sctx.set_cookie_generate_callback(lambda conn: b"fuzz cookie")
    sctx.set_cookie_verify_callback(lambda conn, cookie: cookie == b"fuzz cookie")
    cctx = SSL.Context(SSL.DTLS_METHOD)
    cctx.set_options(SSL.OP_NO_QUERY_MTU)
    server, client = SSL.Connection(sctx, None), SSL.Connection(cctx, None)
    server.set_accept_state()
    client.set_connect_state()
    for conn in (server, client):
        conn.set_ciphertext_mtu(1200)
    flow = []

    def drain(conn, who):
        data = b""
        while True:
            try:
                data += conn.bio_read(65536)
            except SSL.WantReadError:
                break
        for datagram in dtls_record.pack_datagrams(data, 1200):
            flow.append((who, datagram))
        return dtls_record.pack_datagrams(data, 1200)

    def step(conn):
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            pass

    step(client)
    for _ in range(10):
        for datagram in drain(client, "client"):
            server.bio_write(datagram)
        step(server)
        for datagram in drain(server, "server"):
            client.bio_write(datagram)
        step(client)
    query = queries()[1].to_wire()
    client.send(query)
    for datagram in drain(client, "client"):
        server.bio_write(datagram)
    server.recv(65536)
    server.send(answer_to(queries()[1]))
    drain(server, "server")
    client.shutdown()
    drain(client, "client")
    flow.append(("server", dtls_record.alert_record(2, 10, 7)))
    return flow


def dtls_seeds(flow):
    from dprive.core import dtls_record
    seeds = {}
    for n, (who, datagram) in enumerate(flow):
        # first byte: DTLS then TLS, one upstream, 3 queries in flight; alert fields; the datagram
        out = b"\x34" + b"\x02\x0a" + b"\x00\x00\x00\x07" + blob(datagram)
        out += u16(1200)
        if dtls_record.is_plaintext_alert(datagram):
            out += b"\x00"
        out += bytes([UP, 0, 0])
        seeds["%02d-%s-%d-bytes" % (n, who, len(datagram))] = out
    everything = b"\x14\x02\x0a\x00\x00\x00\x00"
    for who, datagram in flow:
        everything += blob(datagram) + u16(200) + (b"\x00" if dtls_record.is_plaintext_alert(datagram) else b"")
        everything += bytes([TICK, 0, 50, 0])
    seeds["whole-flow"] = everything
    cut = flow[0][1][:-1]          # the ClientHello one byte short: its record claims more
    seeds["record-cut-short"] = b"\x34\x02\x0a\x00\x00\x00\x07" + blob(cut) + bytes([UP, 0, 0])
    return seeds


def gateway_seeds(flow):
    seeds = {}
    head = b"\x1e\x10\x05\x08" + u16(100)
    for n, (who, datagram) in enumerate(flow):
        if who == "client":
            seeds["%02d-client-%d-bytes" % (n, len(datagram))] = head + b"\x00\x02" + u16(40000) + u16(10) + blob(datagram)
    seeds["stray-records-many-peers"] = head + b"".join(
        bytes([0, i]) + u16(5353) + u16(1) + blob(flow[-2][1]) for i in range(12))
    return seeds


def config_seeds():
    seeds = {}
    for path in [ROOT / "files/etc/config/dprive", ROOT / "files/etc/config/dprive-gateway"] + sorted(
            (ROOT / "files/usr/share/dprive").glob("*.example")):
        seeds[path.name] = path.read_bytes()
    seeds["errors-of-every-kind"] = (
        b"package dprive\nconfig dprive 'main'\n\toption port '99999'\n\toption profile \"strict\n"
        b"\toption nosuch 'x'\nconfig upstream\n\toption address '198.18.0.1%eth0'\n"
        b"\tlist spki 'bm90IGEgcGlu'\n\toption enabled 'maybe'\n\xff\n")
    seeds["control-characters"] = (
        b"config dprive 'main'\n\toption port '53\x1b[31m'\n\toption profile 'x\x7f'\n"
        b"config upstream 'u\x01'\n\toption name 'a\tb'\n")
    return seeds


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(targets.CORPUS))
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="dprive-corpus-"))
    try:
        flow = dtls_handshake(work)
        made = {"client": client_seeds(), "upstream": upstream_seeds(), "dtls": dtls_seeds(flow),
                "gateway": gateway_seeds(flow), "config": config_seeds()}
    finally:
        shutil.rmtree(work, True)
    for target, seeds in made.items():
        directory = out / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (directory / name).write_bytes(data)
        print("%-9s %3d seeds, %6d bytes" % (target, len(seeds), sum(len(d) for d in seeds.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
