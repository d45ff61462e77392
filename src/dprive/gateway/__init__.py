"""`dprive gateway`: the DNS-over-DTLS (RFC 8094) server side.

No other DoDTLS server exists to test against or to deploy, so dprive brings
one: it puts DoDTLS in front of any resolver. Modules:

  config.py    /etc/config/dprive-gateway -> GatewaySettings (schema.GATEWAY_OPTIONS)
  core.py      GatewayCore, every decision, sans I/O: datagrams, answers and the time
               in, typed actions out (actions.py), timers at their real deadlines;
               runs under MicroPython with a fake session (tests/unit/gatewayfake.py)
  peer_state.py  the states of one client address (its live session and the
               handshake that may replace it), as a table with move()
  actions.py   the actions the core returns, and its knobs (GatewayConfig)
  deadlines.py the handshakes' retransmission deadlines, earliest first
  counters.py  the counters' names
  stateless.py what needs no per-client state: reading a ClientHello, the
               HelloVerifyRequest, the alert to a stray record and its rate limit
               (sans-I/O; the record layer itself is dprive.core.dtls_record, shared
               with the client)
  cookies.py   the stateless cookies (HMAC of the client's address), one CookieJar
               shared by the core and the engine's context
  session_base.py  the API both DTLS engines offer, and their states
  session.py   engine pyOpenSSL: one Connection per client on memory BIOs (bytes in, bytes out)
  session_mbedtls.py  engine libmbedtls (ctypes): one ssl context per client, same API
  mbedtls_server_context.py  its config: certificate and key checked as a pair,
               cookies, tickets (from the key file on mbedTLS 3.1 and later)
  tickets.py   the ticket key file; installing it where pyOpenSSL's OpenSSL allows it
  resolver.py  queries to the resolver over UDP, TCP again when truncated
  status.py    the JSON status file
  server.py    the asyncio shell: sockets (io/lan.py's DatagramListener), the
               resolver, signals, one timer; run_gateway()

The engine is the config's dtls_engine (tls/dtls_engines.py chooses; auto:
libmbedtls when it loads, else pyOpenSSL): stock OpenWrt needs no pyOpenSSL.
"""
