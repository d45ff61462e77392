"""Smoothed round-trip time and the retransmission timeout derived from it (RFC 6298)."""

ALPHA = 0.125
BETA = 0.25
INITIAL_RTO_MS = 1000
MAX_RTO_MS = 60000


class RttEstimator:
    def __init__(self):
        self.srtt_ms = None
        self.rttvar_ms = None
        self.backoff = 1   # doubled on each timeout, reset by the next sample (Karn)

    def sample(self, rtt_ms):
        if self.srtt_ms is None:
            self.srtt_ms = float(rtt_ms)
            self.rttvar_ms = rtt_ms / 2.0
        else:
            self.rttvar_ms = (1 - BETA) * self.rttvar_ms + BETA * abs(self.srtt_ms - rtt_ms)
            self.srtt_ms = (1 - ALPHA) * self.srtt_ms + ALPHA * rtt_ms
        self.backoff = 1

    def timed_out(self):
        if self.backoff < 64:
            self.backoff *= 2

    def rto_ms(self):
        if self.srtt_ms is None:
            base = INITIAL_RTO_MS
        else:
            base = self.srtt_ms + 4 * self.rttvar_ms
        return min(base * self.backoff, MAX_RTO_MS)
