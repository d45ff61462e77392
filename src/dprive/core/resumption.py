"""TCP Fast Open and TLS resumption: a policy the Forwarder holds; it decides, it acts not.

Rules:
- Fast Open on a connect over TLS when the config allows it (tcp_fastopen)
  and it is not off for that upstream. A connect that used it before (a SYN
  with data got through) and now comes up a second or more late, and more
  than 4 smoothed RTTs, is read as a black hole for SYNs with data (Linux
  resends such a SYN without the data after its SYN timeout): Fast Open is
  then off for that upstream for TFO_OFF_MS.
- Stored TLS sessions are offered on every connect when the config allows it
  (tls_resumption).
- A handshake that failed after the server spoke (any byte came back) may
  have choked on the stored session: it is forgotten, for that upstream and
  that transport only, so the next try is a full handshake. A failure where
  the server never spoke (TCP refused, silence) keeps it. A failure reported
  for a session that was already up is no handshake's: its handshake went
  through (the server took what was offered, and may have sent new tickets
  on it), so nothing is forgotten; it is a close like any (core/sessions.py).
"""

from dprive.core.actions import ForgetSession

TLS = "tls"
# A connect that used Fast Open and took this long suggests the SYN with data
# was dropped and resent without it: TFO is then left off for a while.
TFO_SLOW_HANDSHAKE_MS = 1000
TFO_OFF_MS = 3600 * 1000


class ResumptionPolicy:
    def __init__(self, config):
        self.config = config

    def use_tfo(self, up, transport, now):
        """Fast Open for the next connect of `up` over `transport`."""
        return transport == TLS and up.use_tfo(now, self.config.tcp_fastopen)

    def resume(self):
        """Offer (and keep) stored TLS sessions on the next connect."""
        return bool(self.config.tls_resumption)

    def after_failure(self, up, session, heard):
        """The ForgetSession a failed handshake calls for, or None."""
        return ForgetSession(up.key, session.transport) if heard else None

    def after_handshake(self, up, session, handshake_ms, now):
        """Note what the handshake used; a reason if Fast Open goes off for `up`, else None."""
        if session.info.get("tfo"):
            up.tfo_ok = True
            return None
        srtt = up.rtt.srtt_ms
        if (session.tfo_attempted and up.tfo_ok and handshake_ms >= TFO_SLOW_HANDSHAKE_MS
                and (srtt is None or handshake_ms > 4 * srtt)):
            up.tfo_off_until = now + TFO_OFF_MS
            up.tfo_ok = False
            return "a SYN with data went unanswered"
        return None
