"""io/policy.py: the DoT engine comes from tls/dot_engines.choose() under the
`tls_engine` option: openssl by default, mbedtls when asked (a start that
cannot have it fails and says why), auto: mbedtls where it loads, else openssl
with a warning that says why not mbedtls.

libmbedtls is made unloadable for real: DPRIVE_MBEDTLS_LIBDIR at an empty
directory, with the loader's cache (mbedtls_lib._LOADED) emptied for the test."""

import sys

import pytest

from dprive.config import ConfigError, parse_settings
from dprive.errors import StartupError
from dprive.io.policy import AuthPolicy
from dprive import log as dlog
from dprive.tls import dot, mbedtls_lib

needs_mbedtls = pytest.mark.skipif(mbedtls_lib.unavailable_reason() is not None,
                                   reason="libmbedtls does not load here")


def settings(tmp_path, engine=None, min_version=None):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    options = "".join("\toption %s '%s'\n" % (k, v) for k, v in
                      (("tls_engine", engine), ("tls_min_version", min_version)) if v)
    return parse_settings(
        "config dprive 'main'\n\toption ca_bundle '%s'\n\toption profile 'opportunistic'\n%s"
        "config upstream\n\toption name 'd'\n\toption address '127.0.0.1'\n"
        "\toption auth_name 'dns.test'\n" % (bundle, options), "dprive")


def test_the_option_defaults_to_auto_and_takes_only_the_three(tmp_path):
    assert settings(tmp_path).tls_engine == "auto"
    runs = AuthPolicy(settings(tmp_path)).tls.client_class
    if mbedtls_lib.unavailable_reason() is None and has_tls13():     # OpenWrt 24.10 and later
        from dprive.tls import dot_mbedtls
        assert runs is dot_mbedtls.TlsClient
    else:                                                             # Debian 12's 2.28
        assert runs is dot.TlsClient
    with pytest.raises(ConfigError, match="tls_engine"):
        settings(tmp_path, "pyopenssl")


def has_tls13():
    from dprive.tls import dot_mbedtls
    return dot_mbedtls.has_tls13(mbedtls_lib.load())


def without_python_ssl(monkeypatch):
    """As on a router without python3-openssl: neither ssl nor _ssl imports."""
    for name in ("ssl", "_ssl"):
        monkeypatch.setitem(sys.modules, name, None)        # import raises ImportError
    import dprive.tls
    for name in ("dot", "ossl"):      # imported again, or found on the package
        monkeypatch.delitem(sys.modules, "dprive.tls." + name, raising=False)
        monkeypatch.delattr(dprive.tls, name, raising=False)


@needs_mbedtls
def test_mbedtls_runs_mbedtls_and_the_log_says_so(tmp_path):
    from dprive.tls import dot_mbedtls
    with dlog.capture(dlog.INFO) as logged:
        policy = AuthPolicy(settings(tmp_path, "mbedtls"))
    assert policy.tls.client_class is dot_mbedtls.TlsClient and policy.tls_engine == "mbedtls"
    assert "TLS engine mbedtls (%s, tls_engine mbedtls)" % mbedtls_lib.load().version_text \
        in logged.getvalue()


@needs_mbedtls
def test_auto_runs_an_mbedtls_with_tls13_else_openssl_and_says_why(tmp_path):
    with dlog.capture(dlog.INFO) as logged:
        policy = AuthPolicy(settings(tmp_path, "auto"))
    version = mbedtls_lib.load().version_text
    if has_tls13():
        assert policy.tls_engine == "mbedtls"
        assert "TLS engine mbedtls (%s, tls_engine auto)" % version in logged.getvalue()
    else:        # a choice, said at INFO: not a warning at every start
        assert policy.tls_engine == "openssl"
        assert "INFO TLS engine openssl" in logged.getvalue()
        assert "tls_engine auto); not mbedtls: %s has no TLS 1.3" % version in logged.getvalue()


@needs_mbedtls
def test_auto_without_python_ssl_runs_any_mbedtls(tmp_path, monkeypatch):
    """A router without python3-openssl: mbedTLS even without TLS 1.3."""
    without_python_ssl(monkeypatch)
    assert AuthPolicy(settings(tmp_path, "auto")).tls_engine == "mbedtls"


def test_nothing_to_run_tls_on_does_not_start(tmp_path, no_mbedtls, monkeypatch):
    without_python_ssl(monkeypatch)
    with pytest.raises(StartupError,
                       match="no TLS engine for tls_engine auto: mbedtls: libmbedtls .*; openssl: cannot"):
        AuthPolicy(settings(tmp_path, "auto"))


def test_auto_without_libmbedtls_runs_openssl_and_warns_why(tmp_path, no_mbedtls):
    with dlog.capture(dlog.WARNING) as logged:
        policy = AuthPolicy(settings(tmp_path, "auto"))
    assert policy.tls.client_class is dot.TlsClient
    assert "tls_engine auto); not mbedtls: libmbedtls (3.6 or 2.28) cannot be loaded" in logged.getvalue()


def test_mbedtls_without_libmbedtls_does_not_start(tmp_path, no_mbedtls):
    with pytest.raises(StartupError,
                       match="no TLS engine for tls_engine mbedtls: mbedtls: libmbedtls .* cannot be loaded"):
        AuthPolicy(settings(tmp_path, "mbedtls"))


@needs_mbedtls
def test_a_tls13_minimum_needs_an_mbedtls_with_tls13(tmp_path):
    if has_tls13():
        assert AuthPolicy(settings(tmp_path, "mbedtls", "1.3")).tls_engine == "mbedtls"
        return
    with pytest.raises(StartupError, match="mbedtls: .* has no TLS 1.3 .tls_min_version 1.3."):
        AuthPolicy(settings(tmp_path, "mbedtls", "1.3"))
    assert AuthPolicy(settings(tmp_path, "auto", "1.3")).tls_engine == "openssl"
