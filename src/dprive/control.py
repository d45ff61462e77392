"""The control socket: a Unix stream socket speaking one JSON object per line.

Requests:  {"cmd": "status"}
           {"cmd": "reconnect"}                     every upstream
           {"cmd": "reconnect", "upstream": NAME}   one upstream
Replies:   one JSON object per request; failures as {"error": "..."}.
`dprive status`, the ubus object and LuCI all sit on this API.
"""

import asyncio
from dprive import log as dlog
import os

log = dlog.getLogger("dprive")
MAX_REQUEST = 4096


class ControlServer:
    def __init__(self, daemon, path):
        self.daemon = daemon
        self.path = path
        self.server = None

    async def start(self):
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)   # left by a daemon that did not stop cleanly
        self.server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_REQUEST)
        os.chmod(self.path, 0o660)

    async def stop(self):
        if self.server is not None:
            self.server.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass

    async def _serve(self, reader, writer):
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b'{"error": "request too long"}\n')
                    break
                if not line:
                    break
                import json     # here, not at start: json (and re) only once a client asks
                writer.write(json.dumps(self.handle(line)).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

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
