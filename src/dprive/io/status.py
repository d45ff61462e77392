"""What `dprive status` shows of the daemon: counters, upstreams, and the size
of every table the daemon keeps, so a test (or a worried user) can see that
nothing a client or an upstream sends grows them past their bounds."""

import os
import time

from dprive import __version__
from dprive.io import lograte, tcp


def daemon_status(daemon):
    snapshot = daemon.forwarder.status(daemon.now())
    counters = snapshot["counters"]
    counters.update(daemon.lan_counters)
    counters["log_suppressed"] = lograte.suppressed_total()
    counters["core_errors"] = daemon.core_errors
    upstreams = snapshot["upstreams"]
    for upstream, entry in zip(daemon.upstreams, upstreams):
        entry["address"] = upstream.address
        entry["port"] = upstream.port
        entry["auth_name"] = upstream.auth_name
        entry["pins"] = len(upstream.spki)
        entry["keepalive"] = {
            "idle_s": upstream.keepalive_idle_s,
            "interval_s": upstream.keepalive_interval_s,
            "count": upstream.keepalive_count,
            "probe_bytes_per_hour": tcp.probe_bytes_per_hour(upstream.keepalive_idle_s),
        }
        if "dtls" in entry.get("transports", ()):
            entry["dtls_unavailable"] = daemon.auth.dtls_unavailable
    settings = daemon.settings
    return {
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - daemon.started, 1),
        "profile": settings.profile,
        "listen": ["%s port %d" % (a, settings.listen_port) for a in settings.listen_address],
        "pending": snapshot["pending"],
        # LAN clients the daemon still holds a reply for: those pending, no more
        "waiting_clients": len(daemon.clients),
        # the last event the core raised on (a bug in dprive: io/daemon.py _event)
        "last_core_error": daemon.last_core_error,
        "tables": tables(daemon, snapshot),
        "counters": counters,
        "upstreams": upstreams,
        # the DTLS engine (mbedtls or pyopenssl) and its version, why the others or
        # all do not run, what the one in use cannot do here (tls/dtls_engines.py)
        "dtls": daemon.auth.dtls_status,
        # LuCI's Status page reaches the daemon only through the ubus object
        "ubus": daemon.ubus.status() if daemon.ubus else None,
    }


def tables(daemon, snapshot):
    """Every table's size now (and, for per-connection ones, the largest), each
    beside its bound where the bound is a setting."""
    settings = daemon.settings
    forwarder = daemon.forwarder
    tcp_clients = list(daemon.tcp_factory.active) if daemon.tcp_factory else []
    out = {
        "pending": snapshot["pending"],
        "max_pending": settings.max_pending_queries,
        "waiting": len(forwarder.waiting),
        "clients": len(daemon.clients),
        "conns": len(daemon.conns),
        "dirty": len(daemon.dirty),
        "tls_sessions": daemon.sessions.size(),
        "tls_session_reads": daemon.session_reads,
        "tcp_clients": len(tcp_clients),
        "max_tcp_clients": settings.max_tcp_clients,
        "tcp_outstanding_max": max([c.outstanding for c in tcp_clients] or [0]),
        "tcp_backlog_max": max([len(c.backlog) for c in tcp_clients] or [0]),
        "tcp_write_buffer_max": max([c.write_buffer() for c in tcp_clients] or [0]),
        "log_keys": lograte.keys_held(),
    }
    out.update(core_tables(forwarder))
    return out


def core_tables(forwarder):
    """The core's per-session tables, summed over every session of every upstream
    (current, the one a resumption replaces, the TLS one beside DTLS, the extras)."""
    sizes = {"inflight": 0, "queued": 0, "retired": 0, "recoveries": 0, "sessions": 0}
    for up in forwarder.upstreams:
        sizes["recoveries"] = max(sizes["recoveries"], len(up.recoveries))
        for session in (up.session, up.previous, up.stream) + tuple(up.extras):
            if session is None:
                continue
            sizes["sessions"] += 1
            sizes["inflight"] += len(session.inflight)
            sizes["queued"] += len(session.queued)
            sizes["retired"] = max(sizes["retired"], len(session.retired))
    return sizes
