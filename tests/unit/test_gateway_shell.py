"""gateway/server.py, the asyncio shell, on loopback with a fake engine (the
sessions of gatewayfake.py): it carries out the core's actions and keeps one
timer at the core's next_timer(), none at all when nothing is due (no poll)."""

import asyncio
import json
import socket

from gatewayfake import FakeSession, client_hello, finished, payloads

from dprive.core import dtls_record as dr
from dprive.gateway.config import GatewaySettings
from dprive.gateway.server import Gateway


class FakeEngine:
    """An engine module as session_base.py describes it, with fake sessions."""

    def __init__(self):
        self.made = []

    def make_server_context(self, cert_file, key_file, cookies, session_lifetime_s):
        self.cookies = cookies
        return "context"

    def install_ticket_keys(self, context, keys):
        return "fake engine"

    def ServerSession(self, context, addr, mtu, now, clock):
        session = FakeSession(addr, now, clock, rtx_s=0.25)
        self.made.append(session)
        return session


class FakeChoice:
    version = "fake 1.0"
    notes = []

    def __init__(self, engine):
        self.engine = engine

    def gateway_module(self):
        return self.engine

    def status(self):
        return {"engine": "fake"}


def settings(tmp_path):
    return GatewaySettings({
        "listen_address": ["127.0.0.1"], "listen_port": 0, "cert_file": "unused",
        "key_file": "unused", "resolver_address": "127.0.0.1", "resolver_port": 9,
        "ticket_key_file": str(tmp_path / "ticket.key"),
        "status_file": str(tmp_path / "status.json"), "status_interval_ms": 100,
    })


def test_the_shell_answers_through_the_core_and_arms_only_the_timers_due(tmp_path):
    engine = FakeEngine()
    gateway = Gateway(settings(tmp_path), FakeChoice(engine))

    async def run():
        await gateway.start()
        loop = asyncio.get_running_loop()
        port = gateway.listeners[0].sock.getsockname()[1]
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.setblocking(False)
        client.connect(("127.0.0.1", port))
        try:
            assert gateway._timer is None, "idle: no timer at all"
            await loop.sock_sendall(client, client_hello())
            hvr = await asyncio.wait_for(loop.sock_recv(client, 2048), 2)
            assert dr.records(hvr)[0][dr.TYPE] == dr.CT_HANDSHAKE and engine.made == []
            cookie = engine.cookies.make(client.getsockname(), gateway.now())
            await loop.sock_sendall(client, client_hello(cookie))
            await asyncio.wait_for(loop.sock_recv(client, 2048), 2)
            (session,) = engine.made
            assert gateway._timer_at == gateway.core.next_timer() <= session.rtx_at
            again = await asyncio.wait_for(loop.sock_recv(client, 2048), 2)
            assert session.retransmits == 1 and payloads(again, dr.CT_HANDSHAKE)
            await loop.sock_sendall(client, finished())
            await asyncio.wait_for(loop.sock_recv(client, 2048), 2)
            await asyncio.sleep(0.25)       # the status file's interval
            status = json.loads((tmp_path / "status.json").read_text())
            assert (status["sessions"], status["counters"]["handshakes"]) == (1, 1), status
            assert gateway._timer_at == session.last_active + gateway.settings.session_idle_s
        finally:
            client.close()
            await gateway.stop()

    asyncio.run(run())
    assert json.loads((tmp_path / "status.json").read_text())["running"] is False
