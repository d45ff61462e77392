"""`dprive gateway`: DNS over DTLS (RFC 8094) in front of any resolver; the asyncio shell.

Every decision is the core's (core.py, whose docstring says what happens to
a datagram, and peer_state.py): this module opens the sockets (io/lan.py's
DatagramListener, as the daemon's), the resolver client (resolver.py) and
the server context of the DTLS engine (tls/dtls_engines.py chooses),
reports datagrams, answers and the timer to the core with the time, and
carries out the actions it returns (actions.py). The timer is one call_later
at the core's next_timer(), moved whenever that changes: no polling.

Round trips for a new client, counted from its first ClientHello: with the
cookie demanded, full handshake 3 (ClientHello, HelloVerifyRequest; ClientHello
with cookie, server flight; client Finished, server Finished) and the first
answer in the 4th; a resumption 2, the first query riding with the client's
Finished, so its answer comes in the 3rd. With require_cookie off, one less each.
"""

import asyncio
import logging
import os
import signal
import time

from dprive import __version__
from dprive.errors import StartupError
from dprive.gateway.actions import Log, Resolve, SendDatagrams, WriteStatus, gateway_config
from dprive.gateway.cookies import CookieJar
from dprive.gateway.core import GatewayCore
from dprive.gateway.resolver import ResolverClient
from dprive.gateway.session_base import ContextError
from dprive.gateway.status import StatusFile
from dprive.gateway.tickets import TicketKeyError, load_ticket_keys
from dprive.io.lan import DatagramListener, udp_socket
from dprive.tls import dtls_engines, dtls_support

__all__ = ["Gateway", "StartupError", "run_gateway"]

log = logging.getLogger("dprive.gateway")

COOKIE_LIFETIME_S = 30.0
RETRY_AFTER_ERROR_S = 0.1


class _Counters:
    """The core's counters as the shell and the resolver client count into
    them: each change tells the core that the status changed."""

    def __init__(self, gateway):
        self.gateway = gateway

    def __getitem__(self, name):
        return self.gateway.core.counters[name]

    def __setitem__(self, name, value):
        self.gateway.core.counters[name] = value
        self.gateway.core.changed()
        self.gateway.schedule()


class Gateway:
    def __init__(self, settings, choice=None):
        """`choice`: the tls.dtls_engines.Choice for the gateway (made here if not given)."""
        self.settings = settings
        self.choice = choice or dtls_engines.choose(dtls_support.GATEWAY, settings.dtls_engine)
        self.engine = self.choice.gateway_module()      # gateway/session_base.py: its API
        cookies = CookieJar(os.urandom(32), COOKIE_LIFETIME_S)
        try:
            self.context = self.engine.make_server_context(settings.cert_file, settings.key_file,
                                                           cookies, settings.session_lifetime_s)
        except ContextError as err:
            raise StartupError(str(err))
        self.ticket_keys, self.ticket_note = self._ticket_keys()
        self.core = GatewayCore(gateway_config(settings), cookies, self._new_session)
        self.counters = _Counters(self)
        self.listeners = []
        self.tasks = set()
        self.status_file = StatusFile(settings.status_file, settings.status_interval_ms / 1000.0)
        self.loop = self.resolver = self.stopping = self._timer = self._timer_at = None

    def _ticket_keys(self):
        try:
            keys = load_ticket_keys(self.settings.ticket_key_file)
        except TicketKeyError as err:
            return "process", str(err)
        why = self.engine.install_ticket_keys(self.context, keys)
        if why is None:
            return "file", None
        return "process", why

    def now(self):
        """The one clock of the core, the sessions and the cookies."""
        return time.monotonic()

    def _new_session(self, addr, now):
        return self.engine.ServerSession(self.context, addr, self.settings.max_datagram_bytes,
                                         now, self.now)

    # ---- events into the core ---------------------------------------------------

    def _receive(self, data, addr, listener):
        addr = addr[:2]        # IPv6: (ip, port) without flow info and scope
        try:
            actions = self.core.datagram(data, addr, listener, self.now())
        except Exception:   # noqa: BLE001 - one bad datagram must not stop the gateway
            log.exception("datagram from %s:%d dropped", addr[0], addr[1])
            self.counters["bad_datagrams"] += 1
            return
        self.apply(actions)

    def _on_timer(self):
        self._timer = self._timer_at = None
        try:
            self.apply(self.core.timer(self.now()))
        except Exception:   # noqa: BLE001 - the timers must keep running
            log.exception("timer")
            # Not at once: the deadline that failed is still due.
            self._timer = self.loop.call_later(RETRY_AFTER_ERROR_S, self._on_timer)

    async def _resolve(self, action):
        try:
            answer = await self.resolver.query(action.msg, action.question_end)
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - every Resolve gets its answer event (SERVFAIL)
            log.exception("resolver")
            answer = None
        self.apply(self.core.answer(action.token, answer, self.now()))

    # ---- actions out of the core ------------------------------------------------

    def apply(self, actions):
        for action in actions:
            if isinstance(action, SendDatagrams):
                failed = action.listener.send(action.addr, action.datagrams)
                if failed:
                    self.counters["send_errors"] += failed
            elif isinstance(action, Resolve):
                task = self.loop.create_task(self._resolve(action))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(action, WriteStatus):
                self._write_status()
            elif isinstance(action, Log):
                log.log(action.level, "%s", action.text)
        self.schedule()

    def schedule(self):
        """One timer, at the core's next_timer()."""
        if self.loop is None or self.stopping is None or self.stopping.is_set():
            return
        when = self.core.next_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self.loop.call_later(max(0.0, when - self.now()), self._on_timer)

    def _write_status(self, force=False):
        now = self.now()
        error = self.status_file.maybe_write(self.status(), now, force=force)
        self.core.status_written(now)
        if error:
            log.warning("%s", error)

    # ---- status and life cycle --------------------------------------------------

    def status(self):
        status = {
            "version": __version__,
            "pid": os.getpid(),
            "running": self.stopping is not None and not self.stopping.is_set(),
            "listen": ["%s:%d" % (a, self.settings.listen_port) for a in self.settings.listen_address],
            "resolver": "%s:%d" % (self.settings.resolver_address, self.settings.resolver_port),
            "require_cookie": self.settings.require_cookie,
            "ticket_keys": self.ticket_keys,
            "ticket_keys_note": self.ticket_note,
            "dtls": self.choice.status(),
        }
        status.update(self.core.status())
        return status

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        settings = self.settings
        for address in settings.listen_address:
            try:
                sock = udp_socket(address, settings.listen_port)
            except OSError as err:
                raise StartupError("cannot listen on %s port %d: %s"
                                   % (address, settings.listen_port, err.strerror or err))
            self.listeners.append(DatagramListener(self.loop, sock, self._receive))
        try:
            self.resolver = ResolverClient(self.loop, settings.resolver_address,
                                           settings.resolver_port,
                                           settings.resolver_timeout_ms / 1000.0, self.counters)
        except OSError as err:
            raise StartupError("cannot reach resolver %s port %d: %s" % (
                settings.resolver_address, settings.resolver_port, err.strerror or err))
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stopping.set)
        self.loop.add_signal_handler(signal.SIGHUP, lambda: log.warning(
            "SIGHUP: reloading is not supported; restart the gateway to apply changes"))
        if self.ticket_keys == "file":
            log.info("session tickets: keys from %s (resumption survives a restart)",
                     settings.ticket_key_file)
        else:
            log.warning("session tickets: keys of this process only (resumption does not "
                        "survive a restart): %s", self.ticket_note)
        for note in self.choice.notes:
            log.warning("DTLS: %s", note)
        log.info("dprive %s gateway: DNS over DTLS (%s) on %s port %d, resolver %s port %d, "
                 "cookie exchange %s", __version__, self.choice.version, ", ".join(
                     settings.listen_address), settings.listen_port, settings.resolver_address,
                 settings.resolver_port, "demanded" if settings.require_cookie else "off")
        self._write_status(force=True)
        self.schedule()

    async def stop(self):
        if self.stopping is not None:
            self.stopping.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.apply(self.core.stop())
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for listener in self.listeners:
            listener.close()
        if self.resolver is not None:
            self.resolver.close()
        self._write_status(force=True)
        log.info("gateway stopped; counters: %s", " ".join(
            "%s=%d" % item for item in self.core.counters.items()))

    async def serve(self):
        try:
            await self.start()
            await self.stopping.wait()
        finally:
            await self.stop()


def run_gateway(settings, choice=None):
    logging.basicConfig(level=getattr(logging, settings.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        gateway = Gateway(settings, choice)
        asyncio.run(gateway.serve())
    except StartupError as err:
        log.error("%s", err)
        return 1
    return 0
