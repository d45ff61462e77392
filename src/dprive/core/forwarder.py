"""The forwarder's brain, sans-I/O: client queries in, upstream sends and client replies out.

The I/O shell reports events (a client query, a session up, bytes from an
upstream, a session closed, the timer) with the current time in milliseconds,
and carries out the actions returned, in order:

    (CONNECT, upstream_index, gen)          open session `gen` (TCP, then TLS)
    (SEND, upstream_index, gen, data)       write plaintext on session `gen`
    (CLOSE, upstream_index, gen, reason)    close session `gen` (close_notify); no
                                            `closed` event is expected back for it
    (REPLY, client_key, msg)                answer the client
    (LOG, level, text)                      one log line (levels as in `logging`)

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
"""

from dprive.core import message, wire
from dprive.core.framing import FramingError, frame
from dprive.core.upstream import BACKOFF, CONNECTING, IDLE, OPEN, Attempt, Session, Upstream

CONNECT = "connect"
SEND = "send"
CLOSE = "close"
REPLY = "reply"
LOG = "log"

DEBUG = 10
INFO = 20
WARNING = 30

MAX_ATTEMPTS = 4
FOREVER = float("inf")


class ForwarderConfig:
    """The knobs the core needs, in milliseconds."""

    def __init__(self, padding_block=128, query_timeout_ms=5000, connect_timeout_ms=3000,
                 attempt_min_ms=400, backoff_max_ms=120000, max_pending=4096):
        self.padding_block = padding_block
        self.query_timeout_ms = query_timeout_ms
        self.connect_timeout_ms = connect_timeout_ms
        self.attempt_min_ms = attempt_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.max_pending = max_pending


class PendingQuery:
    def __init__(self, key, query, udp, now, deadline):
        self.key = key
        self.query = query
        self.udp = udp
        self.received_at = now
        self.deadline = deadline
        self.attempts = []     # live Attempts
        self.tried = {}        # upstream index -> True
        self.lost_on = {}      # upstream index -> True once a session died under this query
        self.sent = 0
        self.done = False


GLOBAL_COUNTERS = ("queries", "answers", "servfail", "formerr", "notimp", "dropped",
                   "truncated", "overload", "retries")


class Forwarder:
    def __init__(self, config, upstream_names, rand16, enabled=None):
        self.config = config
        self.rand16 = rand16
        self.upstreams = []
        for index, name in enumerate(upstream_names):
            on = True if enabled is None else enabled[index]
            self.upstreams.append(Upstream(index, name, on))
        self.pending = {}
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
            out.append((LOG, DEBUG, "dropped a client message: " + reason))
            return out
        if verdict == message.REPLY:
            rcode = wire.parse_header(what).rcode()
            self.counters["notimp" if rcode == wire.RCODE_NOTIMP else "formerr"] += 1
            out.append((LOG, DEBUG, "answered a bad client message with rcode %d: %s" % (rcode, reason)))
            out.append((REPLY, key, what))
            return out
        if len(self.pending) >= self.config.max_pending:
            self.counters["overload"] += 1
            self.counters["servfail"] += 1
            out.append((REPLY, key, wire.make_error(msg, wire.RCODE_SERVFAIL)))
            return out
        pq = PendingQuery(key, what, udp, now, now + self.config.query_timeout_ms)
        self._next_key += 1
        self.pending[self._next_key] = pq
        pq.pending_key = self._next_key
        self._arm(pq.deadline)
        self._dispatch(pq, now, out)
        return out

    def connected(self, index, gen, now, info=None):
        out = []
        up = self._current(index, gen)
        if up is None:
            return out
        up.state = OPEN
        up.consecutive_failures = 0
        up.connect_deadline = None
        session = up.session
        if info:
            session.info = dict(info)
        session.last_activity = now
        out.append((LOG, INFO, "%s: session up%s" % (up.name, _describe(session.info))))
        queued, session.queued = session.queued, []
        for attempt in queued:
            if not attempt.pending.done:
                self._transmit(attempt, now, out)
        return out

    def start(self, now):
        """Open a session to every enabled upstream, so the first query finds one warm."""
        out = []
        for up in self.upstreams:
            if up.enabled and up.state == IDLE:
                self._connect(up, now, out)
        return out

    def connect_failed(self, index, gen, reason, now, auth_failure=False):
        out = []
        up = self._current(index, gen)
        if up is not None:
            self._connect_failed(up, reason, now, out, auth_failure)
        return out

    def closed(self, index, gen, reason, graceful, now):
        out = []
        up = self._current(index, gen)
        if up is None:
            return out
        if up.state == CONNECTING:
            self._connect_failed(up, reason, now, out)
        else:
            self._end_session(up, reason, graceful, now, out)
        return out

    def data(self, index, gen, data, now):
        out = []
        up = self._current(index, gen)
        if up is None or up.state != OPEN:
            return out
        session = up.session
        session.last_activity = now
        try:
            messages = session.decoder.feed(data)
        except FramingError as err:
            self._protocol_violation(up, "broken stream: %s" % err, now, out)
            return out
        for msg in messages:
            if not self._answer(up, session, msg, now, out):
                return out
        expiry = session.idle_expiry()
        if expiry is not None:
            self._arm(expiry)
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

    def reconnect(self, now, index=None):
        """Drop and re-establish sessions (all, or one upstream): a WAN change, a user's click."""
        out = []
        for up in self.upstreams:
            if index is not None and up.index != index or not up.enabled:
                continue
            if up.session is not None:
                session = up.session
                out.append((CLOSE, up.index, session.gen, "reconnect requested"))
                self._end_session(up, "reconnect requested", True, now, out)
            up.consecutive_failures = 0
            if up.state in (IDLE, BACKOFF):
                self._connect(up, now, out)
        return out

    def status(self, now):
        return {
            "counters": dict(self.counters),
            "pending": len(self.pending),
            "upstreams": [up.status(now) for up in self.upstreams],
        }

    # ---- choosing and sending --------------------------------------------------

    def _arm(self, when):
        if when < self._next_timer:
            self._next_timer = when

    def _current(self, index, gen):
        if index < 0 or index >= len(self.upstreams):
            return None
        up = self.upstreams[index]
        if up.session is None or up.session.gen != gen:
            return None
        return up

    def _choose(self, pq):
        """The usable upstream `pq` has not tried, best preference first.

        One whose session died under this query comes last: the replay goes to
        another server when there is one, else to a new session on the same.
        """
        best = None
        best_key = None
        for up in self.upstreams:
            if not up.usable() or up.index in pq.tried:
                continue
            key = (up.index in pq.lost_on, up.preference())
            if best is None or key < best_key:
                best, best_key = up, key
        return best

    def _dispatch(self, pq, now, out):
        """Send `pq` to the best upstream it has not tried; SERVFAIL if none is left."""
        up = None if pq.sent >= MAX_ATTEMPTS else self._choose(pq)
        if up is None and not pq.attempts and pq.sent < MAX_ATTEMPTS:
            up = self._early_retry(pq, now, out)
        if up is None:
            if not pq.attempts:
                self._servfail(pq, "every upstream failed", out)
            return
        pq.tried[up.index] = True
        pq.sent += 1
        if pq.sent > 1:
            self.counters["retries"] += 1
        up.count("queries")
        if up.state == OPEN:
            expiry = up.session.idle_expiry()
            if expiry is not None and now >= expiry:
                session = up.session
                out.append((CLOSE, up.index, session.gen, "server idle timeout"))
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

    def _early_retry(self, pq, now, out):
        """No upstream is usable: rather than SERVFAIL, retry the failed one due soonest.

        The network may be back (WAN up after boot, a PPPoE reconnect) long
        before the backoff ends. Authentication failures are not retried early.
        """
        best = None
        for up in self.upstreams:
            if up.index in pq.tried or not up.may_retry_early(now):
                continue
            if best is None or up.retry_at < best.retry_at:
                best = up
        if best is not None:
            out.append((LOG, INFO, "%s: trying again early, a query is waiting and no upstream is usable"
                        % best.name))
            best.state = IDLE
        return best

    def _transmit(self, attempt, now, out):
        pq = attempt.pending
        up = attempt.upstream
        payload = message.upstream_query(pq.query, attempt.id, self.config.padding_block)
        out.append((SEND, up.index, attempt.session.gen, frame(payload)))
        attempt.sent_at = now
        wait = max(self.config.attempt_min_ms, up.rtt.rto_ms())
        attempt.deadline = min(now + wait, pq.deadline)
        attempt.session.last_activity = now
        self._arm(attempt.deadline)

    def _connect(self, up, now, out):
        self._gen += 1
        if up.counters["connects"]:
            up.count("reconnects")
        up.count("connects")
        up.session = Session(self._gen, now)
        up.state = CONNECTING
        up.last_connect_at = now
        up.connect_deadline = now + self.config.connect_timeout_ms
        self._arm(up.connect_deadline)
        out.append((CONNECT, up.index, self._gen))

    # ---- answers ---------------------------------------------------------------

    def _answer(self, up, session, msg, now, out):
        """Handle one message from the upstream; False if the session had to be reset."""
        try:
            upstream_id = wire.get_id(msg)
        except wire.WireError:
            up.count("bad_answers")
            self._protocol_violation(up, "message shorter than a DNS header", now, out)
            return False
        attempt = session.inflight.get(upstream_id)
        if attempt is None:
            if upstream_id in session.retired:
                up.count("late_answers")
                return True
            up.count("unmatched")
            self._protocol_violation(up, "answer with unknown ID %d" % upstream_id, now, out)
            return False
        try:
            answer = message.client_answer(msg, attempt.pending.query)
        except wire.WireError as err:
            up.count("bad_answers")
            self._protocol_violation(up, "bad answer: %s" % err, now, out)
            return False
        del session.inflight[upstream_id]
        up.count("answers")
        session.last_answer_at = now
        if attempt.sent_at is not None and not attempt.timed_out:
            up.rtt.sample(now - attempt.sent_at)
        if answer.keepalive_ms is not None:
            session.server_idle_ms = answer.keepalive_ms
        pq = attempt.pending
        pq.attempts.remove(attempt)
        if not pq.done:
            self._complete(pq, answer.msg, out)
        return True

    def _complete(self, pq, msg, out):
        self._finish(pq)
        if pq.udp:
            msg, truncated = message.fit_for_udp(msg, pq.query.udp_limit)
            if truncated:
                self.counters["truncated"] += 1
        self.counters["answers"] += 1
        out.append((REPLY, pq.key, msg))

    def _servfail(self, pq, reason, out):
        self._finish(pq)
        self.counters["servfail"] += 1
        out.append((LOG, DEBUG, "SERVFAIL for %s: %s" % (wire.name_to_text(pq.query.question.name), reason)))
        out.append((REPLY, pq.key, wire.make_error(pq.query.msg, wire.RCODE_SERVFAIL)))

    def _finish(self, pq):
        pq.done = True
        self.pending.pop(pq.pending_key, None)
        for attempt in pq.attempts:
            session = attempt.session
            if attempt in session.queued:
                session.queued.remove(attempt)
            session.retire(attempt)
        pq.attempts = []

    # ---- failures --------------------------------------------------------------

    def _attempt_timed_out(self, attempt, now, out):
        attempt.timed_out = True
        up = attempt.upstream
        up.count("timeouts")
        up.rtt.timed_out()
        session = attempt.session
        heard = session.last_answer_at
        if session is up.session and (heard is None or heard <= attempt.sent_at):
            # Nothing came back on this connection since the query left: presume it dead.
            self._reset(up, "no answer within %d ms" % (now - attempt.sent_at), now, out)
            return
        # The connection is alive and the server is slow: ask elsewhere too, keep waiting here.
        pq = attempt.pending
        if self._choose(pq) is not None and pq.sent < MAX_ATTEMPTS:
            self._dispatch(pq, now, out)

    def _protocol_violation(self, up, reason, now, out):
        """The upstream sent something no DNS server should: reset the session.

        Like any lost session this stretches its preference, so the queries in
        flight are retried elsewhere when another upstream is usable, and on a
        new session to the same one when it is the only one.
        """
        self._reset(up, reason, now, out)

    def _reset(self, up, reason, now, out):
        out.append((CLOSE, up.index, up.session.gen, reason))
        self._end_session(up, reason, False, now, out)

    def _connect_failed(self, up, reason, now, out, auth_failure=False):
        session = up.session
        up.session = None
        up.auth_failed = auth_failure
        up.count("failures")
        up.last_close_reason = reason
        up.back_off(now, self.config.backoff_max_ms)
        self._arm(up.retry_at)
        out.append((LOG, WARNING, "%s: connection failed: %s (next try in %d ms)"
                    % (up.name, reason, up.retry_at - now)))
        self._resend(session, up, False, now, out)

    def _end_session(self, up, reason, graceful, now, out):
        """An established session is over; its queries go out again, none is lost."""
        session = up.session
        up.session = None
        up.state = IDLE
        up.last_close_reason = reason
        if graceful:
            up.count("graceful_closes")
            out.append((LOG, INFO, "%s: session closed: %s" % (up.name, reason)))
        else:
            up.count("failures")
            # Until it answers again, prefer the others a little (as after a timeout).
            up.rtt.timed_out()
            out.append((LOG, WARNING, "%s: session lost: %s (%d queries in flight sent again)"
                        % (up.name, reason, len(session.inflight))))
        # A lost session is no reason to avoid its server: it may be tried again at once.
        self._resend(session, up, True, now, out)

    def _resend(self, session, up, same_upstream_ok, now, out):
        attempts = list(session.inflight.values())
        session.inflight = {}
        session.queued = []
        for attempt in attempts:
            pq = attempt.pending
            if attempt in pq.attempts:
                pq.attempts.remove(attempt)
            if pq.done:
                continue
            if same_upstream_ok:
                pq.tried.pop(up.index, None)
            pq.lost_on[up.index] = True
            if not pq.attempts:
                self._dispatch(pq, now, out)

    def _upstream_timers(self, up, now, out):
        if up.state == CONNECTING:
            if now >= up.connect_deadline:
                gen = up.session.gen
                out.append((CLOSE, up.index, gen, "connect timeout"))
                self._connect_failed(up, "no TLS session within %d ms" % self.config.connect_timeout_ms,
                                     now, out)
            else:
                self._arm(up.connect_deadline)
        elif up.state == BACKOFF:
            if now >= up.retry_at:
                out.append((LOG, INFO, "%s: trying again after %d failures"
                            % (up.name, up.consecutive_failures)))
                self._connect(up, now, out)
            else:
                self._arm(up.retry_at)
        elif up.state == OPEN:
            expiry = up.session.idle_expiry()
            if expiry is None:
                return
            if now >= expiry:
                gen = up.session.gen
                out.append((CLOSE, up.index, gen, "server idle timeout"))
                self._end_session(up, "idle past the server's %d ms keepalive"
                                  % up.session.server_idle_ms, True, now, out)
            else:
                self._arm(expiry)


def _describe(info):
    if not info:
        return ""
    parts = []
    for key in ("tls_version", "cipher", "auth", "resumed"):
        if key in info:
            parts.append("%s=%s" % (key, info[key]))
    return " (" + ", ".join(parts) + ")"
