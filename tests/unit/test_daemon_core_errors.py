"""An event the core raises on (a bug in dprive, e.g. an illegal state move)
must not be lost in the loop's "exception in callback": the daemon logs it
with its cause, counts it in the status, answers the client SERVFAIL rather
than silence, holds no reply for it, and goes on with the next event."""


from dprive.config import parse_settings
from dprive.core import wire
from dprive.core.upstream_state import IllegalUpstreamMove
from dprive.io.daemon import Daemon
from dprive.io.loop import Loop
from dprive.io.status import daemon_status
from dprive import log as dlog

from coreharness import make_query

CONFIG = """config dprive 'main'
\toption profile 'opportunistic'
\toption ca_bundle '%s'
config upstream
\toption name 'u'
\toption address '127.0.0.1'
"""


def boom(*args):
    raise IllegalUpstreamMove("no move 'up' from state 'idle'")


def make_daemon(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    daemon = Daemon(parse_settings(CONFIG % bundle, "dprive"))
    daemon.loop = Loop()
    return daemon


def close(daemon):
    """Cancel the connects a good query started, then close the loop."""
    for link in list(daemon.conns.values()):
        daemon._drop_conn(link.conn)
    daemon.loop.close()


def test_a_query_the_core_raises_on_gets_servfail_and_is_counted(tmp_path):
    daemon = make_daemon(tmp_path)
    try:
        daemon.forwarder.client_query = boom
        replies = []
        query = make_query(msg_id=0x4321)
        with dlog.capture(dlog.ERROR) as logged:
            daemon.client_query(query, replies.append, True)
        assert len(replies) == 1
        header = wire.parse_header(replies[0])
        assert header.id == 0x4321 and header.rcode() == wire.RCODE_SERVFAIL
        assert daemon.clients == {}, "no reply may be held for a query the core dropped"
        status = daemon_status(daemon)
        assert status["counters"]["core_errors"] == 1
        assert status["last_core_error"] == (
            "a client query: IllegalUpstreamMove: no move 'up' from state 'idle'")
        assert "IllegalUpstreamMove" in logged.getvalue(), "the traceback must reach the log"
    finally:
        close(daemon)


def test_the_daemon_goes_on_after_an_event_the_core_raised_on(tmp_path):
    daemon = make_daemon(tmp_path)
    try:
        real = daemon.forwarder.received
        daemon.forwarder.received = boom
        daemon.on_message(7, b"\x00" * 12)          # must not raise into the loop
        daemon.forwarder.received = real
        daemon.on_message(7, b"\x00" * 12)          # an unknown handle: dropped quietly
        assert daemon.core_errors == 1
        replies = []
        daemon.client_query(make_query(), replies.append, True)
        assert daemon.core_errors == 1 and len(daemon.clients) == 1, \
            "a good query after the error is taken by the core and waits for its answer"
    finally:
        close(daemon)



def test_upstream_ids_come_from_the_kernel_in_batches():
    from dprive.io.daemon import rand16_source
    reads = []

    def read(n):                       # 0x0100, 0x0302, ... in little-endian pairs
        reads.append(n)
        start = 2 * len(reads) * n
        return bytes((start + i) & 255 for i in range(n))
    rand16 = rand16_source(read, count=4)
    ids = [rand16() for _ in range(9)]
    assert reads == [8, 8, 8]            # one read per 4 IDs, none before it is needed
    assert ids[:4] == [0x1716, 0x1514, 0x1312, 0x1110]
    assert len(set(ids)) == 9
