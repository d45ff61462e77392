"""The asyncio shell: listeners, upstream connections, the core's timer, signals.

It owns no protocol decisions: every event goes to the core Forwarder and the
actions it returns are carried out here (see core/forwarder.py for the list).
"""

import asyncio
import logging
import os
import random
import signal
import socket
import time

from dprive import __version__
from dprive.control import ControlServer
from dprive.core import forwarder as core
from dprive.io.lan import LAN_COUNTERS, TcpListenerFactory, UdpListener, udp_socket
from dprive.io import lograte, tcp
from dprive.io.core_settings import forwarder_config, upstream_lists
from dprive.io.dtls_conn import DtlsConnection
from dprive.io.policy import AuthPolicy, StartupError
from dprive.io.reload import reload
from dprive.io.status import daemon_status
from dprive.io.upstream_conn import UpstreamConnection
from dprive.tls.dot import TlsError, start_failure
from dprive.tls.sessions import SessionStore
from dprive.ubus_object import UbusObject

log = logging.getLogger("dprive")


def session_key(upstream, transport):
    """Where the resumption session of `upstream` over `transport` is kept: TLS
    and DTLS sessions of one server are not interchangeable."""
    return upstream.identity() + (("dtls",) if transport == "dtls" else ())


def keepalive_of(settings, upstream):
    return tcp.KeepaliveSettings(upstream.keepalive_idle_s, upstream.keepalive_interval_s,
                                 upstream.keepalive_count, settings.user_timeout_ms)


class Daemon:
    def __init__(self, settings):
        self.settings = settings
        self.upstreams = list(settings.upstreams)
        self.auth = AuthPolicy(settings)
        seed = random.Random(os.urandom(16))
        self.forwarder = core.Forwarder(
            forwarder_config(settings), [u.name for u in self.upstreams],
            lambda: seed.getrandbits(16), **upstream_lists(settings))
        self.sessions = SessionStore()
        self.lan_counters = dict((name, 0) for name in LAN_COUNTERS)
        self.conns = {}          # gen -> UpstreamConnection, DtlsConnection or connect Task
        self.gen_index = {}      # gen -> the upstream's index now (a reload may move it)
        self.clients = {}        # key -> reply callable
        self.dirty = set()       # UpstreamConnections with queued plaintext
        self.session_reads = 0   # TLS sessions read for resumption
        self._next_key = 0
        self._timer = None
        self._timer_at = None
        self.loop = None
        self.started = time.time()
        self.servers = []
        self.tcp_factory = None
        self.control = None
        self.ubus = None
        self.stopping = None

    def now(self):
        return self.loop.time() * 1000.0

    # ---- events into the core -------------------------------------------------

    def client_query(self, msg, reply, udp):
        self._next_key += 1
        key = self._next_key
        self.clients[key] = reply
        self.apply(self.forwarder.client_query(key, msg, self.now(), udp))

    def on_connected(self, handle, info):
        index, gen = handle
        index = self.gen_index.get(gen, index)
        info = dict(info)
        upstream = self.upstreams[index]
        info["auth"] = self.auth.auth_label(upstream)
        self.apply(self.forwarder.connected(index, gen, self.now(), info))

    def on_connect_failed(self, handle, reason, auth_failure=False, heard=True, transport="tls"):
        index, gen = handle
        index = self.gen_index.get(gen, index)
        self._forget_conn(gen)
        if heard:
            # Should the stored session be what the server choked on, the next try is a full handshake.
            self.sessions.forget(session_key(self.upstreams[index], transport))
        self.apply(self.forwarder.connect_failed(index, gen, reason, self.now(), auth_failure))

    def on_alert(self, handle):
        index, gen = handle
        index = self.gen_index.get(gen, index)
        self.apply(self.forwarder.alert(index, gen, self.now()))

    def on_message(self, handle, msg):
        index, gen = handle
        index = self.gen_index.get(gen, index)
        self.apply(self.forwarder.received(index, gen, msg, self.now()))

    def on_garbled(self, handle, reason):
        index, gen = handle
        index = self.gen_index.get(gen, index)
        self.apply(self.forwarder.garbled(index, gen, reason, self.now()))

    def on_closed(self, handle, reason, graceful, kind):
        index, gen = handle
        index = self.gen_index.get(gen, index)
        self._forget_conn(gen)
        self.apply(self.forwarder.closed(index, gen, reason, graceful, self.now(), kind))

    def reconnect(self, name=None):
        index = None
        if name is not None:
            names = [u.name for u in self.upstreams]
            if name not in names:
                return False
            index = names.index(name)
        self.apply(self.forwarder.reconnect(self.now(), index))
        return True

    def _on_timer(self):
        self._timer = None
        self._timer_at = None
        self.apply(self.forwarder.timer(self.now()))

    # ---- actions out of the core ----------------------------------------------

    def apply(self, actions):
        for action in actions:
            kind = action[0]
            if kind == core.SEND:
                conn = self.conns.get(action[2])
                if conn is not None and not isinstance(conn, asyncio.Task):
                    conn.send(action[3])
                    if not self.dirty:
                        # Flush once the current batch of events is done: queries that
                        # arrived together leave together, in one TLS record.
                        self.loop.call_soon(self.flush)
                    self.dirty.add(conn)
            elif kind == core.REPLY:
                reply = self.clients.pop(action[1], None)
                if reply is not None and action[2] is not None:
                    reply(action[2])
            elif kind == core.CONNECT:
                task = self.loop.create_task(self._connect(*action[1:]))
                self.conns[action[2]] = task
                self.gen_index[action[2]] = action[1]
            elif kind == core.CLOSE:
                self._drop_conn(self._forget_conn(action[2]))
                if action[1] is None:    # the upstream left with a reload; the reason names it
                    log.debug("closing session: %s", action[3])
                else:
                    log.debug("%s: closing session: %s", self.upstreams[action[1]].name, action[3])
            elif kind == core.LOG:
                log.log(action[1], action[2])
        self._schedule()

    def flush(self):
        """Write what the last batch of events queued: one TLS record per connection."""
        dirty, self.dirty = self.dirty, set()
        for conn in dirty:
            conn.flush()

    def _forget_conn(self, gen):
        self.gen_index.pop(gen, None)
        return self.conns.pop(gen, None)

    @staticmethod
    def _drop_conn(conn):
        if isinstance(conn, asyncio.Task):
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

    async def _connect(self, index, gen, fast_open, transport):
        if transport == "dtls":
            await self._connect_dtls(index, gen)
            return
        upstream = self.upstreams[index]
        identity = session_key(upstream, "tls")
        session = self.sessions.get(identity) if self.settings.tls_resumption else None
        log.info("%s: connecting to %s port %d%s%s", upstream.name, upstream.address, upstream.port,
                 ", Fast Open" if fast_open else "", ", offering resumption" if session else "")
        sock = None
        try:
            sock = tcp.upstream_socket(upstream.address, keepalive_of(self.settings, upstream), fast_open)
            # With Fast Open this returns at once; the ClientHello written next makes the SYN.
            await self.loop.sock_connect(sock, (upstream.address, upstream.port))
        except asyncio.CancelledError:
            if sock is not None:
                sock.close()
            return
        except OSError as err:
            if sock is not None:
                sock.close()
            if self._forget_conn(gen) is not None:
                self.on_connect_failed((index, gen), "TCP connect to %s port %d: %s"
                                       % (upstream.address, upstream.port, err.strerror or err),
                                       heard=False)
            return
        try:
            tls = self.auth.client_for(upstream, "tls", session)
            keep = self._session_keeper(identity) if self.settings.tls_resumption else None
            conn = UpstreamConnection(self, (index, gen), tls, keep)
            await self.loop.create_connection(lambda: conn, sock=sock)
        except asyncio.CancelledError:
            sock.close()
            return
        except Exception as err:   # not only TlsError: the cause must reach log and status
            sock.close()
            log.debug("%s: TLS session could not start", upstream.name, exc_info=True)
            if self._forget_conn(gen) is not None:
                self.on_connect_failed((index, gen), start_failure(err), heard=False)
            return
        if gen in self.conns:
            self.conns[gen] = conn
        else:
            conn.close()   # given up while connecting

    async def _connect_dtls(self, index, gen):
        upstream = self.upstreams[index]
        identity = session_key(upstream, "dtls")
        session = self.sessions.get(identity) if self.settings.tls_resumption else None
        log.info("%s: DTLS to %s port %d%s", upstream.name, upstream.address, upstream.port,
                 ", offering resumption" if session else "")
        try:
            client = self.auth.client_for(upstream, "dtls", session)
            keep = self._session_keeper(identity) if self.settings.tls_resumption else None
            conn = DtlsConnection(self, (index, gen), client, keep)
            await self.loop.create_datagram_endpoint(
                lambda: conn, remote_addr=(upstream.address, upstream.port))
        except asyncio.CancelledError:
            return
        except (OSError, TlsError) as err:
            if self._forget_conn(gen) is not None:
                self.on_connect_failed((index, gen), "DTLS to %s port %d: %s"
                                       % (upstream.address, upstream.port, err), heard=False)
            return
        except Exception as err:   # the cause must reach log and status, not a "no session" timeout
            log.debug("%s: DTLS session could not start", upstream.name, exc_info=True)
            if self._forget_conn(gen) is not None:
                self.on_connect_failed((index, gen), start_failure(err, "DTLS"), heard=False)
            return
        if gen in self.conns:
            self.conns[gen] = conn
        else:
            conn.close()

    def _session_keeper(self, identity):
        def keep(session):
            self.session_reads += 1    # each may cost memory (tls/dot.py SESSION_READ_LEAKS)
            return self.sessions.offer(identity, session)
        return keep

    # ---- status ---------------------------------------------------------------

    def status(self):
        return daemon_status(self)

    # ---- life cycle -----------------------------------------------------------

    async def open_listeners(self):
        port = self.settings.listen_port
        tcp_factory = self.tcp_factory = TcpListenerFactory(
            self, self.lan_counters, self.settings.tcp_client_idle_ms, self.settings.max_tcp_clients)
        for address in self.settings.listen_address:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:
                self.servers.append(UdpListener(self, self.loop, udp_socket(address, port)))
                server = await self.loop.create_server(
                    tcp_factory, address, port, family=family, reuse_address=True)
                self.servers.append(server)
            except OSError as err:
                raise StartupError("cannot listen on %s port %d: %s" % (address, port, err.strerror or err))
            log.info("listening on %s port %d (UDP and TCP)", address, port)

    async def close_listeners(self):
        servers, self.servers = self.servers, []
        for server in servers:
            server.close()

    async def restart_control(self):
        if self.control is not None:
            await self.control.stop()
        self.control = ControlServer(self, self.settings.control_socket)
        try:
            await self.control.start()
        except OSError as err:
            raise StartupError("cannot create control socket %s: %s"
                               % (self.settings.control_socket, err.strerror or err))

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        await self.open_listeners()
        await self.restart_control()
        enabled = [u.name for u in self.upstreams if u.enabled]
        log.info("dprive %s started, profile %s, upstreams: %s", __version__,
                 self.settings.profile, ", ".join(enabled))
        self.apply(self.forwarder.start(self.now()))
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stopping.set)
        self.loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        self.loop.add_signal_handler(signal.SIGUSR1, self._on_usr1)
        # After the handlers: python3-ubus runs libubox's uloop_init() in the ubus
        # thread, which takes SIGTERM and SIGINT for itself where they are still at
        # their defaults (a process left so outlives SIGTERM); ours must already be there.
        self.ubus = UbusObject(self, self.loop)
        self.ubus.start()

    def _on_hup(self):
        log.info("SIGHUP: reading %s again", self.settings.source)
        self.loop.create_task(reload(self))

    def _on_usr1(self):
        # The init script's WAN hotplug hook: a new WAN address means every NAT mapping is gone.
        log.info("SIGUSR1: reconnecting every session (the WAN changed)")
        self.reconnect(None)

    async def stop(self):
        await self.close_listeners()
        for conn in list(self.conns.values()):
            self._drop_conn(conn)
        self.conns.clear()
        if self._timer is not None:
            self._timer.cancel()
        if self.control is not None:
            await self.control.stop()
        if self.ubus is not None:
            self.ubus.stop()
        await asyncio.sleep(0)   # let the close_notify records leave
        log.info("dprive stopped")

    async def serve(self):
        await self.start()
        try:
            await self.stopping.wait()
        finally:
            await self.stop()


def setup_logging(level_name):
    logging.basicConfig(
        level=getattr(logging, level_name.upper()),
        format="%(asctime)s %(levelname)s %(message)s",
    )
    lograte.install(logging.getLogger().handlers)


def run_daemon(settings):
    setup_logging(settings.log_level)
    try:
        daemon = Daemon(settings)
        asyncio.run(daemon.serve())
    except StartupError as err:
        log.error("%s", err)
        return 1
    return 0
