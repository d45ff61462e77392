"""The I/O shell: listeners, upstream connections, the core's timer, signals,
on the daemon's own poll loop (io/loop.py; no asyncio on this path).

It owns no protocol decisions: every event goes to the core Forwarder and the
actions it returns are carried out here (see core/actions.py for the list).
Sessions are the core's handles; upstreams are known to the core by their key
(io/core_settings.py upstream_keys), so a reload moves nothing here.
"""

from dprive import log as dlog
import os
import signal
import socket
import struct
import time

from dprive import __version__
from dprive.control import ControlServer
from dprive.core import forwarder as core
from dprive.core import wire
from dprive.io.lan import LAN_COUNTERS, TcpListenerFactory, UdpListener, udp_socket
from dprive.io.core_settings import forwarder_config, upstream_keys, upstream_lists
from dprive.io.connect import Opening, session_key
from dprive.io.loop import Loop
from dprive.io.policy import AuthPolicy, StartupError
from dprive.io.reload import reload
from dprive.io.status import daemon_status
from dprive.io.transport import tcp_server
from dprive.tls.sessions import SessionStore
from dprive.ubus_object import UbusObject

log = dlog.getLogger("dprive")


class Link:
    """What the daemon holds for one session handle: the upstream's config and
    the connection (an io/connect.py Opening while it is being set up)."""

    def __init__(self, upstream, conn):
        self.upstream = upstream
        self.conn = conn


def rand16_source(read=os.urandom, count=256):
    """Upstream query IDs from the kernel's random source, `count` at a time:
    no `random` module (its import reaches hashlib, which wants python3-logging
    on a router without python3-openssl) and one getrandom() per 256 queries."""
    pool = []

    def rand16():
        if not pool:
            pool.extend(struct.unpack("<%dH" % count, read(2 * count)))
        return pool.pop()
    return rand16


class Daemon:
    def __init__(self, settings):
        self.settings = settings
        self.upstreams = list(settings.upstreams)
        self.by_key = upstream_keys(settings)
        self.auth = AuthPolicy(settings)
        self.forwarder = core.Forwarder(
            forwarder_config(settings), [u.name for u in self.upstreams],
            rand16_source(), **upstream_lists(settings))
        self.sessions = SessionStore()
        self.lan_counters = dict((name, 0) for name in LAN_COUNTERS)
        self.conns = {}          # the core's session handle -> Link
        self.clients = {}        # key -> reply callable
        self.dirty = set()       # UpstreamConnections with queued plaintext
        self.session_reads = 0   # TLS sessions read for resumption
        self.core_errors = 0     # events the core raised on (see _event)
        self.last_core_error = None
        self._next_key = 0
        self._timer = None
        self._timer_at = None
        self.loop = None
        self.started = time.time()
        self.servers = []
        self.tcp_factory = None
        self.control = None
        self.ubus = None

    def now(self):
        return self.loop.time() * 1000.0

    # ---- events into the core (the connections report them by handle) --------

    def client_query(self, msg, reply, udp):
        self._next_key += 1
        key = self._next_key
        self.clients[key] = reply
        if not self._event("a client query", self.forwarder.client_query, key, msg, self.now(), udp):
            self._answer_after_error(key, msg)

    def on_connected(self, handle, info):
        info = dict(info)
        link = self.conns.get(handle)
        if link is not None:
            info["auth"] = self.auth.auth_label(link.upstream)
        self._event("session up", self.forwarder.connected, handle, self.now(), info)

    def on_connect_failed(self, handle, reason, auth_failure=False, heard=True, transport="tls"):
        # `transport` is the connection's; the core knows the session's own.
        self._forget_conn(handle)
        self._event("connect failed", self.forwarder.connect_failed, handle, reason, self.now(),
                    auth_failure, heard)

    def on_alert(self, handle):
        self._event("DTLS alert", self.forwarder.alert, handle, self.now())

    def on_message(self, handle, msg):
        self._event("upstream message", self.forwarder.received, handle, msg, self.now())

    def on_garbled(self, handle, reason):
        self._event("garbled stream", self.forwarder.garbled, handle, reason, self.now())

    def on_closed(self, handle, reason, graceful, kind):
        self._forget_conn(handle)
        self._event("session closed", self.forwarder.closed, handle, reason, graceful, self.now(), kind)

    def reconnect(self, name=None):
        if name is not None and name not in [u.name for u in self.upstreams]:
            return False
        self._event("reconnect", self.forwarder.reconnect, self.now(), name)
        return True

    def _on_timer(self):
        self._timer = None
        self._timer_at = None
        self._event("timer", self.forwarder.timer, self.now())

    def _event(self, what, method, *args):
        """One event into the core and its actions carried out; False if that raised.

        The core refuses an illegal state move with a named error (core/
        upstream_state.py, session_state.py): a bug in dprive, never the peer's
        doing. Raised into a loop callback it would be logged as "exception
        in callback" and the event lost with nobody told; here it reaches the
        log with its traceback and the status (`core_errors`, `last_core_error`),
        and the daemon goes on with the next event.
        """
        try:
            self.apply(method(*args))
        except Exception as err:   # noqa: BLE001 - one event must not stop the daemon
            self.core_errors += 1
            self.last_core_error = "%s: %s: %s" % (what, type(err).__name__, err)
            log.exception("internal error on %s (the event was dropped)", what)
            self._schedule()
            return False
        return True

    def _answer_after_error(self, key, msg):
        """The client of a query the core failed on gets SERVFAIL, not silence."""
        reply = self.clients.pop(key, None)
        if reply is None:
            return
        try:
            reply(wire.make_error(msg, wire.RCODE_SERVFAIL))
        except wire.WireError:
            pass        # no header to answer with

    # ---- actions out of the core ----------------------------------------------

    def apply(self, actions):
        for action in actions:
            if isinstance(action, core.Send):
                link = self.conns.get(action.handle)
                conn = None if link is None else link.conn
                if conn is not None and not isinstance(conn, Opening):
                    conn.send(action.msg)
                    if not self.dirty:
                        # Flush once the current batch of events is done: queries that
                        # arrived together leave together, in one TLS record.
                        self.loop.call_soon(self.flush)
                    self.dirty.add(conn)
            elif isinstance(action, core.Reply):
                reply = self.clients.pop(action.client, None)
                if reply is not None and action.msg is not None:
                    reply(action.msg)
            elif isinstance(action, core.Connect):
                upstream = self.by_key[action.upstream]
                opening = Opening(self, upstream, action)
                # Not now: a connect that fails at once must not report back
                # into the core while it is still handing out these actions.
                self.loop.call_soon(opening.start)
                self.conns[action.handle] = Link(upstream, opening)
            elif isinstance(action, core.Close):
                link = self._forget_conn(action.handle)
                if link is not None:
                    self._drop_conn(link.conn)
                log.debug("%s: closing session: %s", action.name, action.reason)
            elif isinstance(action, core.Log):
                log.log(action.level, action.text)
            elif isinstance(action, core.ForgetSession):
                upstream = self.by_key.get(action.upstream)
                if upstream is not None:
                    self.sessions.forget(session_key(upstream, action.transport))
        self._schedule()

    def flush(self):
        """Write what the last batch of events queued: one TLS record per connection."""
        dirty, self.dirty = self.dirty, set()
        for conn in dirty:
            conn.flush()

    def _forget_conn(self, handle):
        return self.conns.pop(handle, None)

    def opened(self, handle, conn):
        """The connection is up: keep it, unless the core gave it up meanwhile."""
        link = self.conns.get(handle)
        if link is None:
            conn.close()
            return
        link.conn = conn

    @staticmethod
    def _drop_conn(conn):
        if isinstance(conn, Opening):
            conn.cancel()      # still connecting
        elif conn is not None:
            conn.close()

    def _schedule(self):
        when = self.forwarder.next_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self.loop.call_at(when / 1000.0, self._on_timer)

    def failed_to_start(self, handle, reason):
        """No connection object came to be: report its failure as one would have."""
        if self._forget_conn(handle) is not None:
            self.on_connect_failed(handle, reason, heard=False)

    # ---- status ---------------------------------------------------------------

    def status(self):
        return daemon_status(self)

    # ---- life cycle -----------------------------------------------------------

    def open_listeners(self):
        port = self.settings.listen_port
        tcp_factory = self.tcp_factory = TcpListenerFactory(
            self, self.lan_counters, self.settings.tcp_client_idle_ms, self.settings.max_tcp_clients)
        for address in self.settings.listen_address:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:
                self.servers.append(UdpListener(self, self.loop, udp_socket(address, port)))
                self.servers.append(tcp_server(self.loop, tcp_factory, address, port, family))
            except OSError as err:
                raise StartupError("cannot listen on %s port %d: %s" % (address, port, err.strerror or err))
            log.info("listening on %s port %d (UDP and TCP)", address, port)

    def close_listeners(self):
        servers, self.servers = self.servers, []
        for server in servers:
            server.close()

    def restart_control(self):
        if self.control is not None:
            self.control.stop()
        self.control = ControlServer(self, self.settings.control_socket)
        try:
            self.control.start()
        except OSError as err:
            raise StartupError("cannot create control socket %s: %s"
                               % (self.settings.control_socket, err.strerror or err))

    def start(self, loop):
        self.loop = loop
        self.open_listeners()
        self.restart_control()
        enabled = [u.name for u in self.upstreams if u.enabled]
        log.info("dprive %s started, profile %s, upstreams: %s", __version__,
                 self.settings.profile, ", ".join(enabled))
        self._event("start", self.forwarder.start, self.now())
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.loop.stop)
        self.loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        self.loop.add_signal_handler(signal.SIGUSR1, self._on_usr1)
        # After the handlers: python3-ubus runs libubox's uloop_init() in the ubus
        # thread, which takes SIGTERM and SIGINT for itself where they are still at
        # their defaults (a process left so outlives SIGTERM); ours must already be there.
        self.ubus = UbusObject(self, self.loop)
        self.ubus.start()

    def _on_hup(self):
        log.info("SIGHUP: reading %s again", self.settings.source)
        self.loop.call_soon(reload, self)

    def _on_usr1(self):
        # The init script's WAN hotplug hook: a new WAN address means every NAT mapping is gone.
        log.info("SIGUSR1: reconnecting every session (the WAN changed)")
        self.reconnect(None)

    def stop(self):
        self.close_listeners()
        for link in list(self.conns.values()):
            self._drop_conn(link.conn)
        self.conns.clear()
        if self._timer is not None:
            self._timer.cancel()
        if self.control is not None:
            self.control.stop()
        if self.ubus is not None:
            self.ubus.stop()
        # The close_notify records went out with close(); this lets the
        # transports finish (connection_lost, their sockets closed).
        self.loop.run_once(0)
        log.info("dprive stopped")

    def serve(self, loop):
        """Run until SIGTERM or SIGINT (loop.stop)."""
        self.start(loop)
        try:
            loop.run()
        finally:
            self.stop()


def setup_logging(level_name):
    """Lines to stderr (procd hands them to logd), rate-limited (io/lograte.py)."""
    dlog.setup(level_name)


def run_daemon(settings):
    setup_logging(settings.log_level)
    try:
        daemon = Daemon(settings)
        loop = Loop()
        try:
            daemon.serve(loop)
        finally:
            loop.close()
    except StartupError as err:
        log.error("%s", err)
        return 1
    return 0
