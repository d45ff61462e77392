"""Fuzz target `dtls`: arbitrary datagrams through core/dtls_record.py and the DTLS flows.

The record layer: `records` either tiles the whole datagram with records
whose headers re-encode to the bytes read, or raises DtlsRecordError with
one of its REASON_* causes and a message; `plaintext_alert` agrees with
`records`; `pack_datagrams` cuts a stream of records into datagrams that
join back to the stream, each under the MTU unless it holds a single
record, each a valid datagram again; `alert_record` round-trips.

The flows: the datagrams arrive on a live DTLS session with queries in
flight, and the shell does what io/dtls_conn.py does: a plaintext alert
becomes Forwarder.alert, anything else (OpenSSL would drop or decrypt it)
is followed by the other events of the script (corescript.py).
"""

import struct

from dprive.core import dtls_record as dr
from dprive.core import forwarder as fw

from bytesource import ByteSource
from coreharness import make_query
from coreshell import CheckedHarness, small_bounds, Violation, require
import corescript

TARGET = "dtls"
REASONS = (dr.REASON_EMPTY, dr.REASON_TRUNCATED, dr.REASON_LENGTH, dr.REASON_TOO_LONG,
           dr.REASON_CONTENT_TYPE, dr.REASON_VERSION, dr.REASON_DTLS13)


def check_records(datagram):
    """The record layer's invariants on one datagram; the records, or None."""
    try:
        found = dr.records(datagram)
    except dr.DtlsRecordError as err:
        require(err.reason in REASONS and str(err), "DtlsRecordError without a known reason: %r", err)
        require(dr.plaintext_alert(datagram) is None, "an alert read out of a malformed datagram")
        try:
            packed = dr.pack_datagrams(datagram, 1200)
        except dr.DtlsRecordError:
            return None
        if not datagram and packed == []:
            return None       # an empty stream is no datagrams; an empty datagram is an error
        raise Violation("pack_datagrams took a stream that records() refuses")
    require(found, "a datagram of no records")
    pos = 0
    for rec in found:
        ctype, version, epoch, seq, start, length = rec
        require(start == pos + dr.HEADER_LEN, "records do not follow each other")
        header = struct.pack(">BHHHIH", ctype, version, epoch, seq >> 32, seq & 0xFFFFFFFF, length)
        require(bytes(datagram[pos:start]) == header, "a record header does not re-encode")
        require(0 <= seq <= dr.MAX_SEQ and length <= dr.MAX_FRAGMENT_LEN, "a field out of range")
        pos = start + length
    require(pos == len(datagram), "records do not cover the datagram")
    alerts = [r for r in found if r[0] == dr.CT_ALERT and r[2] == 0 and r[5] == 2]
    got = dr.plaintext_alert(datagram)
    require(got == (tuple(datagram[alerts[0][4]:alerts[0][4] + 2]) if alerts else None),
            "plaintext_alert disagrees with records")
    return found


def check_packing(stream, mtu):
    datagrams = dr.pack_datagrams(stream, mtu)
    require(b"".join(datagrams) == stream, "datagrams do not join back to the stream")
    for datagram in datagrams:
        found = dr.records(datagram)
        require(len(datagram) <= mtu or len(found) == 1, "a datagram over the MTU with %d records",
                len(found))


def one_input(data):
    with small_bounds():
        _one_input(data)


def _one_input(data):
    src = ByteSource(data)
    first = src.u8()
    level, description, seq = src.u8(), src.u8(), src.u16() << 16 | src.u16()
    alert = dr.alert_record(level, description, seq, dr.VERSIONS[first & 1])
    require(dr.plaintext_alert(alert) == (level, description), "alert_record does not round-trip")
    config = fw.ForwarderConfig(dtls_resume_after_ms=(first >> 1 & 1) * 60000)
    transports = (fw.DTLS, fw.TLS) if first & 4 else (fw.DTLS,)
    h = CheckedHarness(["one", "two"][:1 + (first >> 3 & 1)], config,
                       transports=[transports, (fw.DTLS,)])
    h.run(h.fwd.start(h.clock.now))
    h.connected(0)
    for n in range(first >> 4):
        h.ask(make_query("q%d.example.test" % n, msg_id=n), udp=bool(n & 1))
    datagrams = []
    while src.left() and len(datagrams) < 32:
        datagram = src.blob()
        datagrams.append(datagram)
        found = check_records(datagram)
        if found is not None:
            check_packing(datagram, 1 + src.u16() % 1500)
        if dr.is_plaintext_alert(datagram):      # io/dtls_conn.py, datagram_received
            where = corescript.pick_session(h, src)
            if where is not None:
                h.run(h.fwd.alert(where[1], h.clock.now))
        corescript.step(h, src)
    if datagrams:
        check_packing(b"".join(d for d in datagrams if _whole(d)), 1200)
    h.settle()


def _whole(datagram):
    try:
        return bool(dr.records(datagram))
    except dr.DtlsRecordError:
        return False
