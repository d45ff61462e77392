"""gateway/session.py on a pyOpenSSL without the DTLS timer (before 23.1.0, e.g.
Debian 12's 23.0.0): a handshaking session has no retransmission timer instead of
an AttributeError on every tick of the gateway."""

import shutil

import pytest

SSL = pytest.importorskip("OpenSSL.SSL")

from dprive.gateway import session as gw_session  # noqa: E402
from dprive.gateway.stateless import CookieJar  # noqa: E402
from dprive.tls.dtls import DtlsClient, make_dtls_context  # noqa: E402
from tests.tools import certs  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


def handshaking_session(pki):
    ctx = gw_session.make_server_context(str(pki.server_chain), str(pki.server_key),
                                         CookieJar(b"k" * 32), 3600)
    server = gw_session.ServerSession(ctx, ("127.0.0.1", 5353), 1232, 0.0, lambda: 0.0)
    hello = b"".join(DtlsClient(make_dtls_context(str(pki.ca_cert), "1.2", False), None).start())
    out, _ = server.begin(hello, cookie_checked=False)
    assert out and server.state == gw_session.HANDSHAKING
    return server


def test_the_timer_runs_where_pyopenssl_has_it(pki):
    if not gw_session._FEATURES["retransmit_timer"]:
        pytest.skip("this pyOpenSSL has no DTLSv1_get_timeout")
    assert handshaking_session(pki).timer_due(0.0) is not None


def test_no_timer_without_dtlsv1_get_timeout(pki, monkeypatch):
    monkeypatch.setitem(gw_session._FEATURES, "retransmit_timer", False)
    monkeypatch.delattr(SSL.Connection, "DTLSv1_get_timeout", raising=False)
    monkeypatch.delattr(SSL.Connection, "DTLSv1_handle_timeout", raising=False)
    server = handshaking_session(pki)
    assert server.timer_due(0.0) is None
    assert server.state == gw_session.HANDSHAKING
