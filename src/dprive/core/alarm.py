"""When the shell must next call the Forwarder's timer: one alarm the parts share.

Rules: every part that starts a deadline (a query's, an attempt's, a connect's,
a backoff's, an idle expiry, a probe) arms it; the timer clears it and each
part arms again what is still ahead. Only the earliest time is kept.
"""

from dprive.core.actions import FOREVER


class Alarm:
    def __init__(self):
        self.at = FOREVER

    def arm(self, when):
        if when < self.at:
            self.at = when

    def clear(self):
        self.at = FOREVER

    def next(self):
        """Absolute time (ms) of the next timer call, or None."""
        return None if self.at == FOREVER else self.at
