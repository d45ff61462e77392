"""`dprive gateway`: the DNS-over-DTLS (RFC 8094) server side.

No other DoDTLS server exists to test against or to deploy, so dprive brings
one: it puts DoDTLS in front of any resolver. Modules:

  config.py    /etc/config/dprive-gateway -> GatewaySettings (schema.GATEWAY_OPTIONS)
  stateless.py what needs no per-client state: ClientHello cookies, HelloVerifyRequest,
               the alert to a stray record and its rate limit (sans-I/O; the record
               layer itself is dprive.core.dtls_record, shared with the client)
  session.py   one pyOpenSSL Connection per client on memory BIOs (bytes in, bytes out)
  tickets.py   session ticket keys from a file, where pyOpenSSL's OpenSSL allows it
  resolver.py  queries to the resolver over UDP, TCP again when truncated
  status.py    counters and the JSON status file
  server.py    the asyncio shell tying them together; run_gateway()

The gateway needs pyOpenSSL (python3-pyopenssl on OpenWrt); the forwarder does not.
"""
