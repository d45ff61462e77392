"""tshark on the router's WAN link of the netns network, as a with-block.

Used by the flow scenarios (TFO, PSK on the wire) and the dnsmasq test (no
port 53 leaving the router).
"""

import signal
import socket
import subprocess
import time

from tests.tools import common
from tests.tools.netlab import NAT_INSIDE_IP

# The test ports carrying TLS and DTLS, so display filters can look inside.
DECODE_AS = ["-d", "tcp.port==853,tls", "-d", "tcp.port==8853,tls", "-d", "tcp.port==8854,tls",
             "-d", "udp.port==8855,dtls", "-d", "udp.port==8856,dtls"]


class WanCapture:
    """tshark on the router's wan0 during a with-block, every frame; counted
    afterwards by display filter.

    tshark says "Capturing on" before its capture is live, and shows frames
    only when dumpcap next updates its file. So the block starts once a marker
    (a UDP datagram from the router to the NAT's discard port, from a port of
    its own) has shown up in tshark's live output, and the capture stops once
    an end marker has: every frame between the two is in the file."""

    MARK_TO = (NAT_INSIDE_IP, 9)

    def __init__(self, net, path):
        self.net = net
        self.path = path
        self.log_path = path.with_suffix(".log")
        self.proc = None

    def __enter__(self):
        self.proc = self.net.popen("router", [
            "tshark", "-l", "-n", "-i", "wan0", "-w", str(self.path), "-P",
            "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport"], self.log_path)
        try:
            self._mark("tshark to capture on wan0")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self._mark("tshark to show the end marker")
        finally:
            self.stop()
        return False

    def _mark(self, what, timeout_s=10.0):
        """Send markers until tshark shows one (a new one every 0.3 s)."""
        sock = self.net.socket_in("router", socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("0.0.0.0", 0))
            line = "%d\t%d" % (sock.getsockname()[1], self.MARK_TO[1])
            deadline = time.monotonic() + timeout_s
            while True:
                sock.sendto(b"dprive-test-mark", self.MARK_TO)
                shown_by = time.monotonic() + 0.3
                while time.monotonic() < shown_by:
                    if self.proc.poll() is not None:
                        raise RuntimeError("tshark exited: %s" % common.tail(self.log_path))
                    if line in self.log_path.read_text(errors="replace"):
                        return
                    time.sleep(0.02)
                if time.monotonic() > deadline:
                    raise TimeoutError("timed out after %.0f s waiting for %s:\n%s" % (
                        timeout_s, what, common.tail(self.log_path)))
        finally:
            sock.close()

    def stop(self):
        common.stop_process(self.proc, term_timeout_s=5, sig=signal.SIGINT)

    def frames(self, display_filter):
        """One summary line per frame that matches (the DoT and DTLS test ports decoded)."""
        res = subprocess.run(["tshark", "-n", "-r", str(self.path), *DECODE_AS, "-Y", display_filter],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError("tshark -r %s -Y %r: %s" % (self.path, display_filter, res.stderr))
        return [line for line in res.stdout.splitlines() if line.strip()]
