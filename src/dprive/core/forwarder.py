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
Where the rest is: the states an upstream and a session go through, and the
only code that changes them, in core/upstream_state.py and session_state.py;
the decisions in policy objects held here (selection.py, resumption.py,
dtls_policy.py, recovery_policy.py); what carries them out for lost sessions,
the DTLS flows and a reload in the mixins recovery.py, dtls_flows.py, reload.py.
"""

from dprive.core import message, session_state, upstream_state, wire
from dprive.core.actions import (
    DEBUG, FOREVER, INFO, MAX_ATTEMPTS, WARNING, Action, Close, Connect, ForgetSession,
    ForwarderConfig, Log, Reply, Send,
)
from dprive.core.query import PendingQuery
from dprive.core.dtls_flows import DTLS, TLS, DtlsFlows
from dprive.core.recovery import CLOSE_NOTIFY, FIN, RST, TIMEOUT, Recovery
from dprive.core.dtls_policy import DtlsPolicy
from dprive.core.recovery_policy import RecoveryPolicy
from dprive.core.reload import Reload
from dprive.core.resumption import ResumptionPolicy
from dprive.core.selection import Selection
from dprive.core.upstream import (
    IDLE, OPEN, REPLACING, Attempt, Session, describe_handshake, make_upstreams,
)
from dprive.core.upstream_state import handshaking

# The shell and the tests take the actions and the config from here too.
__all__ = ["Forwarder", "ForwarderConfig", "Action", "Close", "Connect", "Send", "Reply", "Log",
           "ForgetSession", "DEBUG", "INFO", "WARNING", "MAX_ATTEMPTS", "RST", "TIMEOUT", "FIN", "CLOSE_NOTIFY",
           "TLS", "DTLS"]

GLOBAL_COUNTERS = ("queries", "answers", "servfail", "formerr", "notimp", "dropped",
                   "truncated", "overload", "retries")


class Forwarder(Recovery, DtlsFlows, Reload):
    def __init__(self, config, upstream_names, rand16, enabled=None, probe_idle_ms=None,
                 transports=None, keys=None):
        """One upstream per name; `keys` are the stable keys the shell knows them by
        (default: the names), the ones Connect carries and a reload matches."""
        self.config = config
        self.rand16 = rand16
        self.upstreams = make_upstreams(upstream_names, enabled, probe_idle_ms, transports, keys)
        # The policies: they decide, the Forwarder acts (each testable alone).
        self.selection = Selection()
        self.resumption = ResumptionPolicy(config)
        self.dtls = DtlsPolicy(config)
        self.recovery = RecoveryPolicy()
        self.pending = {}
        self.waiting = []        # PendingQueries with no usable upstream, waiting for a retry
        self._next_key = 0
        self._gen = 0
        self._next_timer = FOREVER
        self.counters = {}
        for name in GLOBAL_COUNTERS:
            self.counters[name] = 0

    # ---- events from the shell -------------------------------------------------

    def client_query(self, key, msg, now, udp=True):
        out = []
        self.counters["queries"] += 1
        verdict, what, reason = message.inspect_query(msg)
        if verdict == message.DROP:
            self.counters["dropped"] += 1
            out.append(Log(DEBUG, "dropped a client message: " + reason))
            out.append(Reply(key, None))     # no answer, but the shell must let go of the client
            return out
        if verdict == message.REPLY:
            rcode = wire.parse_header(what).rcode()
            self.counters["notimp" if rcode == wire.RCODE_NOTIMP else "formerr"] += 1
            out.append(Log(DEBUG, "answered a bad client message with rcode %d: %s" % (rcode, reason)))
            out.append(Reply(key, what))
            return out
        if len(self.pending) >= self.config.max_pending:
            self.counters["overload"] += 1
            self.counters["servfail"] += 1
            out.append(Reply(key, wire.make_error(msg, wire.RCODE_SERVFAIL)))
            return out
        self._next_key += 1
        pq = PendingQuery(key, self._next_key, what, udp, now + self.config.query_timeout_ms)
        self.pending[self._next_key] = pq
        self._arm(pq.deadline)
        self._dispatch(pq, now, out)
        return out

    def connected(self, handle, now, info=None):
        out = []
        up = self._current(handle)
        if up is None or up.session.state != session_state.HANDSHAKING:
            self._stream_up(handle, now, out)
            return out
        replacing = up.state == REPLACING
        upstream_state.move(up, upstream_state.UP)
        up.consecutive_failures = 0
        session = up.session
        session_state.move(session, session_state.UP)
        session.info = dict(info or {})
        session.established_at = now
        session.last_activity = now
        self._handshake_facts(up, session, now, out)
        out.append(Log(INFO, "%s: %s session up in %d ms%s"
                    % (up.name, session.transport.upper(), now - session.started_at,
                       describe_handshake(session.info))))
        if replacing:
            self._successor_up(up, now, out)
        queued, session.queued = session.queued, []
        for attempt in queued:
            if not attempt.pending.done:
                self._transmit(attempt, now, out)
        if self.waiting:
            self._release_waiting(now, out)
        return out

    def start(self, now):
        """Open a session to every enabled upstream, so the first query finds one warm."""
        out = []
        for up in self.upstreams:
            if up.enabled and up.state == IDLE:
                self._connect(up, now, out)
        return out

    def connect_failed(self, handle, reason, now, auth_failure=False, heard=False):
        """The session's handshake failed; `heard`: the server had sent something
        (then the stored TLS session may be what it choked on, and is forgotten)."""
        out = []
        up, session = self._session_of(handle)
        if session is None:
            return out
        forget = self.resumption.after_failure(up, session, heard)
        if forget is not None:
            out.append(forget)
        if session.state != session_state.HANDSHAKING:
            return self.closed(handle, reason, False, now)   # it was up: an ending like any
        if session is up.session:
            self._connect_failed(up, reason, now, out, auth_failure)
        else:
            self._stream_lost(handle, reason, out)
        return out

    def closed(self, handle, reason, graceful, now, kind=None):
        """The session ended: `kind` is RST, TIMEOUT, FIN, CLOSE_NOTIFY or None (other)."""
        out = []
        up, session = self._session_of(handle)
        if session is None:
            return out
        if session is up.previous:
            self._previous_closed(up)
        elif session is up.stream:
            self._stream_lost(handle, reason, out)
        elif handshaking(up):
            self._connect_failed(up, reason, now, out)
        else:
            self._end_session(up, reason, graceful, now, out, kind)
        return out

    def received(self, handle, msg, now):
        """One DNS message arrived on the session (the transport did the framing)."""
        out = []
        up, session = self._session_of(handle)
        if session is None or session is up.session and up.state != OPEN:
            return out
        up.note_activity(session, now)
        if self._answer(up, session, msg, now, out) and session is up.session:
            expiry = session.idle_expiry(up.learned_idle_ms)
            if expiry is not None:
                self._arm(expiry)
        return out

    def garbled(self, handle, reason, now):
        """The transport could not make DNS messages of what the server sent."""
        out = []
        up = self._current(handle)
        if up is not None and up.state == OPEN:
            self._protocol_violation(up, reason, now, out)
        return out

    def timer(self, now):
        out = []
        self._next_timer = FOREVER
        for up in self.upstreams:
            self._upstream_timers(up, now, out)
        for pq in list(self.pending.values()):
            if pq.done:
                continue
            if now >= pq.deadline:
                self._servfail(pq, "no answer within %d ms" % self.config.query_timeout_ms, out)
                continue
            self._arm(pq.deadline)
            for attempt in list(pq.attempts):
                if attempt.deadline is None or attempt.timed_out:
                    continue
                if now >= attempt.deadline:
                    self._attempt_timed_out(attempt, now, out)
                    if pq.done:
                        break
                else:
                    self._arm(attempt.deadline)
        return out

    def next_timer(self):
        """Absolute time (ms) at which `timer` must be called, or None."""
        return None if self._next_timer == FOREVER else self._next_timer

    def status(self, now):
        return {
            "counters": dict(self.counters),
            "pending": len(self.pending),
            "upstreams": [up.status(now, self.config.tcp_fastopen) for up in self.upstreams],
        }

    # ---- choosing and sending --------------------------------------------------

    def _arm(self, when):
        if when < self._next_timer:
            self._next_timer = when

    def _current(self, handle):
        """The upstream whose current session `handle` names, or None."""
        for up in self.upstreams:
            if up.session is not None and up.session.handle == handle:
                return up
        return None

    def _session_of(self, handle):
        """(upstream, session) for `handle`: the current session, the one kept while
        a resumed one replaces it, or the TLS one beside DTLS; (None, None) if stale."""
        for up in self.upstreams:
            for session in (up.session, up.previous, up.stream):
                if session is not None and session.handle == handle:
                    return up, session
        return None, None

    def _dispatch(self, pq, now, out):
        """Send `pq` to the best upstream it has not tried; SERVFAIL if none is left."""
        up = None if pq.sent >= MAX_ATTEMPTS else self.selection.choose(self.upstreams, pq)
        if up is None and not pq.attempts and pq.sent < MAX_ATTEMPTS:
            up = self._early_retry(pq, now, out)
        if up is None:
            if pq.attempts:
                return
            if self.selection.may_wait(self.upstreams, pq):
                # An upstream will be tried again before this query's deadline:
                # wait for it rather than fail now (a WAN blip, a burst of forged RSTs).
                self.waiting.append(pq)
            else:
                self._servfail(pq, "every upstream failed", out)
            return
        pq.tried[up.key] = True
        pq.sent += 1
        if pq.sent > 1:
            self.counters["retries"] += 1
        up.count("queries")
        self._resume_if_quiet(up, now, out)
        if up.state == OPEN:
            expiry = up.session.idle_expiry(up.learned_idle_ms)
            if expiry is not None and now >= expiry:
                session = up.session
                out.append(Close(session.handle, "server idle timeout", up.name))
                self._end_session(up, "server idle timeout", True, now, out)
        if up.state == IDLE:
            self._connect(up, now, out)
        session = up.session
        attempt = Attempt(pq, up, session, session.new_id(self.rand16))
        session.inflight[attempt.id] = attempt
        pq.attempts.append(attempt)
        if up.state == OPEN:
            self._transmit(attempt, now, out)
        else:
            session.queued.append(attempt)

    def _release_waiting(self, now, out):
        """A session came up: the queries that waited for one go out now."""
        waiting, self.waiting = self.waiting, []
        for pq in waiting:
            if not pq.done:
                pq.tried = {}
                self._dispatch(pq, now, out)

    def _transmit(self, attempt, now, out):
        pq = attempt.pending
        up = attempt.upstream
        payload = message.upstream_query(pq.query, attempt.id, self.config.padding_block,
                                         attempt.session.transport == TLS)
        out.append(Send(attempt.session.handle, payload))
        attempt.sent_at = now
        wait = max(self.config.attempt_min_ms, up.rtt.rto_ms())
        attempt.deadline = min(now + wait, pq.deadline)
        up.note_activity(attempt.session, now)
        self._arm(attempt.deadline)

    def _connect(self, up, now, out, event=upstream_state.CONNECT):
        """A new session for `up`: CONNECT, or REPLACE (the open one stays meanwhile)."""
        upstream_state.move(up, event)
        self._gen += 1
        if up.counters["connects"]:
            up.count("reconnects")
        up.count("connects")
        session = up.session = Session(self._gen, now, now + self.config.connect_timeout_ms)
        session.transport = self.dtls.transport_for(up, now)
        session.tfo_attempted = self.resumption.use_tfo(up, session.transport, now)
        up.last_connect_at = now
        self._arm(session.connect_deadline)
        out.append(Connect(self._gen, up.key, session.tfo_attempted, session.transport,
                           self.resumption.resume()))

    # ---- answers ---------------------------------------------------------------

    def _answer(self, up, session, msg, now, out):
        """Handle one message from the upstream; False if the session had to be reset."""
        try:
            upstream_id = wire.get_id(msg)
        except wire.WireError:
            up.count("bad_answers")
            self._protocol_violation(up, "message shorter than a DNS header", now, out, session)
            return False
        attempt = session.inflight.get(upstream_id)
        if attempt is None:
            if upstream_id in session.retired:
                up.count("late_answers")
                return True
            up.count("unmatched")
            self._protocol_violation(up, "answer with unknown ID %d" % upstream_id, now, out, session)
            return False
        try:
            answer = message.client_answer(msg, attempt.pending.query)
        except wire.WireError as err:
            up.count("bad_answers")
            self._protocol_violation(up, "bad answer: %s" % err, now, out, session)
            return False
        del session.inflight[upstream_id]
        up.count("answers")
        session.last_answer_at = now
        self.recovery.answered(up, now)
        if attempt.sent_at is not None and not attempt.timed_out:
            up.rtt.sample(now - attempt.sent_at)
        if answer.keepalive_ms is not None:
            session.server_idle_ms = answer.keepalive_ms
        pq = attempt.pending
        pq.attempts.remove(attempt)
        if pq.done:
            return True
        if session.transport == DTLS and self._truncated_over_dtls(up, pq, answer.msg, now, out):
            return True
        self._complete(pq, answer.msg, out)
        return True

    def _complete(self, pq, msg, out):
        self._finish(pq)
        if pq.key is None:
            return   # our own keep-warm query
        if pq.udp:
            msg, truncated = message.fit_for_udp(msg, pq.query.udp_limit)
            if truncated:
                self.counters["truncated"] += 1
        self.counters["answers"] += 1
        out.append(Reply(pq.key, msg))

    def _servfail(self, pq, reason, out):
        self._finish(pq)
        if pq.key is None:
            return
        self.counters["servfail"] += 1
        out.append(Log(DEBUG, "SERVFAIL for %s: %s" % (wire.name_to_text(pq.query.question.name), reason)))
        out.append(Reply(pq.key, wire.make_error(pq.query.msg, wire.RCODE_SERVFAIL)))

    def _finish(self, pq):
        pq.done = True
        self.pending.pop(pq.pending_key, None)
        if self.waiting and pq in self.waiting:
            self.waiting.remove(pq)
        for attempt in pq.attempts:
            session = attempt.session
            if attempt in session.queued:
                session.queued.remove(attempt)
            session.retire(attempt)
        pq.attempts = []
