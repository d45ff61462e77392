"""Property tests: dprive.core.wire against dnspython (pytest only).

Random valid messages come from dnspython; what our helpers read must be what
dnspython reads, and what they write must parse in dnspython. Random and
mutated bytes may only ever raise WireError.
"""

import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rrset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dprive.core import wire
from dprive.core.wire import OPT_PADDING, OPT_TCP_KEEPALIVE, Opt, WireError

import test_wire

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# --- strategies --------------------------------------------------------------

labels = st.binary(min_size=1, max_size=63)
# Bias toward short printable labels so that compression kicks in often.
short_labels = st.sampled_from([b"a", b"www", b"example", b"com", b"org", b"NS1", b"x-y"])


@st.composite
def names(draw):
    parts = draw(st.lists(st.one_of(short_labels, labels), min_size=0, max_size=5))
    while parts and sum(len(p) + 1 for p in parts) + 1 > 255:
        parts.pop()
    return dns.name.Name(parts + [b""])


# Types whose rdata dnspython parses without surprises in a question; no meta types.
qtypes = st.one_of(
    st.sampled_from([1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 46, 48, 64, 65, 255]),
    st.integers(1, 65535).filter(lambda t: t not in (41, 249, 250, 251, 252)),
)
qclasses = st.one_of(st.sampled_from([1, 3, 4, 255]), st.integers(1, 65535).filter(
    lambda c: c not in (254,)))
opcodes = st.sampled_from([0, 1, 2, 4])
SPECIAL_OPTIONS = set(int(t) for t in dns.edns._type_to_class)
option_codes = st.integers(0, 65535).filter(lambda c: c not in SPECIAL_OPTIONS)


@st.composite
def edns_options(draw):
    options = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            options.append((OPT_TCP_KEEPALIVE, draw(st.sampled_from([b"", b"\x00\x96"]))))
        elif kind == 1:
            options.append((OPT_PADDING, bytes(draw(st.integers(0, 40)))))
        else:
            options.append((draw(option_codes), draw(st.binary(max_size=30))))
    return options


@st.composite
def rrsets(draw, owner):
    rtype = draw(st.sampled_from(["A", "AAAA", "TXT"]))
    name = draw(st.one_of(st.just(owner), names()))
    ttl = draw(st.integers(0, 2**31 - 1))
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.from_text(rtype))
    for _ in range(draw(st.integers(1, 3))):
        if rtype == "A":
            rd = dns.rdtypes.IN.A.A(1, 1, ".".join(str(b) for b in draw(st.binary(min_size=4, max_size=4))))
        elif rtype == "AAAA":
            packed = draw(st.binary(min_size=16, max_size=16))
            rd = dns.rdata.from_wire(1, 28, packed, 0, 16)
        else:
            rd = dns.rdtypes.ANY.TXT.TXT(1, 16, draw(st.lists(st.binary(max_size=20),
                                                              min_size=1, max_size=2)))
        rrset.add(rd, ttl)
    return rrset


@st.composite
def messages(draw):
    """(dnspython message, its wire form)."""
    qname = draw(names())
    msg = dns.message.Message(id=draw(st.integers(0, 0xFFFF)))
    flags = draw(st.integers(0, 0xFFFF)) & ~0x7800 & ~0x000F & ~0x0040
    msg.flags = flags | (draw(opcodes) << 11) | draw(st.integers(0, 15))
    msg.question.append(dns.rrset.RRset(qname, draw(qclasses), draw(qtypes)))
    if draw(st.booleans()):
        for section in (msg.answer, msg.authority, msg.additional):
            for _ in range(draw(st.integers(0, 2))):
                section.append(draw(rrsets(qname)))
    if draw(st.booleans()):
        options = [dns.edns.GenericOption(c, d) for c, d in draw(edns_options())]
        msg.use_edns(0, draw(st.integers(0, 0xFFFF)) & 0xFFFF,
                     draw(st.integers(0, 0xFFFF)), options=options)
        msg.ednsflags = (msg.ednsflags & 0xFF00FFFF) | (draw(st.integers(0, 255)) << 16)
        msg.ednsflags |= draw(st.integers(0, 255)) << 24
    # no shuffle: the same draw must give the same bytes
    return msg, msg.to_wire(max_size=65535, want_shuffle=False)


def dns_read(data):
    return dns.message.from_wire(data, one_rr_per_rrset=True)


def record_count(section):
    return sum(len(rrset) for rrset in section)


def dns_options(msg):
    return [(int(o.otype), o.to_wire()) for o in msg.options]


# --- golden messages agree with dnspython ------------------------------------

def test_golden_messages_parse_in_dnspython():
    for data in test_wire.GOLDEN:
        msg = dns_read(data)
        if data != test_wire.GOLDEN_RESPONSE:     # dnspython writes the same bytes back
            assert msg.to_wire(want_shuffle=False) == data
    q = dns_read(test_wire.GOLDEN_QUERY)
    assert q.question[0].name == dns.name.from_text("example.com.")
    assert q.flags == dns.flags.RD and q.id == 0x1234
    r = dns_read(test_wire.GOLDEN_RESPONSE)
    assert r.answer[0][0].address == "93.184.216.34" and r.answer[0].ttl == 3600
    o = dns_read(test_wire.GOLDEN_OPT_QUERY)
    assert (o.payload, o.edns, o.ednsflags) == (4096, 0, dns.flags.DO)
    assert [int(x.otype) for x in o.options] == [11, 10, 12]
    k = dns_read(test_wire.GOLDEN_KEEPALIVE_RESPONSE)
    assert k.rcode() == 3 and k.payload == 1232
    assert k.options[0].to_wire() == b"\x00\x96"


# --- properties on valid messages --------------------------------------------

@SETTINGS
@given(messages())
def test_header_and_question_match_dnspython(pair):
    msg, data = pair
    back = dns_read(data)
    hd = wire.parse_header(data)
    assert hd.id == msg.id == back.id == wire.get_id(data)
    assert hd.flags == back.flags
    assert hd.opcode() == int(back.opcode())
    assert hd.rcode() == int(back.flags) & 0xF
    assert wire.is_response(data) == bool(back.flags & dns.flags.QR)
    assert hd.qdcount == 1
    assert hd.ancount == record_count(back.answer)
    assert hd.nscount == record_count(back.authority)
    assert hd.arcount == record_count(back.additional) + (1 if back.opt else 0)
    q = wire.read_question(data)
    want = back.question[0]
    assert q.name == want.name.to_wire()
    assert (q.qtype, q.qclass) == (want.rdtype, want.rdclass)
    assert dns.name.from_text(wire.name_to_text(q.name)).to_wire() == q.name


@SETTINGS
@given(messages())
def test_find_opt_matches_dnspython(pair):
    msg, data = pair
    back = dns_read(data)
    opt = wire.find_opt(data)
    if back.opt is None:
        assert opt is None
        return
    assert opt.udp_size == back.payload
    assert opt.version == back.edns
    assert opt.flags == back.ednsflags & 0xFFFF
    assert opt.ext_rcode == (back.ednsflags >> 24) & 0xFF
    assert opt.options == dns_options(back)
    assert data[opt.start:opt.end] == opt.pack()
    assert wire.udp_payload_limit(opt) == max(512, back.payload)
    keepalive = opt.get(OPT_TCP_KEEPALIVE)
    expected = 15000 if keepalive == b"\x00\x96" else None
    assert wire.read_tcp_keepalive(opt) == expected


@st.composite
def new_opts(draw):
    return Opt(draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 255)), 0,
               draw(st.integers(0, 0xFFFF)), draw(edns_options()))


def same_records(a, b):
    for name in ("question", "answer", "authority", "additional"):
        assert getattr(a, name) == getattr(b, name), name


@SETTINGS
@given(messages(), st.one_of(st.none(), new_opts()))
def test_replace_opt_matches_dnspython(pair, new):
    msg, data = pair
    before = dns_read(data)
    out = wire.replace_opt(data, new)
    after = dns_read(out)
    assert after.id == before.id and after.flags == before.flags
    same_records(before, after)
    if new is None:
        assert after.opt is None and after.edns == -1
        assert wire.find_opt(out) is None
    else:
        assert after.payload == new.udp_size
        assert after.ednsflags == (new.ext_rcode << 24) | new.flags
        assert dns_options(after) == new.options
        assert out.endswith(new.pack())       # the OPT record goes last


@SETTINGS
@given(messages(), st.sampled_from([128, 468, 64, 100, 1]))
def test_padding_parses_in_dnspython(pair, block):
    msg, data = pair
    opt = wire.find_opt(data) or Opt(1232)
    bare = wire.replace_opt(data, None)
    out = wire.replace_opt(bare, wire.padded_opt(len(bare), opt, block))
    assert len(out) % block == 0
    back = dns_read(out)
    pads = [o for o in back.options if int(o.otype) == OPT_PADDING]
    assert len(pads) == 1
    assert pads[0].to_wire() == bytes(len(pads[0].to_wire()))
    assert int(back.options[-1].otype) == OPT_PADDING
    kept = [(c, d) for c, d in opt.options if c != OPT_PADDING]
    assert dns_options(back)[:-1] == kept
    assert back.payload == opt.udp_size
    same_records(dns_read(data), back)
    # dnspython's own padding lands on the same block boundary
    if block > 1 and len(back.options) == 1:
        theirs = dns_read(bare)
        theirs.use_edns(0, opt.flags, opt.udp_size, pad=block)
        assert len(theirs.to_wire(max_size=65535, want_shuffle=False)) == len(out)


@SETTINGS
@given(messages(), st.sampled_from([wire.RCODE_SERVFAIL, wire.RCODE_REFUSED,
                                    wire.RCODE_FORMERR]))
def test_make_error_parses_in_dnspython(pair, rcode):
    msg, data = pair
    back = dns_read(wire.make_error(data, rcode))
    assert back.id == msg.id
    assert back.flags & dns.flags.QR
    assert int(back.rcode()) == rcode
    assert back.opcode() == msg.opcode()
    assert back.question == dns_read(data).question
    assert not back.answer and not back.authority and not back.additional
    if msg.opt is None:
        assert back.opt is None
    else:
        assert back.ednsflags & dns.flags.DO == msg.ednsflags & dns.flags.DO
        assert back.options == ()


@SETTINGS
@given(messages(), st.integers(12, 1500))
def test_truncate_parses_in_dnspython(pair, limit):
    msg, data = pair
    out = wire.truncate(data, limit)
    assert len(out) <= max(limit, 12)
    back = dns_read(out)
    assert back.id == msg.id
    assert back.flags & dns.flags.TC
    assert not back.answer and not back.authority and not back.additional
    if back.question:
        assert back.question == dns_read(data).question
    if back.opt is not None:
        assert dns_options(back) == dns_options(dns_read(data))


@SETTINGS
@given(names())
def test_name_to_text_round_trips_through_dnspython(name):
    text = wire.name_to_text(name.to_wire())
    assert dns.name.from_text(text).to_wire() == name.to_wire()


# --- garbage -----------------------------------------------------------------

def run_everything(data):
    """Call every helper on `data`; only WireError may escape from any of them.

    Returns {helper: result, or the WireError it raised}.
    """
    calls = {
        "parse_header": lambda: wire.parse_header(data),
        "get_id": lambda: wire.get_id(data),
        "set_id": lambda: wire.set_id(data, 7),
        "is_response": lambda: wire.is_response(data),
        "read_question": lambda: wire.read_question(data),
        "validate": lambda: wire.validate(data),
        "find_opt": lambda: wire.find_opt(data),
        "remove_opt": lambda: wire.replace_opt(data, None),
        "add_opt": lambda: wire.replace_opt(data, Opt(1232, 0, 0, 0x8000, [(12, b"")])),
        "make_error": lambda: wire.make_error(data, wire.RCODE_FORMERR),
        "truncate": lambda: wire.truncate(data, 512),
        "truncate_12": lambda: wire.truncate(data, 12),
        "parse_options": lambda: wire.parse_options(data),
        "name_to_text": lambda: wire.name_to_text(data),
        "skip_name": lambda: wire.Cursor(data).skip_name(),
    }
    results = {}
    for key, call in calls.items():
        try:
            results[key] = call()
        except WireError as exc:
            results[key] = exc
    opt = results["find_opt"]
    if isinstance(opt, Opt):
        wire.padded_opt(len(data), opt, 128).pack()
        wire.read_tcp_keepalive(opt)
    if not isinstance(results["make_error"], WireError):
        wire.validate(results["make_error"])
    return results


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_wire_error(data):
    run_everything(data)


@st.composite
def mutated(draw):
    msg, data = draw(messages())
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 3))
        if kind == 0 and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == 1:
            del data[draw(st.integers(0, len(data))):]
        elif kind == 2:
            data += draw(st.binary(min_size=1, max_size=8))
        elif len(data) >= 12:
            # a count in the header that lies
            i = 4 + 2 * draw(st.integers(0, 3))
            data[i:i + 2] = struct.pack("!H", draw(st.integers(0, 0xFFFF)))
    return bytes(data)


@SETTINGS
@given(mutated())
def test_mutated_messages_raise_only_wire_error(data):
    results = run_everything(data)
    try:
        back = dns_read(data)
    except Exception:
        return
    # dnspython reads it, so it is well formed: we must agree.
    assert not isinstance(results["validate"], WireError), (data.hex(), results["validate"])
    opt = results["find_opt"]
    assert (opt is None) == (back.opt is None)
    if opt is not None:
        assert opt.options == dns_options(back)
        assert opt.udp_size == back.payload
