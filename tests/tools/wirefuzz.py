"""A hostile LAN client against a running dprive on loopback, with good queries in between.

    fuzz = WireFuzzer(dp.port, seed=7)
    fuzz.run(packets=20000)          # hostile UDP datagrams and TCP clients
    fuzz.report.good_right, .good_wrong, .good_lost, .sent (per kind)

Hostile UDP datagrams (`hostile_datagram`): random bytes, bit-flipped real
queries, QR=1, other opcodes, section counts that lie, oversize datagrams,
compression loops, cut messages and EDNS garbage. Hostile TCP clients
(`tcp_tactics`): zero and oversize length prefixes, half messages, pipelined
bursts of big answers that are never read, connections held open beyond
max_tcp_clients, slowloris drips. Every `good_every` hostile packets one good
query (UDP, every fourth over TCP) for a name of unbound's static data
(tests/tools/unbound.py) must come back with its ID, its question and the
right address; a wrong one is described in `report.wrong`, a missing one counted
lost. The next batch goes out only once the good answer is in (or its time is
up), so the daemon's own speed paces the run and the socket buffers never
overflow: a lost query is the daemon's, not the kernel's.
"""

import collections
import random
import select
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from tests.tools import unbound

HOST = "127.0.0.1"
UDP_KINDS = ("random", "bitflip", "qr", "opcode", "counts", "oversize", "comploop", "cut", "edns")
TCP_KINDS = ("tcp_zero", "tcp_oversize_prefix", "tcp_half", "tcp_burst_unread", "tcp_hold",
             "tcp_slowloris", "tcp_reset")


def good_questions(q_names=unbound.DEFAULT_Q_NAMES):
    """(name, rdtype, expected addresses) from unbound's static test data."""
    out = [(name, "A", [addr]) for name, addr in unbound.STATIC_A.items()]
    out += [(name, "AAAA", [addr]) for name, addr in unbound.STATIC_AAAA.items()]
    out += [(unbound.q_name(i), "A", [unbound.q_address(i)]) for i in range(q_names)]
    return out


def _query(name, rdtype, qid, edns=True):
    msg = dns.message.make_query(name, rdtype, use_edns=0 if edns else False, payload=1232)
    msg.id = qid
    return msg.to_wire()


def _name(labels):
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def _header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def _opt(udp=1232, ext_rcode=0, version=0, flags=0, rdata=b"", name=b"\x00", rdlen=None):
    rdlen = len(rdata) if rdlen is None else rdlen
    return name + struct.pack("!HHBBHH", 41, udp, ext_rcode, version, flags, rdlen) + rdata


def hostile_datagram(rng, kind, base):
    """One hostile UDP payload of `kind` made from `base` (a real query's bytes)."""
    qid = rng.getrandbits(16)
    question = base[12:]
    if kind == "random":
        return rng.randbytes(rng.randrange(0, 300))
    if kind == "bitflip":
        data = bytearray(base)
        for _ in range(rng.randrange(1, 9)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == "qr":
        return _header(qid, 0x8180) + question
    if kind == "opcode":
        return _header(qid, (rng.randrange(1, 16) << 11) | 0x0100) + question
    if kind == "counts":
        qd, an, ns, ar = rng.choice([(0, 0, 0, 0), (2, 0, 0, 0), (65535, 0, 0, 0), (1, 1, 0, 0),
                                     (1, 0, 65535, 0), (1, 0, 0, 3), (1, 65535, 65535, 65535)])
        return _header(qid, 0x0100, qd, an, ns, ar) + question
    if kind == "oversize":
        size = rng.choice([1500, 4096, 9000, 65000])
        return (base + bytes(size))[:size]
    if kind == "comploop":
        loops = [
            b"\xc0\x0c",                              # a pointer to itself
            b"\xc0\x0e\xc0\x0c",                      # two pointers to each other
            b"\x01a\xc0\x0c",                         # a label, then back to the start
            b"\x01a" * 60 + b"\xc0\x0c",              # a long way round
            b"\xc0\xff",                              # past the end
            b"\xc0\x00",                              # into the header
        ]
        return _header(qid) + rng.choice(loops) + b"\x00\x01\x00\x01"
    if kind == "cut":
        return base[:rng.randrange(12, len(base))]
    if kind == "edns":
        q = _header(qid, 0x0100, 1, 0, 0, 1) + _name([b"a", b"test"]) + b"\x00\x01\x00\x01"
        garbage = rng.choice([
            _opt(rdlen=40),                                              # rdata past the end
            _opt(rdata=struct.pack("!HH", 12, 500) + b"\x00" * 4),       # option past rdata
            _opt(version=1),                                             # BADVERS
            _opt(name=b"\x01x\x00"),                                     # OPT not at the root
            _opt(udp=0),                                                 # a payload size of 0
            _opt(rdata=struct.pack("!HH", 11, 1) + b"\x01"),             # keepalive of 1 byte
            _opt() + _opt(),                                             # two OPTs (ARCOUNT 1)
            _opt(rdata=struct.pack("!HH", 10, 300) + bytes(300)),        # a 300-byte cookie
            _opt(rdata=bytes(rng.getrandbits(8) for _ in range(30))),
        ])
        return q + garbage
    raise ValueError("unknown kind %r" % kind)


class Report:
    def __init__(self):
        self.sent = collections.Counter()     # hostile packets (and TCP tactics) by kind
        self.good_sent = 0
        self.good_right = 0
        self.good_wrong = 0
        self.good_lost = 0
        self.wrong = []                       # the first few wrong answers, described

    @property
    def hostile(self):
        return sum(self.sent.values())

    def line(self):
        return "hostile %d, good %d: right %d, wrong %d, lost %d" % (
            self.hostile, self.good_sent, self.good_right, self.good_wrong, self.good_lost)


def check_answer(wire, qid, name, rdtype, expected):
    """None if `wire` is the right answer, else what is wrong with it."""
    try:
        msg = dns.message.from_wire(wire)
    except Exception as err:   # noqa: BLE001 - any parse failure is a wrong answer
        return "unparsable answer: %s" % err
    if msg.id != qid:
        return "ID %d, asked %d" % (msg.id, qid)
    if not msg.flags & dns.flags.QR:
        return "QR not set"
    qs = [(q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype)) for q in msg.question]
    if qs != [(name.lower(), rdtype)]:
        return "question %r, asked %s %s" % (qs, name, rdtype)
    if msg.rcode() != dns.rcode.NOERROR:
        return "rcode %s for %s" % (dns.rcode.to_text(msg.rcode()), name)
    got = sorted(r.address for rrset in msg.answer for r in rrset
                 if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))
    if got != sorted(expected):
        return "addresses %r for %s, expected %r" % (got, name, expected)
    return None


class WireFuzzer:
    def __init__(self, port, seed=1, host=HOST, good_every=50, tcp_share=0.03,
                 good_timeout_s=4.0, max_held=300, q_names=unbound.DEFAULT_Q_NAMES):
        self.port = port
        self.host = host
        self.rng = random.Random(seed)
        self.good_every = good_every
        self.tcp_share = tcp_share
        self.good_timeout_s = good_timeout_s
        self.max_held = max_held
        self.questions = good_questions(q_names)
        self.report = Report()
        self.udp_bad = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp_bad.setblocking(False)
        self.udp_good = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.held = collections.deque()      # (socket, tactic, next drip time) of open hostile TCP
        self._qid = self.rng.getrandbits(16)

    # ---- the run ---------------------------------------------------------------

    def run(self, packets, progress=None, progress_every=100000):
        """Send `packets` hostile packets; `progress(report)` every progress_every."""
        next_mark = progress_every
        while self.report.hostile < packets:
            for _ in range(self.good_every):
                if self.rng.random() < self.tcp_share:
                    self.tcp_tactic(self.rng.choice(TCP_KINDS))
                else:
                    self.udp_hostile(self.rng.choice(UDP_KINDS))
            self._drain()
            self._drip()
            self.good_query(tcp=self.report.good_sent % 4 == 3)
            if progress is not None and self.report.hostile >= next_mark:
                progress(self.report)
                next_mark += progress_every
        return self.report

    def close(self):
        while self.held:
            self.held.popleft()[0].close()
        self.udp_bad.close()
        self.udp_good.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- hostile UDP -------------------------------------------------------------

    def udp_hostile(self, kind):
        name, rdtype, _ = self.rng.choice(self.questions)
        base = _query(name, rdtype, self.rng.getrandbits(16), edns=self.rng.random() < 0.5)
        data = hostile_datagram(self.rng, kind, base)
        try:
            self.udp_bad.sendto(data, (self.host, self.port))
        except BlockingIOError:
            select.select([], [self.udp_bad], [], 0.5)
        except OSError:
            pass   # e.g. EMSGSIZE for the largest: still counted as sent (it was tried)
        self.report.sent[kind] += 1

    def _drain(self):
        """Read what the daemon answered to the hostile datagrams (FORMERR, NOTIMP)."""
        while True:
            try:
                self.udp_bad.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue

    # ---- hostile TCP -------------------------------------------------------------

    def _connect(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive buffer: answers a never-reading client is sent pile up at the daemon.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(2.0)
        try:
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def _send(self, sock, data):
        try:
            sock.send(data)
        except OSError:
            pass

    def _hold(self, sock, tactic, drip_at=None):
        self.held.append((sock, tactic, drip_at))
        while len(self.held) > self.max_held:
            self.held.popleft()[0].close()

    def tcp_tactic(self, kind):
        self.report.sent[kind] += 1
        sock = self._connect()
        if sock is None:
            return
        name, rdtype, _ = self.rng.choice(self.questions)
        query = _query(name, rdtype, self.rng.getrandbits(16))
        if kind == "tcp_zero":
            self._send(sock, b"\x00\x00" + struct.pack("!H", len(query)) + query)
            self._hold(sock, kind)
        elif kind == "tcp_oversize_prefix":
            self._send(sock, b"\xff\xff" + query)       # says 65535, sends a few dozen
            self._hold(sock, kind)
        elif kind == "tcp_half":
            framed = struct.pack("!H", len(query)) + query
            self._send(sock, framed[:self.rng.randrange(1, len(framed))])
            sock.close()
        elif kind == "tcp_burst_unread":
            big = _query(unbound.BIG_NAME, "TXT", 0)
            burst = b"".join(struct.pack("!HH", len(big), i) + big[2:]
                             for i in range(200))
            self._send(sock, burst)
            self._hold(sock, kind)
        elif kind == "tcp_hold":
            self._hold(sock, kind)
        elif kind == "tcp_slowloris":
            framed = struct.pack("!H", len(query)) + query
            self._send(sock, framed[:1])
            self._hold(sock, kind, (time.monotonic() + 0.5, framed, 1))
        elif kind == "tcp_reset":
            self._send(sock, struct.pack("!H", len(query)) + query)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def _drip(self):
        """One more byte from each slowloris whose time has come."""
        now = time.monotonic()
        for i, (sock, tactic, drip) in enumerate(self.held):
            if drip is None or drip[0] > now:
                continue
            _at, framed, sent = drip
            if sent < len(framed):
                self._send(sock, framed[sent:sent + 1])
                self.held[i] = (sock, tactic, (now + 0.5, framed, sent + 1))

    # ---- good queries ------------------------------------------------------------

    def _next_qid(self):
        self._qid = (self._qid + 1) & 0xFFFF
        return self._qid

    def good_query(self, tcp=False):
        name, rdtype, expected = self.rng.choice(self.questions)
        qid = self._next_qid()
        wire = _query(name, rdtype, qid, edns=self.rng.random() < 0.7)
        self.report.good_sent += 1
        answer = self._ask_tcp(wire) if tcp else self._ask_udp(wire, qid)
        if answer is None:
            self.report.good_lost += 1
            if len(self.report.wrong) < 200:
                self.report.wrong.append("lost: %s %s over %s" % (name, rdtype, "TCP" if tcp else "UDP"))
            return
        problem = check_answer(answer, qid, name, rdtype, expected)
        if problem is None:
            self.report.good_right += 1
        else:
            self.report.good_wrong += 1
            if len(self.report.wrong) < 200:
                self.report.wrong.append(problem)

    def _ask_udp(self, wire, qid):
        sock = self.udp_good
        sock.sendto(wire, (self.host, self.port))
        deadline = time.monotonic() + self.good_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                return None
            data = sock.recv(65535)
            # An answer to an earlier good query that was counted lost: skip it.
            if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
                return data

    def _ask_tcp(self, wire):
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.good_timeout_s)
        except OSError:
            return None
        try:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = sock.recv(65535)
                if not chunk:
                    return None
                buf += chunk
            return buf[2:2 + struct.unpack("!H", buf[:2])[0]]
        except OSError:
            return None
        finally:
            sock.close()
