"""What the server's TLS handshake says in the clear, read off its byte stream.

mbedTLS keeps whether a handshake resumed, and whether a TLS 1.2 ticket came,
in fields we may not read (tls/mbedtls_lib.py reads none), so the mbedTLS
DoT engine reads them where they travel unencrypted: the server's records
up to its ChangeCipherSpec or its first encrypted record.

- TLS 1.3 (the ServerHello carries supported_versions): resumed when the
  ServerHello carries pre_shared_key, i.e. the server took our ticket
  (RFC 8446 4.2.11). A HelloRetryRequest is a ServerHello too: the last wins.
- TLS 1.2: resumed when the server's ChangeCipherSpec came with no
  Certificate before it, i.e. an abbreviated handshake (RFC 5246 7.3;
  dprive offers no PSK or anonymous suites); a NewSessionTicket before it
  is the ticket (RFC 5077).
Only headers and the ServerHello are parsed; nothing is kept past the
handshake, and at most MAX_BYTES are looked at.
"""

CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE, CT_APPLICATION_DATA = 20, 22, 23
HS_SERVER_HELLO, HS_NEW_SESSION_TICKET, HS_CERTIFICATE = 2, 4, 11
EXT_PRE_SHARED_KEY, EXT_SUPPORTED_VERSIONS = 41, 43
RECORD_HEADER, HANDSHAKE_HEADER = 5, 4
MAX_BYTES = 131072            # a long certificate chain; past it, stop looking


class ServerFlight:
    def __init__(self):
        self.done = False          # past the cleartext part (or given up)
        self.server_hello = False
        self.tls13 = False
        self.psk = False
        self.certificate = False
        self.ticket = False
        self._records = bytearray()      # record bytes not yet parsed
        self._messages = bytearray()     # handshake bytes not yet parsed
        self._seen = 0

    @property
    def resumed(self):
        if not self.server_hello:
            return False
        return self.psk if self.tls13 else (self.done and not self.certificate)

    def feed(self, data):
        if self.done:
            return
        self._seen += len(data)
        if self._seen > MAX_BYTES:
            self._stop()
            return
        self._records += data
        while not self.done and len(self._records) >= RECORD_HEADER:
            ctype = self._records[0]
            length = int.from_bytes(self._records[3:5], "big")
            if len(self._records) < RECORD_HEADER + length:
                return
            fragment = bytes(self._records[RECORD_HEADER:RECORD_HEADER + length])
            del self._records[:RECORD_HEADER + length]
            if ctype == CT_HANDSHAKE:
                self._messages += fragment
                self._parse_messages()
            elif ctype in (CT_CHANGE_CIPHER_SPEC, CT_APPLICATION_DATA):
                self._stop()

    def _stop(self):
        self.done = True
        self._records = self._messages = bytearray()

    def _parse_messages(self):
        while len(self._messages) >= HANDSHAKE_HEADER:
            msg_type = self._messages[0]
            length = int.from_bytes(self._messages[1:4], "big")
            if msg_type == HS_CERTIFICATE:
                self.certificate = True       # its body is not needed
            elif msg_type == HS_NEW_SESSION_TICKET:
                self.ticket = True
            if len(self._messages) < HANDSHAKE_HEADER + length:
                return
            body = bytes(self._messages[HANDSHAKE_HEADER:HANDSHAKE_HEADER + length])
            del self._messages[:HANDSHAKE_HEADER + length]
            if msg_type == HS_SERVER_HELLO:
                self._server_hello(body)

    def _server_hello(self, body):
        """legacy_version(2) random(32) session_id<1> cipher_suite(2) compression(1) extensions<2>."""
        self.server_hello = True
        self.tls13 = self.psk = False
        pos = 34
        if len(body) < pos + 1:
            return
        pos += 1 + body[pos] + 3
        if len(body) < pos + 2:
            return                     # no extensions: TLS 1.2
        end = min(pos + 2 + int.from_bytes(body[pos:pos + 2], "big"), len(body))
        pos += 2
        while pos + 4 <= end:
            ext = int.from_bytes(body[pos:pos + 2], "big")
            size = int.from_bytes(body[pos + 2:pos + 4], "big")
            if ext == EXT_SUPPORTED_VERSIONS:
                self.tls13 = True
            elif ext == EXT_PRE_SHARED_KEY:
                self.psk = True
            pos += 4 + size
