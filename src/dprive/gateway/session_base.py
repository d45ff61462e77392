"""What both gateway DTLS engines share, so that neither server.py nor core.py asks which one runs.

An engine module (gateway/session.py on pyOpenSSL, gateway/session_mbedtls.py
on libmbedtls) offers:

- make_server_context(cert_file, key_file, cookies, session_lifetime_s):
  the one server context (ContextError when the certificate or key cannot be used);
- install_ticket_keys(context, keys): None once tickets are sealed with the
  80 bytes of the key file, else why they last only as long as the process;
- ServerSession(context, addr, mtu, now, clock) with begin(), feed(), send(),
  timer_due(), on_timer(), close(), release(), and the attributes state
  (one of the three below), reused, cleartext_mtu, error, in_flight,
  created, last_active, addr. The shell makes them (server.py's factory);
  the core (core.py) calls them, keeps in_flight and last_active, and reads
  timer_due() again after every call into the session.

No ssl imports here: the mbedTLS engine must run where pyOpenSSL is not installed.
"""

HANDSHAKING = "handshaking"
ESTABLISHED = "established"
CLOSED = "closed"


class ContextError(Exception):
    """The certificate or key cannot be used."""


def check_readable(cert_file, key_file):
    """ContextError naming the option and the OS's reason when either file cannot
    be read: said before any TLS library gives its own, vaguer, error."""
    for what, path in (("cert_file", cert_file), ("key_file", key_file)):
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise ContextError("cannot read %s %s: %s" % (what, path, err.strerror or err))
