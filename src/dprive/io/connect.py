"""Opening the session a Connect action asks for: the TCP socket (with Fast
Open and keepalives) and the TLS engine, or the DTLS endpoint, with the stored
resumption session where the core wants one.

What goes wrong before a connection object exists is reported to the core as a
failed connect with its own cause (`daemon.failed_to_start`), never left to
time out; a connection the core gave up while it was being opened is closed
(`daemon.opened`).
"""

import asyncio
from dprive import log as dlog

from dprive.io import tcp
from dprive.io.dtls_conn import DtlsConnection
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


async def open_session(daemon, upstream, action):
    """The task the daemon runs for a Connect action (its Link holds it until done)."""
    if action.transport == "dtls":
        await _open_dtls(daemon, upstream, action)
        return
    handle = action.handle
    identity = session_key(upstream, "tls")
    session = daemon.sessions.get(identity) if action.resume else None
    log.info("%s: connecting to %s port %d%s%s", upstream.name, upstream.address, upstream.port,
             ", Fast Open" if action.tfo else "", ", offering resumption" if session else "")
    sock = None
    try:
        sock = tcp.upstream_socket(upstream.address, keepalive_of(daemon.settings, upstream), action.tfo)
        # With Fast Open this returns at once; the ClientHello written next makes the SYN.
        await daemon.loop.sock_connect(sock, (upstream.address, upstream.port))
    except asyncio.CancelledError:
        if sock is not None:
            sock.close()
        return
    except OSError as err:
        if sock is not None:
            sock.close()
        daemon.failed_to_start(handle, "TCP connect to %s port %d: %s"
                               % (upstream.address, upstream.port, err.strerror or err))
        return
    try:
        tls = daemon.auth.client_for(upstream, "tls", session)
        keep = _session_keeper(daemon, identity) if action.resume else None
        conn = UpstreamConnection(daemon, handle, tls, keep)
        await daemon.loop.create_connection(lambda: conn, sock=sock)
    except asyncio.CancelledError:
        sock.close()
        return
    except Exception as err:   # not only TlsError: the cause must reach log and status
        sock.close()
        log.debug("%s: TLS session could not start", upstream.name, exc_info=True)
        daemon.failed_to_start(handle, start_failure(err))
        return
    daemon.opened(handle, conn)


async def _open_dtls(daemon, upstream, action):
    handle = action.handle
    identity = session_key(upstream, "dtls")
    session = daemon.sessions.get(identity) if action.resume else None
    log.info("%s: DTLS to %s port %d%s", upstream.name, upstream.address, upstream.port,
             ", offering resumption" if session else "")
    try:
        client = daemon.auth.client_for(upstream, "dtls", session)
        keep = _session_keeper(daemon, identity) if action.resume else None
        conn = DtlsConnection(daemon, handle, client, keep)
        await daemon.loop.create_datagram_endpoint(
            lambda: conn, remote_addr=(upstream.address, upstream.port))
    except asyncio.CancelledError:
        return
    except (OSError, TlsError) as err:
        daemon.failed_to_start(handle, "DTLS to %s port %d: %s" % (upstream.address, upstream.port, err))
        return
    except Exception as err:   # the cause must reach log and status, not a "no session" timeout
        log.debug("%s: DTLS session could not start", upstream.name, exc_info=True)
        daemon.failed_to_start(handle, start_failure(err, "DTLS"))
        return
    daemon.opened(handle, conn)


def _session_keeper(daemon, identity):
    def keep(session):
        daemon.session_reads += 1    # each may cost memory (tls/engine_api.py SESSION_READ_LEAKS)
        return daemon.sessions.offer(identity, session)
    return keep
