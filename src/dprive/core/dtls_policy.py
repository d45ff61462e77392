"""The DNS-over-DTLS decisions (rules in core/dtls_flows.py, which acts on
them): a policy the Forwarder holds. It reads and keeps only the upstream's
DTLS facts (blocked until, fallbacks in a row, last replacement) and emits no
action, so each rule can be tested alone."""

from dprive.core import wire
from dprive.core.message import DTLS_MAX_PAYLOAD

TLS = "tls"
DTLS = "dtls"
DTLS_BLOCKED_MS = 3600 * 1000
DTLS_RETRY_MS = 60 * 1000
ALERT_HANDSHAKE_EVERY_MS = 1000


class DtlsPolicy:
    def __init__(self, config):
        self.config = config

    def transport_for(self, up, now):
        """The transport of `up`'s next session: its first, unless DTLS is blocked."""
        preferred = up.transports[0]
        if preferred == DTLS and up.dtls_blocked_until is not None and now < up.dtls_blocked_until:
            return TLS if TLS in up.transports else DTLS
        return preferred

    def fallback_ms(self, up, session, now):
        """A handshake of `session` failed: for how long TLS stands in for DTLS
        (and from now on it does), or None if it does not."""
        if session.transport != DTLS or TLS not in up.transports:
            return None
        up.dtls_fallbacks_in_a_row += 1
        block_ms = DTLS_BLOCKED_MS
        if up.dtls_worked:
            # More likely a server restart than a path that blocks UDP.
            block_ms = min(DTLS_BLOCKED_MS, DTLS_RETRY_MS << min(up.dtls_fallbacks_in_a_row - 1, 6))
        up.dtls_blocked_until = now + block_ms
        return block_ms

    def may_replace(self, up, now):
        """At most one replacement handshake per upstream per second, whatever the alerts."""
        last = up.last_replaced_at
        if last is not None and now - last < ALERT_HANDSHAKE_EVERY_MS:
            return False
        up.last_replaced_at = now
        return True

    def quiet_too_long(self, up, session, now):
        """DTLS False Start: a session this quiet is resumed before a query risks it.
        A session kept when its resumption failed counts as quiet from then: the
        query that started that resumption goes on it, not into another one."""
        limit = self.config.dtls_resume_after_ms
        since = session.last_activity
        if session.kept_at is not None and session.kept_at > since:
            since = session.kept_at
        return session.transport == DTLS and bool(limit) and now - since >= limit

    def probe_at(self, session):
        """When a quiet DTLS session is due a probe, or None (no probes, or busy)."""
        interval = self.config.dtls_probe_interval_ms
        if not interval or session.transport != DTLS or session.inflight:
            return None
        return session.last_activity + interval

    def return_at(self, up, session):
        """When a TLS session standing in for DTLS may make way for DTLS again, or None."""
        if session.transport != TLS or up.transports[0] != DTLS:
            return None
        return up.dtls_blocked_until

    def ask_again_over_tls(self, up, pq, answer):
        """A truncated DTLS answer is asked again over TLS when the upstream allows
        TLS and the client could take more than DTLS carried."""
        if TLS not in up.transports or not wire.parse_header(answer).flags & wire.TC:
            return False
        return not (pq.udp and pq.query.udp_limit <= DTLS_MAX_PAYLOAD)
