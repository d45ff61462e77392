"""The client without pyOpenSSL, as on a stock OpenWrt image: DTLS runs on
libmbedtls. Meaningful in the venv `make nopyopenssl-venv` makes (no pyOpenSSL,
cryptography or python-mbedtls), where `make test-nopyopenssl` sets
DPRIVE_EXPECT_NO_PYOPENSSL=1; anywhere else these tests skip, and in that venv
a pyOpenSSL that crept in fails them."""

import importlib
import os
import sys

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DPRIVE_EXPECT_NO_PYOPENSSL"),
                                reason="only in the venv without pyOpenSSL (make test-nopyopenssl)")


@pytest.mark.parametrize("module", ["OpenSSL", "cryptography", "mbedtls"])
def test_the_python_tls_packages_are_not_here(module):
    """pyOpenSSL, cryptography and python-mbedtls (the tests' own mbedTLS peer)."""
    with pytest.raises(ImportError):
        importlib.import_module(module)


def test_the_client_engine_is_mbedtls_and_pyopenssl_is_said_missing():
    from dprive.tls import dtls_engines, dtls_support, mbedtls_lib
    assert mbedtls_lib.unavailable_reason() is None, "libmbedtls must load for these tests"
    choice = dtls_engines.choose(dtls_support.CLIENT)
    assert choice.engine == "mbedtls" and choice.version == mbedtls_lib.load().version_text
    asked = dtls_engines.choose(dtls_support.CLIENT, "pyopenssl")
    assert asked.engine is None
    assert asked.unavailable.startswith("pyopenssl: pyOpenSSL (python3-pyopenssl) cannot be imported")


def test_the_policy_runs_dtls_on_mbedtls_without_importing_pyopenssl(tmp_path):
    from dprive.config import parse_settings
    from dprive.io.policy import AuthPolicy
    from dprive.tls import dtls_mbedtls
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    settings = parse_settings(
        "config dprive 'main'\n\toption ca_bundle '%s'\n\toption profile 'opportunistic'\n"
        "config upstream\n\toption name 'd'\n\toption address '127.0.0.1'\n"
        "\toption auth_name 'dns.test'\n\toption transport 'dtls tls'\n" % bundle, "dprive")
    policy = AuthPolicy(settings)
    assert policy.dtls.client_class is dtls_mbedtls.DtlsClient
    assert policy.dtls_status["engine"] == "mbedtls" and policy.dtls_unavailable is None
    assert "dprive.tls.dtls" not in sys.modules and "OpenSSL" not in sys.modules
