# portable: runs under MicroPython too
"""The harness of the gateway core's edge tests (test_gateway_core_edges.py,
test_gateway_timer_edges.py): cookies that depend on the time, a FakeSession
that records what begin got and can fail or move its timer, the core with
such sessions, and filters for its actions."""

from gatewayfake import FakeSession, client_hello, finished

from dprive.gateway.actions import GatewayConfig
from dprive.gateway.core import GatewayCore

A = ("192.0.2.1", 40000)
B = ("192.0.2.2", 40000)
START = 1000.0


class TimedCookies:
    """A cookie that names the address and a 30 s window of the time it was made."""

    def make(self, addr, now):
        return ("%s|%d|%d" % (addr[0], addr[1], int(now // 30))).encode()

    def check(self, cookie, addr, now):
        return cookie == self.make(addr, now)


class Session(FakeSession):
    """FakeSession, recording what begin got, and able to fail or move its timer."""

    begun = None
    fail_begin = False
    fail_on_timer = False
    timer_override = None       # a function (now) -> timer_due, replacing the fake's
    on_timer_calls = 0
    send_garbage = False

    def begin(self, datagram, cookie_checked):
        self.begun = datagram
        sent, messages = FakeSession.begin(self, datagram, cookie_checked)
        if self.fail_begin:
            self.state, self.error = "closed", "engine refused the hello"
            return b"", []
        return sent, messages

    def timer_due(self, now):
        if self.timer_override is not None:
            return self.timer_override(now)
        return FakeSession.timer_due(self, now)

    def on_timer(self):
        self.on_timer_calls += 1
        if self.fail_on_timer:
            self.state, self.error = "closed", "too many retransmissions"
            return b""
        return FakeSession.on_timer(self)

    def send(self, message):
        if self.send_garbage:
            return b"\x17\xfe\xfd not a record"
        return FakeSession.send(self, message)


class Gw:
    def __init__(self, rtx_s=1.0, mtu=None, setup=None, **knobs):
        self.now = START
        self.made = []
        self.rtx_s, self.mtu, self.setup = rtx_s, mtu, setup
        if "status_interval_s" not in knobs:
            knobs["status_interval_s"] = 1e6
        self.core = GatewayCore(GatewayConfig(**knobs), TimedCookies(), self._make)
        self.core.status_written(START)

    def _make(self, addr, now):
        session = Session(addr, now, lambda: self.now, self.rtx_s, self.mtu)
        if self.setup is not None:
            self.setup(session)
        self.made.append(session)
        return session

    def at(self, when):
        self.now = when
        return self

    def dgram(self, data, addr=A, listener="L0"):
        return self.core.datagram(data, addr, listener, self.now)

    def timer(self):
        return self.core.timer(self.now)

    def answer(self, token, msg):
        return self.core.answer(token, msg, self.now)

    def count(self, name):
        return self.core.counters[name]

    def hello(self, addr=A, listener="L0"):
        """A ClientHello with the cookie of the current window."""
        return self.dgram(client_hello(TimedCookies().make(addr, self.now)), addr, listener)

    def connect(self, addr=A):
        self.hello(addr)
        self.dgram(finished(), addr)
        return self.made[-1]
