"""dprive under the router's Python: the stdlib split as OpenWrt's python3
packages install it, with only what package/dprive/Makefile declares
(conftest.py). The daemon answers through a real DoT unbound, `dprive check`
and `dprive status` work, `dprive gateway` runs with dprive-dtls's DEPENDS,
and a CA-checked session needs no idna codec (python3-codecs)."""

import json
import subprocess

import pytest

from tests.tools import clients, common, dtls_engine_pick
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.gateway_proc import GatewayProcess

pytestmark = pytest.mark.timeout(120)

OPTIONS = {"query_timeout_ms": 2500, "connect_timeout_ms": 1500}
DEFAULT_CONFIG = common.REPO_ROOT / "files" / "etc" / "config" / "dprive"

IMPORT_PROBE = """import importlib, json, sys
result = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        result[name] = "ok"
    except Exception as err:
        result[name] = "%s: %s" % (type(err).__name__, err)
print(json.dumps({"imports": result, "path": sys.path}))
"""


def run(rp, *args, timeout_s=30):
    return subprocess.run([rp.python, *args], capture_output=True, text=True, timeout=timeout_s,
                          cwd="/")


def probe(rp, *modules):
    res = run(rp, "-c", IMPORT_PROBE, *modules)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def ask(dp, name="a.test", address="192.0.2.1"):
    res = clients.kdig(name, "A", port=dp.port, timeout_s=4, check=False)
    assert res.rcode == "NOERROR" and res.addresses() == [address], (
        "%s\n---- dprive's log ----\n%s" % (res.describe(), dp.log_tail()))


def test_only_the_split_stdlib_is_importable(make_root, branch):
    rp = make_root("light", ["python3-light"], branch, only_sites=[])
    seen = probe(rp, "json", "socket", "dprive", "unicodedata", "asyncio", "logging", "ssl",
                 "ctypes", "dns")
    ok = {name for name, how in seen["imports"].items() if how == "ok"}
    assert ok == {"json", "socket", "dprive"}, seen["imports"]
    assert seen["imports"]["unicodedata"] == "ModuleNotFoundError: No module named 'unicodedata'"
    roots = (str(rp.root), str(common.REPO_ROOT / "src"))
    assert seen["path"] and all(p.startswith(roots) for p in seen["path"]), seen["path"]
    # The router's packages hold bytecode only (Python3/DeleteSourceFiles).
    assert (rp.lib / "json" / "__init__.pyc").exists() and not (rp.lib / "json" / "__init__.py").exists()


def test_daemon_answers_over_dot_and_reports_status(main_root, unbound, pki, tmp_path):
    assert main_root.absent == ["python3-ubus"], main_root.absent
    dp = DpriveProcess(tmp_path, pki.ca_cert, [upstream("local", unbound.tls_port, spki=[pki.server_pin])],
                       options=OPTIONS, python=main_root.python)
    with dp:
        ask(dp)
        ask(dp, "b.test", "192.0.2.2")
        assert "python3-ubus is not installed" in dp.log_text()
        res = dp.cli("status")
        assert res.returncode == 0, res.stderr
        assert "local" in res.stdout and "127.0.0.1" in res.stdout, res.stdout
        res = dp.cli("status", "--json")
        assert res.returncode == 0, res.stderr
        up = json.loads(res.stdout)["upstreams"][0]
        assert up["name"] == "local" and up["answers"] >= 2, up


def test_check_on_the_default_config_and_on_a_broken_one(main_root, tmp_path):
    res = run(main_root, "-m", "dprive", "check", "--config", str(DEFAULT_CONFIG))
    assert res.returncode == 0, res.stderr
    assert "OK (4 upstreams, 4 enabled)" in res.stdout, res.stdout
    broken = tmp_path / "dprive"
    broken.write_text(DEFAULT_CONFIG.read_text().replace("option listen_port '5453'",
                                                         "option listen_port 'fifty'"))
    res = run(main_root, "-m", "dprive", "check", "--config", str(broken))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "listen_port" in res.stderr and "fifty" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr, res.stderr


def test_an_ascii_auth_name_needs_no_python3_codecs(main_root, declared, unbound, pki, tmp_path):
    # tls/ossl.py hands an ASCII name to OpenSSL as it is: no idna codec, so no unicodedata.
    # (A session that cannot start still says why: tests/unit/test_session_start_failure.py.)
    assert "python3-codecs" not in declared["dprive"]
    assert probe(main_root, "unicodedata")["imports"]["unicodedata"].startswith("ModuleNotFoundError")
    dp = DpriveProcess(tmp_path, pki.ca_cert, [upstream("local", unbound.tls_port)],
                       options=OPTIONS, python=main_root.python)
    with dp:
        ask(dp)
        assert dp.upstream_status("local")["auth"] == "name dns.test", dp.upstream_status("local")


def test_gateway_and_dtls_under_the_dtls_package(dtls_root, unbound, pki, tmp_path):
    # dprive-dtls brings python3-ctypes + libmbedtls and no pyOpenSSL: both ends on mbedTLS.
    if not (common.REPO_ROOT / "src/dprive/gateway/session_mbedtls.py").exists():
        pytest.skip("the gateway on mbedTLS (gateway/session_mbedtls.py) is not merged")
    if not dtls_engine_pick.has_option():
        pytest.skip("the client's DTLS engine choice (option dtls_engine) is not merged")
    gw = GatewayProcess(tmp_path / "gw", pki, unbound.plain_port, python=dtls_root.python)
    with gw:
        dp = DpriveProcess(tmp_path / "dp", pki.ca_cert,
                           [upstream("gw", gw.port, transport="dtls", spki=[pki.server_pin])],
                           options=OPTIONS, python=dtls_root.python)
        with dp:
            ask(dp)
            up = dp.upstream_status("gw")
            assert up["transport"] == "dtls", up
            assert dtls_engine_pick.running(dp.status()["pid"]) == "mbedtls"
        assert dtls_engine_pick.running(gw.proc.pid) == "mbedtls"


def test_options_reference_under_the_router_python(main_root):
    """`dprive options` is what a user reads once LuCI has dropped the config's comments."""
    res = run(main_root, "-m", "dprive", "options", "main", "upstream", "gateway")
    assert res.returncode == 0, res.stderr
    for option in ("listen_port", "auth_name", "require_cookie"):
        assert option in res.stdout, option
