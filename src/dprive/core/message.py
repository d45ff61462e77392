"""What the forwarder does to a query on its way out and to the answer on its way back.

Out: the client's ID is replaced by one unique on the upstream connection,
hop-by-hop EDNS options the client sent (padding, tcp-keepalive) are replaced
by ours: edns-tcp-keepalive (RFC 7828) and padding to a block size (RFC 8467).
Back: the client's ID is restored, our hop-by-hop options are removed, and
the OPT record is dropped altogether if the client had sent none (a client
without EDNS must not see one, RFC 6891 section 7).
"""

import struct

from dprive.core import wire

# What inspect_query decided.
ACCEPT = 0   # forward it
REPLY = 1    # answer at once with the bytes given (FORMERR, NOTIMP)
DROP = 2     # no answer is possible (not even a header) or wanted

HOP_BY_HOP = (wire.OPT_PADDING, wire.OPT_TCP_KEEPALIVE)

# The most our OPT changes add to a query on its way out: an OPT record (11
# bytes) when the client sent none, edns-tcp-keepalive (4) and padding (4 +
# up to 511, for the largest padding_block, 512). A longer query would not
# fit the upstream's TCP length prefix (65535), so it is answered FORMERR.
MAX_QUERY_LEN = 65535 - (11 + 4 + 4 + 511)


class ClientQuery:
    """The facts about a client's query that the way out and the way back need."""

    def __init__(self, view):
        msg = self.msg = view.msg
        if type(msg) is not bytes:
            msg = bytes(msg)
        self.client_id = view.id
        self.question = view          # name, qtype, qclass
        opt = self.opt = view.opt
        self.had_opt = opt is not None
        # wire.udp_payload_limit, inline
        self.udp_limit = wire.MIN_UDP_PAYLOAD if opt is None else max(wire.MIN_UDP_PAYLOAD, opt.udp_size)
        # The question as sent (name, type, class): an answer that repeats
        # these bytes asks no more checking (checked_answer).
        self.qwire = msg[wire.HEADER_LEN:view.qend]
        # Every attempt sends the same bytes but for the ID and our OPT: the
        # message from its flags on, the client's OPT cut out (ARCOUNT counting
        # ours), and the client's options we pass on (all but HOP_BY_HOP).
        if opt is None:
            self.body = msg[2:10] + struct.pack("!H", view.arcount + 1) + msg[wire.HEADER_LEN:]
            self.kept = b""
        else:
            self.body = (msg[2:10] + struct.pack("!H", view.arcount)
                         + msg[wire.HEADER_LEN:opt.start] + msg[opt.end:])
            self.kept = _pack_options(opt.options)


def _pack_options(options):
    """The OPT rdata of `options` less the HOP_BY_HOP ones."""
    out = b""
    for code, data in options:
        if code not in HOP_BY_HOP:
            out += struct.pack("!HH", code, len(data)) + data
    return out


def inspect_query(msg):
    """Return (ACCEPT, ClientQuery), (REPLY, answer bytes, reason) or (DROP, None, reason)."""
    try:
        view = wire.View(msg)
    except wire.WireError as err:
        return DROP, None, str(err)
    if view.flags & wire.QR:
        return DROP, None, "a response, not a query"
    opcode = (view.flags & wire.OPCODE_MASK) >> 11
    if opcode != wire.OPCODE_QUERY:
        return REPLY, wire.make_error(msg, wire.RCODE_NOTIMP), "opcode %d" % opcode
    if len(msg) > MAX_QUERY_LEN:
        return (REPLY, wire.make_error(msg, wire.RCODE_FORMERR),
                "query of %d bytes, longer than the %d that can be forwarded" % (len(msg), MAX_QUERY_LEN))
    try:
        view.read_question()
        view.read_records()
    except wire.WireError as err:
        return REPLY, wire.make_error(msg, wire.RCODE_FORMERR), str(err)
    if view.opt is not None and view.opt.version != 0:
        # RFC 6891 6.1.3: BADVERS needs an extended RCODE; answer FORMERR like many servers.
        return REPLY, wire.make_error(msg, wire.RCODE_FORMERR), "EDNS version %d" % view.opt.version
    return ACCEPT, ClientQuery(view), ""


# Over DTLS an answer must fit one datagram on any path: 1280 (the IPv6 minimum
# MTU) less IP, UDP and DTLS record overhead leaves about 1200 bytes.
DTLS_MAX_PAYLOAD = 1200


def upstream_query(query, upstream_id, padding_block, stream=True):
    """The bytes to send upstream for a ClientQuery (without the TCP length prefix).

    `stream`: over TCP (TLS) rather than datagrams (DTLS). Our OPT goes last
    (RFC 8467: padding is the last thing added): the client's, less its
    hop-by-hop options, or one of ours if it sent none.
    """
    opt = query.opt
    if opt is not None:
        udp_size = opt.udp_size
        ttl = (opt.ext_rcode << 24) | (opt.version << 16) | opt.flags
    else:
        udp_size = wire.DEFAULT_EDNS_PAYLOAD
        ttl = 0
    rdata = query.kept
    if stream:
        # An empty edns-tcp-keepalive asks the server for its idle timeout (TCP only, RFC 7828).
        rdata += _EMPTY_KEEPALIVE
    else:
        udp_size = min(max(udp_size, wire.MIN_UDP_PAYLOAD), DTLS_MAX_PAYLOAD)
    if padding_block > 0:
        # the ID, the body, an OPT record (11 bytes) and 4 of padding option header
        length = 2 + len(query.body) + 11 + len(rdata) + 4
        pad = (padding_block - length % padding_block) % padding_block
        rdata += struct.pack("!HH", wire.OPT_PADDING, pad) + b"\x00" * pad
    return (struct.pack("!H", upstream_id) + query.body
            + struct.pack("!BHHIH", 0, wire.TYPE_OPT, udp_size, ttl, len(rdata)) + rdata)


_EMPTY_KEEPALIVE = struct.pack("!HH", wire.OPT_TCP_KEEPALIVE, 0)


def checked_answer(answer, question, qwire=None):
    """The View of an upstream answer to `question`, all of it read; WireError if it is not one.

    `qwire`: the question's bytes as the query carried them (ClientQuery.qwire).
    An answer whose question is these very bytes has the question read_question
    would find there; its View then has `qend` but no `name`, `qtype`, `qclass`.
    """
    view = wire.View(answer)
    if not view.flags & wire.QR:
        raise wire.WireError("upstream sent a query, not an answer")
    if view.qdcount == 1:
        if qwire is not None:
            end = wire.HEADER_LEN + len(qwire)
            if answer[wire.HEADER_LEN:end] == qwire:
                view.qend = end
                view.read_records()
                return view
        view.read_question()
        name = question.name
        if (view.qtype != question.qtype or view.qclass != question.qclass
                or view.name != name and view.name.lower() != name.lower()):
            raise wire.WireError("answer is for another question")
    elif view.qdcount > 1:
        # RFC 9619: a message carries at most one question. With an error rcode
        # such an answer used to pass, and reached the client as it was.
        raise wire.WireError("answer with %d questions" % view.qdcount)
    elif view.flags & wire.RCODE_MASK == wire.RCODE_NOERROR:
        raise wire.WireError("answer without its question")
    view.read_records()
    return view


def check_answer(answer, question):
    """Validate an upstream answer to `question`; raise WireError if it is not one.
    Returns its OPT (or None)."""
    return checked_answer(answer, question).opt


def client_answer(answer, query):
    """(the upstream `answer` as the client should see it, the server's keepalive or None)."""
    view = checked_answer(answer, query.question, query.qwire)
    if type(answer) is not bytes:
        answer = bytes(answer)
    opt = view.opt
    head = struct.pack("!H", query.client_id)
    if opt is None:
        return head + answer[2:], None
    # One pass over the options: the server's idle timeout (as read_tcp_keepalive
    # reads it: the first edns-tcp-keepalive, if 2 bytes long) and the rest.
    keepalive_ms = None
    seen_keepalive = False
    rdata = b""
    for code, data in opt.options:
        if code == wire.OPT_TCP_KEEPALIVE:
            if not seen_keepalive:
                seen_keepalive = True
                if len(data) == 2:
                    keepalive_ms = ((data[0] << 8) | data[1]) * 100
        elif code != wire.OPT_PADDING:
            rdata += struct.pack("!HH", code, len(data)) + data
    if query.had_opt:
        # The OPT goes last, less our hop-by-hop options; most often it is
        # last already, with only edns-tcp-keepalive to cut out.
        record = answer[opt.start:opt.start + 9] + struct.pack("!H", len(rdata)) + rdata
        if opt.end == len(answer) and opt.end - opt.start == len(record):
            return head + answer[2:], keepalive_ms
        arcount = view.arcount
    else:
        # A client without EDNS must not see an OPT (RFC 6891 section 7).
        record = b""
        arcount = view.arcount - 1
    msg = (head + answer[2:10] + struct.pack("!H", arcount)
           + answer[wire.HEADER_LEN:opt.start] + answer[opt.end:] + record)
    return msg, keepalive_ms


def fit_for_udp(msg, limit):
    """Truncate (TC) an answer that is larger than the UDP client can take."""
    if len(msg) <= limit:
        return msg, False
    return wire.truncate(msg, limit), True
