"""DNS wire format: the few fields a forwarder touches (RFC 1035, 6891, 7828, 7830).

Header, the question, and the OPT pseudo-record with its options. Every
function takes and returns `bytes`; nothing is decoded that the forwarder does
not need. Malformed input raises WireError, never IndexError or struct.error.

Portable to MicroPython: no enum, no dataclasses, builtins called with
positional arguments only.
"""

import struct

HEADER_LEN = 12

# Header flag bits (the second 16-bit word).
QR = 0x8000
OPCODE_MASK = 0x7800
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010
RCODE_MASK = 0x000F

OPCODE_QUERY = 0

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5

TYPE_A = 1
TYPE_NS = 2
TYPE_AAAA = 28
TYPE_OPT = 41

CLASS_IN = 1

OPT_TCP_KEEPALIVE = 11  # RFC 7828
OPT_PADDING = 12        # RFC 7830

DO_BIT = 0x8000  # in the OPT record's flags (the low 16 bits of its TTL)

MAX_NAME_LEN = 255
MIN_UDP_PAYLOAD = 512
# What we announce upstream when the client sent no OPT: the DNS flag day 2020 value.
DEFAULT_EDNS_PAYLOAD = 1232


class WireError(ValueError):
    """A message that cannot be parsed as DNS."""


class Cursor:
    """Reads big-endian fields from `data`, never past `end`."""

    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else min(end, len(data))

    def remaining(self):
        return self.end - self.pos

    def _need(self, n):
        if self.pos + n > self.end:
            raise WireError("message ends %d bytes early at offset %d"
                            % (self.pos + n - self.end, self.pos))

    def u16(self):
        self._need(2)
        value = struct.unpack_from("!H", self.data, self.pos)[0]
        self.pos += 2
        return value

    def take(self, n):
        self._need(n)
        value = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return value

    def skip(self, n):
        self._need(n)
        self.pos += n

    def skip_name(self):
        """Step over a domain name; a compression pointer ends it.

        Written with local variables rather than take()/skip(): it runs for
        every record of every message.
        """
        data = self.data
        pos = self.pos
        end = self.end
        total = 0
        while True:
            if pos >= end:
                raise WireError("message ends inside a name at offset %d" % pos)
            length = data[pos]
            pos += 1
            if length == 0:
                total += 1
                break
            kind = length & 0xC0
            if kind == 0xC0:
                if pos >= end:
                    raise WireError("message ends inside a compression pointer")
                # the labels before the pointer plus at least the root label
                if total + 1 > MAX_NAME_LEN:
                    raise WireError("name longer than 255 bytes")
                self.pos = pos + 1
                return
            if kind != 0:
                raise WireError("unknown label type 0x%02x at offset %d" % (kind, pos - 1))
            pos += length
            total += length + 1
            if pos > end:
                raise WireError("message ends inside a label at offset %d" % (pos - length - 1))
        if total > MAX_NAME_LEN:
            raise WireError("name longer than 255 bytes")
        self.pos = pos


class Header:
    def __init__(self, msg_id, flags, qdcount, ancount, nscount, arcount):
        self.id = msg_id
        self.flags = flags
        self.qdcount = qdcount
        self.ancount = ancount
        self.nscount = nscount
        self.arcount = arcount

    def opcode(self):
        return (self.flags & OPCODE_MASK) >> 11

    def rcode(self):
        return self.flags & RCODE_MASK

    def pack(self):
        return struct.pack("!HHHHHH", self.id, self.flags, self.qdcount,
                           self.ancount, self.nscount, self.arcount)


def parse_header(msg):
    if len(msg) < HEADER_LEN:
        raise WireError("%d bytes is shorter than a DNS header" % len(msg))
    return Header(*struct.unpack_from("!HHHHHH", msg, 0))


def get_id(msg):
    return parse_header(msg).id


def set_id(msg, msg_id):
    parse_header(msg)
    return struct.pack("!H", msg_id) + bytes(msg[2:])


def is_response(msg):
    return bool(parse_header(msg).flags & QR)


class Question:
    def __init__(self, name, qtype, qclass, end):
        self.name = name      # wire form, as sent
        self.qtype = qtype
        self.qclass = qclass
        self.end = end        # offset just past the question


def read_question(msg):
    """The single question of a query (QDCOUNT must be 1)."""
    header = parse_header(msg)
    if header.qdcount != 1:
        raise WireError("QDCOUNT is %d, expected 1" % header.qdcount)
    cur = Cursor(msg, HEADER_LEN)
    cur.skip_name()
    name = bytes(msg[HEADER_LEN:cur.pos])
    if _compressed(name):
        # The first name of a message has nothing before it to point at: a
        # pointer there loops or points into the header. Forwarded, such a query
        # makes resolvers drop the whole TLS session (unbound does).
        raise WireError("compression pointer in the question name")
    qtype = cur.u16()
    qclass = cur.u16()
    return Question(name, qtype, qclass, cur.pos)


def _compressed(wire_name):
    """True if a name skip_name has checked ends with a compression pointer."""
    pos = 0
    while wire_name[pos] != 0:
        if wire_name[pos] & 0xC0:
            return True
        pos += wire_name[pos] + 1
    return False


def name_to_text(wire_name):
    """Presentation form of an uncompressed wire name, for logs."""
    labels = []
    pos = 0
    while pos < len(wire_name):
        length = wire_name[pos]
        if length == 0 or length & 0xC0:
            break
        label = wire_name[pos + 1:pos + 1 + length]
        labels.append("".join(chr(c) if 0x21 <= c <= 0x7E and c not in (0x2E, 0x5C)
                              else "\\%03d" % c for c in label))
        pos += 1 + length
    return ".".join(labels) + "."


class Opt:
    """The OPT pseudo-record (RFC 6891 section 6.1.2)."""

    def __init__(self, udp_size, ext_rcode=0, version=0, flags=0, options=None,
                 start=-1, end=-1):
        self.udp_size = udp_size
        self.ext_rcode = ext_rcode
        self.version = version
        self.flags = flags
        self.options = list(options) if options else []   # [(code, bytes)]
        self.start = start   # offset of the record in the message it came from
        self.end = end

    def get(self, code):
        for opt_code, data in self.options:
            if opt_code == code:
                return data
        return None

    def without(self, codes):
        kept = [(c, d) for c, d in self.options if c not in codes]
        return Opt(self.udp_size, self.ext_rcode, self.version, self.flags, kept)

    def pack(self):
        rdata = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in self.options)
        ttl = (self.ext_rcode << 24) | (self.version << 16) | self.flags
        return b"\x00" + struct.pack("!HHIH", TYPE_OPT, self.udp_size, ttl, len(rdata)) + rdata


def parse_options(rdata):
    cur = Cursor(rdata)
    options = []
    while cur.remaining():
        code = cur.u16()
        length = cur.u16()
        options.append((code, cur.take(length)))
    return options


def _walk_records(msg):
    """Check every section; return (end of last record, the OPT or None)."""
    header = parse_header(msg)
    cur = Cursor(msg, HEADER_LEN)
    for _ in range(header.qdcount):
        cur.skip_name()
        cur.skip(4)
    opt = None
    total = header.ancount + header.nscount + header.arcount
    additional_from = header.ancount + header.nscount
    for index in range(total):
        start = cur.pos
        cur.skip_name()
        cur._need(10)
        rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", msg, cur.pos)
        rdata_at = cur.pos + 10
        cur.pos = rdata_at
        cur.skip(rdlength)
        if rtype != TYPE_OPT:
            continue
        if index < additional_from:
            raise WireError("OPT record outside the additional section")
        if opt is not None:
            raise WireError("more than one OPT record")
        if msg[start] != 0:
            raise WireError("OPT record with a name other than the root")
        options = parse_options(bytes(msg[rdata_at:rdata_at + rdlength]))
        opt = Opt(rclass, ttl >> 24, (ttl >> 16) & 0xFF, ttl & 0xFFFF, options, start, cur.pos)
    if cur.pos != len(msg):
        raise WireError("%d bytes after the last record" % (len(msg) - cur.pos))
    return cur.pos, opt


def validate(msg):
    """Raise WireError unless every section of `msg` parses."""
    _walk_records(msg)


def find_opt(msg):
    """The message's OPT record, or None. Validates the whole message."""
    return _walk_records(msg)[1]


_UNKNOWN = object()


def replace_opt(msg, opt, old=_UNKNOWN):
    """`msg` with its OPT record replaced by `opt` (added if absent; removed if None).

    The new OPT record goes last, as RFC 8467 wants padding to be the last thing added.
    `old` is the message's current OPT (or None) when the caller already found
    it with find_opt on this message (or one differing only in its ID): that
    saves walking the message again.
    """
    if old is _UNKNOWN:
        old = find_opt(msg)
    header = parse_header(msg)
    body = bytes(msg[HEADER_LEN:])
    if old is not None:
        body = body[:old.start - HEADER_LEN] + body[old.end - HEADER_LEN:]
        header.arcount -= 1
    if opt is not None:
        body += opt.pack()
        header.arcount += 1
    return header.pack() + body


def padded_opt(msg_len_without_opt, opt, block):
    """`opt` plus a padding option making the whole message a multiple of `block`."""
    base = opt.without((OPT_PADDING,))
    if block <= 0:
        return base
    # 4 bytes of option header are needed even for zero bytes of padding.
    length = msg_len_without_opt + len(base.pack()) + 4
    pad = (block - length % block) % block
    base.options.append((OPT_PADDING, b"\x00" * pad))
    return base


def read_tcp_keepalive(opt):
    """The server's idle timeout from edns-tcp-keepalive, in milliseconds, or None."""
    if opt is None:
        return None
    data = opt.get(OPT_TCP_KEEPALIVE)
    if data is None or len(data) != 2:
        return None
    return struct.unpack("!H", data)[0] * 100


def udp_payload_limit(opt):
    """Largest answer a UDP client may receive (RFC 6891 6.2.5)."""
    if opt is None:
        return MIN_UDP_PAYLOAD
    return max(MIN_UDP_PAYLOAD, opt.udp_size)


def make_error(query, rcode):
    """An error answer to `query`: its header (and question and OPT when they parse)."""
    header = parse_header(query)
    flags = QR | (header.flags & (OPCODE_MASK | RD | CD)) | RA | rcode
    body = b""
    qdcount = 0
    arcount = 0
    try:
        question = read_question(query)
        body = bytes(query[HEADER_LEN:question.end])
        qdcount = 1
        opt = find_opt(query)
        if opt is not None:
            body += Opt(DEFAULT_EDNS_PAYLOAD, 0, 0, opt.flags & DO_BIT).pack()
            arcount = 1
    except WireError:
        pass
    return Header(header.id, flags, qdcount, 0, 0, arcount).pack() + body


def truncate(answer, limit):
    """`answer` cut to header, question and OPT with TC set, for a small UDP buffer."""
    header = parse_header(answer)
    cur = Cursor(answer, HEADER_LEN)
    for _ in range(header.qdcount):
        cur.skip_name()
        cur.skip(4)
    body = bytes(answer[HEADER_LEN:cur.pos])
    opt = find_opt(answer)
    arcount = 0
    if opt is not None and HEADER_LEN + len(body) + len(opt.pack()) <= limit:
        body += Opt(opt.udp_size, opt.ext_rcode, opt.version, opt.flags, opt.options).pack()
        arcount = 1
    out = Header(header.id, header.flags | TC, header.qdcount, 0, 0, arcount).pack() + body
    if len(out) > limit:
        out = Header(header.id, header.flags | TC, 0, 0, 0, 0).pack()
    return out
