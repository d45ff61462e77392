"""What the core asks of the I/O shell, and the knobs it takes.

The shell reports events to the Forwarder with the current time in
milliseconds; each session is named by the opaque `handle` the Connect that
opened it carried (the shell passes it to the connection, which reports
every event with it). The shell carries out the actions returned, in order:

    Connect(handle, upstream, tfo, transport, resume)
        open a session to the upstream whose key is `upstream` (the stable key
        the shell gave the core for it): "tls" (TCP, with Fast Open if `tfo`,
        then TLS) or "dtls"; offer and keep TLS sessions for resumption if
        `resume`
    Send(handle, msg)
        send one DNS message on the session (the transport frames it: a TCP
        length prefix for TLS, one record per message for DTLS)
    Close(handle, reason, name)
        close the session (close_notify); no `closed` event is expected back
        for it; `name` is the upstream's, for the log (it may have left with
        a reload)
    Reply(client, msg)
        answer the client; msg None: nothing goes back (the message was
        dropped), but the shell forgets the client all the same
    Log(level, text)
        one log line (levels as in `logging`)
    ForgetSession(upstream, transport)
        drop the stored TLS session of that upstream and transport: the server
        choked on a handshake, and the stored session may be what it choked on

After the actions, the shell calls `timer` at `next_timer()` (absolute ms).
"""

DEBUG = 10
INFO = 20
WARNING = 30

MAX_ATTEMPTS = 4
FOREVER = float("inf")


class Action:
    """A small record with named fields, a readable repr and equality by value."""

    FIELDS = ()

    def __repr__(self):
        return "%s(%s)" % (self.__class__.__name__,
                           ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.FIELDS))

    def __eq__(self, other):
        if type(self) is not type(other):
            return False
        for name in self.FIELDS:
            if getattr(self, name) != getattr(other, name):
                return False
        return True

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(tuple(getattr(self, name) for name in self.FIELDS))


class Connect(Action):
    FIELDS = ("handle", "upstream", "tfo", "transport", "resume")

    def __init__(self, handle, upstream, tfo, transport, resume=True):
        self.handle = handle
        self.upstream = upstream
        self.tfo = tfo
        self.transport = transport
        self.resume = resume


class Send(Action):
    FIELDS = ("handle", "msg")

    def __init__(self, handle, msg):
        self.handle = handle
        self.msg = msg


class Close(Action):
    FIELDS = ("handle", "reason", "name")

    def __init__(self, handle, reason, name=""):
        self.handle = handle
        self.reason = reason
        self.name = name


class Reply(Action):
    FIELDS = ("client", "msg")

    def __init__(self, client, msg):
        self.client = client
        self.msg = msg


class Log(Action):
    FIELDS = ("level", "text")

    def __init__(self, level, text):
        self.level = level
        self.text = text


class ForgetSession(Action):
    FIELDS = ("upstream", "transport")

    def __init__(self, upstream, transport):
        self.upstream = upstream
        self.transport = transport


class ForwarderConfig:
    """The knobs the core needs, in milliseconds."""

    def __init__(self, padding_block=128, query_timeout_ms=5000, connect_timeout_ms=3000,
                 attempt_min_ms=400, backoff_max_ms=120000, max_pending=4096, keep_warm=False,
                 dtls_resume_after_ms=60000, dtls_probe_interval_ms=25000, tcp_fastopen=True,
                 tls_resumption=True, connections=1):
        self.padding_block = padding_block
        self.query_timeout_ms = query_timeout_ms
        self.connect_timeout_ms = connect_timeout_ms
        self.attempt_min_ms = attempt_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.max_pending = max_pending
        # Keep sessions past the server's idle timeout with a tiny query instead
        # of letting them close (a few bytes a minute against a round trip).
        self.keep_warm = keep_warm
        # DTLS: resume at once after this much quiet (0: never); probe this often (0: never).
        self.dtls_resume_after_ms = dtls_resume_after_ms
        self.dtls_probe_interval_ms = dtls_probe_interval_ms
        # TCP Fast Open at all (option tcp_fastopen); each upstream may still turn it off.
        self.tcp_fastopen = tcp_fastopen
        # Offer stored TLS sessions (option tls_resumption).
        self.tls_resumption = tls_resumption
        # TLS sessions per upstream under load, the current one included (core/pool.py; 1: one).
        self.connections = connections
