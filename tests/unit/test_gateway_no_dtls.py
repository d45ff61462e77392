"""The pyOpenSSL gateway on an OpenSSL built no-dtls (stock OpenWrt's libopenssl):
DTLS_method is still exported there, but DTLS 1.2 is refused when asked for, and
the gateway must say so at start rather than fail every handshake later with
"no protocols available". The refusal is what such a libssl's
SSL_CTX_set_min_proto_version does (reproduced with OpenSSL 3.0.22 and 3.5.7
built with OpenWrt's configure options)."""

import pytest

SSL = pytest.importorskip("OpenSSL.SSL")

from dprive.gateway import session  # noqa: E402
from dprive.gateway.session_base import ContextError  # noqa: E402
from dprive.gateway.cookies import CookieJar  # noqa: E402
from tests.tools import certs  # noqa: E402


def test_a_libssl_without_dtls_stops_the_gateway_with_the_cause(tmp_path, monkeypatch):
    pki = certs.make_test_pki(tmp_path)

    def no_dtls(self, version):
        raise SSL.Error([("SSL routines", "", "no protocols available")])

    monkeypatch.setattr(SSL.Context, "set_min_proto_version", no_dtls)
    with pytest.raises(ContextError, match=r"DTLS 1\.2 is not available in OpenSSL .*without DTLS"):
        session.make_server_context(str(pki.server_chain), str(pki.server_key),
                                    CookieJar(b"k" * 32), 3600)
