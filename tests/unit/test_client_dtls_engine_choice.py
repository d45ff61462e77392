"""io/policy.py: the client's DTLS engine comes from tls/dtls_engines.choose() under
the `dtls_engine` option; the log and the status say which runs and why the
others do not; with none, 'dtls tls' upstreams still move to TLS.

libmbedtls is made unloadable for real: DPRIVE_MBEDTLS_LIBDIR at an empty
directory, with the loader's cache (mbedtls_lib._LOADED) emptied for the test."""

import sys

import pytest

from dprive.config import parse_settings
from dprive.io.policy import AuthPolicy
from dprive.tls import dtls_support, mbedtls_lib
from dprive.tls.engine_api import TlsError
from dprive import log as dlog

needs_mbedtls = pytest.mark.skipif(mbedtls_lib.unavailable_reason() is not None,
                                   reason="libmbedtls does not load here")
needs_pyopenssl = pytest.mark.skipif(dtls_support.probe().unavailable is not None,
                                     reason="pyOpenSSL cannot run the client here")


def settings(tmp_path, engine=None, transport="dtls tls"):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    option = "\toption dtls_engine '%s'\n" % engine if engine else ""
    return parse_settings(
        "config dprive 'main'\n\toption ca_bundle '%s'\n\toption profile 'opportunistic'\n%s"
        "config upstream\n\toption name 'd'\n\toption address '127.0.0.1'\n"
        "\toption auth_name 'dns.test'\n\toption transport '%s'\n" % (bundle, option, transport),
        "dprive")


def test_the_option_defaults_to_auto_and_takes_only_the_three_engines(tmp_path):
    assert settings(tmp_path).dtls_engine == "auto"
    assert settings(tmp_path, "pyopenssl").dtls_engine == "pyopenssl"
    from dprive.config import ConfigError
    with pytest.raises(ConfigError, match="dtls_engine"):
        settings(tmp_path, "openssl")


@needs_mbedtls
def test_auto_runs_mbedtls_and_the_status_says_so(tmp_path):
    from dprive.tls import dtls_mbedtls
    with dlog.capture(dlog.INFO) as logged:
        policy = AuthPolicy(settings(tmp_path))
    status = policy.dtls_status
    assert status["engine"] == "mbedtls" and status["preference"] == "auto"
    assert status["version"] == mbedtls_lib.load().version_text and status["unavailable"] is None
    assert policy.dtls.client_class is dtls_mbedtls.DtlsClient
    assert "DTLS engine mbedtls (mbedTLS " in logged.getvalue()


@needs_pyopenssl
def test_pyopenssl_when_asked_for(tmp_path):
    from dprive.tls import dtls
    policy = AuthPolicy(settings(tmp_path, "pyopenssl"))
    assert policy.dtls.client_class is dtls.DtlsClient
    status = policy.dtls_status
    assert status["engine"] == "pyopenssl" and status["version"].startswith("pyOpenSSL ")
    assert status["pyopenssl"]["unavailable"] is None


@needs_pyopenssl
def test_auto_without_libmbedtls_runs_pyopenssl_and_warns_why(tmp_path, no_mbedtls):
    from dprive.tls import dtls
    with dlog.capture(dlog.WARNING) as logged:
        policy = AuthPolicy(settings(tmp_path))
    assert policy.dtls.client_class is dtls.DtlsClient
    why = policy.dtls_status["not_used"]["mbedtls"]
    assert "libmbedtls (3.6 or 2.28) cannot be loaded from" in why
    assert "DTLS engine pyopenssl" in logged.getvalue() and "not mbedtls: libmbedtls" in logged.getvalue()


def test_no_engine_leaves_dtls_down_and_says_why(tmp_path, no_mbedtls):
    with dlog.capture(dlog.WARNING) as logged:
        policy = AuthPolicy(settings(tmp_path, "mbedtls"))
    assert policy.dtls is None
    assert policy.dtls_unavailable.startswith("mbedtls: libmbedtls (3.6 or 2.28) cannot be loaded")
    assert policy.dtls_status["engine"] is None
    assert "DTLS unavailable: mbedtls: libmbedtls" in logged.getvalue()
    with pytest.raises(TlsError, match="DTLS unavailable: mbedtls: libmbedtls"):
        policy.client_for(settings(tmp_path).upstreams[0], "dtls")


@needs_pyopenssl
@needs_mbedtls
def test_an_engine_module_that_will_not_import_passes_to_the_next(tmp_path, monkeypatch):
    import dprive.tls
    monkeypatch.setitem(sys.modules, "dprive.tls.dtls_mbedtls", None)   # import raises ImportError
    monkeypatch.delattr(dprive.tls, "dtls_mbedtls", raising=False)
    with dlog.capture(dlog.WARNING) as logged:
        policy = AuthPolicy(settings(tmp_path))
    assert policy.dtls_status["engine"] == "pyopenssl"
    assert "dprive.tls.dtls_mbedtls could not be imported" in policy.dtls_status["not_used"]["mbedtls"]
    assert "not mbedtls: dprive.tls.dtls_mbedtls could not be imported" in logged.getvalue()


def test_no_dtls_upstream_no_engine_and_no_dtls_status(tmp_path):
    policy = AuthPolicy(settings(tmp_path, transport="tls"))
    assert policy.dtls is None and policy.dtls_status is None and policy.dtls_unavailable is None


def test_dprive_status_prints_the_engine_and_why_not_the_other():
    from dprive.status_client import _dtls_lines
    lines = _dtls_lines({"engine": "mbedtls", "preference": "auto", "version": "mbedTLS 3.6.6",
                         "unavailable": None, "notes": [],
                         "not_used": {"pyopenssl": "pyOpenSSL (python3-pyopenssl) cannot be imported"}})
    assert lines == ["DTLS on mbedtls (mbedTLS 3.6.6, dtls_engine auto)",
                     "  not pyopenssl: pyOpenSSL (python3-pyopenssl) cannot be imported"]
    down = _dtls_lines({"engine": None, "preference": "mbedtls", "version": None,
                        "unavailable": "mbedtls: no lib", "notes": [], "not_used": {"mbedtls": "no lib"}})
    assert down == ["  DTLS unavailable: mbedtls: no lib"]


@needs_mbedtls
def test_a_forced_libdir_is_the_library_that_runs():
    """`make test-mbedtls36` runs the DTLS tests on 3.6 through DPRIVE_MBEDTLS_LIBDIR:
    the library loaded must come from there, not from the loader's path."""
    import os
    forced = os.environ.get(mbedtls_lib.LIBDIR_ENV)
    if not forced:
        pytest.skip("DPRIVE_MBEDTLS_LIBDIR is not set: the loader's own libmbedtls runs")
    lib = mbedtls_lib.load()
    assert os.path.realpath(lib.path).startswith(os.path.realpath(forced) + os.sep), lib.path


def test_no_ctypes_is_a_reason_not_a_crash(tmp_path, monkeypatch):
    """On OpenWrt ctypes is python3-ctypes, a package of its own: without it a
    TLS-only dprive runs, and DTLS on mbedTLS says what is missing."""
    import dprive.tls
    from dprive.tls import dtls_engines
    monkeypatch.setitem(sys.modules, "ctypes", None)                  # import ctypes raises
    monkeypatch.setitem(sys.modules, "dprive.tls.mbedtls_lib", None)  # ... as a fresh import would
    monkeypatch.delattr(dprive.tls, "mbedtls_lib", raising=False)
    choice = dtls_engines.choose(dtls_support.CLIENT, "mbedtls")
    assert choice.engine is None
    assert choice.unavailable.startswith("mbedtls: ctypes (python3-ctypes) cannot be imported")
    assert AuthPolicy(settings(tmp_path, "mbedtls")).dtls is None


@needs_pyopenssl
@needs_mbedtls
def test_an_engine_that_cannot_make_a_context_passes_to_the_next(tmp_path, monkeypatch):
    """make_dtls_context's TlsError (a library that will not set up a config) is the
    engine's reason, not an exception out of AuthPolicy that keeps the daemon down."""
    from dprive.tls import dtls_mbedtls

    def refuses(*args):
        raise TlsError("mbedtls_ssl_config_defaults: SSL - Bad input parameters to function")

    monkeypatch.setattr(dtls_mbedtls, "make_dtls_context", refuses)
    policy = AuthPolicy(settings(tmp_path))
    assert policy.dtls_status["engine"] == "pyopenssl"
    assert policy.dtls_status["not_used"]["mbedtls"] == (
        "cannot make a DTLS context: mbedtls_ssl_config_defaults: SSL - Bad input parameters to function")
