"""What the daemon's start leaves out of memory (issue 13): modules only some
configs, some commands or some requests need are imported where they are used.

The start is run as `dprive run --config FILE` does it, in a fresh interpreter:
the command line, the config, the daemon's modules, the TLS contexts."""

import ast
import subprocess
import sys

import pytest

from dprive.tls import mbedtls_lib

from tests.tools.dprive_proc import config_text, upstream

START = """import sys
from dprive import cli
args = cli.quick_run_args(["run", "--config", sys.argv[1]])
from dprive.config import load_config
settings = load_config(args.config)
import dprive.io.daemon
from dprive.io.policy import AuthPolicy
AuthPolicy(settings)
print(sorted(sys.modules))
"""
# Never at start: the CLI's parser, a typo's suggestions, pins' hashing, the status's JSON,
# DTLS (ctypes, mbedTLS, pyOpenSSL), the option docs, the ubus thread.
NEVER = {"argparse", "difflib", "hashlib", "json", "ctypes", "dprive.config_docs",
         "dprive.tls.dtls_engines", "dprive.tls.dtls_mbedtls", "dprive.tls.mbedtls_lib",
         "dprive.tls.dtls", "OpenSSL", "ubus"}
# Left out by dprive, and pulled in by asyncio when the shell was on it (base64 by ssl,
# threading and traceback by logging).
WITHOUT_ASYNCIO = {"re", "logging", "ssl", "base64", "threading", "traceback"}


def started_modules(tmp_path, tls_engine="openssl", **up):
    conf = tmp_path / "dprive.conf"
    conf.write_text(config_text({"ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
                                 "tls_engine": tls_engine},
                                [upstream("one", 853, **up)]))
    out = subprocess.run([sys.executable, "-c", START, str(conf)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(ast.literal_eval(out.stdout.splitlines()[-1]))


def test_a_tls_upstream_without_pins_starts_without_them(tmp_path):
    loaded = started_modules(tmp_path)
    assert "dprive.io.daemon" in loaded and "dprive.tls.dot" in loaded
    assert not NEVER & loaded, sorted(NEVER & loaded)
    assert not WITHOUT_ASYNCIO & loaded, sorted(WITHOUT_ASYNCIO & loaded)
    assert "asyncio" not in loaded


@pytest.mark.skipif(mbedtls_lib.unavailable_reason() is not None, reason="no libmbedtls here")
def test_on_the_mbedtls_engine_no_openssl_is_loaded(tmp_path):
    loaded = started_modules(tmp_path, tls_engine="mbedtls")
    assert "dprive.tls.dot_mbedtls" in loaded
    openssl = {"ssl", "_ssl", "_hashlib", "hashlib", "dprive.tls.ossl", "dprive.tls.dot"}
    assert not openssl & loaded, sorted(openssl & loaded)
    assert not (NEVER - {"ctypes", "dprive.tls.mbedtls_lib"}) & loaded


def test_the_quick_command_lines_and_the_others(tmp_path):
    from dprive import cli
    assert cli.quick_run_args(["run"]).config == cli.DEFAULT_CONFIG
    assert cli.quick_run_args(["run", "--config", "/tmp/x"]).config == "/tmp/x"
    for argv in (["run", "--config"], ["run", "--conf", "/tmp/x"], ["run", "--config", "-x"],
                 ["check"], ["run", "--config", "/tmp/x", "extra"], ["--version"], []):
        assert cli.quick_run_args(argv) is None, argv
