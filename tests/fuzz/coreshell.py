"""The I/O shell of the fuzz harnesses: tests/unit/coreharness.py's Harness,
with every action and every table of the Forwarder checked after each event.

What a real shell (src/dprive/io/daemon.py, Daemon.apply) relies on, and
what a router's memory relies on, written down as checks:

- every action is one of core/actions.py's, naming an upstream by a key the
  core was given and a session by a handle it opened;
- a Send goes on a session the core opened and has not closed, is a DNS
  query that parses, fits a TCP length prefix (io/upstream_conn.py frames it
  with core.framing.frame) and, over TLS, is padded to the block (RFC 8467);
- a Reply is for a client key the shell gave, at most once per key; its
  message carries the client's ID, parses, fits the client (UDP: its EDNS
  size; TCP: a length prefix), and has no OPT when the client sent none;
- log lines are one line of printable text (a LAN client must not be able
  to forge log lines);
- an upstream's state and its sessions' agree (REPLACING exactly when an
  old session is kept, a session exactly when not IDLE or BACKOFF, the
  session handshaking exactly when the upstream is); every session of it is
  on a transport it allows; a disabled one is IDLE, with no session, and
  gets no Connect;
- no table grows past its bound: pending (max_pending), waiting (only live
  queries, once each), inflight (only attempts of live queries), retired IDs
  (RETIRED_IDS_KEPT), recoveries (RECOVERIES_KEPT).

`settle()` then lets time run out and checks that every client got exactly
one REPLY and that nothing keyed is left behind.
"""

import re
import sys
from pathlib import Path

_UNIT = str(Path(__file__).resolve().parents[1] / "unit")
if _UNIT not in sys.path:
    sys.path.insert(0, _UNIT)

from coreharness import Harness  # noqa: E402

from dprive.core import forwarder as fw, message, session_state, upstream, upstream_state, wire  # noqa: E402

# Small bounds while a harness runs, so that an input of a few hundred steps
# reaches them and the code that keeps a table at its bound runs (upstream.py
# reads them at call time). Restored after each input: pytest runs the unit
# tests in the same process.
SMALL_BOUNDS = {"RETIRED_IDS_KEPT": 8, "RECOVERIES_KEPT": 3}


class small_bounds:
    def __enter__(self):
        self.saved = dict((name, getattr(upstream, name)) for name in SMALL_BOUNDS)
        for name, value in SMALL_BOUNDS.items():
            setattr(upstream, name, value)

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(upstream, name, value)

MAX_STREAM_MESSAGE = 65535
LOG_LEVELS = (10, 20, 30, 40, 50)
MAX_TIMER_REPEATS = 50
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")   # C0, DEL and C1: what a log line must not carry


class Violation(AssertionError):
    """An invariant of the core does not hold: a finding of the fuzzer."""


def require(ok, what, *args):
    if not ok:
        raise Violation(what % args if args else what)


class Expect:
    """What the harness knows about one client key, to check its REPLY."""

    def __init__(self, msg, udp):
        self.msg = msg
        self.udp = udp
        self.verdict, what, _ = message.inspect_query(msg)
        self.query = what if self.verdict == message.ACCEPT else None   # a ClientQuery
        self.replies = 0


class CheckedHarness(Harness):
    def __init__(self, names=("one",), config=None, enabled=None, transports=None):
        super().__init__(names, config, enabled, transports)
        self.expect = {}          # client key -> Expect
        self.live = {}            # handle -> transport, sessions opened and not yet closed
        self.next_key = 0
        self.next_upstream_key = 0   # reloads name new upstreams key1, key2, ...

    # ---- events -------------------------------------------------------------

    def ask(self, msg, udp=True):
        self.next_key += 1
        key = self.next_key
        self.expect[key] = Expect(msg, udp)
        self.query(key, msg, udp)
        return key

    def run(self, actions):
        require(isinstance(actions, list), "events return a list of actions, got %r", type(actions))
        for action in actions:
            self.check_action(action)
            super().run([action])
        self.check_tables()
        return actions

    def closed(self, index=0, reason="reset", graceful=False, gen=None, kind=None):
        gen = self.gen(index) if gen is None else gen
        self.live.pop(gen, None)      # the shell reports a session only once, at its end
        return super().closed(index, reason, graceful, gen, kind)

    def connect_failed_gen(self, handle, reason="refused", auth=False, heard=False):
        self.live.pop(handle, None)
        return self.run(self.fwd.connect_failed(handle, reason, self.clock.now, auth, heard))

    def tick(self, ms):
        """Advance the clock by `ms`, firing the timer when due; a timer that keeps
        coming due without time passing would spin the daemon's loop."""
        end = self.clock.now + ms
        fired_at, repeats = None, 0
        while True:
            when = self.fwd.next_timer()
            if when is None or when > end:
                break
            self.clock.now = max(self.clock.now, when)
            repeats = repeats + 1 if self.clock.now == fired_at else 0
            require(repeats < MAX_TIMER_REPEATS, "the timer fired %d times at %r without time passing",
                    repeats, self.clock.now)
            fired_at = self.clock.now
            self.run(self.fwd.timer(self.clock.now))
        self.clock.now = end

    # ---- one action -----------------------------------------------------------

    def check_action(self, action):
        require(isinstance(action, fw.Action), "an action is one of core/actions.py's: %r", action)
        if isinstance(action, fw.Connect):
            key = self._key(action.upstream, action)
            handle = action.handle
            require(isinstance(handle, int) and handle not in self.live and handle not in self.owner,
                    "Connect of a new handle: %r", action)
            require(isinstance(action.tfo, bool), "Connect's tfo is a bool: %r", action)
            require(isinstance(action.resume, bool), "Connect's resume is a bool: %r", action)
            up = [u for u in self.fwd.upstreams if u.key == key][0]
            require(action.transport in up.transports,
                    "Connect with a transport the upstream does not allow: %r", action)
            require(up.enabled, "Connect for a disabled upstream: %r", action)
            self.live[handle] = action.transport
        elif isinstance(action, fw.Send):
            require(action.handle in self.live, "Send on session %r, which is not open", action.handle)
            require(self.index_of(action.handle) is not None, "Send for an upstream gone: %r", action.handle)
            self._check_sent(action.msg, self.live[action.handle])
        elif isinstance(action, fw.Close):
            require(action.handle in self.live, "Close of session %r, which is not open", action.handle)
            self._check_text(action.reason, action)
            self._check_text(action.name, action)
            del self.live[action.handle]
        elif isinstance(action, fw.Reply):
            self._check_reply(action.client, action.msg)
        elif isinstance(action, fw.Log):
            require(action.level in LOG_LEVELS, "Log level %r", action.level)
            self._check_text(action.text, action)
        elif isinstance(action, fw.ForgetSession):
            self._key(action.upstream, action)
            require(action.transport in (fw.TLS, fw.DTLS), "ForgetSession of transport %r", action)
        else:
            raise Violation("unknown action %r" % (action,))

    def _key(self, key, action):
        require(any(u.key == key for u in self.fwd.upstreams), "an upstream key the core was not given: %r",
                action)
        return key

    @staticmethod
    def _check_text(text, action):
        require(isinstance(text, str) and text, "a reason or log text: %r", action)
        require(not CONTROL.search(text), "control character in %r", text)

    def _check_sent(self, msg, transport):
        require(isinstance(msg, bytes), "SEND carries bytes")
        require(wire.HEADER_LEN <= len(msg) <= MAX_STREAM_MESSAGE,
                "SEND of %d bytes: does not fit a length prefix", len(msg))
        try:
            header = wire.parse_header(msg)
            wire.read_question(msg)
            opt = wire.find_opt(msg)
        except wire.WireError as err:
            raise Violation("SEND of a message that does not parse: %s" % err)
        require(not header.flags & wire.QR, "SEND of a response")
        require(opt is not None, "SEND without our OPT record")
        block = self.fwd.config.padding_block
        if block > 0:
            require(len(msg) % block == 0, "SEND of %d bytes, not padded to %d", len(msg), block)
        if transport == fw.DTLS:
            require(opt.udp_size <= message.DTLS_MAX_PAYLOAD, "DTLS query asks for %d bytes",
                    opt.udp_size)

    def _check_reply(self, key, msg):
        expect = self.expect.get(key)
        require(expect is not None, "REPLY for a key never given: %r", key)
        expect.replies += 1
        require(expect.replies == 1, "client %r got %d replies", key, expect.replies)
        if msg is None:
            require(expect.verdict == message.DROP, "client %r let go without an answer, "
                    "but its query was not one to drop", key)
            return
        require(isinstance(msg, bytes), "REPLY carries bytes or None")
        require(expect.verdict != message.DROP, "an answer to a message that had to be dropped")
        limit = expect.query.udp_limit if expect.udp and expect.query is not None else (
            wire.MIN_UDP_PAYLOAD if expect.udp else MAX_STREAM_MESSAGE)
        require(len(msg) <= limit, "REPLY of %d bytes to a client that takes %d", len(msg), limit)
        try:
            header = wire.parse_header(msg)
            opt = wire.find_opt(msg)
        except wire.WireError as err:
            raise Violation("REPLY that does not parse: %s" % err)
        require(header.id == wire.get_id(expect.msg), "REPLY with ID %d, the client asked with %d",
                header.id, wire.get_id(expect.msg))
        require(header.flags & wire.QR, "REPLY that is not a response")
        query = expect.query
        if query is None:
            return
        require(opt is None or query.had_opt, "an OPT record to a client that sent none")
        if opt is not None:
            for code in message.HOP_BY_HOP:
                require(opt.get(code) is None, "hop-by-hop option %d passed to the client", code)
        if header.qdcount == 1:
            got = wire.read_question(msg)
            want = query.question
            require((got.name.lower(), got.qtype, got.qclass) == (want.name.lower(), want.qtype, want.qclass),
                    "REPLY for another question")

    # ---- tables -------------------------------------------------------------------

    def check_tables(self):
        fwd = self.fwd
        require(len(fwd.pending) <= fwd.config.max_pending + len(fwd.upstreams),
                "%d pending queries, the bound is %d", len(fwd.pending), fwd.config.max_pending)
        waiting_ids = set()
        for pq in fwd.waiting:
            require(id(pq) not in waiting_ids, "a query waits twice")
            waiting_ids.add(id(pq))
            require(not pq.done and fwd.pending.get(pq.pending_key) is pq,
                    "a finished query is still waiting")
        for pq in fwd.pending.values():
            require(not pq.done, "a finished query is still pending")
        for up in fwd.upstreams:
            require(len(up.recoveries) <= upstream.RECOVERIES_KEPT, "%d recoveries kept", len(up.recoveries))
            for name, value in up.counters.items():
                require(isinstance(value, int) and value >= 0, "counter %s is %r", name, value)
            self._check_states(up)
            for session in (up.session, up.previous, up.stream):
                if session is not None:
                    self._check_session(up, session)
            require(len(up.extras) < max(2, fwd.config.connections), "%s: %d extra sessions, the "
                    "limit is %d in all", up.name, len(up.extras), fwd.config.connections)
            for session in up.extras:
                require(session.transport == fw.TLS and session.state != session_state.CLOSED,
                        "%s: an extra session on %s, %s", up.name, session.transport, session.state)
                require(session.handle in self.live, "%s: an extra session the shell closed", up.name)
                self._check_session(up, session)
        for name, value in fwd.counters.items():
            require(isinstance(value, int) and value >= 0, "counter %s is %r", name, value)

    @staticmethod
    def _check_states(up):
        """The upstream's state and its sessions' agree (core/upstream_state.py, session_state.py)."""
        require((up.state == upstream_state.REPLACING) == (up.previous is not None),
                "%s: %s with a kept old session %r", up.name, up.state, up.previous)
        require((up.session is None) == (up.state in (upstream_state.IDLE, upstream_state.BACKOFF)),
                "%s: %s with session %r", up.name, up.state, up.session)
        if up.session is not None:
            want = session_state.HANDSHAKING if upstream_state.handshaking(up) else session_state.OPEN
            require(up.session.state == want, "%s: %s, its session %s", up.name, up.state, up.session.state)
        if up.previous is not None:
            require(up.previous.state == session_state.OPEN, "the kept old session is %s", up.previous.state)
        if up.stream is not None:
            require(up.stream.state != session_state.CLOSED, "the TLS session beside DTLS is closed but kept")
        # A disabled upstream opens no session: nothing of it is kept, no retry is due.
        require(up.enabled or (up.state, up.session, up.previous, up.stream) == (upstream_state.IDLE,
                None, None, None), "%s: disabled, yet %s with sessions", up.name, up.state)
        for session in (up.session, up.previous, up.stream):
            require(session is None or session.transport in up.transports,
                    "%s: a %s session, allowed %r", up.name, session and session.transport, up.transports)

    def _check_session(self, up, session):
        fwd = self.fwd
        require(len(session.retired) <= upstream.RETIRED_IDS_KEPT, "%d retired IDs kept", len(session.retired))
        require(len(session.retired) == len(session._retired_order), "retired IDs and their order differ")
        for upstream_id, attempt in session.inflight.items():
            require(attempt.id == upstream_id, "an attempt filed under another ID")
            pq = attempt.pending
            require(not pq.done and fwd.pending.get(pq.pending_key) is pq,
                    "%s: an attempt of a finished query stays in flight (ID %d)", up.name, upstream_id)
        for attempt in session.queued:
            require(session.inflight.get(attempt.id) is attempt, "a queued attempt is not in flight")

    # ---- the end ------------------------------------------------------------------

    def settle(self):
        """Let every deadline pass; every client has its one REPLY, nothing keyed is left."""
        cfg = self.fwd.config
        for _ in range(4):
            self.tick(cfg.query_timeout_ms + cfg.connect_timeout_ms + 1)
        for key, expect in self.expect.items():
            require(expect.replies == 1, "client %r got %d replies after every deadline passed",
                    key, expect.replies)
        for pq in self.fwd.pending.values():
            require(pq.key is None, "client %r still pending after its deadline", pq.key)
        for pq in self.fwd.waiting:
            require(pq.key is None, "client %r still waiting after its deadline", pq.key)
