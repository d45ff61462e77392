"""DNS wire format: the few fields a forwarder touches (RFC 1035, 6891, 7828, 7830).

Header, the question, and the OPT pseudo-record with its options. Every
function takes and returns `bytes`; nothing is decoded that the forwarder does
not need. Malformed input raises WireError, never IndexError or struct.error.
The forwarder's own path reads each message once through a View (header,
question, OPT in one pass); the functions (parse_header, read_question,
find_opt, ...) each read what they need on their own, for the rest.

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
        """Step over a domain name; a compression pointer ends it."""
        self.pos = _skip_name(self.data, self.pos, self.end)


def _ends_early(pos, n, end, base=0):
    """The WireError for n bytes wanted at `pos` past `end` (offsets from `base`)."""
    return WireError("message ends %d bytes early at offset %d" % (pos + n - end, pos - base))


def _skip_name(data, pos, end):
    """The offset past the domain name at `pos`; a compression pointer ends it.

    Written with local variables: it runs for every record of every message.
    """
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
            return pos + 1
        if kind != 0:
            raise WireError("unknown label type 0x%02x at offset %d" % (kind, pos - 1))
        pos += length
        total += length + 1
        if pos > end:
            raise WireError("message ends inside a label at offset %d" % (pos - length - 1))
    if total > MAX_NAME_LEN:
        raise WireError("name longer than 255 bytes")
    return pos


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
    if len(msg) < HEADER_LEN:
        raise WireError("%d bytes is shorter than a DNS header" % len(msg))
    return (msg[0] << 8) | msg[1]


def set_id(msg, msg_id):
    if len(msg) < HEADER_LEN:
        raise WireError("%d bytes is shorter than a DNS header" % len(msg))
    return struct.pack("!H", msg_id) + bytes(msg[2:])


def is_response(msg):
    return bool(parse_header(msg).flags & QR)


class View:
    """One message parsed once, for the forwarder's own path (a query in, an answer back).

    View(msg) reads the header (WireError if there is none); read_question()
    then the single question, and read_records() the rest up to the OPT,
    each raising the WireError read_question and find_opt would. The
    question's fields are `name`, `qtype`, `qclass` (so a View stands in for
    a Question) and `qend`, the offset past it; `opt` is the Opt or None.
    """

    # until read_question and read_records find them (class defaults: a View
    # is made for every message, and these are stores saved)
    name = None
    qtype = None
    qclass = None
    qend = HEADER_LEN
    opt = None

    def __init__(self, msg):
        if len(msg) < HEADER_LEN:
            raise WireError("%d bytes is shorter than a DNS header" % len(msg))
        self.msg = msg
        (self.id, self.flags, self.qdcount, self.ancount, self.nscount,
         self.arcount) = struct.unpack_from("!HHHHHH", msg, 0)

    def read_question(self):
        """The single question (QDCOUNT must be 1), its name uncompressed."""
        if self.qdcount != 1:
            raise WireError("QDCOUNT is %d, expected 1" % self.qdcount)
        msg = self.msg
        end = len(msg)
        pos = _skip_name(msg, HEADER_LEN, end)
        name = bytes(msg[HEADER_LEN:pos])
        if _compressed(name):
            # The first name of a message has nothing before it to point at: a
            # pointer there loops or points into the header. Forwarded, such a query
            # makes resolvers drop the whole TLS session (unbound does).
            raise WireError("compression pointer in the question name")
        if pos + 4 > end:
            raise _ends_early(pos, 2, end) if pos + 2 > end else _ends_early(pos + 2, 2, end)
        self.qtype, self.qclass = struct.unpack_from("!HH", msg, pos)
        self.name = name
        self.qend = pos + 4

    def skip_questions(self):
        """Step over QDCOUNT questions, whatever their number and names."""
        msg = self.msg
        end = len(msg)
        pos = HEADER_LEN
        for _ in range(self.qdcount):
            pos = _skip_name(msg, pos, end)
            if pos + 4 > end:
                raise _ends_early(pos, 4, end)
            pos += 4
        self.qend = pos

    def read_records(self):
        """Check every record after the question; find the OPT (`opt`)."""
        msg = self.msg
        end = len(msg)
        pos = self.qend
        opt = None
        additional_from = self.ancount + self.nscount
        for index in range(additional_from + self.arcount):
            start = pos
            # Most owner names are a compression pointer (answers) or the root
            # (the OPT): stepped over here, as _skip_name would, without the call.
            first = msg[pos] if pos < end else 1
            if first == 0:
                pos += 1
            elif first >= 0xC0 and pos + 1 < end:
                pos += 2
            else:
                pos = _skip_name(msg, pos, end)
            if pos + 10 > end:
                raise _ends_early(pos, 10, end)
            rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", msg, pos)
            pos += 10
            if pos + rdlength > end:
                raise _ends_early(pos, rdlength, end)
            pos += rdlength
            if rtype != TYPE_OPT:
                continue
            if index < additional_from:
                raise WireError("OPT record outside the additional section")
            if opt is not None:
                raise WireError("more than one OPT record")
            if msg[start] != 0:
                raise WireError("OPT record with a name other than the root")
            opt = Opt(rclass, ttl >> 24, (ttl >> 16) & 0xFF, ttl & 0xFFFF,
                      _options(msg, pos - rdlength, pos), start, pos)
        if pos != end:
            raise WireError("%d bytes after the last record" % (end - pos))
        self.opt = opt


class Question:
    def __init__(self, name, qtype, qclass, end):
        self.name = name      # wire form, as sent
        self.qtype = qtype
        self.qclass = qclass
        self.end = end        # offset just past the question


def read_question(msg):
    """The single question of a query (QDCOUNT must be 1)."""
    view = View(msg)
    view.read_question()
    return Question(view.name, view.qtype, view.qclass, view.qend)


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
    return _options(rdata, 0, len(rdata))


def _options(data, pos, end):
    """The [(code, bytes)] of the OPT rdata data[pos:end] (error offsets from `pos`)."""
    base = pos
    options = []
    while pos < end:
        if pos + 4 > end:
            raise _ends_early(pos, 2, end, base) if pos + 2 > end else _ends_early(pos + 2, 2, end, base)
        code, length = struct.unpack_from("!HH", data, pos)
        pos += 4
        if pos + length > end:
            raise _ends_early(pos, length, end, base)
        options.append((code, bytes(data[pos:pos + length])))
        pos += length
    return options


def _walk_records(msg):
    """Check every section; return the View, its `opt` found."""
    view = View(msg)
    view.skip_questions()
    view.read_records()
    return view


def validate(msg):
    """Raise WireError unless every section of `msg` parses."""
    _walk_records(msg)


def find_opt(msg):
    """The message's OPT record, or None. Validates the whole message."""
    return _walk_records(msg).opt


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
