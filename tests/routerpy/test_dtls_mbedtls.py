"""DNS over DTLS under the router's Python with only what dprive-dtls DEPENDS on
(python3-ctypes + libmbedtls, no pyOpenSSL): the mbedTLS client engine imports
and shakes hands there, on mbedTLS 2.28 (this machine's libmbedtls) and 3.6
(DPRIVE_MBEDTLS_LIBDIR, Debian 13's build, and the OpenWrt-config build when
present); and without python3-ctypes the daemon still runs DNS over TLS and
says, in its status and log, why DTLS has no engine."""

import json
import os

import pytest

from tests.tools import dtls_engine_pick
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.gateway_proc import GatewayProcess
from tests.routerpy.test_router_python import OPTIONS, ask, probe

pytestmark = pytest.mark.timeout(120)

# id -> DPRIVE_MBEDTLS_LIBDIR (None: the loader's own search finds Debian 12's 2.28;
# 3.6: `make mbedtls36`'s Debian 13 build; 3.6-owrt: one built with OpenWrt's
# configuration outside the repository, where there is one)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBDIRS = {"2.28": None, "3.6": os.path.join(ROOT, "build", "mbedtls-3.6", "lib"),
           "3.6-owrt": "/opt/real/mbedtls-owrt/lib"}


@pytest.fixture(params=sorted(LIBDIRS))
def libdir(request):
    path = LIBDIRS[request.param]
    if path is not None and not os.path.isdir(path):
        pytest.skip("no mbedTLS %s build at %s" % (request.param, path))
    return path


@pytest.fixture
def gateway(unbound, pki, tmp_path):
    """The other end: `dprive gateway` on this machine's venv (whatever engine it picks)."""
    with GatewayProcess(tmp_path / "gw", pki, unbound.plain_port) as gw:
        yield gw


def _needs_the_engine_choice():
    if not dtls_engine_pick.has_option():
        pytest.skip("the client's DTLS engine choice (option dtls_engine, io/policy.py) is not "
                    "merged: without it the client has only pyOpenSSL")


def test_the_dtls_package_brings_ctypes_and_no_pyopenssl(dtls_root):
    assert "python3-ctypes" in dtls_root.installed
    assert not {"python3-pyopenssl", "python3-cryptography", "python3-cffi"} & dtls_root.installed
    seen = probe(dtls_root, "ctypes", "OpenSSL", "cryptography", "dprive.tls.dtls_mbedtls")
    assert seen["imports"]["ctypes"] == "ok", seen["imports"]
    assert seen["imports"]["dprive.tls.dtls_mbedtls"] == "ok", seen["imports"]
    assert seen["imports"]["OpenSSL"] == "ModuleNotFoundError: No module named 'OpenSSL'"
    assert seen["imports"]["cryptography"].startswith("ModuleNotFoundError")


def test_the_mbedtls_client_shakes_hands_under_the_dtls_package(dtls_root, gateway, pki, libdir,
                                                                tmp_path):
    _needs_the_engine_choice()
    dp = DpriveProcess(tmp_path / "dp", pki.ca_cert,
                       [upstream("gw", gateway.port, transport="dtls", spki=[pki.server_pin])],
                       options=OPTIONS, python=dtls_root.python)
    if libdir:
        dp.extra_env = {"DPRIVE_MBEDTLS_LIBDIR": libdir}
    with dp:
        ask(dp)
        ask(dp, "b.test", "192.0.2.2")
        status = dp.status()
        up = status["upstreams"][0]
        assert up["transport"] == "dtls" and up["handshakes"] >= 1, up
        assert status["dtls"]["engine"] == "mbedtls", status["dtls"]
        assert dtls_engine_pick.running(status["pid"], status) == "mbedtls"
        mapped = dtls_engine_pick.libmbedtls_of(status["pid"])
        if libdir:
            assert mapped.startswith(os.path.realpath(libdir) + "/"), mapped
        else:
            assert "libmbedtls.so.2.28" in mapped, mapped
        assert "Traceback" not in dp.log_text()


def test_without_python3_ctypes_dtls_says_why_and_tls_still_answers(make_root, declared, branch,
                                                                     unbound, gateway, pki,
                                                                     tmp_path):
    """A router with python3-ctypes removed (opkg remove --force-depends) and
    python3-openssl installed: DoT runs on OpenSSL, DTLS says why it cannot."""
    _needs_the_engine_choice()
    packages = [p for p in declared["dprive-dtls"] if p != "python3-ctypes"] + ["python3-openssl"]
    rp = make_root("no-ctypes", packages, branch)
    assert probe(rp, "ctypes")["imports"]["ctypes"].startswith("ModuleNotFoundError")
    ups = [upstream("dot", unbound.tls_port, spki=[pki.server_pin]),
           upstream("gw", gateway.port, transport="dtls", spki=[pki.server_pin])]
    dp = DpriveProcess(tmp_path / "dp", pki.ca_cert, ups, options=OPTIONS, python=rp.python)
    with dp:
        ask(dp)                                   # DNS over TLS is untouched
        res = dp.cli("status", "--json")
        assert res.returncode == 0, res.stderr
        status = json.loads(res.stdout)
        why = (status.get("dtls") or {}).get("unavailable") or ""
        assert "ctypes" in why, status.get("dtls")
        gw = [u for u in status["upstreams"] if u["name"] == "gw"][0]
        assert "ctypes" in (gw.get("dtls_unavailable") or ""), gw
        log = dp.log_text()
        assert "ctypes" in log and "Traceback" not in log, dp.log_tail()


def test_dot_on_mbedtls_needs_no_python3_openssl(make_root, declared, branch, unbound, pki,
                                                 libdir, tmp_path):
    """tls_engine mbedtls under dprive-dtls's packages with python3-openssl removed:
    the daemon answers over DoT on libmbedtls, and `ssl` cannot even be imported."""
    packages = [p for p in declared["dprive-dtls"] if p != "python3-openssl"]
    rp = make_root("no-openssl", packages, branch)
    seen = probe(rp, "ssl", "_hashlib", "dprive.tls.dot_mbedtls")
    assert seen["imports"]["ssl"].startswith("ModuleNotFoundError"), seen["imports"]
    assert seen["imports"]["dprive.tls.dot_mbedtls"] == "ok", seen["imports"]
    dp = DpriveProcess(tmp_path / "dp", pki.ca_cert, [upstream("dot", unbound.tls_port, spki=[pki.server_pin])],
                       options=dict(OPTIONS, tls_engine="mbedtls"), python=rp.python)
    if libdir:
        dp.extra_env = {"DPRIVE_MBEDTLS_LIBDIR": libdir}
    with dp:
        ask(dp)
        ask(dp, "b.test", "192.0.2.2")
        log = dp.log_text()
        assert "TLS engine mbedtls" in log and "Traceback" not in log, dp.log_tail()
        assert dp.upstream_status("dot")["answers"] >= 2
