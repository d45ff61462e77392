"""The control socket: a Unix stream socket speaking one JSON object per line.

Requests:  {"cmd": "status"}
           {"cmd": "reconnect"}                     every upstream
           {"cmd": "reconnect", "upstream": NAME}   one upstream
Replies:   one JSON object per request; failures as {"error": "..."}.
`dprive status`, the ubus object and LuCI all sit on this API.
"""

import os

from dprive import log as dlog
from dprive.io.transport import Protocol, unix_server

log = dlog.getLogger("dprive")
MAX_REQUEST = 4096


class ControlServer:
    def __init__(self, daemon, path):
        self.daemon = daemon
        self.path = path
        self.server = None

    def start(self):
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)   # left by a daemon that did not stop cleanly
        self.server = unix_server(self.daemon.loop, lambda: _Client(self), self.path)
        os.chmod(self.path, 0o660)

    def stop(self):
        if self.server is not None:
            self.server.close()
            self.server = None
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def handle(self, line):
        import json
        try:
            request = json.loads(line)
        except ValueError:
            return {"error": "request is not JSON"}
        if not isinstance(request, dict):
            return {"error": "request must be a JSON object"}
        cmd = request.get("cmd")
        if cmd == "status":
            return self.daemon.status()
        if cmd == "reconnect":
            name = request.get("upstream")
            if name is not None and not isinstance(name, str):
                return {"error": "upstream must be a name"}
            if not self.daemon.reconnect(name):
                return {"error": "no upstream named %r" % name}
            log.info("reconnect requested for %s", name or "every upstream")
            return {"ok": True}
        return {"error": "unknown command %r" % (cmd,)}


class _Client(Protocol):
    """One connection: a reply per line, in order. A line longer than
    MAX_REQUEST is refused and the connection closed; a last request without
    its newline is answered at EOF (as asyncio's readline() returned it)."""

    def __init__(self, server):
        self.server = server
        self.transport = None
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while not self.transport.is_closing():
            line, newline, rest = self.buffer.partition(b"\n")
            if len(line) > MAX_REQUEST:
                self.transport.write(b'{"error": "request too long"}\n')
                self.transport.close()
                return
            if not newline:
                return
            self.buffer = rest
            self._answer(line + newline)

    def eof_received(self):
        if self.buffer:
            self._answer(self.buffer)
            self.buffer = b""
        return False

    def _answer(self, line):
        import json     # here, not at start: json (and re) only once a client asks
        self.transport.write(json.dumps(self.server.handle(line)).encode() + b"\n")
