"""What both DTLS client engines (dtls.py on pyOpenSSL, dtls_mbedtls.py on
libmbedtls) do alike, whatever the library underneath: screening a datagram
before the library sees it, the one-record size rule for a DNS message, and
telling an IP literal from a name."""

import ipaddress

from dprive.core import dtls_record
from dprive.core.dtls_record import DtlsRecordError

# UDP payload per datagram: under 1500-byte Ethernet with IPv6 and PPPoE headers.
DEFAULT_MTU = 1400


class MessageTooLarge(ValueError):
    """A DNS message that does not fit in one record under the MTU (RFC 8094 section 5)."""


def screen_datagram(client, datagram):
    """False (and counted in `client.dropped`) for a datagram that is not DTLS
    records. On an established session, a plaintext alert is counted in
    `client.plaintext_alerts` (the libraries drop such unauthenticated records)."""
    try:
        dtls_record.records(datagram)
    except DtlsRecordError:
        client.dropped += 1
        return False
    if client.established:
        alert = dtls_record.plaintext_alert(datagram)
        if alert is not None:
            client.plaintext_alerts += 1
            client.last_plaintext_alert = alert
    return True


def check_message(message, limit, mtu):
    """ValueError for an empty DNS message, MessageTooLarge past `limit` bytes."""
    if not message:
        raise ValueError("empty DNS message")
    if len(message) > limit:
        raise MessageTooLarge("a DNS message of %d bytes does not fit in one record"
                              " (at most %d at MTU %d)" % (len(message), limit, mtu))


def ip_literal(name):
    """The ip_address `name` spells, or None for a DNS name (or no name)."""
    if not name:
        return None
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
