"""dprive in front of a local unbound over DoT: answers over UDP and TCP,
several queries on one TCP connection, truncation, many queries at once,
and the status command."""

import asyncio
import json

import pytest

from tests.tools import clients
from tests.tools.unbound import (BIG_NAME, BIG_TXT_COUNT, big_txt_strings, is_q_answer,
                                 q_name)


def test_udp_a_answer(dprive):
    res = clients.kdig("a.test", "A", port=dprive.port)
    assert res.rcode == "NOERROR", res
    assert res.addresses() == ["192.0.2.1"], res


def test_tcp_a_answer(dprive):
    res = clients.kdig("b.test", "A", port=dprive.port, tcp=True)
    assert res.rcode == "NOERROR", res
    assert res.addresses() == ["192.0.2.2"], res


def test_aaaa_and_nxdomain_pass_through(dprive):
    res = clients.kdig("a.test", "AAAA", port=dprive.port)
    assert (res.rcode, res.addresses()) == ("NOERROR", ["2001:db8::1"]), res
    res = clients.kdig("does-not-exist.test", "A", port=dprive.port, tcp=True)
    assert (res.rcode, res.answers) == ("NXDOMAIN", []), res


def test_query_id_and_question_kept(dprive):
    q, resp = clients.udp_query("c.test", "A", port=dprive.port, qid=0xBEEF)
    assert resp is not None, "no answer over UDP"
    assert resp.id == 0xBEEF
    assert resp.question == q.question
    assert clients.a_records(resp) == ["192.0.2.3"]


def test_several_queries_on_one_tcp_connection(dprive):
    """Ten queries written back to back before reading; every answer comes
    back on the same connection, matched by ID (order may differ)."""
    n = 10
    queries = {}
    with clients.TcpClient(dprive.port, timeout_s=5) as conn:
        blob = b""
        for i in range(n):
            q = clients.make_query(q_name(i), "A", qid=1000 + i)
            queries[q.id] = i
            wire = q.to_wire()
            blob += len(wire).to_bytes(2, "big") + wire
        conn.send_raw(blob)
        got = {}
        for _ in range(n):
            raw = conn.recv_msg(timeout_s=5)
            assert raw is not None, "connection closed after %d answers" % len(got)
            resp = clients.parse(raw)
            assert resp.id in queries, "answer with unknown id %d" % resp.id
            got[resp.id] = resp
        # and the connection still serves a query afterwards
        _q, resp = conn.query("a.test", "A", timeout_s=5)
        assert resp is not None and clients.a_records(resp) == ["192.0.2.1"]
    assert sorted(got) == sorted(queries)
    for qid, resp in got.items():
        assert is_q_answer(resp, queries[qid]), resp


def test_big_answer_truncated_over_udp_complete_over_tcp(dprive):
    small = clients.kdig(BIG_NAME, "TXT", port=dprive.port, bufsize=512)
    assert small.rcode == "NOERROR", small
    assert small.tc is True, "expected TC over UDP with bufsize 512: %r" % small
    assert small.json["msgLength"] <= 512, small.json["msgLength"]

    full = clients.kdig(BIG_NAME, "TXT", port=dprive.port, tcp=True)
    assert full.rcode == "NOERROR", full
    assert full.tc is False
    assert len(full.answers) == BIG_TXT_COUNT, full
    assert full.json["msgLength"] > 1500


def test_big_answer_without_edns_fits_512(dprive):
    q = clients.make_query(BIG_NAME, "TXT", edns=False)
    raw = clients.udp_exchange(q.to_wire(), dprive.port, timeout_s=3)
    assert raw is not None, "no answer"
    assert len(raw) <= 512, len(raw)
    resp = clients.parse(raw)
    assert resp.id == q.id
    assert resp.flags & 0x0200, "TC not set on a truncated answer without EDNS"


def test_big_answer_fits_large_udp_buffer(dprive):
    res = clients.kdig(BIG_NAME, "TXT", port=dprive.port, bufsize=4096)
    assert res.rcode == "NOERROR" and res.tc is False, res
    texts = sorted(str(r).strip('"') for (_n, _t, r) in res.answers)
    assert texts == sorted(big_txt_strings()), res.answers[:2]


@pytest.mark.parametrize("sockets,batch", [(1, 0), (20, 50)], ids=["one-socket-at-once", "20-sockets-paced"])
def test_500_concurrent_udp_queries(dprive, sockets, batch):
    """500 queries outstanding at once: from one socket with unique IDs, all
    written in one go (as dnsmasq forwards a burst), or spread over 20
    sockets in batches of 50. Every one is answered correctly."""
    n = 500
    names = [q_name(i) for i in range(n)]
    results = asyncio.run(clients.udp_burst(dprive.port, names, sockets=sockets, timeout_s=10,
                                            batch=batch))
    wrong = [(i, r) for i, r in enumerate(results) if not is_q_answer(r, i)]
    assert not wrong, "%d of %d wrong or missing, first: %r" % (len(wrong), n, wrong[:3])
    counters = dprive.counters()
    assert counters.get("servfail", 0) == 0 and counters.get("overload", 0) == 0, counters


def test_dnsperf_500_outstanding(dprive, tmp_path):
    n = 1000
    data = clients.write_dnsperf_file(tmp_path / "queries.txt", [q_name(i) for i in range(n)])
    res = clients.dnsperf(dprive.port, data, mode="udp", outstanding=500, clients=4,
                          maxruns=2, timeout_s=5, run_timeout_s=60)
    assert res.sent == 2 * n, res
    assert res.completed == res.sent and res.lost == 0, res
    assert res.rcodes == {"NOERROR": res.sent}, res


def test_dnsperf_tcp(dprive, tmp_path):
    n = 300
    data = clients.write_dnsperf_file(tmp_path / "queries.txt", [q_name(i) for i in range(n)])
    res = clients.dnsperf(dprive.port, data, mode="tcp", outstanding=100, clients=4,
                          maxruns=1, timeout_s=5, run_timeout_s=60)
    assert res.completed == res.sent == n and res.lost == 0, res
    assert res.rcodes == {"NOERROR": n}, res


def test_status_json_counts_per_upstream(dprive):
    for i in range(5):
        clients.kdig(q_name(i), "A", port=dprive.port)
    proc = dprive.cli("status", "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert "version" in status and "uptime_s" in status
    assert status["counters"].get("queries", 0) >= 5, status["counters"]
    ups = status["upstreams"]
    assert [u["name"] for u in ups] == ["local-unbound"]
    up = ups[0]
    for key in ("name", "address", "port", "auth_name", "state", "srtt_ms", "queries",
                "answers", "failures", "reconnects", "last_close_reason"):
        assert key in up, "status lacks %r: %r" % (key, up)
    assert up["address"] == "127.0.0.1" and up["auth_name"] == "dns.test"
    assert up["queries"] >= 5 and up["answers"] >= 5, up
    assert up["failures"] == 0, up

    # the same through the control socket, and the human-readable form
    assert dprive.status()["upstreams"][0]["answers"] >= 5
    text = dprive.cli("status")
    assert text.returncode == 0, text.stderr
    assert "local-unbound" in text.stdout


def test_reconnect_command_keeps_answering(dprive):
    assert clients.kdig("a.test", port=dprive.port).rcode == "NOERROR"
    reconnects = dprive.status()["upstreams"][0]["reconnects"]
    reply = dprive.control("reconnect")
    assert reply == {"ok": True}, reply
    up = dprive.status()["upstreams"][0]
    assert up["last_close_reason"] == "reconnect requested", up
    assert up["reconnects"] > reconnects, up
    for name, addr in (("a.test", "192.0.2.1"), ("b.test", "192.0.2.2")):
        res = clients.kdig(name, port=dprive.port, timeout_s=3)
        assert res.addresses() == [addr], res


def test_check_command(dprive):
    proc = dprive.cli("check")
    assert proc.returncode == 0, proc.stderr


def test_sighup_keeps_running(dprive):
    """SIGHUP (procd's reload) must never end the daemon."""
    import os
    import signal
    import time
    assert clients.kdig("a.test", port=dprive.port).rcode == "NOERROR"
    os.kill(dprive.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert dprive.running(), "dprive exited on SIGHUP:\n" + dprive.log_tail()
    res = clients.kdig("b.test", port=dprive.port, tcp=True)
    assert res.addresses() == ["192.0.2.2"], res


def test_sigterm_exits_cleanly(dprive):
    """SIGTERM: exit status 0 within a few seconds, the ports released."""
    from tests.tools import common
    assert clients.kdig("a.test", port=dprive.port).rcode == "NOERROR"
    status = dprive.stop(timeout_s=5.0)
    assert status == 0, "exit status %r after SIGTERM; log:\n%s" % (status, dprive.log_tail())
    assert not common.listening(dprive.port, "udp")
    assert not common.listening(dprive.port, "tcp")
