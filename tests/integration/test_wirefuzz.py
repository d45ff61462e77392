"""The wire-level fuzzer (tests/tools/wirefuzz.py) against a running dprive,
with a hostile DoT upstream (tests/tools/hostile_upstream.py) beside the good
unbound: every good query interleaved is answered right, every table stays
within its bound, the daemon lives. The long run with RSS figures is
`make fuzz-wire` (bench/wirefuzz.py)."""

import signal

import pytest

from dprive.schema import MAIN_OPTIONS
from tests.tools import clients, common
from tests.tools.dprive_proc import upstream
from tests.tools.hostile_upstream import HostileUpstream
from tests.tools.wirefuzz import WireFuzzer, hostile_datagram, _query

import random

MAX_TCP_CLIENTS = 16
HOSTILE_ADDRESSES = ["127.0.0.%d" % i for i in range(2, 6)]


def check_tables(status, upstreams=2):
    t = status["tables"]
    assert t["pending"] <= t["max_pending"], t
    assert t["clients"] <= t["max_pending"], t
    assert t["waiting"] <= t["pending"], t
    assert t["inflight"] + t["queued"] <= 4 * t["max_pending"], t
    assert t["tcp_clients"] <= t["max_tcp_clients"], t
    assert t["tcp_outstanding_max"] <= 64, t
    assert t["tcp_write_buffer_max"] <= 256 * 1024 + 65537, t
    # the current session and its extras under load (core/pool.py), the one it replaces, TLS beside DTLS
    assert t["conns"] <= (MAIN_OPTIONS["upstream_connections"]["default"] + 2) * upstreams, t
    assert t["tls_sessions"] <= 2 * upstreams, t
    assert t["retired"] <= 1024 and t["recoveries"] <= 10, t
    assert t["log_keys"] <= 256, t


def test_wirefuzz_good_queries_answered_right_tables_bounded(make_dprive, unbound, pki):
    with HostileUpstream(pki, seed=11, addresses=HOSTILE_ADDRESSES) as hostile:
        dp = make_dprive([upstream("hostile", hostile.port, address=HOSTILE_ADDRESSES[0]),
                          upstream("good", unbound.tls_port)],
                         max_tcp_clients=MAX_TCP_CLIENTS, tcp_client_idle_ms=1500,
                         attempt_min_ms=200)
        rounds = 0

        def progress(report):
            nonlocal rounds
            rounds += 1
            check_tables(dp.status())
            # The hostile upstream moves: a new upstream to dprive, asked first again.
            address = HOSTILE_ADDRESSES[rounds % len(HOSTILE_ADDRESSES)]
            dp.upstreams[0] = upstream("hostile", hostile.port, address=address)
            dp.write_config()
            dp.proc.send_signal(signal.SIGHUP)

        with WireFuzzer(dp.port, seed=3, good_every=40, max_held=60) as fuzz:
            report = fuzz.run(20000, progress=progress, progress_every=4000)
        assert report.good_sent >= 400
        assert report.good_wrong == 0 and report.good_lost == 0, report.wrong
        assert report.good_right == report.good_sent
        print("hostile upstream:", dict(hostile.faults), report.line())
        assert sum(hostile.faults.values()) - hostile.faults["honest"] >= 1, hostile.faults
        assert dp.running(), dp.log_tail()
        status = dp.status()
        check_tables(status)
        common.wait_until(lambda: dp.status()["tables"]["pending"] == 0, 10, what="quiet")
        status = dp.status()
        assert status["waiting_clients"] == 0, status["tables"]
        assert "Traceback" not in dp.log_text(), dp.log_tail(60)
        res = clients.kdig("a.test", port=dp.port, timeout_s=3)
        assert res.addresses() == ["192.0.2.1"], res.describe()


@pytest.mark.parametrize("name", [b"\xc0\x0c", b"\x01a\xc0\x0c", b"\xc0\x00", b"\x01a" * 20 + b"\xc0\x0e"],
                         ids=["self", "label-then-self", "into-header", "long-way-round"])
def test_query_with_compression_pointer_in_question_is_formerr_and_session_survives(dprive, name):
    """Forwarded, such a query made unbound drop the TLS session, and every
    query in flight with it was replayed and lost again (SERVFAIL for good
    queries as soon as the fuzzer sent a handful)."""
    before = dprive.upstream_status("local-unbound")
    msg = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + b"\x00\x01\x00\x01"
    for _ in range(5):
        raw = clients.udp_exchange(msg, dprive.port, timeout_s=2)
        assert raw is not None and clients.rcode_of(raw) == 1, raw
    res = clients.kdig("a.test", port=dprive.port)
    assert res.addresses() == ["192.0.2.1"], res.describe()
    after = dprive.upstream_status("local-unbound")
    assert after["connects"] == before["connects"], "the upstream session was lost"
    assert after["server_closes"] == before["server_closes"] and after["failures"] == before["failures"]


def test_every_hostile_datagram_kind_is_well_formed_for_its_purpose():
    """The generator itself: each kind yields bytes, deterministically per seed."""
    from tests.tools.wirefuzz import UDP_KINDS
    base = _query("a.test.", "A", 1)
    for kind in UDP_KINDS:
        one = [hostile_datagram(random.Random(5), kind, base) for _ in range(3)]
        assert all(isinstance(d, bytes) for d in one)
        assert one[0] == one[1] == one[2], kind
