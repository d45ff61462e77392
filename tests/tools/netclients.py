"""DNS and DoT clients that tests.tools.netlab's TestNetwork uses from inside
a namespace (TestNetwork.query, TestNetwork.dot_query), and what they return.

The socket is made inside the namespace by the caller (`new_socket`) but used
from this process, so a latency holds no process start-up.
"""

import collections
import socket
import ssl
import time

import dns.message
import dns.rcode

TCP_FASTOPEN_CONNECT = 30      # Linux; the socket module has no name for it

QueryResult = collections.namedtuple("QueryResult", "latency_ms rcode answers")


def round_trips(latency_ms, rtt_ms=100.0):
    """A latency counted in round trips of the test network."""
    return int(round(latency_ms / rtt_ms))


class DotResult:
    """What dot_query saw: latency_ms, rcode (name), answers (sorted rdata
    text), session, reused (the server accepted the offered session), version."""

    def __init__(self, latency_ms, reply, session, reused, version):
        msg = dns.message.from_wire(reply)
        self.latency_ms = latency_ms
        self.rcode = dns.rcode.to_text(msg.rcode())
        self.answers = sorted(rd.to_text() for rrset in msg.answer for rd in rrset)
        self.session = session
        self.reused = reused
        self.version = version

    def __repr__(self):
        return "DotResult(%.1f ms, %s, %s, reused=%s, %s)" % (
            self.latency_ms, self.rcode, self.answers, self.reused, self.version)


def query(new_socket, name, port, rdtype="A", tcp=False, timeout_s=3.0, server="127.0.0.1"):
    """One DNS query over UDP (or TCP) on a socket from new_socket(family,
    type); see TestNetwork.query. A QueryResult; rcode None on no answer."""
    q = dns.message.make_query(name, rdtype)
    wire = q.to_wire()
    sock = new_socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout_s)
        start = time.perf_counter()
        try:
            if tcp:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect((server, port))
                sock.sendall(len(wire).to_bytes(2, "big") + wire)
                reply = _recv_framed(sock)
            else:
                sock.sendto(wire, (server, port))
                while True:
                    reply = sock.recv(65535)
                    if reply[:2] == wire[:2]:
                        break
        except (socket.timeout, ConnectionError):
            return QueryResult((time.perf_counter() - start) * 1000.0, None, [])
        latency_ms = (time.perf_counter() - start) * 1000.0
    finally:
        sock.close()
    msg = dns.message.from_wire(reply)
    answers = sorted(rd.to_text() for rrset in msg.answer for rd in rrset)
    return QueryResult(latency_ms, dns.rcode.to_text(msg.rcode()), answers)


def dot_query(new_socket, ctx, server_hostname, name, port, server, rdtype="A", session=None,
              tfo=False, timeout_s=5.0):
    """One DoT query on a new TCP socket from new_socket() with the SSL
    context ctx (a session resumes only with its own context); see
    TestNetwork.dot_query. Returns a DotResult."""
    wire = dns.message.make_query(name, rdtype).to_wire()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname, session=session)
    sock = new_socket()
    try:
        sock.settimeout(timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tfo:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
        start = time.perf_counter()
        sock.connect((server, port))      # with TFO: returns at once, SYN waits for data

        def pump():
            # ACK at once (re-armed before every read): a server that
            # holds data behind Nagle waits for no delayed ACK of ours
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("server closed during the exchange")
            incoming.write(data)

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    sock.sendall(pending)
                pump()
        tls.write(len(wire).to_bytes(2, "big") + wire)
        sock.sendall(outgoing.read())     # the Finished and the query together
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
            try:
                buf += tls.read(65536)
            except ssl.SSLWantReadError:
                pump()
        latency_ms = (time.perf_counter() - start) * 1000.0
        reply = buf[2:2 + int.from_bytes(buf[:2], "big")]
        return DotResult(latency_ms, reply, tls.session, tls.session_reused, tls.version())
    finally:
        sock.close()


def tcp_ext_counter(pid, name):
    """A TcpExt counter (e.g. TCPFastOpenPassive) of the namespace process pid is in."""
    with open("/proc/%d/net/netstat" % pid) as fh:
        lines = fh.read().splitlines()
    for head, values in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            return dict(zip(head.split()[1:], map(int, values.split()[1:]))).get(name)
    return None


def _recv_framed(sock):
    buf = b""
    while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
        chunk = sock.recv(65535)
        if not chunk:
            raise ConnectionError("closed before a whole answer")
        buf += chunk
    return buf[2:2 + int.from_bytes(buf[:2], "big")]
