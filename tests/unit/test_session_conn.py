"""The end-of-session rules the TLS and DTLS connections share (io/session_conn.py),
run on both: an end before the handshake is a connect failure naming the stage,
after it a close saying how; each session reports its end once and nothing
after it; an answer that makes the core give the session up stops the rest of
that read; close() from the daemon says close_notify and reports nothing."""

import errno

import pytest

from dprive.core.forwarder import CLOSE_NOTIFY, FIN, RST
from dprive.core.framing import frame
from dprive.io.dtls_conn import DtlsConnection
from dprive.io.upstream_conn import UpstreamConnection
from dprive.tls.engine_api import AuthError, TlsError

HANDLE = ("session", 7)      # opaque to the connections: whatever the daemon gave


class Events:
    """The daemon's side: every event, in order, with the handle it came with."""

    def __init__(self):
        self.seen = []
        self.on_first_message = None

    def on_connected(self, handle, info):
        self.seen.append(("connected", handle, info["tfo"]))

    def on_connect_failed(self, handle, reason, auth_failure=False, heard=True, transport="tls"):
        self.seen.append(("connect_failed", handle, reason, auth_failure, heard, transport))

    def on_alert(self, handle):
        self.seen.append(("alert", handle))

    def on_message(self, handle, msg):
        self.seen.append(("message", handle, msg))
        if self.on_first_message is not None:
            hook, self.on_first_message = self.on_first_message, None
            hook()

    def on_garbled(self, handle, reason):
        self.seen.append(("garbled", handle, reason))

    def on_closed(self, handle, reason, graceful, kind):
        self.seen.append(("closed", handle, reason, graceful, kind))

    def ends(self):
        return [event for event in self.seen if event[0] in ("connect_failed", "closed")]


class Socket:
    def setsockopt(self, *args):
        pass

    def getsockopt(self, *args):
        raise OSError(errno.ENOPROTOOPT, "no TCP_INFO here")


class Transport:
    """A stream or datagram transport that records what left and how it ended."""

    def __init__(self):
        self.sent = []
        self.ended = None

    def write(self, data):
        self.sent.append(data)

    def sendto(self, datagram):
        self.sent.append(datagram)

    def get_extra_info(self, name):
        return Socket() if name == "socket" else None

    def is_closing(self):
        return self.ended is not None

    def close(self):
        self.ended = self.ended or "close"

    def abort(self):
        self.ended = self.ended or "abort"


class Engine:
    """A TLS or DTLS engine whose receive() plays a script: each step is an
    exception to raise or (payload, just_up, peer_closed)."""

    def __init__(self, datagrams, script=()):
        self.datagrams = datagrams
        self.script = list(script)
        self.established = False
        self.closed = False

    def _out(self, data):
        return [data] if self.datagrams else data

    def start(self):
        return self._out(b"hello")

    def receive(self, data):
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if step[1]:
            self.established = True
        return step

    def pending_output(self):
        return [] if self.datagrams else b""

    def send(self, data):
        return self._out(b"rec")

    def close(self):
        self.closed = True
        return self._out(b"close_notify")

    def info(self):
        return {"tls_version": "fake"}

    def tickets_follow_handshake(self):
        return True

    def session(self):
        return None

    def resumed(self):
        return False

    def timeout_s(self):
        return None


class Tls:
    """How the test speaks to an UpstreamConnection."""
    transport = "tls"
    handshake_stage = "during the TLS handshake: "
    refused_stage = ""        # TLS's own errors name the handshake ("TLS handshake failed: ...")

    def __init__(self, script):
        self.events = Events()
        self.engine = Engine(False, script)
        self.conn = UpstreamConnection(self.events, HANDLE, self.engine)
        self.wire = Transport()
        self.conn.connection_made(self.wire)

    @staticmethod
    def payload(*messages):
        return b"".join(frame(msg) for msg in messages)

    def feed(self):
        self.conn.data_received(b"record")

    def server_went(self):
        """The server's side went away (FIN on TCP); (reason, graceful once up, kind)."""
        self.conn.eof_received()
        return "server closed the connection (FIN)", True, FIN

    def socket_gone(self):
        self.conn.connection_lost(ConnectionResetError(errno.ECONNRESET, "reset"))
        return "connection reset by peer (RST)", RST

    def unheard_failure(self):
        """The transport failed before any byte came back: the reason expected."""
        self.conn.connection_lost(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
        return "TCP connect failed: ECONNREFUSED (Connection refused)"


class Dtls(Tls):
    transport = "dtls"
    handshake_stage = "during the DTLS handshake: "
    refused_stage = "during the DTLS handshake: "

    def __init__(self, script):
        self.events = Events()
        self.engine = Engine(True, script)
        self.conn = DtlsConnection(self.events, HANDLE, self.engine)
        self.wire = Transport()
        self.conn.connection_made(self.wire)

    @staticmethod
    def payload(*messages):
        return list(messages)

    def feed(self):
        self.conn.datagram_received(b"\x17\xfe\xfd record", ("192.0.2.1", 853))

    def server_went(self):
        self.conn.error_received(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
        return "Connection refused (ICMP)", False, None

    def socket_gone(self):
        self.conn.connection_lost(None)
        return "socket closed", None

    def unheard_failure(self):
        self.conn.error_received(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
        return "during the DTLS handshake: Connection refused (ICMP)"


KINDS = [Tls, Dtls]


@pytest.fixture(params=KINDS, ids=lambda kind: kind.transport)
def kind(request):
    return request.param


def test_an_end_before_any_reply_is_one_connect_failure_naming_the_stage(kind):
    side = kind([])
    reason = side.unheard_failure()
    side.socket_gone()      # the transport's own connection_lost follows
    assert side.events.ends() == [("connect_failed", HANDLE, reason, False, False, side.transport)]


def test_an_end_during_the_handshake_is_a_connect_failure_in_the_handshake(kind):
    side = kind([(kind.payload(), False, False)])
    side.feed()             # the server answered, the handshake is not done
    reason, _, _ = side.server_went()
    side.socket_gone()
    assert side.events.seen == [("connect_failed", HANDLE, side.handshake_stage + reason,
                                 False, True, side.transport)]


def test_an_end_after_the_handshake_is_one_close_saying_how(kind):
    side = kind([(kind.payload(), True, False)])
    side.feed()
    reason, graceful, kind_of_end = side.server_went()
    side.socket_gone()
    side.feed()             # nothing after the end, not even a read
    assert side.events.seen == [("connected", HANDLE, False),
                                ("closed", HANDLE, reason, graceful, kind_of_end)]


def test_a_transport_lost_after_the_handshake_is_a_close_with_its_kind(kind):
    side = kind([(kind.payload(), True, False)])
    side.feed()
    reason, kind_of_end = side.socket_gone()
    assert side.events.ends() == [("closed", HANDLE, reason, False, kind_of_end)]


def test_an_authentication_failure_is_a_connect_failure_that_says_so(kind):
    side = kind([AuthError("certificate rejected: unknown CA")])
    side.feed()
    side.socket_gone()
    assert side.events.seen == [("connect_failed", HANDLE, "authentication failed: certificate rejected: unknown CA",
                                 True, True, side.transport)]
    assert side.wire.ended is not None


def test_a_handshake_the_engine_refuses_is_a_connect_failure_in_its_words(kind):
    side = kind([(kind.payload(), False, False), TlsError("handshake failed: no shared cipher")])
    side.feed()
    side.feed()
    side.socket_gone()
    assert side.events.seen == [("connect_failed", HANDLE, side.refused_stage + "handshake failed: no shared cipher",
                                 False, True, side.transport)]


def test_a_record_error_after_the_handshake_is_a_close_in_the_engines_words(kind):
    side = kind([(kind.payload(), True, False), TlsError("bad record mac")])
    side.feed()
    side.feed()
    side.socket_gone()
    assert side.events.ends() == [("closed", HANDLE, "bad record mac", False, None)]


def test_close_notify_comes_after_the_messages_of_its_read(kind):
    side = kind([(kind.payload(b"one", b"two"), True, True)])
    side.feed()
    side.socket_gone()
    assert side.events.seen == [("connected", HANDLE, False),
                                ("message", HANDLE, b"one"), ("message", HANDLE, b"two"),
                                ("closed", HANDLE, "server sent close_notify", True, CLOSE_NOTIFY)]


def test_an_answer_that_makes_the_core_close_the_session_ends_the_read(kind):
    side = kind([(kind.payload(b"one", b"two"), True, True)])
    side.events.on_first_message = side.conn.close
    side.feed()
    side.socket_gone()
    assert side.events.seen == [("connected", HANDLE, False), ("message", HANDLE, b"one")]
    assert side.engine.closed, "the daemon's close says close_notify on a session that is up"
    assert side.wire.sent[-1] == b"close_notify"


def test_the_daemons_close_reports_nothing_and_before_the_handshake_sends_no_close_notify(kind):
    side = kind([])
    side.conn.close()
    side.unheard_failure()
    side.socket_gone()
    assert side.events.seen == []
    assert not side.engine.closed
    assert side.wire.ended == "close"
