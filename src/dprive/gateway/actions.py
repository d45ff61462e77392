"""What the gateway's core (core.py) asks of its asyncio shell (server.py), and its knobs.

The shell reports three events to GatewayCore, each with the time in
seconds on one monotonic clock (the clock the engines' sessions are given):
a datagram (bytes, the client's (ip, port), the listener it came in on), the
resolver's answer to a Resolve (or None when the resolver failed), and the
timer. It carries out the actions returned, in order:

    SendDatagrams(listener, addr, datagrams)
        send each datagram to `addr` from `listener` (the shell's own object,
        given back as it came: the socket the client's session belongs to)
    Resolve(token, msg, question_end)
        ask the resolver `msg` (a query already checked; its question ends
        at `question_end`) and report `answer(token, answer_or_None, now)`
        once it is back, whatever happened (a timeout is None)
    WriteStatus()
        rewrite the status file now (if its contents changed)
    Log(level, text)
        one log line (levels as in `logging`; dprive.core.actions.Log)

After the actions, the shell calls `timer` at `next_timer()` (absolute
seconds, None: no timer) instead of polling.

Portable (MicroPython): the Action base class of dprive.core.actions, no
dataclasses, no typing.
"""

from dprive.core.actions import DEBUG, INFO, WARNING, Action, Log

__all__ = ["DEBUG", "INFO", "WARNING", "Action", "GatewayConfig", "Log", "Resolve",
           "SendDatagrams", "WriteStatus", "gateway_config"]


class SendDatagrams(Action):
    FIELDS = ("listener", "addr", "datagrams")

    def __init__(self, listener, addr, datagrams):
        self.listener = listener
        self.addr = addr
        self.datagrams = datagrams


class Resolve(Action):
    FIELDS = ("token", "msg", "question_end")

    def __init__(self, token, msg, question_end):
        self.token = token
        self.msg = msg
        self.question_end = question_end


class WriteStatus(Action):
    FIELDS = ()


class GatewayConfig:
    """The knobs the core needs, times in seconds (the sessions' unit)."""

    def __init__(self, require_cookie=True, max_sessions=1000, max_queries_per_client=512,
                 max_datagram_bytes=1232, handshake_timeout_s=5.0, session_idle_s=120.0,
                 status_interval_s=1.0, alert_interval_s=1.0, max_alerts_per_s=100):
        self.require_cookie = require_cookie
        self.max_sessions = max_sessions
        self.max_queries_per_client = max_queries_per_client
        self.max_datagram_bytes = max_datagram_bytes
        self.handshake_timeout_s = handshake_timeout_s
        self.session_idle_s = session_idle_s
        self.status_interval_s = status_interval_s
        self.alert_interval_s = alert_interval_s
        self.max_alerts_per_s = max_alerts_per_s


def gateway_config(settings):
    """GatewayConfig from GatewaySettings (gateway/config.py): milliseconds to seconds."""
    return GatewayConfig(
        require_cookie=settings.require_cookie, max_sessions=settings.max_sessions,
        max_queries_per_client=settings.max_queries_per_client,
        max_datagram_bytes=settings.max_datagram_bytes,
        handshake_timeout_s=settings.handshake_timeout_ms / 1000.0,
        session_idle_s=settings.session_idle_s,
        status_interval_s=settings.status_interval_ms / 1000.0,
        alert_interval_s=settings.alert_interval_ms / 1000.0,
        max_alerts_per_s=settings.max_alerts_per_s)
