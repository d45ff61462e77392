"""`dprive gateway` on each DTLS engine against a stack other than its own, on loopback.

- The mbedTLS gateway with pyOpenSSL not installed (a sitecustomize that
  refuses to import OpenSSL and cryptography stands in for a router without
  python3-pyopenssl): it chooses mbedTLS by itself, and python-mbedtls
  (mbedTLS 2.28.8 in its wheel, tests/tools/mbedtls_peer.py) shakes hands with it.
- dprive's own mbedTLS client engine (tls/dtls_mbedtls.py) against the
  pyOpenSSL gateway: full handshake with the cookie, a query, a resumption.
  (dprive's pyOpenSSL client against the mbedTLS gateway is test_gateway.py.)
- Tickets from the key file across a restart of the mbedTLS gateway (3.1 and later).
- Neither engine: exit 1 with both engines' reasons, no traceback.

Run it on both mbedTLS versions: DPRIVE_MBEDTLS_LIBDIR=$PWD/build/mbedtls-3.6/lib (make mbedtls36).
"""

import socket
import subprocess
import sys

import dns.message
import pytest

from dprive.core import dtls_record
from dprive.tls import dtls_engines, mbedtls_lib
from tests.tools import certs, gateway_engines, mbedtls_peer
from tests.tools.gateway_proc import GatewayProcess
from tests.tools.unbound import STATIC_A

pytestmark = pytest.mark.timeout(60)

# Python finds no OpenSSL and no cryptography: pyOpenSSL is "not installed".
NO_PYOPENSSL = '''import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("OpenSSL", "cryptography"):
            raise ModuleNotFoundError("No module named %r (not installed here)" % name,
                                      name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
'''


class NoPyopensslGateway(GatewayProcess):
    def env(self):
        site = self.workdir / "site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(NO_PYOPENSSL)
        env = super().env()
        env["PYTHONPATH"] = "%s:%s" % (site, env["PYTHONPATH"])
        return env


@pytest.fixture
def gateways(tmp_path, pki, unbound):
    started = []

    def make(cls=GatewayProcess, **options):
        gw = cls(tmp_path / ("gw%d" % (len(started) + 1)), pki, unbound.plain_port, options)
        started.append(gw)
        return gw.start()

    yield make
    for gw in started:
        gw.stop()


def dns_query(name):
    return dns.message.make_query(name, "A", use_edns=0)


def a_records(wire):
    answer = dns.message.from_wire(wire)
    return sorted(r.address for rrset in answer.answer for r in rrset)


class EngineClient:
    """dprive's DTLS client engine (tls/dtls_mbedtls.py or tls/dtls.py) on a UDP socket."""

    def __init__(self, module, context, port, session=None):
        self.client = module.DtlsClient(context, certs.AUTH_NAME, session=session)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(3.0)
        self.sock.connect(("127.0.0.1", port))
        self.flights = 0

    def _send(self, datagrams):
        for datagram in datagrams:
            self.sock.send(datagram)

    def handshake(self):
        self._send(self.client.start())
        self.flights = 1
        while True:
            _, up, _ = self.client.receive(self.sock.recv(65535))
            if up:
                return self
            out = self.client.pending_output()
            if out:
                self.flights += 1
                self._send(out)

    def ask(self, name):
        query = dns_query(name)
        self._send(self.client.send(query.to_wire()))
        while True:
            messages, _, _ = self.client.receive(self.sock.recv(65535))
            for message in messages:
                if message[:2] == query.to_wire()[:2]:
                    return message

    def close(self):
        self.sock.close()


def test_mbedtls_gateway_without_pyopenssl_serves_python_mbedtls(gateways, pki):
    gateway_engines.require(dtls_engines.MBEDTLS)
    gw = gateways(NoPyopensslGateway)
    dtls = gw.status()["dtls"]
    assert dtls["engine"] == "mbedtls" and dtls["preference"] == "auto", dtls
    assert "pyopenssl" not in dtls                  # never even probed
    if mbedtls_peer.unavailable_reason():
        pytest.skip(mbedtls_peer.unavailable_reason())
    with mbedtls_peer.MbedDtlsClient(pki.ca_cert, certs.AUTH_NAME, gw.port) as client:
        client.handshake()
        assert client.hello_verify_requests_seen == 1
        for name, addr in STATIC_A.items():
            assert a_records(client.query(dns_query(name).to_wire())) == [addr]
    status = gw.wait_status(lambda s: s["counters"]["answers"] == len(STATIC_A))
    assert status["counters"]["handshakes"] == 1 and status["counters"]["cookies_sent"] == 1
    assert "Traceback" not in gw.log_tail()


@pytest.mark.parametrize("server", gateway_engines.ENGINES)
def test_dprive_client_engine_against_the_other_gateway_engine(gateways, pki, server):
    """The client engine of one stack against the gateway on the other (and on its own)."""
    client_engine = dtls_engines.PYOPENSSL if server == dtls_engines.MBEDTLS \
        else dtls_engines.MBEDTLS
    gateway_engines.require(server)
    module = gateway_engines.require(client_engine, "client").client_module()
    context = module.make_dtls_context(str(pki.ca_cert), "1.2", True)
    gw = gateways(dtls_engine=server)
    assert gw.status()["dtls"]["engine"] == server
    first = EngineClient(module, context, gw.port).handshake()
    try:
        assert first.flights == 3                    # ClientHello twice (cookie), Finished
        assert a_records(first.ask("a.test.")) == [STATIC_A["a.test."]]
        session = first.client.session()
        # tls/dtls.py cannot tell a ticket without i2d_SSL_SESSION (cryptography before 44)
        assert session is not None and (session.has_ticket or getattr(session, "der", b"") is None)
    finally:
        first.close()
    again = EngineClient(module, context, gw.port, session=session).handshake()
    try:
        assert again.flights == 2 and again.client.info()["resumed"]
        assert a_records(again.ask("b.test.")) == [STATIC_A["b.test."]]
    finally:
        again.close()
    status = gw.wait_status(lambda s: s["counters"]["handshakes"] == 2)
    assert status["counters"]["handshakes_resumed"] == 1 or server == dtls_engines.PYOPENSSL


def test_mbedtls_tickets_from_the_key_file_survive_a_restart(gateways, pki):
    gateway_engines.require(dtls_engines.MBEDTLS)
    if not mbedtls_lib.load().has("mbedtls_ssl_ticket_rotate"):
        pytest.skip("%s has no mbedtls_ssl_ticket_rotate" % mbedtls_lib.load().version_text)
    module = gateway_engines.require(dtls_engines.PYOPENSSL, "client").client_module()
    context = module.make_dtls_context(str(pki.ca_cert), "1.2", True)
    gw = gateways(dtls_engine="mbedtls")
    assert gw.status()["ticket_keys"] == "file"
    first = EngineClient(module, context, gw.port).handshake()
    first.ask("a.test.")
    session = first.client.session()
    first.close()
    gw.stop()
    gw.start()
    again = EngineClient(module, context, gw.port, session=session).handshake()
    try:
        assert again.flights == 2 and again.client.info()["resumed"]
        assert a_records(again.ask("c.test.")) == [STATIC_A["c.test."]]
    finally:
        again.close()
    status = gw.wait_status(lambda s: s["counters"]["handshakes_resumed"] == 1)
    assert status["counters"]["handshakes"] == 1


def test_no_engine_at_all_exits_with_both_reasons(tmp_path, pki, unbound):
    gw = NoPyopensslGateway(tmp_path / "gw", pki, unbound.plain_port)
    gw.write_config()
    env = dict(gw.env(), DPRIVE_MBEDTLS_LIBDIR=str(tmp_path / "no-such-dir"))
    run = subprocess.run([sys.executable, "-m", "dprive", "gateway", "--config",
                          str(gw.conf_path)], capture_output=True, text=True, timeout=30,
                         env=env, cwd=str(tmp_path))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "mbedtls: libmbedtls (3.6 or 2.28) cannot be loaded from %s" % (
        tmp_path / "no-such-dir") in run.stderr, run.stderr
    assert "pyopenssl: " in run.stderr and "OpenSSL" in run.stderr, run.stderr
    status = gw.status()
    assert status["running"] is False and status["dtls"]["engine"] is None, status
    assert set(status["dtls"]["not_used"]) == {"mbedtls", "pyopenssl"}, status


def test_bad_key_stops_the_mbedtls_gateway_with_the_reason(tmp_path, pki, unbound):
    gateway_engines.require(dtls_engines.MBEDTLS)
    gw = GatewayProcess(tmp_path / "gw", pki, unbound.plain_port,
                        {"dtls_engine": "mbedtls", "key_file": str(pki.wrong_server_key)})
    gw.write_config()
    run = subprocess.run([sys.executable, "-m", "dprive", "gateway", "--config",
                          str(gw.conf_path)], capture_output=True, text=True, timeout=30,
                         env=gw.env(), cwd=str(tmp_path))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "does not belong to the certificate" in run.stderr, run.stderr


def test_stray_records_of_a_dead_session_still_get_the_alert(gateways, pki):
    """The shell's forged-alert path is engine-free: the same on mbedTLS."""
    gateway_engines.require(dtls_engines.MBEDTLS)
    gw = gateways(dtls_engine="mbedtls", alert_interval_ms=60000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(3.0)
        sock.connect(("127.0.0.1", gw.port))
        record = bytes.fromhex("17fefd0001000000000001") + b"\x00\x10" + b"x" * 16
        sock.send(record)
        assert dtls_record.plaintext_alert(sock.recv(100)) == (
            dtls_record.ALERT_FATAL, dtls_record.ALERT_UNEXPECTED_MESSAGE)
        sock.send(record)
        status = gw.wait_status(lambda s: s["counters"]["stray_records"] == 2)
        assert status["counters"]["alerts_limited"] == 1
    finally:
        sock.close()


@pytest.mark.parametrize("server", gateway_engines.ENGINES)
def test_gateway_resends_its_flight_when_the_client_goes_quiet(gateways, pki, server):
    """The server's retransmission timer (the library's, run by server.py's tick):
    the client's Finished is 'lost', the gateway sends its flight again, and the
    handshake completes on the copy."""
    gateway_engines.require(server)
    module = gateway_engines.require(dtls_engines.MBEDTLS, "client").client_module()
    context = module.make_dtls_context(str(pki.ca_cert), "1.2", True)
    gw = gateways(dtls_engine=server)
    client = EngineClient(module, context, gw.port)
    try:
        dtls = client.client
        client._send(dtls.start())
        dtls.receive(client.sock.recv(65535))              # HelloVerifyRequest
        client._send(dtls.pending_output())                 # ClientHello with the cookie
        first = client.sock.recv(65535)
        assert 2 in mbedtls_peer.handshake_types(first)      # ServerHello
        client.sock.settimeout(4.0)                         # the library's first timer: 1 s
        again = client.sock.recv(65535)
        while 2 not in mbedtls_peer.handshake_types(again):  # the rest of the first flight
            again = client.sock.recv(65535)
        status = gw.wait_status(lambda s: s["handshaking"] == 1)
        assert status["counters"]["handshakes"] == 0
        up = dtls.receive(again)[1]
        while not up:
            client._send(dtls.pending_output())             # its flight, once the server's is whole
            up = dtls.receive(client.sock.recv(65535))[1]
        assert a_records(client.ask("a.test.")) == [STATIC_A["a.test."]]
        gw.wait_status(lambda s: s["counters"]["handshakes"] == 1)
    finally:
        client.close()
