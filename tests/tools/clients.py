"""DNS clients for tests and tools: kdig (the real client) and raw sockets
built on dnspython (for crafted bytes and for many queries at once).

All of them talk to 127.0.0.1 only.
"""

import asyncio
import json
import random
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from tests.tools import common

HOST = common.LOOPBACK


# ---------------------------------------------------------------- kdig

class KdigResult:
    """What one kdig run said. rcode is a name ('NOERROR', 'SERVFAIL', ...)
    or None when no answer came back (then `error` says why)."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.json = None
        self.rcode = None
        self.tc = None
        self.answers = []      # [(name, type name, rdata text)]
        self.error = None
        self._parse()

    def _parse(self):
        text = self.stdout.strip()
        start = text.find("{")
        if start < 0:
            self.error = (self.stderr.strip() or self.stdout.strip() or
                          "kdig exited %d without an answer" % self.returncode)
            return
        try:
            data = json.loads(text[start:])
        except ValueError as exc:
            self.error = "unparsable kdig output (%s): %r" % (exc, text[:300])
            return
        self.json = data
        self.rcode = dns.rcode.to_text(dns.rcode.Rcode.make(data.get("RCODE", 0)))
        self.tc = bool(data.get("TC"))
        for rr in data.get("answerRRs", []):
            rdata = None
            for key, value in rr.items():
                if key.startswith("rdata"):
                    rdata = value
                    break
            if rdata is None:
                rdata = rr.get("RDATAHEX", "")
            self.answers.append((rr.get("NAME"), rr.get("TYPEname"), rdata))

    def addresses(self):
        return sorted(r for (_n, t, r) in self.answers if t in ("A", "AAAA"))

    def describe(self):
        return "%s -> rc=%s rcode=%s tc=%s answers=%s error=%s stderr=%r" % (
            " ".join(self.argv), self.returncode, self.rcode, self.tc, self.answers,
            self.error, self.stderr.strip()[:500])

    __repr__ = describe


def kdig(name, rdtype="A", port=53, tcp=False, bufsize=None, timeout_s=2, retry=0,
         tls_ca=None, tls_hostname=None, tls_pin=None, extra=(), check=True):
    """Run kdig against 127.0.0.1:port and return a KdigResult.

    tcp=True adds +tcp (else +notcp); bufsize sets EDNS +bufsize (else none is
    set, kdig's default); tls_* switch to DoT. With check=True a missing
    answer raises AssertionError with kdig's output.
    """
    argv = [common.find_tool("kdig") or "kdig", "@" + HOST, "-p", str(port), name, rdtype,
            "+json", "+time=%d" % max(1, int(timeout_s)), "+retry=%d" % retry]
    if tls_ca or tls_hostname or tls_pin:
        if tls_ca:
            argv.append("+tls-ca=%s" % tls_ca)
        if tls_hostname:
            argv.append("+tls-hostname=%s" % tls_hostname)
        if tls_pin:
            argv.append("+tls-pin=%s" % tls_pin)
    else:
        argv.append("+tcp" if tcp else "+notcp")
        # a truncated UDP answer must be shown as it is, not retried over TCP
        argv.append("+ignore")
    if bufsize is not None:
        argv.append("+bufsize=%d" % bufsize)
    argv.extend(extra)
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=(timeout_s + 1) * (retry + 1) + 5)
    res = KdigResult(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and res.rcode is None:
        raise AssertionError("kdig got no answer: " + res.describe())
    return res


# ---------------------------------------------------------------- messages

def make_query(name, rdtype="A", qid=None, edns=True, payload=1232, rd=True):
    """A query message (dnspython object)."""
    msg = dns.message.make_query(name, rdtype, use_edns=0 if edns else False,
                                 payload=payload)
    msg.id = random.randrange(0, 65536) if qid is None else qid
    if not rd:
        msg.flags &= ~dns.flags.RD
    return msg


def query_wire(name, rdtype="A", qid=None, **kw):
    return make_query(name, rdtype, qid=qid, **kw).to_wire()


def parse(wire):
    return dns.message.from_wire(wire, ignore_trailing=False)


def a_records(msg):
    """Sorted A/AAAA addresses in the answer section of a dnspython message."""
    out = []
    for rrset in msg.answer:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            out.extend(r.address for r in rrset)
    return sorted(out)


def header(wire):
    """(id, flags, qdcount, ancount, nscount, arcount) of a message."""
    return struct.unpack("!6H", wire[:12])


def rcode_of(wire):
    """The rcode (header bits only) of a raw message."""
    return struct.unpack("!H", wire[2:4])[0] & 0xF


# ---------------------------------------------------------------- UDP

def udp_exchange(wire, port, timeout_s=2.0):
    """Send raw bytes to 127.0.0.1:port over UDP; return the first reply's
    bytes, or None if nothing came back within timeout_s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect((HOST, port))
        sock.send(wire)
        try:
            return sock.recv(65535)
        except socket.timeout:
            return None


def udp_query(name, rdtype="A", port=53, timeout_s=2.0, **kw):
    """One UDP query; returns (query message, response message or None)."""
    q = make_query(name, rdtype, **kw)
    reply = udp_exchange(q.to_wire(), port, timeout_s)
    return q, (parse(reply) if reply is not None else None)


RCVBUF_BYTES = 4 * 1024 * 1024


def _big_rcvbuf(sock):
    """Room for hundreds of replies arriving at once (as root the limit
    net.core.rmem_max does not apply)."""
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF_BYTES)
            return
        except OSError:
            continue


async def udp_burst(port, names, rdtype="A", sockets=1, timeout_s=5.0,
                    batch=50, batch_pause_s=0.002):
    """Send all queries from `sockets` UDP sockets (each with unique IDs, as
    dnsmasq does from its few forwarding ports) without waiting for answers,
    and collect the replies.

    Queries leave in batches of `batch` with a short pause between batches:
    all of them are outstanding together, but the server's socket buffer
    (about 250 small datagrams by default on Linux) is not overrun in one
    instant, which would test the kernel rather than the server.

    Returns a list, one entry per name, of the dnspython response or None.
    """
    loop = asyncio.get_running_loop()
    results = [None] * len(names)
    pending = {}              # (socket index, id) -> position
    done = loop.create_future()
    remaining = [len(names)]

    class Proto(asyncio.DatagramProtocol):
        def __init__(self, index):
            self.index = index

        def datagram_received(self, data, addr):
            if len(data) < 12:
                return
            key = (self.index, struct.unpack("!H", data[:2])[0])
            pos = pending.pop(key, None)
            if pos is None:
                return
            try:
                results[pos] = parse(data)
            except Exception:  # noqa: BLE001 - recorded as the raw bytes
                results[pos] = data
            remaining[0] -= 1
            if remaining[0] == 0 and not done.done():
                done.set_result(None)

    transports = []
    try:
        for index in range(sockets):
            transport, _ = await loop.create_datagram_endpoint(
                lambda index=index: Proto(index), remote_addr=(HOST, port))
            transports.append(transport)
            _big_rcvbuf(transport.get_extra_info("socket"))
        ids = [random.sample(range(65536), min(65536, len(names) // sockets + 1))
               for _ in range(sockets)]
        for pos, name in enumerate(names):
            index = pos % sockets
            qid = ids[index][pos // sockets]
            pending[(index, qid)] = pos
            transports[index].sendto(make_query(name, rdtype, qid=qid).to_wire())
            if batch and (pos + 1) % batch == 0:
                await asyncio.sleep(batch_pause_s)
        if names:
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout_s)
            except asyncio.TimeoutError:
                pass
    finally:
        for transport in transports:
            transport.close()
    return results


# ---------------------------------------------------------------- TCP

class TcpClient:
    """A raw DNS-over-TCP client: length-prefixed messages, or any bytes."""

    def __init__(self, port, timeout_s=3.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout_s = timeout_s
        self._buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_msg(self, wire):
        self.sock.sendall(struct.pack("!H", len(wire)) + wire)

    def _fill(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out reading from 127.0.0.1")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65535)
            if not chunk:
                return False
            self._buf += chunk
        return True

    def recv_msg(self, timeout_s=None):
        """The next framed message's bytes, or None if the server closed
        cleanly. Raises socket.timeout if nothing complete came in time."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        if not self._fill(2, deadline):
            return None
        (length,) = struct.unpack("!H", self._buf[:2])
        if not self._fill(2 + length, deadline):
            return None
        msg, self._buf = self._buf[2:2 + length], self._buf[2 + length:]
        return msg

    def query(self, name, rdtype="A", timeout_s=None, **kw):
        q = make_query(name, rdtype, **kw)
        self.send_msg(q.to_wire())
        reply = self.recv_msg(timeout_s)
        return q, (parse(reply) if reply is not None else None)

    def closed_by_peer(self, timeout_s):
        """True if the server closes (EOF or reset) within timeout_s without
        sending anything more; False if it stays open; raises if it sends data."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65535)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            raise AssertionError("server sent %r instead of closing" % chunk[:64])

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------- dnsperf

def write_dnsperf_file(path, names, rdtype="A"):
    """dnsperf's input: one `name type` per line."""
    with open(path, "w") as fh:
        for name in names:
            fh.write("%s %s\n" % (name, rdtype))
    return path


class DnsperfResult:
    """Figures from one dnsperf run. latencies_s holds per-query latencies
    (seconds) when it ran with verbose=True (dnsperf -v prints one line per
    answered query: `> NOERROR q1.test. A 0.000082`, and `> T name type` for
    a timeout)."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.sent = self.completed = self.lost = None
        self.qps = self.avg_latency_s = self.run_time_s = None
        self.rcodes = {}
        self.latencies_s = []
        self.timeouts = 0
        self._parse()

    @staticmethod
    def _first_number(text):
        return float(text.strip().split()[0])

    def _parse(self):
        for line in self.stdout.splitlines():
            if line.startswith("> "):
                fields = line[2:].split()
                if fields and fields[0] == "T":
                    self.timeouts += 1
                elif len(fields) >= 4:
                    try:
                        self.latencies_s.append(float(fields[-1]))
                    except ValueError:
                        pass
                continue
            key, sep, value = line.strip().partition(":")
            if not sep:
                continue
            if key == "Queries sent":
                self.sent = int(self._first_number(value))
            elif key == "Queries completed":
                self.completed = int(self._first_number(value))
            elif key == "Queries lost":
                self.lost = int(self._first_number(value))
            elif key == "Queries per second":
                self.qps = self._first_number(value)
            elif key == "Run time (s)":
                self.run_time_s = self._first_number(value)
            elif key == "Average Latency (s)" and self.avg_latency_s is None:
                self.avg_latency_s = self._first_number(value)
            elif key == "Response codes":
                # NOERROR 872 (100.00%), SERVFAIL 3 (0.34%)
                for part in value.split(","):
                    words = part.split()
                    if len(words) >= 2:
                        self.rcodes[words[0]] = int(words[1])

    def describe(self):
        return "%s -> sent=%s completed=%s lost=%s rcodes=%s qps=%s\n%s" % (
            " ".join(self.argv), self.sent, self.completed, self.lost, self.rcodes, self.qps,
            self.stderr.strip()[-500:])

    __repr__ = describe


def dnsperf(port, datafile, mode="udp", outstanding=100, clients=1, maxruns=1, timelimit_s=None,
            timeout_s=5, threads=None, verbose=False, extra=(), run_timeout_s=300):
    """Run dnsperf against 127.0.0.1:port (mode udp, tcp or dot)."""
    argv = [common.find_tool("dnsperf") or "dnsperf", "-s", HOST, "-p", str(port),
            "-m", mode, "-d", str(datafile), "-q", str(outstanding), "-c", str(clients),
            "-t", str(timeout_s), "-b", "4096"]
    if maxruns:
        argv += ["-n", str(maxruns)]
    if timelimit_s:
        argv += ["-l", str(timelimit_s)]
    if threads:
        argv += ["-T", str(threads)]
    if verbose:
        argv.append("-v")
    argv.extend(extra)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=run_timeout_s)
    return DnsperfResult(argv, proc.returncode, proc.stdout, proc.stderr)
