"""An upstream resolver as the forwarder sees it: its health and its sessions.

Its states (IDLE, CONNECTING, OPEN, REPLACING, BACKOFF) and their moves are
in core/upstream_state.py, a session's in core/session_state.py.

A session is one TLS (or DTLS) connection. Its handle, a number never used
twice, tags every event the I/O shell reports, so a late event from a
connection already given up is recognised and ignored. An upstream is known
to the shell by its key (stable across reloads), never by its place in a list.
"""

from dprive.core import session_state, upstream_state
from dprive.core.rtt import RttEstimator
from dprive.core.upstream_state import BACKOFF, CONNECTING, IDLE, OPEN, REPLACING

# The states too, for the tests and the rest of the core.
__all__ = ["Attempt", "Session", "Upstream", "make_upstreams", "describe_handshake", "COUNTERS",
           "current_of", "session_of",
           "IDLE", "CONNECTING", "OPEN", "REPLACING", "BACKOFF"]

BACKOFF_FIRST_MS = 500
# A session that dies this soon after its handshake is "young"; several young
# deaths in a row (forged RSTs cost an attacker nothing) put the upstream in
# backoff instead of an immediate reconnect.
YOUNG_SESSION_MS = 10000
YOUNG_LOSSES_BEFORE_BACKOFF = 3
RECOVERIES_KEPT = 10
# While no upstream is usable, a waiting query may retry one before its backoff
# ends, but not more often than this: forged RSTs or a dead WAN cost at most
# one handshake per upstream per second.
EARLY_RETRY_EVERY_MS = 1000
RETIRED_IDS_KEPT = 1024


class Attempt:
    """One transmission of a client's query on one session."""

    def __init__(self, pending, upstream, session, upstream_id):
        self.pending = pending
        self.upstream = upstream
        self.session = session
        self.id = upstream_id
        self.sent_at = None      # None while waiting for the handshake
        self.deadline = None
        self.timed_out = False


class Session:
    """One connection: the IDs in flight on it and what the server told us."""

    def __init__(self, handle, now, connect_deadline):
        self.handle = handle
        session_state.start(self, connect_deadline)
        self.started_at = now
        self.inflight = {}       # upstream ID -> Attempt
        self.queued = []         # Attempts waiting for the handshake
        self.retired = {}        # IDs whose query was answered elsewhere: a late answer is no error
        self._retired_order = []
        self.last_activity = now
        self.last_answer_at = None
        self.established_at = None
        self.transport = "tls"       # or "dtls"
        self.tfo_attempted = False
        self.server_idle_ms = None   # from edns-tcp-keepalive
        self.info = {}               # TLS facts reported by the shell
        self.kept_at = None          # when a resumption to replace it failed and it stayed

    def new_id(self, rand16):
        while True:
            candidate = rand16() & 0xFFFF
            if candidate not in self.inflight and candidate not in self.retired:
                return candidate

    def retire(self, attempt):
        if self.inflight.pop(attempt.id, None) is None:
            return
        self.retired[attempt.id] = True
        self._retired_order.append(attempt.id)
        if len(self._retired_order) > RETIRED_IDS_KEPT:
            del self.retired[self._retired_order.pop(0)]

    def idle_expiry(self, learned_idle_ms=None):
        """When we should stop using this session, per the server's idle timeout.

        The timeout is the one the server announced (edns-tcp-keepalive), else
        the one learned from how long it let an earlier session sit idle.
        """
        idle_ms = self.server_idle_ms if self.server_idle_ms is not None else learned_idle_ms
        if idle_ms is None or self.inflight:
            return None
        # Stop a little before the server would, so no query races its close.
        margin = min(1000, idle_ms // 10)
        return self.last_activity + idle_ms - margin


COUNTERS = ("queries", "answers", "failures", "timeouts", "connects", "reconnects", "handshakes",
            "graceful_closes", "server_closes", "rsts", "replays", "probes_sent",
            "probe_failures", "tfo_used", "resumptions_offered", "resumptions_accepted",
            "keepwarm_queries", "alerts", "alerts_ignored", "false_starts", "dtls_fallbacks",
            "truncated_over_dtls", "extra_connects",
            "unmatched", "late_answers", "bad_answers")


def make_upstreams(names, enabled=None, probe_idle_ms=None, transports=None, keys=None):
    """Upstreams from per-upstream lists (None: the default for every one)."""
    out = []
    for index, name in enumerate(names):
        out.append(Upstream(index, name, True if enabled is None else enabled[index],
                            None if probe_idle_ms is None else probe_idle_ms[index],
                            ("tls",) if transports is None else transports[index],
                            name if keys is None else keys[index]))
    return out


def current_of(upstreams, handle):
    """The upstream whose current session `handle` names, or None."""
    for up in upstreams:
        if up.session is not None and up.session.handle == handle:
            return up
    return None


def session_of(upstreams, handle):
    """(upstream, session) for `handle`: the current session, the one kept while
    a resumed one replaces it, the TLS one beside DTLS, or an extra connection
    (core/pool.py); (None, None) if stale."""
    for up in upstreams:
        for session in (up.session, up.previous, up.stream):
            if session is not None and session.handle == handle:
                return up, session
        for session in up.extras:
            if session.handle == handle:
                return up, session
    return None, None


class Upstream:
    def __init__(self, index, name, enabled=True, probe_idle_ms=None, transports=("tls",), key=None):
        self.index = index                   # its place in the list: only a tie-break
        self.key = name if key is None else key
        self.name = name
        self.enabled = enabled
        self.transports = tuple(transports)  # in order of preference: "tls", "dtls"
        self.previous = None                 # a session kept while a resumed one replaces it
        self.stream = None                   # a TLS session beside DTLS, for truncated answers
        self.extras = []                     # extra TLS sessions under load (core/pool.py)
        self.extra_retry_at = None           # no new extra before this (one failed)
        self.last_replaced_at = None         # when an alert (or quiet) last started a new session
        self.dtls_blocked_until = None
        self.dtls_worked = False             # a DTLS session came up to it before
        self.dtls_fallbacks_in_a_row = 0
        self.probe_idle_ms = probe_idle_ms   # the kernel's keepalive idle time, for the count
        self.learned_idle_ms = None          # how long the server lets an idle session live
        self.young_losses = 0
        self.tfo_ok = False                  # a SYN with data got through to it before
        self.tfo_off_until = None
        self.pending_recovery = None         # a session loss whose cost is not known yet
        self.recoveries = []                 # the last RECOVERIES_KEPT, newest last
        upstream_state.start(self)
        self.session = None
        self.rtt = RttEstimator()
        self.consecutive_failures = 0
        self.retry_at = None
        self.last_connect_at = None
        self.auth_failed = False   # the last failure was authentication: a config problem
        self.last_close_reason = ""
        self.counters = {}
        for name in COUNTERS:
            self.counters[name] = 0

    def count(self, name, n=1):
        self.counters[name] += n

    def usable(self):
        return self.enabled and self.state != BACKOFF

    def preference(self):
        """Lower is better: smoothed RTT, stretched by recent timeouts and failures.

        An upstream never measured and never failed scores 0, so each gets
        measured once early on; one that failed before its first answer scores
        its (backed-off) initial RTO instead.
        """
        rtt = self.rtt
        if rtt.srtt_ms is None:
            return (0 if rtt.backoff == 1 else rtt.rto_ms(), self.index)
        return (rtt.srtt_ms * rtt.backoff, self.index)

    def use_tfo(self, now, allowed=True):
        """Fast Open for the next connect: `allowed` by the config, and not off
        for this upstream after a black hole."""
        return allowed and (self.tfo_off_until is None or now >= self.tfo_off_until)

    def note_activity(self, session, now):
        """Bytes moved on `session`: count the keepalive probes its quiet time cost."""
        if self.probe_idle_ms:
            quiet = now - session.last_activity
            if quiet >= self.probe_idle_ms:
                self.counters["probes_sent"] += int(quiet // self.probe_idle_ms)
        session.last_activity = now

    def record_recovery(self, record):
        self.recoveries.append(record)
        if len(self.recoveries) > RECOVERIES_KEPT:
            self.recoveries.pop(0)

    def may_retry_early(self, now):
        """A failed upstream a waiting query may try before its backoff ends."""
        return (self.enabled and self.state == BACKOFF and not self.auth_failed
                and now - self.last_connect_at >= EARLY_RETRY_EVERY_MS)

    def back_off(self, now, cap_ms, event=upstream_state.BACK_OFF):
        """Into BACKOFF: `event` FAIL from a failed connect, BACK_OFF after a loss."""
        self.consecutive_failures += 1
        delay = BACKOFF_FIRST_MS
        for _ in range(self.consecutive_failures - 1):
            delay *= 2
            if delay >= cap_ms:
                break
        upstream_state.move(self, event)
        self.retry_at = now + min(delay, cap_ms)

    def status(self, now, tfo_allowed=True):
        out = {
            "name": self.name,
            "enabled": self.enabled,
            "state": self.state,
            "srtt_ms": None if self.rtt.srtt_ms is None else round(self.rtt.srtt_ms, 1),
            "rto_ms": round(self.rtt.rto_ms(), 1),
            "consecutive_failures": self.consecutive_failures,
            "retry_in_ms": None if self.state != BACKOFF else max(0, int(self.retry_at - now)),
            "last_close_reason": self.last_close_reason,
            "inflight": 0,
            "server_idle_timeout_ms": None,
            "learned_idle_timeout_ms": self.learned_idle_ms,
            "session_age_s": None,
            "tfo_enabled": self.use_tfo(now, tfo_allowed),
            "transports": list(self.transports),
            "transport": self.transports[0],
            "dtls_blocked": self.dtls_blocked_until is not None and now < self.dtls_blocked_until,
            "recoveries": [dict(r) for r in self.recoveries],
            "connections": 0,
        }
        out.update(self.counters)
        if self.session is not None:
            out["transport"] = self.session.transport
            out["inflight"] = len(self.session.inflight)
            out["connections"] = 1
            out["server_idle_timeout_ms"] = self.session.server_idle_ms
            out["session_age_s"] = round((now - self.session.started_at) / 1000.0, 1)
            out.update(self.session.info)
        for session in self.extras:
            out["inflight"] += len(session.inflight)
            if session.state == session_state.OPEN:
                out["connections"] += 1
        return out


def describe_handshake(info):
    """What the shell reported of a handshake, for the log line."""
    if not info:
        return ""
    parts = []
    for key in ("tls_version", "cipher", "auth", "resumed", "tfo"):
        if key in info:
            parts.append("%s=%s" % (key, info[key]))
    return " (" + ", ".join(parts) + ")"
