"""The query side of the forwarder: a client's query in, attempts out, its answer back.

Rules (the rest of them in core/forwarder.py's docstring):
- A query goes to the upstream Selection picks; with none usable and nothing
  in flight it may retry the failed one due soonest early, or wait for one
  (Clients.waiting) rather than fail, and gets SERVFAIL only when no upstream
  is left for it (every one failed it, or MAX_ATTEMPTS went out).
- Before a query goes on a session, the session must be fit for it: a quiet
  DTLS one is resumed first (DtlsFlows), one past the server's idle timeout
  is ended (Sessions) and a new one opened (Links).
- An attempt unanswered by its deadline, on a connection that said nothing
  since it left, gets that connection reset (Sessions); on a live but slow
  one, the query is also sent to the next upstream.
- An answer is matched by its upstream ID on its session; one for an ID
  retired (its query was answered elsewhere) is counted as late; anything
  else unparsable or unknown is a protocol violation, which answer() reports
  to its caller (Sessions) to reset the session.

Queries and Sessions call each other: a query may find its session past the
idle timeout, a session that ends sends its queries out again. Sessions gets
Queries when it is made; Queries gets Sessions once both exist (`sessions`).
"""

from dprive.core import message, upstream_state, wire
from dprive.core.actions import DEBUG, INFO, MAX_ATTEMPTS, Close, Log, Reply
from dprive.core.dtls_policy import DTLS
from dprive.core.sessions import TIMEOUT
from dprive.core.upstream import IDLE, OPEN

# ". IN NS" with RD: the smallest question any resolver answers from memory.
_KEEPWARM_QUERY = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01"


class Queries:
    def __init__(self, config, upstreams, clients, links, flows, selection, recovery, alarm, pool):
        self.config = config
        self.upstreams = upstreams   # the Forwarder's list (a reload changes it in place)
        self.clients = clients       # the pending table, the waiting list, a query's end
        self.links = links           # Connect and Send
        self.flows = flows           # DTLS False Start, truncated answers asked again over TLS
        self.selection = selection   # which upstream
        self.recovery = recovery     # what a loss cost, once answered
        self.alarm = alarm
        self.pool = pool             # which session of an open upstream, extras under load
        self.sessions = None         # Sessions, once made: idle and silent sessions end there

    def client_query(self, key, msg, now, udp=True):
        out = []
        clients = self.clients
        clients.counters["queries"] += 1
        verdict, what, reason = message.inspect_query(msg)
        if verdict == message.DROP:
            clients.counters["dropped"] += 1
            out.append(Log(DEBUG, "dropped a client message: " + reason))
            out.append(Reply(key, None))     # no answer, but the shell must let go of the client
            return out
        if verdict == message.REPLY:
            rcode = wire.parse_header(what).rcode()
            clients.counters["notimp" if rcode == wire.RCODE_NOTIMP else "formerr"] += 1
            out.append(Log(DEBUG, "answered a bad client message with rcode %d: %s" % (rcode, reason)))
            out.append(Reply(key, what))
            return out
        if len(clients.pending) >= self.config.max_pending:
            clients.counters["overload"] += 1
            clients.counters["servfail"] += 1
            out.append(Reply(key, wire.make_error(msg, wire.RCODE_SERVFAIL)))
            return out
        pq = clients.add(key, what, udp, now + self.config.query_timeout_ms)
        self.alarm.arm(pq.deadline)
        self.dispatch(pq, now, out)
        return out

    def send_tiny_query(self, up, now, out, counter):
        """A tiny query on a quiet session: the server's idle timer starts over (keep-warm),
        or a silent or alerting server shows itself (a DTLS probe)."""
        query = message.inspect_query(_KEEPWARM_QUERY)[1]
        pq = self.clients.add(None, query, False, now + self.config.query_timeout_ms)
        pq.tried = dict((u.key, True) for u in self.upstreams if u is not up)
        pq.sent = MAX_ATTEMPTS   # never retried elsewhere: it only matters to this session
        up.count(counter)
        self.links.transmit(self.links.attach(pq, up, up.session), now, out)

    # ---- choosing and sending --------------------------------------------------

    def dispatch(self, pq, now, out):
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
                self.clients.waiting.append(pq)
            else:
                self.clients.servfail(pq, "every upstream failed", out)
            return
        pq.tried[up.key] = True
        pq.sent += 1
        if pq.sent > 1:
            self.clients.counters["retries"] += 1
        up.count("queries")
        self.flows.resume_if_quiet(up, now, out)
        if up.state == OPEN:
            expiry = up.session.idle_expiry(up.learned_idle_ms)
            if expiry is not None and now >= expiry:
                session = up.session
                out.append(Close(session.handle, "server idle timeout", up.name))
                self.sessions.end_session(up, "server idle timeout", True, now, out)
        if up.state == IDLE:
            self.links.connect(up, now, out)
        if up.state == OPEN:
            # the current session, or an extra one under load (core/pool.py)
            attempt = self.links.attach(pq, up, self.pool.pick(up, now, out))
            self.links.transmit(attempt, now, out)
        else:
            up.session.queued.append(self.links.attach(pq, up, up.session))

    def _early_retry(self, pq, now, out):
        """No upstream is usable: rather than SERVFAIL, retry the failed one due soonest."""
        best = self.selection.early_retry(self.upstreams, pq, now)
        if best is not None:
            out.append(Log(INFO, "%s: trying again early, a query is waiting and no upstream is usable"
                           % best.name))
            upstream_state.move(best, upstream_state.RETRY_EARLY)
        return best

    def release_waiting(self, now, out):
        """A session came up: the queries that waited for one go out now."""
        for pq in self.clients.take_waiting():
            if not pq.done:
                pq.tried = {}
                self.dispatch(pq, now, out)

    # ---- deadlines -------------------------------------------------------------

    def timers(self, now, out):
        """Queries past their deadline get SERVFAIL; attempts past theirs, a second chance."""
        for pq in list(self.clients.pending.values()):
            if pq.done:
                continue
            if now >= pq.deadline:
                self.clients.servfail(pq, "no answer within %d ms" % self.config.query_timeout_ms, out)
                continue
            self.alarm.arm(pq.deadline)
            for attempt in list(pq.attempts):
                if attempt.deadline is None or attempt.timed_out:
                    continue
                if now >= attempt.deadline:
                    self._attempt_timed_out(attempt, now, out)
                    if pq.done:
                        break
                else:
                    self.alarm.arm(attempt.deadline)

    def _attempt_timed_out(self, attempt, now, out):
        attempt.timed_out = True
        up = attempt.upstream
        up.count("timeouts")
        up.rtt.timed_out()
        session = attempt.session
        heard = session.last_answer_at
        if session is up.session and (heard is None or heard <= attempt.sent_at):
            # Nothing came back on this connection since the query left: presume it dead.
            self.sessions.reset(up, "no answer within %d ms" % (now - attempt.sent_at), now, out, TIMEOUT)
            return
        if session in up.extras and (heard is None or heard <= attempt.sent_at):
            self.pool.reset(up, session, "no answer within %d ms" % (now - attempt.sent_at), now, out)
            return
        # The connection is alive and the server is slow: ask elsewhere too, keep waiting here.
        pq = attempt.pending
        if self.selection.choose(self.upstreams, pq) is not None and pq.sent < MAX_ATTEMPTS:
            self.dispatch(pq, now, out)

    # ---- answers ---------------------------------------------------------------

    def answer(self, up, session, msg, now, out):
        """One message from the upstream on `session`: None if it was fine (an answer,
        or a late one), else why the session must be reset (the caller does it)."""
        try:
            upstream_id = wire.get_id(msg)
        except wire.WireError:
            up.count("bad_answers")
            return "message shorter than a DNS header"
        attempt = session.inflight.get(upstream_id)
        if attempt is None:
            if upstream_id in session.retired:
                up.count("late_answers")
                return None
            up.count("unmatched")
            return "answer with unknown ID %d" % upstream_id
        try:
            reply, keepalive_ms = message.client_answer(msg, attempt.pending.query)
        except wire.WireError as err:
            up.count("bad_answers")
            return "bad answer: %s" % err
        del session.inflight[upstream_id]
        up.count("answers")
        session.last_answer_at = now
        self.recovery.answered(up, now)
        if attempt.sent_at is not None and not attempt.timed_out:
            up.rtt.sample(now - attempt.sent_at)
        if keepalive_ms is not None:
            session.server_idle_ms = keepalive_ms
        pq = attempt.pending
        pq.attempts.remove(attempt)
        if pq.done:
            return None
        if session.transport == DTLS and self.flows.truncated_over_dtls(up, pq, reply, now, out):
            return None
        self.clients.complete(pq, reply, out)
        return None
