"""What the core asks of the I/O shell, and the knobs it takes.

The shell reports events to the Forwarder with the current time in
milliseconds, and carries out the actions returned, in order:

    (CONNECT, upstream_index, gen, tfo, transport)
                                            open session `gen`: "tls" (TCP, with Fast
                                            Open if `tfo`, then TLS) or "dtls"
    (SEND, upstream_index, gen, msg)        send one DNS message on session `gen` (the
                                            transport frames it: TCP length prefix for
                                            TLS, one record per message for DTLS)
    (CLOSE, upstream_index, gen, reason)    close session `gen` (close_notify); no
                                            `closed` event is expected back for it;
                                            upstream_index is None for an upstream
                                            that a reload removed
    (REPLY, client_key, msg)                answer the client; msg None: nothing goes
                                            back (the message was dropped), but the
                                            shell forgets the client all the same
    (LOG, level, text)                      one log line (levels as in `logging`)
"""

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
                 attempt_min_ms=400, backoff_max_ms=120000, max_pending=4096, keep_warm=False,
                 dtls_resume_after_ms=60000, dtls_probe_interval_ms=25000, tcp_fastopen=True):
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
