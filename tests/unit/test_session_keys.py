"""A failed handshake forgets the stored resumption session of the transport
that failed: DTLS sessions are kept under their own key, and a DTLS failure
used to forget the TLS one (io/daemon.py), leaving the DTLS ticket in place.
The core decides (ForgetSession, with the failed session's transport); the
daemon forgets what it names."""

from dprive.config import parse_settings
from dprive.core.actions import ForgetSession
from dprive.io.daemon import Daemon, session_key
from dprive.io.loop import Loop

CONFIG = """config dprive 'main'
\toption profile 'opportunistic'
\toption ca_bundle '%s'
config upstream
\toption name 'd'
\toption address '127.0.0.1'
\toption transport 'dtls tls'
"""


class Ticket:
    """What SessionStore keeps: a session that can resume."""
    has_ticket = True

    def __init__(self, name):
        self.id = name.encode()


def test_a_failed_dtls_handshake_forgets_the_dtls_session_and_keeps_the_tls_one(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    daemon = Daemon(parse_settings(CONFIG % bundle, "dprive"))
    daemon.loop = Loop()
    try:
        upstream = daemon.upstreams[0]
        tls_key, dtls_key = session_key(upstream, "tls"), session_key(upstream, "dtls")
        assert tls_key != dtls_key
        daemon.sessions.offer(tls_key, Ticket("tls"))
        daemon.sessions.offer(dtls_key, Ticket("dtls"))
        key = daemon.forwarder.upstreams[0].key
        daemon.apply([ForgetSession(key, "dtls")])
        assert daemon.sessions.get(dtls_key) is None
        assert daemon.sessions.get(tls_key).id == b"tls"
        daemon.apply([ForgetSession(key, "tls")])
        assert daemon.sessions.get(tls_key) is None
    finally:
        daemon.loop.close()
