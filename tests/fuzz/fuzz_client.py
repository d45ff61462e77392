"""Fuzz target `client`: what LAN clients send, on the path the daemon takes.

UDP: each datagram goes to Forwarder.client_query as io/lan.py's
UdpListener hands it over. TCP: the bytes are a stream cut at arbitrary
points and framed by core/framing.py as io/lan.py's TcpClient does (a zero
length prefix ends the connection). One TLS upstream is up and answers
every query it is sent.

Checked beyond coreshell.py's rules:
- framing: the stream cut in pieces gives the messages it gives whole;
- the query as sent upstream is the client's, parsed and encoded again: same
  question, same records (dnspython reads both), only the ID and our OPT
  changed; and whatever dnspython reads as a plain query, the core forwards
  (unless it is longer than message.MAX_QUERY_LEN);
- the answer the client gets back is the upstream's for its question.
"""

import dns.exception
import dns.flags
import dns.message
import dns.opcode

from dprive.core import message, wire
from dprive.core.framing import FrameDecoder, FramingError, frame
from dprive.io.lan import UdpListener

from bytesource import ByteSource
from corescript import made_query
from coreshell import CheckedHarness, small_bounds, require

TARGET = "client"
MAX_MESSAGES = 64


def lan_messages(src, tcp, made):
    """The DNS messages the LAN side would hand to the core: raw blobs, or
    queries made by corescript.made_query (which can be large: 64 KiB from a
    few input bytes); over TCP framed into a stream (raw: the rest of the
    input is the stream) and cut every `chunk` bytes."""
    chunk = 1 + src.u16() % 2048
    if tcp and not made:
        data = src.rest()
    else:
        msgs = []
        while src.left() and len(msgs) < MAX_MESSAGES:
            msgs.append(made_query(src) if made else src.blob())
        msgs = [m for m in msgs if len(m) <= UdpListener.MAX_DATAGRAM]   # what a socket can carry
        if not tcp:
            return msgs
        data = b"".join(frame(m) for m in msgs)
    # At most 256 pieces: FrameDecoder copies what it holds on every feed (see
    # README.md), and 65536 instrumented feeds of one input would take seconds.
    chunk = max(chunk, len(data) // 256)
    try:
        whole, broken = FrameDecoder().feed(data), None
    except FramingError as err:
        whole, broken = None, err
    decoder, got = FrameDecoder(), []
    for pos in range(0, len(data), chunk):
        try:
            got.extend(decoder.feed(data[pos:pos + chunk]))
        except FramingError:
            require(broken is not None, "a cut stream broke where the whole one did not")
            return got[:MAX_MESSAGES]       # io/lan.py closes the connection here
    require(broken is None and got == whole, "a stream cut in pieces reads otherwise than whole")
    return got[:MAX_MESSAGES]


def dnspython_reads(msg):
    try:
        return dns.message.from_wire(msg, ignore_trailing=False)
    except (dns.exception.DNSException, ValueError, TypeError, KeyError, IndexError):
        return None


def plain_query(parsed):
    return (parsed is not None and not parsed.flags & dns.flags.QR
            and parsed.opcode() == dns.opcode.QUERY and len(parsed.question) == 1
            and parsed.edns <= 0)


def records(parsed):
    return [sorted(rrset.to_text().splitlines()) for rrset in parsed.answer + parsed.authority
            + parsed.additional]


def check_sent(h, key_of_sent):
    """The query the upstream got is the client's, re-encoded."""
    for sent, key in key_of_sent:
        client = h.expect[key].msg
        theirs, ours = dnspython_reads(client), dnspython_reads(sent)
        if theirs is None:
            continue
        require(ours is not None, "dnspython reads the client's query but not what we sent")
        require(ours.question == theirs.question, "the question changed on the way up")
        require(records(ours) == records(theirs), "records changed on the way up")
        require(ours.flags == theirs.flags, "flags changed on the way up")


def opt_fields(opt):
    return None if opt is None else (opt.udp_size, opt.ext_rcode, opt.version, opt.flags, opt.options)


def check_wire(msg):
    """core/wire.py's own round trips on a client message: the OPT record
    taken out and put back reads the same, an error answer to anything with
    a header parses and keeps its ID."""
    try:
        header = wire.parse_header(msg)
    except wire.WireError:
        require(len(msg) < wire.HEADER_LEN, "a header refused in %d bytes", len(msg))
        return
    error = wire.make_error(msg, wire.RCODE_FORMERR)
    wire.validate(error)
    require(wire.get_id(error) == header.id and len(error) <= wire.MIN_UDP_PAYLOAD,
            "an error answer with another ID, or too large for any client")
    require(wire.set_id(msg, 0xBEEF)[2:] == msg[2:] and wire.get_id(wire.set_id(msg, 0xBEEF)) == 0xBEEF,
            "set_id changed more than the ID")
    try:
        opt = wire.find_opt(msg)
    except wire.WireError:
        return
    without = wire.replace_opt(msg, None, opt)
    require(wire.find_opt(without) is None, "the OPT record is still there after removing it")
    if opt is not None and len(opt.pack()) + len(without) <= 65535:
        again = wire.find_opt(wire.replace_opt(without, opt, None))
        require(opt_fields(again) == opt_fields(opt), "the OPT record reads otherwise once put back")


def one_input(data):
    with small_bounds():
        _one_input(data)


def _one_input(data):
    src = ByteSource(data)
    mode = src.u8()
    tcp = bool(mode & 1)
    h = CheckedHarness(["one"])
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    keys = [h.ask(msg, udp=not tcp) for msg in lan_messages(src, tcp, bool(mode & 0x80))]
    for key in keys:
        expect = h.expect[key]
        check_wire(expect.msg)
        if expect.verdict == message.ACCEPT or len(expect.msg) > message.MAX_QUERY_LEN:
            continue
        parsed = dnspython_reads(expect.msg)
        require(not plain_query(parsed), "dnspython reads a plain query, the core refused it: %s"
                % (expect.verdict,))
    session = h.fwd.upstreams[0].session
    pairs = []
    for sent in h.outstanding(0):
        attempt = session.inflight.get(wire.get_id(sent))
        require(attempt is not None, "a query sent with an ID that is not in flight")
        pairs.append((sent, attempt.pending.key))
    check_sent(h, pairs)
    h.answer_all(0, extra_txt=(mode >> 1) % 8)
    for key in keys:
        expect = h.expect[key]
        require(expect.verdict != message.ACCEPT or expect.replies == 1,
                "client %r got no answer although the upstream answered everything", key)
    h.settle()
