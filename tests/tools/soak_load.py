"""Steady DNS load for the soak tier: a fixed rate of UDP queries to each forwarder.

One thread sends, to every target in turn, a query for the next of unbound's
q<i>.test names (tests.tools.unbound: each has its own address, so every
answer is checked) at `rate` queries per second per target, from sockets
made in the router namespace; a second thread reads the answers. A query
with no answer within `timeout_s` is lost (an answer after that is counted
as late, not as answered). Every query is kept as a Sample, so the soak can
cut the run into fault windows by send time afterwards.
"""

import select
import struct
import threading
import time

import dns.message

from tests.tools import unbound


class Sample:
    __slots__ = ("target", "sent_at", "index", "latency_ms", "rcode", "correct", "late")

    def __init__(self, target, sent_at, index):
        self.target = target
        self.sent_at = sent_at
        self.index = index
        self.latency_ms = None      # None: no answer (yet, or ever)
        self.rcode = None           # 0 NOERROR, 2 SERVFAIL, ...
        self.correct = False
        self.late = False


def query_wire(qid, name):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\x01\0\x01"


class Load:
    """Start with start(), stop with stop(); samples[target] lists every query."""

    def __init__(self, socket_factory, targets, rate, timeout_s=5.0, names=unbound.DEFAULT_Q_NAMES):
        self.targets = dict(targets)             # name -> (address, port)
        self.rate = float(rate)
        self.timeout_s = timeout_s
        self.names = names
        self.samples = dict((t, []) for t in self.targets)
        self._socks = {}
        for target, addr in self.targets.items():
            sock = socket_factory()
            sock.connect(addr)
            sock.setblocking(False)
            self._socks[target] = sock
        self._by_fd = dict((s.fileno(), t) for t, s in self._socks.items())
        self._waiting = dict((t, {}) for t in self.targets)   # target -> qid -> Sample
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._seq = 0

    def start(self):
        for fn in (self._send_loop, self._recv_loop):
            thread = threading.Thread(target=fn, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        """Stop sending, wait out the last queries' timeout, stop reading."""
        self._stop.set()
        self._threads[0].join()
        time.sleep(self.timeout_s + 0.2)
        self._expire(time.monotonic() + 1.0)
        self._threads[1].join()
        for sock in self._socks.values():
            sock.close()
        return self.samples

    def _send_loop(self):
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(min(next_at - now, 0.05))
                continue
            for target, sock in self._socks.items():
                self._send_one(target, sock)
            next_at += interval
            if now - next_at > 1.0:        # fell behind (a stalled machine): no burst to catch up
                next_at = now
            self._expire(now)

    def _send_one(self, target, sock):
        self._seq += 1
        index = self._seq % self.names
        qid = self._seq & 0xFFFF
        sample = Sample(target, time.monotonic(), index)
        with self._lock:
            self._waiting[target][qid] = sample
            self.samples[target].append(sample)
        try:
            sock.send(query_wire(qid, unbound.q_name(index)))
        except OSError:
            pass                           # counted as lost: the client saw nothing

    def _expire(self, now):
        with self._lock:
            for waiting in self._waiting.values():
                for qid in [q for q, s in waiting.items() if now - s.sent_at > self.timeout_s]:
                    del waiting[qid]

    def _recv_loop(self):
        socks = list(self._socks.values())
        while not (self._stop.is_set() and not any(self._waiting.values())):
            if self._stop.is_set() and time.monotonic() > self._stopped_deadline():
                return
            ready, _, _ = select.select(socks, [], [], 0.2)
            for sock in ready:
                try:
                    data = sock.recv(65535)
                except OSError:
                    continue
                self._answer(self._by_fd[sock.fileno()], data, time.monotonic())

    def _stopped_deadline(self):
        if not hasattr(self, "_deadline"):
            self._deadline = time.monotonic() + self.timeout_s + 0.5
        return self._deadline

    def _answer(self, target, data, now):
        if len(data) < 12:
            return
        qid = struct.unpack("!H", data[:2])[0]
        with self._lock:
            sample = self._waiting[target].pop(qid, None)
        if sample is None:
            return
        latency_ms = (now - sample.sent_at) * 1000.0
        if latency_ms > self.timeout_s * 1000.0:
            sample.late = True
            return
        sample.latency_ms = latency_ms
        sample.rcode = data[3] & 0x0F
        try:
            sample.correct = unbound.is_q_answer(dns.message.from_wire(data), sample.index)
        except Exception:  # noqa: BLE001 - a garbled answer is simply not correct
            sample.correct = False
