"""The forwarder's brain, sans-I/O: client queries in, upstream sends and client replies out.

The I/O shell reports events (a client query, a session up, bytes from an
upstream, a session closed, the timer) with the current time in milliseconds
and carries out the actions returned (listed in core/actions.py).

Rules:
- A query goes to the usable upstream with the best preference (lowest smoothed
  RTT). An attempt unanswered by its deadline (the RTO of that upstream,
  at least attempt_min_ms) is also sent elsewhere; if nothing at all came back
  on its connection since it was sent, that connection is presumed dead, reset,
  and its queries are sent again.
- A session that ends (RST, EOF, garbage, unknown ID) never costs the client its
  answer: every query in flight on it is sent again, up to MAX_ATTEMPTS per query.
- The client gets SERVFAIL only when every upstream failed for its query or its
  query_timeout_ms passed; late answers to a query already answered are dropped.

Where the rest is: Forwarder is the one facade, and holds parts that each get
what they work with when they are made (none reaches back to the Forwarder):
- the policies, which decide and emit no action (selection.py, resumption.py,
  dtls_policy.py, recovery_policy.py);
- the state machines, the only code that changes a state (upstream_state.py,
  session_state.py), with the upstream and session data (upstream.py);
- what carries the decisions out: Queries (queries.py: a query in, its
  attempts, its answer, its deadlines), Sessions (sessions.py: sessions up,
  failed and ended, their queries sent again, per-upstream timers), DtlsFlows
  (dtls_flows.py: alerts, resumptions, False Start, fallback to TLS, the TLS
  session beside DTLS), a reload (reload.py, functions);
- Pool (pool.py: extra TLS sessions to an upstream under load, so no answer
  waits for the server's Nagle);
- below them Links (links.py: every Connect and Send, handles never reused),
  Clients (clients.py: the pending table, the waiting list, the global
  counters, a query's end) and the Alarm (alarm.py: when the timer is due).
Queries and Sessions call each other (a query may end an idle session, an
ended session sends its queries again); DtlsFlows calls neither, it hands
back what they must do.
"""

from dprive.core import reload
from dprive.core.actions import (
    DEBUG, INFO, MAX_ATTEMPTS, WARNING, Action, Close, Connect, ForgetSession,
    ForwarderConfig, Log, Reply, Send,
)
from dprive.core.alarm import Alarm
from dprive.core.clients import GLOBAL_COUNTERS, Clients
from dprive.core.dtls_flows import DTLS, TLS, DtlsFlows
from dprive.core.dtls_policy import DtlsPolicy
from dprive.core.links import Links
from dprive.core.pool import Pool
from dprive.core.queries import Queries
from dprive.core.recovery_policy import RecoveryPolicy
from dprive.core.resumption import ResumptionPolicy
from dprive.core.selection import Selection
from dprive.core.sessions import CLOSE_NOTIFY, FIN, RST, TIMEOUT, Sessions
from dprive.core.upstream import current_of, make_upstreams

# The shell and the tests take the actions and the config from here too.
__all__ = ["Forwarder", "ForwarderConfig", "Action", "Close", "Connect", "Send", "Reply", "Log",
           "ForgetSession", "DEBUG", "INFO", "WARNING", "MAX_ATTEMPTS", "RST", "TIMEOUT", "FIN", "CLOSE_NOTIFY",
           "TLS", "DTLS", "GLOBAL_COUNTERS"]


class Forwarder:
    def __init__(self, config, upstream_names, rand16, enabled=None, probe_idle_ms=None,
                 transports=None, keys=None):
        """One upstream per name; `keys` are the stable keys the shell knows them by
        (default: the names), the ones Connect carries and a reload matches."""
        self.config = config
        # One list, held by every part; a reload changes it in place.
        self.upstreams = make_upstreams(upstream_names, enabled, probe_idle_ms, transports, keys)
        # The policies: they decide, the parts act (each testable alone).
        self.selection = Selection()
        self.resumption = ResumptionPolicy(config)
        self.dtls = DtlsPolicy(config)
        self.recovery = RecoveryPolicy()
        self.alarm = Alarm()
        self.clients = Clients()
        self.links = Links(config, rand16, self.alarm, self.resumption, self.dtls)
        self.flows = DtlsFlows(config, self.links, self.clients, self.alarm, self.dtls, self.recovery)
        self.pool = Pool(config, self.links, self.alarm)
        self.queries = Queries(config, self.upstreams, self.clients, self.links, self.flows,
                               self.selection, self.recovery, self.alarm, self.pool)
        self.sessions = Sessions(config, self.upstreams, self.queries, self.links, self.flows,
                                 self.resumption, self.recovery, self.alarm, self.pool)
        self.queries.sessions = self.sessions
        self.pool.queries = self.queries
        # The tables the shell and the tests read (the same objects as the parts').
        self.pending = self.clients.pending
        self.waiting = self.clients.waiting
        self.counters = self.clients.counters

    # ---- events from the shell -------------------------------------------------

    def client_query(self, key, msg, now, udp=True):
        return self.queries.client_query(key, msg, now, udp)

    def start(self, now):
        """Open a session to every enabled upstream, so the first query finds one warm."""
        return self.sessions.start(now)

    def connected(self, handle, now, info=None):
        return self.sessions.connected(handle, now, info)

    def connect_failed(self, handle, reason, now, auth_failure=False, heard=False):
        """The session's handshake failed; `heard`: the server had sent something
        (then the stored TLS session may be what it choked on, and is forgotten).
        Reported for a session already up, it is that session's close, and forgets nothing."""
        return self.sessions.connect_failed(handle, reason, now, auth_failure, heard)

    def closed(self, handle, reason, graceful, now, kind=None):
        """The session ended: `kind` is RST, TIMEOUT, FIN, CLOSE_NOTIFY or None (other)."""
        return self.sessions.closed(handle, reason, graceful, now, kind)

    def received(self, handle, msg, now):
        """One DNS message arrived on the session (the transport did the framing)."""
        return self.sessions.received(handle, msg, now)

    def garbled(self, handle, reason, now):
        """The transport could not make DNS messages of what the server sent."""
        return self.sessions.garbled(handle, reason, now)

    def alert(self, handle, now):
        """A plaintext DTLS alert arrived for the session (the shell parsed the datagram)."""
        out = []
        up = current_of(self.upstreams, handle)
        if up is not None:
            self.flows.alert(up, now, out)
        return out

    def reconnect(self, now, name=None):
        """Drop and re-establish sessions (all, or the upstream so named): a WAN change, a user's click."""
        return self.sessions.reconnect(now, name)

    def reconfigure(self, config, names, now, enabled=None, probe_idle_ms=None,
                    transports=None, keys=None):
        """A new configuration (core/reload.py); returns the actions: closes, connects, one log line."""
        out = []
        self.config = config
        for part in (self.resumption, self.dtls, self.links, self.flows, self.queries, self.sessions,
                     self.pool):
            part.config = config
        fresh = make_upstreams(names, enabled, probe_idle_ms, transports, keys)
        reload.reconfigure(self.upstreams, fresh, self.queries, self.sessions, self.links, now, out)
        return out

    def timer(self, now):
        out = []
        self.alarm.clear()
        self.sessions.timers(now, out)
        self.queries.timers(now, out)
        return out

    def next_timer(self):
        """Absolute time (ms) at which `timer` must be called, or None."""
        return self.alarm.next()

    def status(self, now):
        return {
            "counters": dict(self.counters),
            "pending": len(self.pending),
            "upstreams": [up.status(now, self.config.tcp_fastopen) for up in self.upstreams],
        }
