"""SIGHUP: read the config again and apply it without dropping what did not change.

An upstream with the same identity (address, port, auth name, pins) and
transport keeps its session, its RTT and its counters; the others are closed
(their queries go out again on the new set) or opened. Listeners and the
control socket are reopened only if their settings changed. A config with
errors is refused as a whole: the errors are logged with their lines and the
daemon runs on with what it had.
"""

from dprive import log as dlog

from dprive.config import ConfigError, load_config
from dprive.io.core_settings import forwarder_config, upstream_keys, upstream_lists
from dprive.io.policy import AuthPolicy, StartupError
from dprive.tls.sessions import SessionStore

log = dlog.getLogger("dprive")

LISTEN_SETTINGS = ("listen_address", "listen_port", "max_tcp_clients", "tcp_client_idle_ms")
AUTH_SETTINGS = ("ca_bundle", "tls_min_version", "tls_engine", "profile", "dtls_engine")


def _same(old, new, names):
    return all(getattr(old, name) == getattr(new, name) for name in names)


def reload(daemon):
    """Returns True if the new configuration is in force."""
    old = daemon.settings
    try:
        new = load_config(old.source)
    except ConfigError as err:
        for line in err.problems:
            log.error("%s", line)
        log.error("reload refused: the running configuration stays in force")
        return False
    needs_dtls = any("dtls" in u.transport.split() for u in new.upstreams if u.enabled)
    if not _same(old, new, AUTH_SETTINGS) or (needs_dtls and daemon.auth.dtls is None):
        try:
            daemon.auth = AuthPolicy(new)
        except StartupError as err:
            log.error("reload refused: %s", err)
            return False
        # Sessions belong to the contexts they came from: start afresh.
        daemon.sessions = SessionStore()
    # The core continues each upstream whose key (io/core_settings.py) is unchanged.
    actions = daemon.forwarder.reconfigure(
        forwarder_config(new), [u.name for u in new.upstreams], daemon.now(), **upstream_lists(new))
    daemon.upstreams = list(new.upstreams)
    daemon.by_key = upstream_keys(new)
    # Tickets of servers no longer configured would otherwise stay for good (one per reload).
    daemon.sessions.keep_only(set(u.identity() for u in new.upstreams)
                              | set(u.identity() + ("dtls",) for u in new.upstreams))
    daemon.settings = new
    dlog.set_level(new.log_level)
    daemon.apply(actions)
    if not _same(old, new, LISTEN_SETTINGS):
        daemon.close_listeners()
        try:
            daemon.open_listeners()
        except StartupError as err:
            log.error("after reload: %s", err)
    if old.control_socket != new.control_socket:
        daemon.restart_control()
    return True
