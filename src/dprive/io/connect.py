"""Opening the session a Connect action asks for: the TCP socket (with Fast
Open and keepalives) and the TLS engine, or the DTLS endpoint, with the stored
resumption session where the core wants one.

What goes wrong before a connection object exists is reported to the core as a
failed connect with its own cause (`daemon.failed_to_start`), never left to
time out; a connection the core gave up while it was being opened is closed
(`daemon.opened`).
"""

import errno
import os
import socket

from dprive import log as dlog

from dprive.io import tcp
from dprive.io.dtls_conn import DtlsConnection
from dprive.io.transport import DatagramTransport, StreamTransport
from dprive.io.upstream_conn import UpstreamConnection
from dprive.tls.engine_api import TlsError, start_failure

log = dlog.getLogger("dprive")


def session_key(upstream, transport):
    """Where the resumption session of `upstream` over `transport` is kept: TLS
    and DTLS sessions of one server are not interchangeable."""
    return upstream.identity() + (("dtls",) if transport == "dtls" else ())


def keepalive_of(settings, upstream):
    return tcp.KeepaliveSettings(upstream.keepalive_idle_s, upstream.keepalive_interval_s,
                                 upstream.keepalive_count, settings.user_timeout_ms)


class Opening:
    """A Connect action on its way to a connection object: the Link's `conn`
    until then (io/daemon.py). The TCP connect waits for POLLOUT; with Fast
    Open it returns at once and the ClientHello written next makes the SYN.
    cancel() (the core gave the session up meanwhile) drops it silently."""

    def __init__(self, daemon, upstream, action):
        self.daemon = daemon
        self.upstream = upstream
        self.action = action
        self.sock = None
        self.cancelled = False

    def start(self):
        if self.cancelled:
            return
        if self.action.transport == "dtls":
            _open_dtls(self.daemon, self.upstream, self.action)
            return
        upstream, action = self.upstream, self.action
        self.identity = session_key(upstream, "tls")
        self.session = self.daemon.sessions.get(self.identity) if action.resume else None
        log.info("%s: connecting to %s port %d%s%s", upstream.name, upstream.address, upstream.port,
                 ", Fast Open" if action.tfo else "", ", offering resumption" if self.session else "")
        try:
            self.sock = tcp.upstream_socket(upstream.address, keepalive_of(self.daemon.settings, upstream),
                                            action.tfo)
            err = self.sock.connect_ex((upstream.address, upstream.port))
        except OSError as exc:
            self._connect_failed(exc)
            return
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EINTR):
            self.daemon.loop.add_writer(self.sock.fileno(), self._connected)
        elif err:
            self._connect_failed(OSError(err, os.strerror(err)))
        else:
            self._start_tls()

    def cancel(self):
        self.cancelled = True
        self._drop_socket()

    def _connected(self):
        self.daemon.loop.remove_writer(self.sock.fileno())
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(OSError(err, os.strerror(err)))
        else:
            self._start_tls()

    def _drop_socket(self):
        if self.sock is not None:
            self.daemon.loop.remove_writer(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def _connect_failed(self, err):
        self._drop_socket()
        upstream = self.upstream
        self.daemon.failed_to_start(self.action.handle, "TCP connect to %s port %d: %s"
                                    % (upstream.address, upstream.port, err.strerror or err))

    def _start_tls(self):
        daemon, upstream, sock = self.daemon, self.upstream, self.sock
        self.sock = None     # the transport's from here on
        try:
            tls = daemon.auth.client_for(upstream, "tls", self.session)
            keep = _session_keeper(daemon, self.identity) if self.action.resume else None
            conn = UpstreamConnection(daemon, self.action.handle, tls, keep)
        except Exception as err:   # not only TlsError: the cause must reach log and status
            sock.close()
            _debug_traceback("%s: TLS session could not start" % upstream.name)
            daemon.failed_to_start(self.action.handle, start_failure(err))
            return
        StreamTransport(daemon.loop, sock, conn)   # connection_made sends the ClientHello
        daemon.opened(self.action.handle, conn)


def _open_dtls(daemon, upstream, action):
    handle = action.handle
    identity = session_key(upstream, "dtls")
    session = daemon.sessions.get(identity) if action.resume else None
    log.info("%s: DTLS to %s port %d%s", upstream.name, upstream.address, upstream.port,
             ", offering resumption" if session else "")
    sock = None
    try:
        client = daemon.auth.client_for(upstream, "dtls", session)
        keep = _session_keeper(daemon, identity) if action.resume else None
        conn = DtlsConnection(daemon, handle, client, keep)
        family = socket.AF_INET6 if ":" in upstream.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect((upstream.address, upstream.port))
    except (OSError, TlsError) as err:
        if sock is not None:
            sock.close()
        daemon.failed_to_start(handle, "DTLS to %s port %d: %s" % (upstream.address, upstream.port, err))
        return
    except Exception as err:   # the cause must reach log and status, not a "no session" timeout
        if sock is not None:
            sock.close()
        _debug_traceback("%s: DTLS session could not start" % upstream.name)
        daemon.failed_to_start(handle, start_failure(err, "DTLS"))
        return
    DatagramTransport(daemon.loop, sock, conn)   # connection_made sends the first flight
    daemon.opened(handle, conn)


def _debug_traceback(what):
    """At debug level, `what` and the traceback being handled (dprive.log's
    debug() takes no exc_info; traceback is imported only when it is wanted)."""
    if log.isEnabledFor(dlog.DEBUG):
        import traceback
        log.debug("%s\n%s", what, traceback.format_exc().rstrip("\n"))


def _session_keeper(daemon, identity):
    def keep(session):
        daemon.session_reads += 1    # each may cost memory (tls/engine_api.py SESSION_READ_LEAKS)
        return daemon.sessions.offer(identity, session)
    return keep
