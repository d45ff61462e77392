"""The LuCI tier: the real views of luci-app/ in headless Chromium (Debian's package),
against the stand-in runtime and backend of tests/luci/standin/ on 127.0.0.1, with a
real dprive daemon (and its real ubus object, on the python3-ubus stand-in of
tests/standins/) in front of a local DoT unbound.

Skipped with a message when chromium, unbound, kdig or the playwright package is missing.
"""

import os
import shutil
import signal
import tempfile

import pytest

from tests.tools import certs, common
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.ubusd_proc import FakeUbusd
from tests.tools.unbound import UnboundServer

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # reported by the skip below
    sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
REPO = common.REPO_ROOT
HTDOCS = REPO / "luci-app" / "htdocs"
ACL = REPO / "luci-app" / "root" / "usr" / "share" / "rpcd" / "acl.d" / "luci-app-dprive.json"
SCREENSHOTS = REPO / "tests" / "luci" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("chromium (apt-get install chromium, or `make deps`)")
    if sync_playwright is None:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    missing += ["%s (`make deps`)" % t for t in common.missing_tools(["unbound", "kdig", "openssl"])]
    return missing


def pytest_collection_modifyitems(config, items):
    missing = _missing()
    if not missing:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if os.path.abspath(str(item.fspath)).startswith(here):
            item.add_marker(pytest.mark.skip(reason="LuCI browser tests need " + ", ".join(missing)))


@pytest.fixture(scope="session")
def luci_pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("luci-pki"))


@pytest.fixture(scope="session")
def luci_unbound(tmp_path_factory, luci_pki):
    server = UnboundServer(tmp_path_factory.mktemp("luci-unbound"), luci_pki)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Daemon(DpriveProcess):
    """dprive with its ubus object published on the python3-ubus stand-in."""

    def start(self, timeout_s=15.0):
        super().start(timeout_s)
        # published by the daemon's ubus thread on the fake ubusd (tests/standins/ubusd.py)
        common.wait_until(lambda: self.bus.lookup("dprive"), 10, what="the ubus object")
        return self

    def restart_keeping_config(self):
        """Start again on the config file as it is now (Apply may have changed it)."""
        self.write_config = lambda: self.conf_path
        return self.start()


@pytest.fixture
def make_daemon(tmp_path, luci_pki, luci_unbound):
    started = []

    def make(upstream_names=("local",), **main_options):
        # each on its own loopback address: the daemon wants distinct address+port pairs
        ups = [upstream(n, luci_unbound.tls_port, address="127.0.0.%d" % (i + 1))
               for i, n in enumerate(upstream_names)]
        dp = Daemon(tmp_path / "dprive", luci_pki.ca_cert, ups,
                    options=dict({"query_timeout_ms": 2500, "connect_timeout_ms": 1500}, **main_options))
        dp.bus = FakeUbusd(tmp_path / ("ubusd%d" % len(started))).start()
        dp.ubus_path = dp.bus.socket_path
        dp.extra_env = dp.bus.env()
        started.append(dp)
        return dp.start()

    try:
        yield make
    finally:
        for dp in started:
            dp.stop()
            dp.bus.stop()


@pytest.fixture
def make_luci():
    from tests.luci.standin.server import Backend, StandinServer
    servers = []

    def make(dp, luci_base=True):
        def on_apply(configs):
            if dp.running() and "dprive" in configs:
                os.kill(dp.pid, signal.SIGHUP)
        backend = Backend(ACL, {"dprive": dp.conf_path}, dp.ubus_path, on_apply=on_apply,
                          luci_base=luci_base)
        server = StandinServer(backend, HTDOCS).start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def browser_context():
    profile = tempfile.mkdtemp(prefix="dprive-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1200, "height": 900})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(15000)
    page.errors = []
    page.dialogs = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()
    page.on("dialog", on_dialog)
    # Every request is recorded (not routed: a route handler would stall the page while the
    # test blocks in Python) and must have gone to the stand-in on 127.0.0.1.
    page.requests = []
    page.on("request", lambda req: page.requests.append(req.url))
    try:
        yield page
        elsewhere = [u for u in page.requests if not u.startswith("http://127.0.0.1:")]
        assert elsewhere == [], "requests off loopback: %s" % elsewhere
    finally:
        page.close()
