"""Opening sessions and putting queries on them: the Connect and Send actions.

Every session the core asks the shell for is opened here, so its handle is a
number never used twice: an upstream's session (CONNECT, or REPLACE while the
open one stays), the TLS session beside a DTLS one for truncated answers, and
the extra TLS sessions under load (core/pool.py).
The transport, Fast Open and the offer of a stored TLS session are the
policies' (DtlsPolicy, ResumptionPolicy). An attempt gets an upstream ID free
on its session; sent, it gets a deadline: the upstream's RTO, at least
attempt_min_ms, never past the query's own deadline.
"""

from dprive.core import message, upstream_state
from dprive.core.actions import Connect, Send
from dprive.core.dtls_policy import TLS
from dprive.core.upstream import Attempt, Session


class Links:
    def __init__(self, config, rand16, alarm, resumption, dtls):
        self.config = config
        self.rand16 = rand16
        self.alarm = alarm
        self.resumption = resumption
        self.dtls = dtls
        self._gen = 0           # the last handle given out

    def connect(self, up, now, out, event=upstream_state.CONNECT):
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
        self.alarm.arm(session.connect_deadline)
        out.append(Connect(self._gen, up.key, session.tfo_attempted, session.transport,
                           self.resumption.resume()))

    def connect_side_tls(self, up, now, out):
        """The TLS session beside `up`'s DTLS one (`up.stream`), for truncated answers."""
        self._gen += 1
        stream = up.stream = Session(self._gen, now, now + self.config.connect_timeout_ms)
        stream.transport = TLS
        stream.tfo_attempted = self.resumption.use_tfo(up, TLS, now)
        self.alarm.arm(stream.connect_deadline)
        out.append(Connect(stream.handle, up.key, stream.tfo_attempted, TLS,
                           self.resumption.resume()))
        return stream

    def connect_extra(self, up, now, out):
        """One more TLS session to OPEN `up`, beside its current one (core/pool.py)."""
        self._gen += 1
        extra = Session(self._gen, now, now + self.config.connect_timeout_ms)
        extra.tfo_attempted = self.resumption.use_tfo(up, TLS, now)
        up.extras.append(extra)
        up.count("extra_connects")
        self.alarm.arm(extra.connect_deadline)
        out.append(Connect(extra.handle, up.key, extra.tfo_attempted, TLS, self.resumption.resume()))
        return extra

    def attach(self, pq, up, session):
        """A new attempt of `pq` on `session`, in flight there; not sent yet."""
        attempt = Attempt(pq, up, session, session.new_id(self.rand16))
        session.inflight[attempt.id] = attempt
        pq.attempts.append(attempt)
        return attempt

    def transmit(self, attempt, now, out):
        pq = attempt.pending
        up = attempt.upstream
        payload = message.upstream_query(pq.query, attempt.id, self.config.padding_block,
                                         attempt.session.transport == TLS)
        out.append(Send(attempt.session.handle, payload))
        attempt.sent_at = now
        wait = max(self.config.attempt_min_ms, up.rtt.rto_ms())
        attempt.deadline = min(now + wait, pq.deadline)
        up.note_activity(attempt.session, now)
        self.alarm.arm(attempt.deadline)
