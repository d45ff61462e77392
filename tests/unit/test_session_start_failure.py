"""A TLS or DTLS session that cannot even start reports the exception's own
text as its connect failure, whatever the exception is (on a router without
python3-codecs: `LookupError: unknown encoding: idna`), never only a timeout."""

from dprive.io.dtls_conn import DtlsConnection
from dprive.io.upstream_conn import UpstreamConnection
from dprive.tls.engine_api import TlsError, start_failure

IDNA = LookupError("unknown encoding: idna")


class Events:
    def __init__(self):
        self.failed = []

    def on_connect_failed(self, handle, reason, auth_failure=False, heard=True, transport="tls"):
        self.failed.append(reason)
        self.transport = transport


class Transport:
    def write(self, data):
        raise AssertionError("nothing can be sent: there is no ClientHello")

    def abort(self):
        pass

    close = abort


class Engine:
    """A TLS/DTLS engine whose ClientHello cannot be made."""
    established = False

    def start(self):
        raise IDNA


def test_start_failure_keeps_the_exception_type_and_text():
    assert start_failure(IDNA) == "TLS session could not start: LookupError: unknown encoding: idna"
    assert start_failure(IDNA, "DTLS").startswith("DTLS session could not start: LookupError")
    assert start_failure(TlsError("TLS handshake failed: no shared cipher")) == \
        "TLS handshake failed: no shared cipher"


def test_tls_connection_reports_what_broke_its_client_hello():
    events = Events()
    UpstreamConnection(events, "h", Engine()).connection_made(Transport())
    assert events.failed == ["TLS session could not start: LookupError: unknown encoding: idna"]


def test_dtls_connection_reports_what_broke_its_client_hello():
    events = Events()
    DtlsConnection(events, "h", Engine()).connection_made(Transport())
    assert len(events.failed) == 1
    assert events.failed[0].endswith("DTLS session could not start: LookupError: unknown encoding: idna")
    assert events.transport == "dtls", "the daemon must forget the DTLS session, not the TLS one"
