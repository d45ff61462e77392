"""io/connect.py's Opening, on the daemon's loop: a TLS session that cannot
start (the engine raised making its client) reaches the core as a failed
connect with the cause, also with debug logging on (its traceback goes to
the log); a refused TCP connect says so; a cancelled Opening reports nothing."""

import socket

import pytest

from dprive import log as dlog
from dprive.config import parse_settings
from dprive.io.connect import Opening
from dprive.io.daemon import Daemon
from dprive.io.loop import Loop

from coreharness import make_query

CONFIG = """config dprive 'main'
\toption profile 'opportunistic'
\toption ca_bundle '%s'
config upstream
\toption name 'u'
\toption address '127.0.0.1'
\toption port '%d'
"""


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    yield sock
    sock.close()


def make_daemon(tmp_path, port):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    daemon = Daemon(parse_settings(CONFIG % (bundle, port), "dprive"))
    daemon.loop = Loop()
    return daemon


def reason(daemon):
    return daemon.status()["upstreams"][0]["last_close_reason"] or ""


def close(daemon):
    for link in list(daemon.conns.values()):
        daemon._drop_conn(link.conn)
    daemon.loop.close()


def test_a_session_that_cannot_start_is_a_failed_connect_with_its_cause(tmp_path, listener):
    daemon = make_daemon(tmp_path, listener.getsockname()[1])

    def broken(*args):
        raise LookupError("unknown encoding: idna")
    daemon.auth.client_for = broken
    try:
        with dlog.capture(dlog.DEBUG) as logged:
            daemon.client_query(make_query(), lambda msg: None, True)
            assert daemon.loop.run_until(lambda: "idna" in reason(daemon), 5), reason(daemon)
        assert "LookupError: unknown encoding: idna" in reason(daemon)
        assert "TLS session could not start" in logged.getvalue() and "Traceback" in logged.getvalue()
        assert "exception in callback" not in logged.getvalue()
    finally:
        close(daemon)


def test_a_refused_connect_says_so(tmp_path, listener):
    port = listener.getsockname()[1]
    listener.close()
    daemon = make_daemon(tmp_path, port)
    try:
        daemon.client_query(make_query(), lambda msg: None, True)
        assert daemon.loop.run_until(lambda: "refused" in reason(daemon).lower(), 5), reason(daemon)
    finally:
        close(daemon)


def test_a_cancelled_opening_reports_nothing(tmp_path, listener):
    daemon = make_daemon(tmp_path, listener.getsockname()[1])
    try:
        seen = []
        daemon.failed_to_start = lambda *args: seen.append(args)
        daemon.opened = lambda *args: seen.append(args)
        upstream = daemon.upstreams[0]

        class Action:
            handle, transport, resume, tfo = 99, "tls", False, False
        connecting = Opening(daemon, upstream, Action())
        connecting.start()
        connecting.cancel()        # while the TCP connect is on its way
        not_started = Opening(daemon, upstream, Action())
        not_started.cancel()       # before the loop ran start() (io/daemon.py call_soon)
        not_started.start()
        daemon.loop.run_once(0.2)
        assert seen == [] and connecting.sock is None and not_started.sock is None
    finally:
        close(daemon)
