"""tls/dtls_support.py: what of pyOpenSSL and cryptography is missing, named with the
version it came in, for the feed's pyOpenSSL 23.3.0 / 24.2.1 and anything older."""

import sys

import pytest

SSL = pytest.importorskip("OpenSSL.SSL")

from cryptography.hazmat.bindings.openssl import binding  # noqa: E402

from dprive.tls import dtls_support  # noqa: E402
from dprive.tls.dtls_support import CLIENT, GATEWAY, probe  # noqa: E402


class _LibWithout:
    """cryptography's lib without some names, as older cryptography builds it."""

    def __init__(self, lib, absent):
        self._lib, self._absent = lib, set(absent)

    def __getattr__(self, name):
        if name in self._absent:
            raise AttributeError(name)
        return getattr(self._lib, name)


def _bindings_without(monkeypatch, *absent):
    real = binding.Binding

    class Older:
        def __init__(self):
            self.lib = _LibWithout(real().lib, absent)

    monkeypatch.setattr(binding, "Binding", Older)


def test_this_pyopenssl_is_enough_for_both_roles():
    for role in (CLIENT, GATEWAY):
        support = probe(role)
        assert support.missing == [] and support.unavailable is None, support.missing
        assert support.versions["pyopenssl"] and support.versions["cryptography"]


def test_missing_timer_api_names_the_pyopenssl_version(monkeypatch):
    # pyOpenSSL before 23.1.0 has no DTLSv1_get_timeout: no DTLS retransmissions, no DTLS.
    monkeypatch.delattr(SSL.Connection, "DTLSv1_get_timeout")
    support = probe(CLIENT)
    assert support.missing == ["Connection.DTLSv1_get_timeout (pyOpenSSL 23.1.0)"]
    gateway = probe(GATEWAY)     # the gateway goes on without its own retransmissions
    assert gateway.unavailable is None and not gateway.features["retransmit_timer"]
    assert gateway.notes[0] == ("the gateway does not resend a lost handshake flight of its own: "
                                "pyOpenSSL %s has no Connection.DTLSv1_get_timeout (from pyOpenSSL"
                                " 23.1.0)" % gateway.versions["pyopenssl"])
    assert support.unavailable.startswith("pyOpenSSL %s with cryptography %s lacks "
                                          % (support.versions["pyopenssl"],
                                             support.versions["cryptography"]))
    assert support.status()["unavailable"] == support.unavailable


def test_cookie_callbacks_matter_to_the_gateway_only(monkeypatch):
    monkeypatch.delattr(SSL.Context, "set_cookie_verify_callback")
    assert probe(CLIENT).unavailable is None
    assert probe(GATEWAY).missing == ["Context.set_cookie_verify_callback (pyOpenSSL 22.0.0)"]


def test_old_bindings_cost_the_gateway_its_resumption_count_and_it_says_so(monkeypatch):
    # cryptography 41.0.7 (OpenWrt 24.10): no i2d/d2i_SSL_SESSION, no SSL_session_reused.
    _bindings_without(monkeypatch, "i2d_SSL_SESSION", "d2i_SSL_SESSION", "SSL_session_reused")
    client = probe(CLIENT)
    assert client.unavailable is None
    assert client.features["session_der"] is False and client.features["session_reused"] is False
    assert client.notes == [], "the client resumes without them (tls/dtls.py)"
    gateway = probe(GATEWAY)
    assert gateway.unavailable is None
    assert gateway.notes == ["resumed DTLS sessions are not counted (handshakes_resumed stays 0): "
                             "cryptography %s has no SSL_session_reused (cryptography 42.0.0 and later bind it)"
                             % gateway.versions["cryptography"]]


def test_a_missing_required_binding_makes_the_client_unavailable(monkeypatch):
    _bindings_without(monkeypatch, "X509_VERIFY_PARAM_set1_host")
    assert probe(CLIENT).missing == ["binding X509_VERIFY_PARAM_set1_host (cryptography)"]
    assert probe(GATEWAY).unavailable is None


def test_no_pyopenssl_at_all_is_said_not_raised(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_openssl(name, *args, **kwargs):
        if name == "OpenSSL" or name.startswith("OpenSSL."):
            raise ImportError("No module named 'OpenSSL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openssl)
    support = dtls_support.probe(CLIENT)
    assert support.unavailable == ("pyOpenSSL (python3-pyopenssl) cannot be imported: "
                                   "No module named 'OpenSSL'")
    assert support.status()["pyopenssl"] is None


def test_a_dtls_module_that_cannot_be_imported_leaves_the_daemon_up_and_says_why(monkeypatch, tmp_path):
    """The probe may find pyOpenSSL while its import chain still breaks (a .so of
    cryptography missing): the policy then has no DTLS engine and says why."""
    from dprive.config import parse_settings
    from dprive.io.policy import AuthPolicy
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    settings = parse_settings(
        "config dprive 'main'\n\toption ca_bundle '%s'\n\toption profile 'opportunistic'\n"
        "\toption dtls_engine 'pyopenssl'\n"
        "config upstream\n\toption name 'd'\n\toption address '127.0.0.1'\n"
        "\toption auth_name 'dns.test'\n\toption transport 'dtls tls'\n" % bundle, "dprive")
    import dprive.tls
    monkeypatch.setitem(sys.modules, "dprive.tls.dtls", None)    # makes the import raise ImportError
    monkeypatch.delattr(dprive.tls, "dtls", raising=False)       # ... also after an earlier import
    policy = AuthPolicy(settings)
    assert policy.dtls is None
    assert "dprive.tls.dtls could not be imported" in policy.dtls_unavailable


def _libssl_built_no_dtls(monkeypatch):
    """Stands for OpenWrt's libopenssl (`no-dtls`): DTLS_method and the rest are still
    exported, but SSL_CTX_set_min_proto_version(DTLS1_2_VERSION) returns 0, which
    pyOpenSSL's _openssl_assert raises as SSL.Error([]) (reproduced by the facts
    helper on OpenSSL 3.0.22 and 3.5.7 built with OpenWrt's options,
    /opt/real/openssl-owrt/probe/dtls_nodtls.c; cryptography cannot load that
    build here: it lacks the EC2M symbols Debian's cryptography needs)."""
    real = SSL.Context.set_min_proto_version

    def refuses_dtls(self, version):
        if version in (0xFEFD, 0xFEFC):
            raise SSL.Error([])
        return real(self, version)

    monkeypatch.setattr(SSL.Context, "set_min_proto_version", refuses_dtls)


def test_a_libssl_built_without_dtls_is_said_for_both_roles(monkeypatch):
    _libssl_built_no_dtls(monkeypatch)
    for role in (CLIENT, GATEWAY):
        why = probe(role).unavailable
        assert why is not None and "lacks DTLS 1.2 in OpenSSL" in why, why
        assert "a libssl built no-dtls, as OpenWrt's is" in why, why


def test_the_client_on_a_no_dtls_libssl_starts_without_dtls_and_says_why(monkeypatch, tmp_path):
    """It used to pass the probe, then make_dtls_context raised TlsError out of
    AuthPolicy: the daemon did not start."""
    from dprive.config import parse_settings
    from dprive.io.policy import AuthPolicy
    _libssl_built_no_dtls(monkeypatch)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    settings = parse_settings(
        "config dprive 'main'\n\toption ca_bundle '%s'\n\toption dtls_engine 'pyopenssl'\n"
        "\toption profile 'opportunistic'\n"
        "config upstream\n\toption name 'd'\n\toption address '127.0.0.1'\n"
        "\toption transport 'dtls tls'\n" % bundle, "dprive")
    policy = AuthPolicy(settings)
    assert policy.dtls is None
    assert "a libssl built no-dtls" in policy.dtls_unavailable
