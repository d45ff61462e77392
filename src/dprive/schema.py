"""The one description of /etc/config/dprive.

Everything that reads or writes the config takes its rules from here: the
daemon's loader (config.py), `dprive check`, and later the LuCI page (which is
generated from `schema_as_json()`), so the rules cannot drift apart.

Each option is a dict:
  type      'int' | 'bool' | 'enum' | 'ip' | 'port' | 'hostname' | 'path'
            | 'string' | 'spki'
  default   value used when the option is absent (already of the right type)
  required  True if the option must be present
  list      True if the option is a UCI `list` (may repeat)
  min, max  bounds for 'int' (inclusive); for 'string' bounds on its length
  choices   allowed values for 'enum'
  help      one line, shown by `dprive check` and the LuCI page
  doc       optional: more sentences, after `help` in `dprive options` and in
            the comments of the default config files (dprive.config_docs)
  example   a value for the default config file where there is no default
Units are in the option names (_ms, _s), as hypercorn does.
"""

SECTION_MAIN = "dprive"
SECTION_UPSTREAM = "upstream"
# `dprive gateway` reads its own file (/etc/config/dprive-gateway) with one
# `config gateway 'main'` section.
SECTION_GATEWAY = "gateway"

MAIN_OPTIONS = {
    "listen_address": {
        "type": "ip", "list": True, "default": ["127.0.0.1", "::1"],
        "help": "Addresses to answer DNS on (UDP and TCP).",
    },
    "listen_port": {
        "type": "port", "default": 5453,
        "help": "Port to answer DNS on; dnsmasq forwards to it.",
        "doc": "dnsmasq is pointed at it as server=127.0.0.1#<port> (option dnsmasq).",
    },
    "profile": {
        "type": "enum", "choices": ["strict", "opportunistic"], "default": "strict",
        "help": "strict: only authenticated upstreams get queries (RFC 8310); "
                "opportunistic: encrypted even when authentication fails, never cleartext.",
    },
    "ca_bundle": {
        "type": "path", "default": "/etc/ssl/certs/ca-certificates.crt",
        "help": "PEM file of the certificate authorities that upstreams are checked against, "
                "or a directory of hash links (openssl rehash), read a CA at a time. At the "
                "default, the directory is used when it has hash links (package ca-certificates).",
    },
    "tls_min_version": {
        "type": "enum", "choices": ["1.2", "1.3"], "default": "1.2",
        "help": "Oldest TLS version accepted from an upstream.",
    },
    "tls_engine": {
        "type": "enum", "choices": ["openssl", "mbedtls", "auto"], "default": "auto",
        "help": "DNS-over-TLS library: auto: mbedtls where it has TLS 1.3 (3.x, as on OpenWrt "
                "24.10 and later), else openssl, else mbedtls; mbedtls (libmbedtls through "
                "ctypes, in stock OpenWrt images); openssl (Python's ssl: python3-openssl).",
        "doc": "mbedtls spares the daemon OpenSSL (about 4 MB of RSS, and libopenssl's flash "
               "where nothing else needs it); mbedTLS 2.28 has no TLS 1.3 and cannot check "
               "IP-address auth names. The log says at start which engine runs and why not "
               "the other.",
    },
    "padding_block": {
        "type": "int", "min": 0, "max": 512, "default": 128,
        "help": "Pad queries to a multiple of this many bytes (RFC 8467); 0 turns padding off.",
    },
    "query_timeout_ms": {
        "type": "int", "min": 200, "max": 30000, "default": 5000,
        "help": "Longest a LAN client waits for an answer before it gets SERVFAIL.",
    },
    "connect_timeout_ms": {
        "type": "int", "min": 100, "max": 30000, "default": 3000,
        "help": "Longest a TCP connect plus TLS handshake to an upstream may take.",
    },
    "attempt_min_ms": {
        "type": "int", "min": 50, "max": 30000, "default": 400,
        "help": "Shortest wait for one upstream answer before the query is also tried "
                "elsewhere (the wait is otherwise derived from the measured RTT).",
    },
    "backoff_max_s": {
        "type": "int", "min": 1, "max": 3600, "default": 120,
        "help": "Longest pause before a failing upstream is tried again.",
    },
    "max_pending_queries": {
        "type": "int", "min": 16, "max": 16384, "default": 4096,
        "help": "Queries that may wait for an answer at once; more are answered SERVFAIL.",
    },
    "max_tcp_clients": {
        "type": "int", "min": 1, "max": 4096, "default": 128,
        "help": "LAN TCP connections served at once.",
    },
    "tcp_client_idle_ms": {
        "type": "int", "min": 500, "max": 300000, "default": 10000,
        "help": "A LAN TCP client silent (or stalled mid-message) this long is disconnected.",
    },
    "tcp_fastopen": {
        "type": "bool", "default": True,
        "help": "TCP Fast Open to upstreams: after a first visit the ClientHello rides in the SYN.",
        "doc": "It saves a round trip on every reconnect to a server seen before.",
    },
    "tls_resumption": {
        "type": "bool", "default": True,
        "help": "Resume TLS sessions (1.2 tickets, 1.3 PSK) when reconnecting to an upstream.",
    },
    "keep_warm": {
        "type": "bool", "default": False,
        "help": "Send a tiny query just before an upstream's idle timeout instead of letting "
                "the session close (a few bytes a minute against a round trip).",
        "doc": "About 100 bytes a minute per upstream; off: the session closes and the "
                "next query reconnects (with resumption, one round trip).",
    },
    "upstream_connections": {
        "type": "int", "min": 1, "max": 16, "default": 6,
        "help": "Most TLS connections to one upstream at once: under load a query goes on a "
                "connection with no query in flight, so no answer waits for the server's "
                "Nagle (1: one connection).",
        "doc": "Extra connections open only while queries overlap, are used from one round "
               "trip after their handshake and close after 10 s unused; `dprive status` "
               "shows `connections` per upstream. A steady load needs about rate x round "
               "trip + 1 (40 q/s at 100 ms: 5). DTLS uses one session.",
    },
    "user_timeout_ms": {
        "type": "int", "min": 1000, "max": 600000, "default": 10000,
        "help": "A session whose sent data stays unacknowledged this long is ended (TCP_USER_TIMEOUT).",
        "doc": "The session is then reopened.",
    },
    "dtls_resume_after_s": {
        "type": "int", "min": 0, "max": 86400, "default": 60,
        "help": "DTLS: after this long without traffic, resume the session before the next "
                "query instead of risking an alert (0: never).",
    },
    "dtls_probe_interval_s": {
        "type": "int", "min": 0, "max": 3600, "default": 25,
        "help": "DTLS: probe a quiet session this often with a tiny query, which also keeps "
                "the UDP pinhole open (below 30 s for carrier NATs; 0: never).",
    },
    "dtls_engine": {
        "type": "enum", "choices": ["auto", "mbedtls", "pyopenssl"], "default": "auto",
        "help": "DTLS library: libmbedtls (in stock OpenWrt images), pyOpenSSL (dprive-dtls), "
                "or auto: mbedTLS where it loads, else pyOpenSSL.",
        "doc": "Stock OpenWrt builds its libopenssl without DTLS, so pyOpenSSL there imports "
               "but cannot shake hands. `dprive status` shows the engine in use and why "
               "the other does not run.",
    },
    "dnsmasq": {
        "type": "bool", "default": True,
        "help": "Hook dnsmasq up to dprive (server=127.0.0.1#listen_port, noresolv) while "
                "dprive runs; stopping dprive restores dnsmasq's own settings.",
        "doc": "Off: dnsmasq is left alone.",
    },
    "force_dns": {
        "type": "bool", "default": False,
        "help": "Redirect LAN clients' DNS (port 53) to the router and answer NXDOMAIN for "
                "use-application-dns.net, so browsers keep using the router's DNS.",
        "doc": "Off: LAN clients may use any resolver they like.",
    },
    "control_socket": {
        "type": "path", "default": "/var/run/dprive/control.sock",
        "help": "Unix socket for `dprive status` and the ubus object.",
    },
    "log_level": {
        "type": "enum", "choices": ["debug", "info", "warning", "error"], "default": "info",
        "help": "debug logs every query; info logs every session event.",
        "doc": "warning and error log only problems.",
    },
}

UPSTREAM_OPTIONS = {
    "name": {
        "type": "string", "required": True, "min": 1, "max": 64,
        "help": "A name for logs and status.",
        "doc": "Must be unique.",
    },
    "address": {
        "type": "ip", "required": True,
        "help": "IPv4 or IPv6 address of the DNS-over-TLS server.",
    },
    "port": {
        "type": "port", "default": 853,
        "help": "Server port (853 for DNS over TLS).",
        "doc": "A DNS over DTLS server (transport dtls) listens on UDP, usually port 853 too.",
    },
    "auth_name": {
        "type": "hostname", "default": "",
        "help": "Name the server certificate must carry (and sent as SNI).",
    },
    "spki": {
        "type": "spki", "list": True, "default": [],
        "help": "Pins: base64 SHA-256 of the server key's SubjectPublicKeyInfo (RFC 7858 4.2).",
        "doc": "With pins the server key must match one of them; add one list line per pin.",
    },
    "enabled": {
        "type": "bool", "default": True,
        "help": "Send queries to this upstream.",
        "doc": "Off keeps the entry for later without using it.",
    },
    "transport": {
        "type": "enum", "choices": ["tls", "dtls", "dtls tls"], "default": "tls",
        "help": "tls: DNS over TLS (RFC 7858); dtls: DNS over DTLS (RFC 8094, needs "
                "dprive-dtls); 'dtls tls': DTLS, falling back to TLS where DTLS is blocked.",
    },
    "keepalive_idle_s": {
        "type": "int", "min": 1, "max": 7200, "default": 60,
        "help": "Probe a quiet session after this many seconds (TCP keepalive); keep it "
                "below the NAT timeouts on the path (OpenWrt: 7440 s; carrier NATs: less).",
    },
    "keepalive_interval_s": {
        "type": "int", "min": 1, "max": 600, "default": 10,
        "help": "Seconds between probes that get no answer.",
    },
    "keepalive_count": {
        "type": "int", "min": 1, "max": 20, "default": 3,
        "help": "Unanswered probes after which the session is given up and reopened.",
    },
}

GATEWAY_OPTIONS = {
    "listen_address": {
        "type": "ip", "list": True, "default": ["0.0.0.0"],
        "help": "Addresses to serve DNS over DTLS on (UDP).",
    },
    "listen_port": {
        "type": "port", "default": 853,
        "help": "UDP port to serve DNS over DTLS on (853, RFC 8094).",
    },
    "cert_file": {
        "type": "path", "required": True,
        "help": "PEM file: the server certificate followed by its intermediates.",
        "example": "/etc/dprive/gateway-chain.pem",
    },
    "key_file": {
        "type": "path", "required": True,
        "help": "PEM file: the private key of the server certificate.",
        "doc": "Keep it mode 0600.",
        "example": "/etc/dprive/gateway.key",
    },
    "resolver_address": {
        "type": "ip", "default": "127.0.0.1",
        "help": "The DNS resolver that answers the queries (plain DNS, UDP then TCP).",
        "doc": "A truncated UDP answer is asked again over TCP.",
    },
    "resolver_port": {
        "type": "port", "default": 53,
        "help": "Port of that resolver.",
    },
    "resolver_timeout_ms": {
        "type": "int", "min": 100, "max": 30000, "default": 3000,
        "help": "Longest wait for the resolver (UDP and the TCP retry together); then SERVFAIL.",
    },
    "require_cookie": {
        "type": "bool", "default": True,
        "help": "Demand the RFC 6347 cookie exchange from every new client: a spoofed "
                "ClientHello then costs no state, and a handshake one round trip more.",
        "doc": "Off: no cookie for new clients (one round trip less, state on every "
                "ClientHello, bounded by max_sessions). A ClientHello from an address with a live "
                "session starts a handshake beside it, and the live session serves on until "
                "that handshake is done, so a forged one cannot cut a client off.",
    },
    "dtls_engine": {
        "type": "enum", "choices": ["auto", "mbedtls", "pyopenssl"], "default": "auto",
        "help": "The DTLS library: mbedtls (libmbedtls through ctypes), pyopenssl, or auto: "
                "mbedtls when libmbedtls loads, else pyopenssl.",
        "doc": "Stock OpenWrt builds libmbedtls with DTLS and libopenssl without. The "
                "status file's 'dtls' says which engine runs, and why another does not.",
    },
    "ticket_key_file": {
        "type": "path", "default": "/etc/dprive/gateway-ticket.key",
        "help": "80 random bytes that encrypt session tickets, made if missing, so that "
                "tickets survive a restart (needs mbedTLS 3.1 or later, or pyOpenSSL on a "
                "shared libssl).",
        "doc": "With mbedTLS 2.28, or without a shared libssl (the PyPI wheels link "
                "OpenSSL statically), tickets last only as long as the process, and the "
                "log and the status (ticket_keys 'process') say so.",
    },
    "session_lifetime_s": {
        "type": "int", "min": 60, "max": 604800, "default": 7200,
        "help": "How long a session ticket (or cached session) may be resumed.",
    },
    "max_sessions": {
        "type": "int", "min": 1, "max": 100000, "default": 1000,
        "help": "Clients with DTLS state at once (handshakes included); more are refused.",
    },
    "session_idle_s": {
        "type": "int", "min": 1, "max": 86400, "default": 120,
        "help": "A client silent this long loses its session (it resumes on its next query).",
        "doc": "The client gets a close_notify. Keep it above the clients' probe interval "
                "(dtls_probe_interval_s).",
    },
    "handshake_timeout_ms": {
        "type": "int", "min": 200, "max": 60000, "default": 5000,
        "help": "A handshake not finished this long after its ClientHello is dropped.",
    },
    "max_queries_per_client": {
        "type": "int", "min": 1, "max": 4096, "default": 512,
        "help": "Queries of one client waiting for the resolver at once; more get REFUSED. "
                "A client is usually a router carrying a whole household's queries.",
    },
    "max_datagram_bytes": {
        "type": "int", "min": 512, "max": 9000, "default": 1232,
        "help": "Largest UDP payload sent (path MTU budget); DTLS records and answers are "
                "cut to fit, larger answers are truncated (TC) so the client uses TCP.",
        "doc": "1232 fits a 1280-byte IPv6 path.",
    },
    "alert_interval_ms": {
        "type": "int", "min": 0, "max": 60000, "default": 1000,
        "help": "Shortest time between two alerts to the same unknown peer (address and port).",
        "doc": "Such peers appear after a gateway restart or a NAT rebinding.",
    },
    "max_alerts_per_s": {
        "type": "int", "min": 1, "max": 10000, "default": 100,
        "help": "Alerts to unknown peers per second, all peers together.",
    },
    "status_file": {
        "type": "path", "default": "/var/run/dprive/gateway.json",
        "help": "JSON file with the counters, rewritten while they change and at exit.",
    },
    "status_interval_ms": {
        "type": "int", "min": 100, "max": 60000, "default": 1000,
        "help": "Shortest time between two rewrites of the status file.",
    },
    "log_level": {
        "type": "enum", "choices": ["debug", "info", "warning", "error"], "default": "info",
        "help": "debug logs every session and every datagram dropped; info logs start, "
                "stop and the counters.",
    },
}


# The servers of the default /etc/config/dprive (package/gen_default_config.py).
DEFAULT_UPSTREAMS = [
    {"name": "cloudflare-1", "address": "1.1.1.1", "port": 853,
     "auth_name": "cloudflare-dns.com", "enabled": True},
    {"name": "cloudflare-2", "address": "1.0.0.1", "port": 853,
     "auth_name": "cloudflare-dns.com", "enabled": True},
    {"name": "quad9", "address": "9.9.9.9", "port": 853, "auth_name": "dns.quad9.net",
     "enabled": True},
    {"name": "google", "address": "8.8.8.8", "port": 853, "auth_name": "dns.google",
     "enabled": True},
]


def schema_as_json():
    """The schema in a form other tools (LuCI, docs) can load."""
    return {
        "main": {"section": SECTION_MAIN, "options": MAIN_OPTIONS},
        "upstream": {"section": SECTION_UPSTREAM, "options": UPSTREAM_OPTIONS},
        "gateway": {"section": SECTION_GATEWAY, "options": GATEWAY_OPTIONS},
    }
