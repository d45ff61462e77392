"""control.py on the daemon's loop: one reply per line and in order, however
the requests are cut; a line past MAX_REQUEST refused and the connection
closed; a last request without its newline answered at EOF; the socket file
made 0660 and removed on stop."""

import json
import os
import socket
import stat

import pytest

from dprive.control import MAX_REQUEST, ControlServer
from dprive.io.loop import Loop


class Daemon:
    def __init__(self, loop):
        self.loop = loop
        self.reconnects = []

    def status(self):
        return {"version": "test"}

    def reconnect(self, name):
        self.reconnects.append(name)
        return name in (None, "u")


@pytest.fixture
def control(tmp_path):
    loop = Loop()
    server = ControlServer(Daemon(loop), str(tmp_path / "run" / "dprive.sock"))
    server.start()
    yield server
    server.stop()
    loop.close()


def talk(control, *chunks, shut=False):
    """Send the chunks, run the loop until the daemon closes or goes quiet; the reply lines."""
    loop = control.daemon.loop
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(control.path)
    sock.setblocking(False)
    got = [b"", False]

    def read():
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return False
        got[0] += data
        got[1] = not data
        return got[1]
    for chunk in chunks:
        sock.send(chunk)
        loop.run_once(0.02)
    if shut:
        sock.shutdown(socket.SHUT_WR)
    loop.run_until(read, 0.5)
    sock.close()
    return [json.loads(line) for line in got[0].splitlines()], got[1]


def test_replies_come_one_per_line_in_order_however_the_bytes_are_cut(control):
    replies, closed = talk(control, b'{"cmd": "sta', b'tus"}\n{"cmd": "reconnect", "upstream": "u"}\n{"cmd"',
                           b': "reconnect", "upstream": "x"}\nnot json\n')
    assert replies == [{"version": "test"}, {"ok": True}, {"error": "no upstream named 'x'"},
                       {"error": "request is not JSON"}]
    assert not closed, "the connection stays open for more requests"
    assert control.daemon.reconnects == ["u", "x"]


def test_a_request_past_the_limit_is_refused_and_the_connection_closed(control):
    replies, closed = talk(control, b'{"cmd": "status"}\n', b"x" * (MAX_REQUEST + 1))
    assert replies == [{"version": "test"}, {"error": "request too long"}] and closed
    replies, closed = talk(control, b" " * MAX_REQUEST + b'{"cmd": "status"}\n')
    assert replies == [{"error": "request too long"}] and closed


def test_a_last_request_without_newline_is_answered_at_eof(control):
    replies, closed = talk(control, b'{"cmd": "status"}', shut=True)
    assert replies == [{"version": "test"}] and closed


def test_the_socket_file_is_0660_and_gone_after_stop(control):
    assert stat.S_IMODE(os.stat(control.path).st_mode) == 0o660
    control.stop()
    assert not os.path.exists(control.path)
