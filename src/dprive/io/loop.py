"""The daemon's event loop: select.poll, timers, call_soon, signals, a wake-up.

asyncio costs the daemon ~4.5 MB of RSS for a loop it uses as a poll() with
timers (issue 13); this is that loop and no more, kept plain (select.poll,
heapq, socket) so a MicroPython edition can run it too.

- Readers and writers by file descriptor: `add_reader(fd, callback, *args)`,
  one callback per fd and direction; an error or hang-up on the fd calls both.
- Timers: `call_later`/`call_at` on `time()` (monotonic seconds), returning a
  handle with `cancel()`. Cancelled timers stay in the heap until they come up,
  unless they are most of it (a timer re-armed per query would grow it).
- `call_soon`: after the I/O callbacks of this wake-up, so whatever many events
  queue for one connection goes out in one write (io/daemon.py flush).
- `call_soon_threadsafe` from another thread (the ubus thread) and signals
  (`add_signal_handler`) both wake poll through one socket pair: signals by
  signal.set_wakeup_fd (the C handler writes the number, no race with poll),
  threads by a zero byte.
- An exception from a callback is logged and the loop goes on, as asyncio's.
"""

import heapq
import select
import socket
import time
from collections import deque

from dprive import log as dlog

log = dlog.getLogger("dprive")

_READ = select.POLLIN | getattr(select, "POLLPRI", 0)   # MicroPython has no POLLPRI
_WRITE = select.POLLOUT
_TROUBLE = select.POLLERR | select.POLLHUP
_NVAL = getattr(select, "POLLNVAL", 0x20)


class Timer:
    """A callback due at `when`; cancel() drops it."""

    def __init__(self, loop, when, callback, args):
        self.loop = loop
        self.when = when
        self.callback = callback
        self.args = args

    def cancel(self):
        if self.callback is not None:
            self.callback = None
            self.args = None
            self.loop._cancelled += 1

    def cancelled(self):
        return self.callback is None

    def __lt__(self, other):
        return self.when < other.when


class Loop:
    def __init__(self):
        self._poll = select.poll()
        self._readers = {}      # fd -> (callback, args)
        self._writers = {}
        self._masks = {}        # fd -> the events registered with poll
        self._ready = deque()   # (callback, args) to run after this wake-up's I/O
        self._timers = []       # heap of Timer
        self._cancelled = 0     # cancelled Timers still in the heap
        self._running = False
        self._stopping = False
        self._signals = {}      # signal number -> (callback, args)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.add_reader(self._wake_r.fileno(), self._woken)

    # ---- time and callbacks ---------------------------------------------------

    @staticmethod
    def time():
        return time.monotonic()

    def call_soon(self, callback, *args):
        self._ready.append((callback, args))

    def call_soon_threadsafe(self, callback, *args):
        """From any thread: deque.append is atomic; the byte wakes poll."""
        self._ready.append((callback, args))
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass   # the pair is full (a wake-up is pending anyway) or closed

    def call_later(self, delay, callback, *args):
        return self.call_at(self.time() + delay, callback, *args)

    def call_at(self, when, callback, *args):
        timer = Timer(self, when, callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    # ---- file descriptors -----------------------------------------------------

    def add_reader(self, fd, callback, *args):
        self._readers[fd] = (callback, args)
        self._update(fd)

    def remove_reader(self, fd):
        if self._readers.pop(fd, None) is None:
            return False
        self._update(fd)
        return True

    def add_writer(self, fd, callback, *args):
        self._writers[fd] = (callback, args)
        self._update(fd)

    def remove_writer(self, fd):
        if self._writers.pop(fd, None) is None:
            return False
        self._update(fd)
        return True

    def _update(self, fd):
        mask = (_READ if fd in self._readers else 0) | (_WRITE if fd in self._writers else 0)
        old = self._masks.get(fd, 0)
        if mask == old:
            return
        if not mask:
            del self._masks[fd]
            try:
                self._poll.unregister(fd)
            except (KeyError, OSError, ValueError):
                pass   # closed already
            return
        self._masks[fd] = mask
        if old:
            self._poll.modify(fd, mask)
        else:
            self._poll.register(fd, mask)

    # ---- signals --------------------------------------------------------------

    def add_signal_handler(self, sig, callback, *args):
        import signal
        if not self._signals:
            signal.set_wakeup_fd(self._wake_w.fileno())
        self._signals[sig] = (callback, args)
        signal.signal(sig, _no_op)   # the number reaches us through the wake-up fd
        signal.siginterrupt(sig, False)

    def _remove_signal_handlers(self):
        if not self._signals:
            return
        import signal
        for sig in self._signals:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        self._signals = {}
        signal.set_wakeup_fd(-1)

    def _woken(self):
        while True:
            try:
                data = self._wake_r.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            for sig in data:
                entry = self._signals.get(sig) if sig else None
                if entry is not None:
                    self._ready.append(entry)

    # ---- running --------------------------------------------------------------

    def stop(self):
        """Return from run() once this wake-up's callbacks are done."""
        self._stopping = True

    def run(self):
        self._running = True
        self._stopping = False
        try:
            while not self._stopping:
                self.run_once()
        finally:
            self._running = False
            self._stopping = False

    def run_until(self, done, timeout_s):
        """Run until done() is true (True) or timeout_s has passed (False):
        for tests and benchmarks that drive a daemon in their own process."""
        end = self.time() + timeout_s
        while not done():
            left = end - self.time()
            if left <= 0:
                return False
            self.run_once(min(left, 0.05))
        return True

    def run_once(self, timeout=None):
        """One wake-up: poll (for at most `timeout` s, if given), the I/O
        callbacks, the timers due, then the callbacks queued so far."""
        wait = self._wait_ms()
        if timeout is not None:
            ms = int(timeout * 1000.0 + 0.999)
            wait = ms if wait < 0 else min(wait, ms)
        try:
            events = self._poll.poll(wait)
        except InterruptedError:
            events = ()
        readers = self._readers
        writers = self._writers
        for fd, event in events:
            if event & _NVAL:
                # Closed without remove_reader: forget it, or poll spins on it.
                readers.pop(fd, None)
                writers.pop(fd, None)
                self._update(fd)
                continue
            if event & (_READ | _TROUBLE):
                entry = readers.get(fd)
                if entry is not None:
                    self._call(entry[0], entry[1])
            if event & (_WRITE | _TROUBLE):
                entry = writers.get(fd)
                if entry is not None:
                    self._call(entry[0], entry[1])
        timers = self._timers
        if timers:
            now = self.time()
            while timers and timers[0].when <= now:
                timer = heapq.heappop(timers)
                if timer.callback is None:
                    self._cancelled -= 1
                    continue
                callback, args = timer.callback, timer.args
                timer.callback = timer.args = None
                self._call(callback, args)
            if self._cancelled > 64 and self._cancelled * 2 > len(timers):
                self._compact()
        ready = self._ready
        for _ in range(len(ready)):
            callback, args = ready.popleft()
            self._call(callback, args)

    def _wait_ms(self):
        if self._ready or self._stopping:
            return 0
        timers = self._timers
        while timers and timers[0].callback is None:
            heapq.heappop(timers)
            self._cancelled -= 1
        if not timers:
            return -1
        delay = timers[0].when - self.time()
        if delay <= 0:
            return 0
        return int(delay * 1000.0) + 1   # never early: a timer due in 0.4 ms is not due yet

    def _compact(self):
        self._timers = [t for t in self._timers if t.callback is not None]
        heapq.heapify(self._timers)
        self._cancelled = 0

    @staticmethod
    def _call(callback, args):
        try:
            callback(*args)
        except Exception:   # noqa: BLE001 - one callback must not stop the daemon
            log.exception("exception in callback %r", callback)

    def close(self):
        self._remove_signal_handlers()
        for fd in list(self._masks):
            try:
                self._poll.unregister(fd)
            except (KeyError, OSError, ValueError):
                pass
        self._readers.clear()
        self._writers.clear()
        self._masks.clear()
        self._ready.clear()
        self._timers = []
        self._cancelled = 0
        self._wake_r.close()
        self._wake_w.close()


def _no_op(signum, frame):
    pass
