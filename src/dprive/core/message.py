"""What the forwarder does to a query on its way out and to the answer on its way back.

Out: the client's ID is replaced by one unique on the upstream connection,
hop-by-hop EDNS options the client sent (padding, tcp-keepalive) are replaced
by ours: edns-tcp-keepalive (RFC 7828) and padding to a block size (RFC 8467).
Back: the client's ID is restored, our hop-by-hop options are removed, and
the OPT record is dropped altogether if the client had sent none (a client
without EDNS must not see one, RFC 6891 section 7).
"""

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
    """The facts about a client's query that the way back needs."""

    def __init__(self, msg, client_id, question, opt):
        self.msg = msg
        self.client_id = client_id
        self.question = question
        self.had_opt = opt is not None
        self.opt = opt
        self.udp_limit = wire.udp_payload_limit(opt)


def inspect_query(msg):
    """Return (ACCEPT, ClientQuery), (REPLY, answer bytes, reason) or (DROP, None, reason)."""
    try:
        header = wire.parse_header(msg)
    except wire.WireError as err:
        return DROP, None, str(err)
    if header.flags & wire.QR:
        return DROP, None, "a response, not a query"
    if header.opcode() != wire.OPCODE_QUERY:
        return REPLY, wire.make_error(msg, wire.RCODE_NOTIMP), "opcode %d" % header.opcode()
    if len(msg) > MAX_QUERY_LEN:
        return (REPLY, wire.make_error(msg, wire.RCODE_FORMERR),
                "query of %d bytes, longer than the %d that can be forwarded" % (len(msg), MAX_QUERY_LEN))
    try:
        question = wire.read_question(msg)
        opt = wire.find_opt(msg)
    except wire.WireError as err:
        return REPLY, wire.make_error(msg, wire.RCODE_FORMERR), str(err)
    if opt is not None and opt.version != 0:
        # RFC 6891 6.1.3: BADVERS needs an extended RCODE; answer FORMERR like many servers.
        return REPLY, wire.make_error(msg, wire.RCODE_FORMERR), "EDNS version %d" % opt.version
    return ACCEPT, ClientQuery(msg, header.id, question, opt), ""


# Over DTLS an answer must fit one datagram on any path: 1280 (the IPv6 minimum
# MTU) less IP, UDP and DTLS record overhead leaves about 1200 bytes.
DTLS_MAX_PAYLOAD = 1200


def upstream_query(query, upstream_id, padding_block, stream=True):
    """The bytes to send upstream for a ClientQuery (without the TCP length prefix).

    `stream`: over TCP (TLS) rather than datagrams (DTLS).
    """
    if query.opt is not None:
        opt = query.opt.without(HOP_BY_HOP)
    else:
        opt = wire.Opt(wire.DEFAULT_EDNS_PAYLOAD)
    if stream:
        # An empty edns-tcp-keepalive asks the server for its idle timeout (TCP only, RFC 7828).
        opt.options.append((wire.OPT_TCP_KEEPALIVE, b""))
    else:
        opt.udp_size = min(max(opt.udp_size, wire.MIN_UDP_PAYLOAD), DTLS_MAX_PAYLOAD)
    body = wire.replace_opt(wire.set_id(query.msg, upstream_id), None, query.opt)
    opt = wire.padded_opt(len(body), opt, padding_block)
    return wire.replace_opt(body, opt, None)


class Answer:
    def __init__(self, msg, keepalive_ms):
        self.msg = msg
        self.keepalive_ms = keepalive_ms


def check_answer(answer, question):
    """Validate an upstream answer to `question`; raise WireError if it is not one."""
    header = wire.parse_header(answer)
    if not header.flags & wire.QR:
        raise wire.WireError("upstream sent a query, not an answer")
    if header.qdcount == 1:
        got = wire.read_question(answer)
        if (got.qtype != question.qtype or got.qclass != question.qclass
                or got.name.lower() != question.name.lower()):
            raise wire.WireError("answer is for another question")
    elif header.qdcount > 1:
        # RFC 9619: a message carries at most one question. With an error rcode
        # such an answer used to pass, and reached the client as it was.
        raise wire.WireError("answer with %d questions" % header.qdcount)
    elif header.flags & wire.RCODE_MASK == wire.RCODE_NOERROR:
        raise wire.WireError("answer without its question")
    return wire.find_opt(answer)


def client_answer(answer, query):
    """The upstream `answer` as the client should see it; also the server's keepalive."""
    opt = check_answer(answer, query.question)
    keepalive_ms = wire.read_tcp_keepalive(opt)
    msg = wire.set_id(answer, query.client_id)
    if opt is not None:
        msg = wire.replace_opt(msg, opt.without(HOP_BY_HOP) if query.had_opt else None, opt)
    return Answer(msg, keepalive_ms)


def fit_for_udp(msg, limit):
    """Truncate (TC) an answer that is larger than the UDP client can take."""
    if len(msg) <= limit:
        return msg, False
    return wire.truncate(msg, limit), True
