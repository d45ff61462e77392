"""io/loop.py, the daemon's poll loop: readers and writers by fd, timers in
order and cancellable, call_soon after the wake-up's I/O, a wake-up from
another thread, signals through the wake-up fd, and a callback that raises
logged without stopping the loop."""

import os
import signal
import socket
import threading

import pytest

from dprive import log as dlog
from dprive.io.loop import Loop


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def test_timers_run_in_time_order_and_a_cancelled_one_never(loop):
    seen = []
    now = loop.time()
    loop.call_at(now + 0.03, seen.append, "c")
    loop.call_at(now + 0.01, seen.append, "a")
    dropped = loop.call_at(now + 0.02, seen.append, "dropped")
    loop.call_later(0.02, seen.append, "b")
    dropped.cancel()
    assert dropped.cancelled()
    assert loop.run_until(lambda: len(seen) == 3, 2)
    loop.run_once(0.05)
    assert seen == ["a", "b", "c"]


def test_a_timer_is_not_run_before_it_is_due(loop):
    seen = []
    timer_at = loop.time() + 0.05
    loop.call_at(timer_at, lambda: seen.append(loop.time()))
    assert loop.run_until(lambda: seen, 2)
    assert seen[0] >= timer_at


def test_many_cancelled_timers_do_not_stay_in_the_heap(loop):
    keep = loop.call_later(30, lambda: None)     # first in the heap: the rest is not popped past
    for _ in range(1000):
        loop.call_later(60, lambda: None).cancel()
    loop.run_once(0)
    assert len(loop._timers) < 100, "cancelled timers must be dropped once they are most of the heap"
    assert not keep.cancelled() and keep in loop._timers


def test_call_soon_runs_after_the_io_callbacks_of_the_same_wake_up(loop):
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    order = []

    def readable(sock, name):
        sock.recv(10)
        order.append(name)
        if name == "first":
            loop.call_soon(order.append, "soon")
    try:
        loop.add_reader(a.fileno(), readable, a, "first")
        loop.add_reader(c.fileno(), readable, c, "second")
        b.send(b"x")
        d.send(b"x")
        loop.run_once(1)
        assert sorted(order[:2]) == ["first", "second"] and order[2:] == ["soon"], order
    finally:
        for s in (a, b, c, d):
            s.close()


def test_writer_then_removed_reader_is_not_called(loop):
    a, b = socket.socketpair()
    seen = []
    try:
        loop.add_writer(a.fileno(), seen.append, "writable")
        loop.run_once(1)
        assert seen == ["writable"]
        loop.remove_writer(a.fileno())
        loop.add_reader(a.fileno(), seen.append, "readable")
        loop.remove_reader(a.fileno())
        b.send(b"x")
        loop.run_once(0.05)
        assert seen == ["writable"]
    finally:
        a.close()
        b.close()


def test_call_soon_threadsafe_wakes_a_loop_waiting_for_nothing(loop):
    seen = []
    thread = threading.Timer(0.05, loop.call_soon_threadsafe, (seen.append, "from the thread"))
    thread.start()
    try:
        loop.run_once(5)      # no timer, no fd: only the wake-up can end this wait early
        loop.run_once(0)
        assert seen == ["from the thread"]
    finally:
        thread.join()


def test_a_signal_calls_its_handler_in_the_loop(loop):
    seen = []
    loop.add_signal_handler(signal.SIGUSR1, seen.append, "usr1")
    loop.add_signal_handler(signal.SIGHUP, seen.append, "hup")
    os.kill(os.getpid(), signal.SIGUSR1)
    assert loop.run_until(lambda: seen, 2)
    assert seen == ["usr1"]
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL, "close() gives the signals back"


def test_stop_ends_run_after_the_current_callbacks(loop):
    seen = []
    loop.call_later(0.01, loop.stop)
    loop.call_later(0.01, seen.append, "same wake-up")
    loop.call_later(10, seen.append, "never")
    loop.run()
    assert seen == ["same wake-up"]


def test_a_callback_that_raises_is_logged_and_the_loop_goes_on(loop):
    seen = []

    def boom():
        raise RuntimeError("bug in a callback")
    loop.call_soon(boom)
    loop.call_soon(seen.append, "next")
    with dlog.capture(dlog.ERROR) as logged:
        loop.run_once(0)
    assert seen == ["next"]
    assert "bug in a callback" in logged.getvalue()


def test_an_fd_closed_without_remove_reader_is_forgotten(loop):
    a, b = socket.socketpair()
    loop.add_reader(a.fileno(), lambda: None)
    fd = a.fileno()
    a.close()
    b.close()
    loop.run_once(0.05)
    assert fd not in loop._readers
