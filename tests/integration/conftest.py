"""Fixtures for the loopback integration tests.

- pki (session): a throwaway CA, the server certificate for dns.test /
  127.0.0.1, and a wrong CA; right and wrong SPKI pins.
- unbound (session): one unbound serving the test data over DoT and plain DNS
  on free loopback ports, queries logged (see tests/tools/unbound.py).
- make_unbound (function): more unbound instances, for tests that kill one.
- make_dprive (function): start dprive with given upstreams and options;
  `dprive` is the default instance in front of `unbound`.
Every process is stopped at the end of its scope, also when a test fails; a
failing test gets the tail of dprive's log in its report.
"""

import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.tools import certs, common
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.gateway_proc import GatewayProcess
from tests.tools.unbound import UnboundServer

REQUIRED_TOOLS = ["unbound", "kdig", "dnsperf", "openssl"]
PACKAGE_OF = {"unbound": "unbound", "kdig": "knot-dnsutils", "dnsperf": "dnsperf",
              "openssl": "openssl"}

# Short timeouts keep failing cases quick; each test stays within seconds.
TEST_OPTIONS = {
    "query_timeout_ms": 2500,
    "connect_timeout_ms": 1500,
    "tcp_client_idle_ms": 2000,
}
# DPRIVE_TEST_TLS_ENGINE=mbedtls runs the whole tier on the mbedTLS DoT engine
# (with DPRIVE_MBEDTLS_LIBDIR for the library); unset, the default (openssl).
if os.environ.get("DPRIVE_TEST_TLS_ENGINE"):
    TEST_OPTIONS["tls_engine"] = os.environ["DPRIVE_TEST_TLS_ENGINE"]


def pytest_collection_modifyitems(config, items):
    missing = common.missing_tools(REQUIRED_TOOLS)
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.integration)
            if missing:
                item.add_marker(pytest.mark.skip(
                    reason="integration tests need %s (apt-get install %s, or `make deps`)" % (
                        ", ".join(missing), " ".join(PACKAGE_OF[m] for m in missing))))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def unbound(tmp_path_factory, pki):
    server = UnboundServer(tmp_path_factory.mktemp("unbound"), pki, log_queries=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_unbound(tmp_path, pki):
    started = []

    def make(**kw):
        name = "unbound%d" % (len(started) + 1)
        server = UnboundServer(tmp_path / name, pki, name=name, **kw)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def make_dprive(request, tmp_path, pki):
    started = []

    def make(upstreams, ca_bundle=None, **options):
        opts = dict(TEST_OPTIONS)
        opts.update(options)
        name = "dprive%d" % (len(started) + 1)
        proc = DpriveProcess(tmp_path / name, ca_bundle or pki.ca_cert, upstreams,
                             options=opts, name=name)
        started.append(proc)
        proc.start()
        return proc

    try:
        yield make
    finally:
        for proc in started:
            status = proc.stop()
            if _failed(request):
                sys.stdout.write("\n---- %s (exit %s) log tail ----\n%s\n" % (
                    proc.name, status, proc.log_tail(60)))


@pytest.fixture
def dprive(make_dprive, unbound):
    """dprive in front of the session unbound, authenticated by name (strict)."""
    return make_dprive([upstream("local-unbound", unbound.tls_port)])


@pytest.fixture
def unique_name():
    """make(tag) -> a fresh name under test., to find one query in unbound's
    log. unbound answers it NXDOMAIN (only the fixed test data exists)."""
    def make(tag):
        return "%s-%s.test." % (tag, uuid.uuid4().hex[:12])

    return make


@pytest.fixture
def gateway(tmp_path, pki, unbound):
    """`dprive gateway` (DNS over DTLS, cookie exchange demanded) in front of the session unbound."""
    gw = GatewayProcess(tmp_path / "gw", pki, unbound.plain_port, {"require_cookie": "1"})
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()
