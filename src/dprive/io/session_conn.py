"""What a TLS session over TCP and a DTLS session over UDP share: how one ends.

io/upstream_conn.py (on a stream transport) and io/dtls_conn.py (on a
datagram transport, both io/transport.py) both carry one engine session (a TlsClient
of tls/dot.py or tls/dot_mbedtls.py, a DtlsClient) for the daemon, which gave them one opaque `handle`
to report every event with. The rules they share live here:

- A session reports its end once, and nothing at all after it: once
  `finished` is set (an end was reported, or the daemon called close()), no
  message, alert or second end reaches the daemon.
- An end before the handshake completed is a connect failure
  (`on_connect_failed`, the stage it failed in named in the reason by the
  transport's `_connect_failure`); after it, a close (`on_closed`, with how
  it ended: graceful or not, RST/TIMEOUT/FIN/CLOSE_NOTIFY or None).
- What the engine refuses ends the session: AuthError as an authentication
  failure, TlsError with the engine's own words, and an exception while
  making the first flight with its type and text (tls/engine_api.py start_failure).
- Messages are handed over one by one while the session is not finished: an
  answer can make the core give the session up, and the rest of that read
  then belongs to nobody.
- close() from the daemon sends close_notify when the session is up, and
  reports nothing.

What differs is the transport's, in small hooks: `_write` (bytes on a stream,
datagrams on UDP), `_disarm` (DTLS's retransmission timer), `_let_go` (TCP
aborts on a failure), `_closing` and `_connect_failure` (the stage texts).
"""

from dprive.core.forwarder import CLOSE_NOTIFY
from dprive.tls.engine_api import AuthError, TlsError, start_failure


class SessionConnection:
    TRANSPORT = "tls"    # on_connect_failed's `transport`: which stored session to forget

    def __init__(self, events, handle, engine, on_session=None):
        self.events = events      # the daemon: on_connected/on_connect_failed/on_message/on_garbled/on_closed
        self.handle = handle      # opaque; every event to `events` carries it
        self.engine = engine
        self.on_session = on_session   # called with each new session, for resumption
        self.transport = None
        self.outbox = []
        self.heard = False        # any byte from the server: a failure now is the handshake's
        self.finished = False     # an end was reported (or the daemon closed us): report no more

    # called by the daemon

    def close(self):
        """The core gave this session up: close_notify if we can, and go, reporting nothing."""
        self.finished = True
        self._disarm()
        if self.transport is None or self._closing():
            return
        try:
            if self.engine.established:
                self._write(self.engine.close())
        except Exception:   # a broken session may not even close cleanly; it is going anyway
            pass
        self.transport.close()

    # for the transports

    def _start(self, transport):
        """connection_made: send the first flight; False if the session died making it."""
        self.transport = transport
        try:
            self._write(self.engine.start())
        except Exception as err:   # whatever it is, it is this session's cause of death
            self._fail(start_failure(err, self.TRANSPORT.upper()))
            return False
        return True

    def _receive(self, data):
        """The engine's (messages or plaintext, just_up, peer_closed) for `data`,
        or None when the engine refused it and the session was ended."""
        try:
            return self.engine.receive(data)
        except AuthError as err:
            self._fail("authentication failed: %s" % err, auth_failure=True)
        except TlsError as err:
            self._fail(str(err))
        return None

    def _connected(self, tfo):
        info = self.engine.info()
        info["tfo"] = tfo
        self.events.on_connected(self.handle, info)

    def _deliver(self, messages):
        for msg in messages:
            if self.finished:
                return   # an answer before this one made the core give the session up
            self.events.on_message(self.handle, msg)

    def _peer_closed(self):
        self._end("server sent close_notify", True, CLOSE_NOTIFY)

    def _fail(self, reason, auth_failure=False):
        """The engine refused: handshake, authentication or record failure."""
        self._finish(reason, False, None, auth_failure, True)

    def _end(self, reason, graceful, kind):
        """The session or its transport ended (close_notify, FIN, RST, ICMP ...)."""
        self._finish(reason, graceful, kind, False, False)

    def _finish(self, reason, graceful, kind, auth_failure, failed):
        if self.finished:
            return
        established = self.engine.established
        self.finished = True
        self._disarm()
        self._let_go(failed)
        if established:
            self.events.on_closed(self.handle, reason, graceful, kind)
        else:
            self.events.on_connect_failed(self.handle, self._connect_failure(reason, failed, auth_failure),
                                          auth_failure, self.heard, transport=self.TRANSPORT)

    # the transport's hooks

    def _write(self, output):
        raise NotImplementedError

    def _disarm(self):
        """Stop the transport's own timer, if it runs one."""

    def _let_go(self, failed):
        if self.transport is not None:
            self.transport.close()

    def _closing(self):
        return False

    def _connect_failure(self, reason, failed, auth_failure):
        """The connect failure's reason, naming the stage the session died in."""
        raise NotImplementedError
