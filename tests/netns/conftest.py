"""Fixtures for the netns tier (root only; see README.md here).

- netns_pki (session): the throwaway PKI (tests.tools.certs).
- net (module): a tests.tools.netlab.TestNetwork with unbound (DoT 853,
  plain 53, persistent ticket keys) and the DoT relay (8853) started in the
  upstream namespace. Skips the module with the reason when the machine
  cannot build it.
- clean_nat (function, autouse): after each test the NAT is as built: no
  INVALID rule, plain MASQUERADE, tcp_loose 0, conntrack flushed.
- figures: tests add lines ("what: value") that are printed at the end of
  the run, so measured round trips are seen without -s.
SIGTERM during the tier takes the network down and stops pytest
(KeyboardInterrupt); a run killed outright (SIGKILL) leaves namespaces and
servers that the next run removes (TestNetwork.start cleans up after dead
runs; the delay line exits by itself when its parent is gone).
"""

import signal
import uuid
from pathlib import Path

import pytest

from tests.tools import certs, netlab

_FIGURES = []


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.netns)


def pytest_configure(config):
    config.addinivalue_line("markers", "netns: needs root: namespaces, TAP delay line, NAT")


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("netns figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def figures():
    return _FIGURES


@pytest.fixture(scope="session")
def netns_pki(tmp_path_factory):
    return certs.make_test_pki(tmp_path_factory.mktemp("netns-pki"))


def _interrupt_on_sigterm(network):
    """SIGTERM: take the network down at once (an exception raised from a
    signal handler can land in a __del__ and be ignored), then stop pytest."""
    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        network.close()
        raise KeyboardInterrupt("SIGTERM")
    return signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="module")
def net(tmp_path_factory, netns_pki):
    reason = netlab.check_available()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("netns-%s" % uuid.uuid4().hex[:6])
    network = netlab.TestNetwork(workdir, netns_pki)
    previous = _interrupt_on_sigterm(network)
    try:
        try:
            network.start()
        except netlab.NetlabUnavailable as exc:
            pytest.skip(str(exc))
        network.start_unbound()
        network.start_relay()
        yield network
    finally:
        network.close()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(autouse=True)
def clean_nat(request):
    yield
    if "net" not in request.fixturenames:
        return
    network = request.getfixturevalue("net")
    if network.closed:
        return
    network.reset_nat()
