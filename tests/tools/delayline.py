"""A user-space delay line between network namespaces (this kernel has no
sch_netem, so `tc ... netem delay` cannot be used).

Each link is a pair of TAP devices. This process opens both (TUNSETIFF with
IFF_TAP | IFF_NO_PI on /dev/net/tun), moves each into its namespace with
`ip link set DEV netns NS` while it keeps the file descriptors (that works on
this kernel: the device keeps working after the move and disappears when the
descriptor is closed), renames it there, and from then on copies every
Ethernet frame read from one end to the other end after a fixed one-way delay.

Frames of one direction wait in a FIFO (the delay is fixed, so due times are
in arrival order and order is kept). The loop sleeps in epoll until the
earliest due frame and spins for the last millisecond, because epoll's
timeout has a resolution of one millisecond.

    python -m tests.tools.delayline --tmp-prefix dpt1234 \
        --link ROUTER_NS:wan0:NAT_NS:in0:25 --link NAT_NS:out0:UP_NS:eth0:25

prints `READY` on stdout once every device is in place, then runs until
SIGTERM/SIGINT or until its parent process is gone. Closing the descriptors
on exit removes the devices.
"""

import argparse
import collections
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
MAX_FRAME = 65536
QUEUE_LIMIT = 20000      # frames waiting per direction; more are dropped (a full queue)
READ_BURST = 64          # frames read from one device per wake-up before others get a turn


def open_tap(name):
    """Create TAP device `name` in the current namespace; returns its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    os.set_blocking(fd, False)
    return fd


def _ip(*args):
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if res.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), res.stderr.strip()))


def place(tmp_name, netns, name):
    """Move a device into netns and give it its final name there."""
    _ip("link", "set", "dev", tmp_name, "netns", netns)
    _ip("-n", netns, "link", "set", "dev", tmp_name, "name", name)


class Direction:
    """Frames read from src, written to dst `delay_s` after they were read."""

    def __init__(self, src_fd, dst_fd, delay_s, label):
        self.src_fd = src_fd
        self.dst_fd = dst_fd
        self.delay_s = delay_s
        self.label = label
        self.queue = collections.deque()
        self.forwarded = 0
        self.dropped = 0

    def read_available(self, now):
        for _ in range(READ_BURST):
            try:
                frame = os.read(self.src_fd, MAX_FRAME)
            except BlockingIOError:
                return
            except OSError:
                # the device is going away (namespace deleted)
                return
            if not frame:
                return
            if len(self.queue) >= QUEUE_LIMIT:
                self.dropped += 1
                continue
            self.queue.append((now + self.delay_s, frame))

    def next_due(self):
        return self.queue[0][0] if self.queue else None

    def send_due(self, now):
        queue = self.queue
        while queue and queue[0][0] <= now:
            _due, frame = queue.popleft()
            try:
                os.write(self.dst_fd, frame)
                self.forwarded += 1
            except OSError:
                # device down or gone, or its queue full: the frame is lost,
                # as on a real wire
                self.dropped += 1


class DelayLine:
    def __init__(self):
        self.fds = []
        self.directions = []
        self.by_fd = {}

    def add_link(self, tmp_a, ns_a, name_a, tmp_b, ns_b, name_b, delay_ms):
        fd_a = open_tap(tmp_a)
        self.fds.append(fd_a)
        fd_b = open_tap(tmp_b)
        self.fds.append(fd_b)
        place(tmp_a, ns_a, name_a)
        place(tmp_b, ns_b, name_b)
        delay_s = delay_ms / 1000.0
        a_to_b = Direction(fd_a, fd_b, delay_s, "%s/%s->%s/%s" % (ns_a, name_a, ns_b, name_b))
        b_to_a = Direction(fd_b, fd_a, delay_s, "%s/%s->%s/%s" % (ns_b, name_b, ns_a, name_a))
        self.directions += [a_to_b, b_to_a]
        self.by_fd[fd_a] = a_to_b
        self.by_fd[fd_b] = b_to_a

    def run(self, parent_pid=None):
        ep = select.epoll()
        for fd in self.by_fd:
            ep.register(fd, select.EPOLLIN)
        last_parent_check = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                dues = [d.next_due() for d in self.directions if d.queue]
                if dues:
                    wait_s = min(dues) - now
                    # epoll rounds its timeout up to whole milliseconds: sleep
                    # whole milliseconds, then poll without sleeping until due
                    timeout = max(0, int(wait_s * 1000) - 1) / 1000.0
                    timeout = min(timeout, 0.5)
                else:
                    timeout = 0.5
                events = ep.poll(timeout)
                now = time.monotonic()
                for fd, _mask in events:
                    self.by_fd[fd].read_available(now)
                for d in self.directions:
                    d.send_due(now)
                if parent_pid and now - last_parent_check > 0.5:
                    last_parent_check = now
                    if os.getppid() != parent_pid:
                        break
        finally:
            ep.close()

    def close(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []

    def summary(self):
        return ", ".join("%s: %d forwarded, %d dropped" % (d.label, d.forwarded, d.dropped)
                         for d in self.directions)


def parse_link(text):
    parts = text.split(":")
    if len(parts) != 5:
        raise argparse.ArgumentTypeError("expected NS_A:DEV_A:NS_B:DEV_B:DELAY_MS, got %r" % text)
    ns_a, dev_a, ns_b, dev_b, delay = parts
    return ns_a, dev_a, ns_b, dev_b, float(delay)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--link", action="append", type=parse_link, required=True,
                    help="NS_A:DEV_A:NS_B:DEV_B:ONE_WAY_DELAY_MS (repeatable)")
    ap.add_argument("--tmp-prefix", default="dl%d" % (os.getpid() % 100000),
                    help="prefix of the devices' names before they are moved (max 10 chars)")
    args = ap.parse_args(argv)
    if len(args.tmp_prefix) > 10:
        ap.error("--tmp-prefix is at most 10 characters (device names are 15)")

    line = DelayLine()

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = os.getppid()
    try:
        for i, (ns_a, dev_a, ns_b, dev_b, delay_ms) in enumerate(args.link):
            line.add_link("%s%da" % (args.tmp_prefix, i), ns_a, dev_a,
                          "%s%db" % (args.tmp_prefix, i), ns_b, dev_b, delay_ms)
        print("READY", flush=True)
        line.run(parent_pid=parent)
    except Exception as exc:  # noqa: BLE001 - reported to the starter through the log
        print("ERROR %s" % exc, flush=True)
        return 1
    finally:
        print("STOP %s" % line.summary(), flush=True)
        line.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
