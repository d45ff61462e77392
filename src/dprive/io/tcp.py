"""TCP sockets for upstream sessions: the options that make recovery cheap.

- TCP_NODELAY: the first query leaves with the client's Finished.
- TCP_QUICKACK: see UpstreamConnection._quickack.
- TCP_FASTOPEN_CONNECT: once the kernel holds a cookie for the server, the
  ClientHello rides in the SYN (RFC 7413); connect() returns at once and the
  first write makes the SYN.
- SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL/KEEPCNT: the kernel probes a quiet
  session with zero-length segments; that keeps NAT pinholes open and finds a
  server (or NAT) that lost state before a query does.
- TCP_USER_TIMEOUT: data left unacknowledged that long ends the session.
Python names some of these only on recent versions, hence the numbers.
"""

import socket
import struct

TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)
TCP_FASTOPEN_CONNECT = 30
TCP_INFO = getattr(socket, "TCP_INFO", 11)

# struct tcp_info: u8 state, ca_state, retransmits, probes, backoff, options, ...
TCPI_OPT_SYN_DATA = 0x20   # our SYN's data was acknowledged: Fast Open was used
_TCP_INFO_HEAD = struct.Struct("BBBBBB")


class KeepaliveSettings:
    def __init__(self, idle_s, interval_s, count, user_timeout_ms):
        self.idle_s = idle_s
        self.interval_s = interval_s
        self.count = count
        self.user_timeout_ms = user_timeout_ms


def upstream_socket(address, keepalive, fast_open):
    """A non-blocking TCP socket with every option set, not yet connected."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive.idle_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepalive.interval_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, keepalive.count)
        sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, keepalive.user_timeout_ms)
        if fast_open:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
            except OSError:
                pass   # a kernel without client TFO: an ordinary connect
    except BaseException:
        sock.close()
        raise
    return sock


def syn_data_acked(sock):
    """True if the server acknowledged the data in our SYN (TFO was used)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO_HEAD.size)
    except OSError:
        return False
    return bool(_TCP_INFO_HEAD.unpack(info[:_TCP_INFO_HEAD.size])[5] & TCPI_OPT_SYN_DATA)


# What a keepalive probe and its ACK cost on the wire: IPv4 (20) + TCP with
# timestamps (32) each way, plus Ethernet framing (14 + 4 FCS + 20 preamble/gap).
PROBE_WIRE_BYTES = 2 * (20 + 32 + 38)


def probe_bytes_per_hour(idle_s):
    """Bytes a healthy quiet session spends on keepalive probes in an hour.

    The kernel probes after `idle_s` of silence; the ACK restarts the idle
    timer, so a quiet session sends one probe every idle_s seconds.
    """
    return int(3600.0 * PROBE_WIRE_BYTES / idle_s)
