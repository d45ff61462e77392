# portable: runs under MicroPython too
"""An upstream's own bookkeeping (core/upstream.py) alone: the IDs a session
hands out and remembers, when it goes idle, the keepalive probes counted, the
preference between upstreams, the recoveries kept, the status a user reads
and the handshake facts in the log line."""

from testkit import eq, ok

from dprive.core import upstream_state
from dprive.core.upstream import (RECOVERIES_KEPT, RETIRED_IDS_KEPT, Attempt, Session, Upstream,
                                  describe_handshake, make_upstreams)


def near(a, b, msg=None):
    """Equal to a thousandth: the status rounds to a tenth."""
    ok(a is not None and abs(a - b) < 0.001, "%s: %r is not %r" % (msg or "value", a, b))


def sequence(*values):
    """A rand16 that gives `values` in turn, then fails (no endless loop)."""
    state = [0]

    def rand16():
        value = values[state[0]]
        state[0] += 1
        return value
    return rand16


def put(session, upstream_id):
    attempt = Attempt(None, None, session, upstream_id)
    session.inflight[upstream_id] = attempt
    return attempt


def test_a_new_id_is_16_bits_and_neither_in_flight_nor_retired():
    session = Session(1, 0, 3000)
    put(session, 5)
    session.retire(put(session, 6))
    eq(session.new_id(sequence(5, 6, 0x10007)), 7, "5 is in flight, 6 answered elsewhere")


def test_a_retired_id_is_remembered_until_1024_newer_ones_and_retiring_twice_is_harmless():
    session = Session(1, 0, 3000)
    for upstream_id in range(RETIRED_IDS_KEPT + 1):
        last = put(session, upstream_id)
        session.retire(last)
    session.retire(last)
    eq(len(session.retired), RETIRED_IDS_KEPT)
    ok(0 not in session.retired, "the oldest is forgotten")
    ok(1 in session.retired and RETIRED_IDS_KEPT in session.retired, "the next oldest and the newest are not")


def test_a_quiet_session_expires_a_tenth_of_the_idle_timeout_early_at_most_a_second():
    session = Session(1, 500, 3000)
    eq(session.idle_expiry(), None, "no idle timeout known")
    eq(session.idle_expiry(5000), 500 + 5000 - 500, "learned, counted from the session's start")
    session.server_idle_ms = 30000
    eq(session.idle_expiry(5000), 500 + 30000 - 1000, "the announced one wins; a second early at most")
    session.server_idle_ms = 2345
    eq(session.idle_expiry(), 500 + 2345 - 234, "a tenth, in whole milliseconds")
    put(session, 1)
    eq(session.idle_expiry(), None, "not while a query is in flight")


def test_keepalive_probes_are_counted_from_each_upstream_s_idle_time():
    up, quiet = make_upstreams(["a", "b"], probe_idle_ms=[15000, 0])
    eq((up.probe_idle_ms, quiet.probe_idle_ms), (15000, 0))
    session = Session(1, 0, 3000)
    up.note_activity(session, 15000)
    eq(up.counters["probes_sent"], 1, "the first probe goes at the idle time itself")
    up.note_activity(session, 15000 + 44999)
    eq((up.counters["probes_sent"], session.last_activity), (3, 59999), "two more; the count adds up")
    up.note_activity(session, 60000)
    eq(up.counters["probes_sent"], 3)
    quiet.note_activity(session, 200000)
    eq(quiet.counters["probes_sent"], 0, "no keepalive, no probes")


def test_an_unmeasured_upstream_goes_first_and_a_timeout_stretches_the_rtt():
    fast = Upstream(0, "fast")
    fast.rtt.sample(0.4)
    ok(Upstream(1, "new").preference() < fast.preference(), "each gets measured once early on")
    slow = Upstream(2, "slow")
    slow.rtt.sample(15)
    stretched = Upstream(3, "stretched")
    stretched.rtt.sample(10)
    stretched.rtt.timed_out()
    ok(slow.preference() < stretched.preference(), "10 ms after a timeout counts as 20")


def test_the_last_ten_recoveries_are_kept_newest_last():
    up = Upstream(0, "one")
    for n in range(RECOVERIES_KEPT + 1):
        up.record_recovery({"n": n})
    eq([r["n"] for r in up.recoveries], list(range(1, RECOVERIES_KEPT + 1)))


def test_status_rounds_to_a_tenth_and_reads_each_deadline_at_its_boundary():
    up = Upstream(0, "one", transports=("dtls", "tls"))
    up.rtt.sample(12.37)
    status = up.status(0, True)
    near(status["srtt_ms"], 12.4, "srtt")
    near(status["rto_ms"], 37.1, "rto")
    upstream_state.move(up, upstream_state.CONNECT)
    up.back_off(0, 60000, upstream_state.FAIL)          # retry at 500
    eq([up.status(now, True)["retry_in_ms"] for now in (100, 500, 600)], [400, 0, 0])
    up.tfo_off_until = 5000
    eq([up.status(now, True)["tfo_enabled"] for now in (4999, 5000)], [False, True])
    eq(up.status(5000, False)["tfo_enabled"], False, "not when the config turns it off")
    up.dtls_blocked_until = 7000
    eq([up.status(now, True)["dtls_blocked"] for now in (6999, 7000)], [True, False])
    up.session = Session(1, 0, 3000)
    eq(up.status(100000, True)["session_age_s"], 100.0)


def test_the_handshake_log_line_carries_each_fact_the_shell_reported():
    eq(describe_handshake({}), "", "nothing reported, nothing added")
    text = describe_handshake({"tls_version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                               "auth": "spki-pin", "resumed": True, "tfo": False})
    for fact in ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "spki-pin", "True", "False"):
        ok(fact in text, "%s missing from %r" % (fact, text))
