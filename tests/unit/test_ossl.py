"""tls/ossl.py: DoT on _ssl without ssl.py, and on ssl.py where _ssl lacks a piece.

Both ways the engine must do the same: handshake, data, the name and CA
checks, pins, close_notify, resumption. The server side is ssl.py's own
(test_dot_engine.py's MemoryServer)."""

import importlib.util
import subprocess
import sys
import types

import pytest

import _ssl
from dprive.tls import dot, hostname, ossl
from tests.tools import certs
from test_dot_engine import MemoryServer, handshake


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


def _ossl_without(name, monkeypatch):
    """A fresh tls/ossl.py loaded where _ssl has no `name`."""
    stub = types.ModuleType("_ssl")
    stub.__dict__.update((k, v) for k, v in vars(_ssl).items() if k != name)
    monkeypatch.setitem(sys.modules, "_ssl", stub)
    spec = importlib.util.find_spec("dprive.tls.ossl")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "_ssl", _ssl)
    return module


@pytest.fixture(params=["_ssl", "ssl.py"])
def engine(request, monkeypatch):
    if request.param == "ssl.py":
        fallback = _ossl_without("MemoryBIO", monkeypatch)
        assert fallback.USING_SSL_PY
        monkeypatch.setattr(dot, "ossl", fallback)
    else:
        assert not ossl.USING_SSL_PY, "this CPython's _ssl has what dprive needs"
    return request.param


def test_the_daemon_path_leaves_ssl_py_out():
    code = ("import sys, dprive.io.policy, dprive.tls.dot; "
            "print(sorted({'ssl', 'enum'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "'ssl'" not in out.stdout, out.stdout


def test_a_session_up_data_close_and_resumed(pki, engine):
    ctx = dot.make_context(str(pki.ca_cert), "1.2", True)
    client = dot.TlsClient(ctx, certs.AUTH_NAME)
    server = MemoryServer(pki)
    handshake(client, server)
    assert client.info()["tls_version"] == "TLSv1.3" and client.info()["cipher"]
    server.receive(client.send(b"\x00\x03abc"))
    assert server.read() == b"\x00\x03abc"
    assert client.close(), "close_notify goes out"
    session = client.session()
    assert session is not None
    again = dot.TlsClient(ctx, certs.AUTH_NAME, session=session)
    server_ctx_obj = MemoryServer(pki)
    # Another server context cannot resume: the client falls back to a full handshake.
    handshake(again, server_ctx_obj)
    assert again.established and again.resumption_offered


@pytest.mark.parametrize("name, wrong", [("other.test", False), (certs.AUTH_NAME, True)])
def test_name_and_ca_are_checked(pki, engine, name, wrong):
    client = dot.TlsClient(dot.make_context(str(pki.ca_cert), "1.2", True), name)
    with pytest.raises(dot.AuthError, match="certificate rejected"):
        handshake(client, MemoryServer(pki, wrong=wrong))


def test_pins_without_a_ca(pki, engine):
    plain = dot.make_context(None, "1.2", False)
    good = dot.TlsClient(plain, None, [pki.server_pin])
    handshake(good, MemoryServer(pki))
    assert good.peer_pin == pki.server_pin
    with pytest.raises(dot.AuthError, match="SPKI pin mismatch"):
        handshake(dot.TlsClient(plain, None, [pki.wrong_pin]), MemoryServer(pki))


@pytest.mark.parametrize("name", ["dns.test", "DNS.Quad9.net", "a.b.", "x" * 63 + ".test", "x" * 63,
                                  "a..b", ".a", "x" * 64 + ".test", "x" * 64, "", "bücher.example"])
def test_a_name_reaches_openssl_as_the_idna_codec_would_give_it(name):
    try:
        expected = name.encode("idna").decode("ascii")
    except UnicodeError:
        with pytest.raises(UnicodeError):
            hostname.ascii_hostname(name)
        return
    assert hostname.ascii_hostname(name) == expected
