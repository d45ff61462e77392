# portable: runs under MicroPython too
"""The retransmission timeout of core/rtt.py (RFC 6298 2.2-2.3, 5.5): the
smoothed RTT and its variation after several samples, the doubling on each
timeout up to 64 times, the 60 s ceiling, and Karn's reset by the next sample."""

from testkit import eq

from dprive.core.rtt import INITIAL_RTO_MS, MAX_RTO_MS, RttEstimator


def sampled(*rtts):
    est = RttEstimator()
    for rtt in rtts:
        est.sample(rtt)
    return est


def test_no_sample_yet_gives_the_initial_rto():
    eq(RttEstimator().rto_ms(), INITIAL_RTO_MS)


def test_the_first_sample_sets_srtt_and_half_of_it_as_variation():
    est = sampled(100)
    eq((est.srtt_ms, est.rttvar_ms), (100.0, 50.0))
    eq(est.rto_ms(), 300.0)                  # 100 + 4 x 50


def test_a_second_sample_moves_srtt_by_an_eighth_and_rttvar_by_a_quarter():
    est = sampled(100, 200)
    eq(est.rttvar_ms, 62.5)                  # 3/4 x 50 + 1/4 x |100 - 200|
    eq(est.srtt_ms, 112.5)                   # 7/8 x 100 + 1/8 x 200
    eq(est.rto_ms(), 362.5)


def test_a_faster_sample_lowers_srtt_and_the_variation_stays_positive():
    est = sampled(200, 40)
    eq(est.rttvar_ms, 115.0)                 # 3/4 x 100 + 1/4 x |200 - 40|
    eq(est.srtt_ms, 180.0)                   # 7/8 x 200 + 1/8 x 40
    eq(est.rto_ms(), 640.0)


def test_each_timeout_doubles_the_rto():
    est = sampled(100)
    est.timed_out()
    eq(est.rto_ms(), 600.0)
    est.timed_out()
    eq(est.rto_ms(), 1200.0, "after two timeouts: four times 300 ms")
    est.timed_out()
    eq(est.rto_ms(), 2400.0)


def test_the_backoff_stops_at_64_times():
    est = sampled(10)                        # rto 30 ms: the 60 s ceiling stays far
    for _ in range(6):
        est.timed_out()
    eq(est.rto_ms(), 30.0 * 64)
    for _ in range(3):
        est.timed_out()
    eq(est.rto_ms(), 30.0 * 64, "no more than 64 times")


def test_the_rto_never_exceeds_60_seconds():
    est = RttEstimator()
    for _ in range(6):
        est.timed_out()
    eq(est.rto_ms(), MAX_RTO_MS)             # 64 x 1000 ms, cut to 60000


def test_a_sample_after_timeouts_resets_the_backoff():
    est = sampled(100)
    est.timed_out()
    est.timed_out()
    est.sample(100)
    eq(est.rttvar_ms, 37.5)                  # 3/4 x 50 + 0
    eq(est.rto_ms(), 250.0)                  # 100 + 4 x 37.5, no longer doubled
