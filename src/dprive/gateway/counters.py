"""The gateway's counters: their names, each with what it counts.

The core (core.py) owns the dict; the shell and the resolver client count
into it too (send_errors, resolver_*). status.py shows them in the status
file. Portable (MicroPython): nothing imported.
"""

COUNTERS = (
    "datagrams",            # every datagram received
    "oversize_datagrams",   # larger than MAX_DATAGRAM_IN: dropped
    "bad_datagrams",        # not DTLS records, wrong lengths, unreadable ClientHello: dropped
    "cookies_sent",         # HelloVerifyRequests (no state kept)
    "cookies_bad",          # ClientHellos with a cookie that did not verify
    "handshakes_started",   # sessions created (a ClientHello that passed the cookie check)
    "handshakes",           # handshakes finished
    "handshakes_resumed",   # ... of which resumed a session (ticket or cache)
    "handshake_failures",   # OpenSSL gave up on a handshake
    "handshake_timeouts",   # not finished within handshake_timeout_ms
    "sessions_full",        # ClientHellos refused because max_sessions were in use
    "sessions_replaced",    # a new handshake (with a valid cookie) replaced a live session
    "sessions_expired",     # idle longer than session_idle_s
    "sessions_closed",      # closed by the client (close_notify or a fatal alert)
    "stray_records",        # records from peers without state that are not a ClientHello
    "alerts_sent",          # plaintext alerts answering those
    "alerts_limited",       # ... not sent because of the rate limit
    "queries",              # DNS queries received
    "bad_queries",          # DNS messages that are not a well-formed query: dropped
    "queries_refused",      # over max_queries_per_client: answered REFUSED
    "answers",              # answers sent
    "truncated",            # ... of which cut to fit the client (TC set)
    "answers_dropped",      # the session ended before the resolver answered
    "resolver_tcp",         # truncated UDP answers asked again over TCP
    "resolver_errors",      # no usable answer from the resolver: SERVFAIL sent
    "resolver_stray",       # datagrams from the resolver that matched no query
    "send_errors",          # sendto failed
)


def new_counters():
    return dict.fromkeys(COUNTERS, 0)
