"""The validated Settings, in the terms the sans-I/O core takes (milliseconds,
per-upstream lists), for the daemon's start and for a reload alike."""

from dprive.core.actions import ForwarderConfig


def forwarder_config(settings):
    return ForwarderConfig(
        padding_block=settings.padding_block,
        query_timeout_ms=settings.query_timeout_ms,
        connect_timeout_ms=settings.connect_timeout_ms,
        attempt_min_ms=settings.attempt_min_ms,
        backoff_max_ms=settings.backoff_max_s * 1000,
        max_pending=settings.max_pending_queries,
        keep_warm=settings.keep_warm,
        dtls_resume_after_ms=settings.dtls_resume_after_s * 1000,
        dtls_probe_interval_ms=settings.dtls_probe_interval_s * 1000,
        tcp_fastopen=settings.tcp_fastopen,
        tls_resumption=settings.tls_resumption,
        connections=settings.upstream_connections,
    )


def keys_of(upstreams):
    """The stable key the core knows each upstream by: its identity (address,
    port, auth name, pins) and transports, and which of the upstreams so alike
    it is (the first, the second ...), so that a reload continues each one."""
    seen = {}
    keys = []
    for upstream in upstreams:
        alike = upstream.identity() + (upstream.transport,)
        seen[alike] = seen.get(alike, 0) + 1
        keys.append(alike + (seen[alike],))
    return keys


def upstream_keys(settings):
    """{key: the upstream's config}, to find the upstream a Connect names."""
    return dict(zip(keys_of(settings.upstreams), settings.upstreams))


def upstream_lists(settings):
    """Keyword arguments of Forwarder() and Forwarder.reconfigure(): one entry per upstream."""
    ups = settings.upstreams
    return {
        "enabled": [u.enabled for u in ups],
        "probe_idle_ms": [u.keepalive_idle_s * 1000 for u in ups],
        "transports": [tuple(u.transport.split()) for u in ups],
        "keys": keys_of(ups),
    }
