'use strict';
'require baseclass';

// generated, do not edit: package/gen_luci_schema.py writes this file from
// dprive.schema.schema_as_json() (src/dprive/schema.py), the rules of `dprive check`;
// each help text is a _() literal, so it is in dprive.pot and shown translated.
return baseclass.extend({
	"main": {
		"section": "dprive",
		"options": {
			"listen_address": {
				"type": "ip",
				"list": true,
				"default": [
					"127.0.0.1",
					"::1"
				],
				"help": _('Addresses to answer DNS on (UDP and TCP).')
			},
			"listen_port": {
				"type": "port",
				"default": 5453,
				"help": _('Port to answer DNS on; dnsmasq forwards to it.'),
				"doc": "dnsmasq is pointed at it as server=127.0.0.1#<port> (option dnsmasq)."
			},
			"profile": {
				"type": "enum",
				"choices": [
					"strict",
					"opportunistic"
				],
				"default": "strict",
				"help": _('strict: only authenticated upstreams get queries (RFC 8310); opportunistic: encrypted even when authentication fails, never cleartext.')
			},
			"ca_bundle": {
				"type": "path",
				"default": "/etc/ssl/certs/ca-certificates.crt",
				"help": _('PEM file of the certificate authorities that upstreams are checked against, or a directory of hash links (openssl rehash), read a CA at a time. At the default, the directory is used when it has hash links (package ca-certificates).')
			},
			"tls_min_version": {
				"type": "enum",
				"choices": [
					"1.2",
					"1.3"
				],
				"default": "1.2",
				"help": _('Oldest TLS version accepted from an upstream.')
			},
			"tls_engine": {
				"type": "enum",
				"choices": [
					"openssl",
					"mbedtls",
					"auto"
				],
				"default": "auto",
				"help": _('DNS-over-TLS library: auto: mbedtls where it has TLS 1.3 (3.x, as on OpenWrt 24.10 and later), else openssl, else mbedtls; mbedtls (libmbedtls through ctypes, in stock OpenWrt images); openssl (Python\'s ssl: python3-openssl).'),
				"doc": "mbedtls spares the daemon OpenSSL (about 4 MB of RSS, and libopenssl's flash where nothing else needs it); mbedTLS 2.28 has no TLS 1.3 and cannot check IP-address auth names. The log says at start which engine runs and why not the other."
			},
			"padding_block": {
				"type": "int",
				"min": 0,
				"max": 512,
				"default": 128,
				"help": _('Pad queries to a multiple of this many bytes (RFC 8467); 0 turns padding off.')
			},
			"query_timeout_ms": {
				"type": "int",
				"min": 200,
				"max": 30000,
				"default": 5000,
				"help": _('Longest a LAN client waits for an answer before it gets SERVFAIL.')
			},
			"connect_timeout_ms": {
				"type": "int",
				"min": 100,
				"max": 30000,
				"default": 3000,
				"help": _('Longest a TCP connect plus TLS handshake to an upstream may take.')
			},
			"attempt_min_ms": {
				"type": "int",
				"min": 50,
				"max": 30000,
				"default": 400,
				"help": _('Shortest wait for one upstream answer before the query is also tried elsewhere (the wait is otherwise derived from the measured RTT).')
			},
			"backoff_max_s": {
				"type": "int",
				"min": 1,
				"max": 3600,
				"default": 120,
				"help": _('Longest pause before a failing upstream is tried again.')
			},
			"max_pending_queries": {
				"type": "int",
				"min": 16,
				"max": 16384,
				"default": 4096,
				"help": _('Queries that may wait for an answer at once; more are answered SERVFAIL.')
			},
			"max_tcp_clients": {
				"type": "int",
				"min": 1,
				"max": 4096,
				"default": 128,
				"help": _('LAN TCP connections served at once.')
			},
			"tcp_client_idle_ms": {
				"type": "int",
				"min": 500,
				"max": 300000,
				"default": 10000,
				"help": _('A LAN TCP client silent (or stalled mid-message) this long is disconnected.')
			},
			"tcp_fastopen": {
				"type": "bool",
				"default": true,
				"help": _('TCP Fast Open to upstreams: after a first visit the ClientHello rides in the SYN.'),
				"doc": "It saves a round trip on every reconnect to a server seen before."
			},
			"tls_resumption": {
				"type": "bool",
				"default": true,
				"help": _('Resume TLS sessions (1.2 tickets, 1.3 PSK) when reconnecting to an upstream.')
			},
			"keep_warm": {
				"type": "bool",
				"default": false,
				"help": _('Send a tiny query just before an upstream\'s idle timeout instead of letting the session close (a few bytes a minute against a round trip).'),
				"doc": "About 100 bytes a minute per upstream; off: the session closes and the next query reconnects (with resumption, one round trip)."
			},
			"upstream_connections": {
				"type": "int",
				"min": 1,
				"max": 16,
				"default": 6,
				"help": _('Most TLS connections to one upstream at once: under load a query goes on a connection with no query in flight, so no answer waits for the server\'s Nagle (1: one connection).'),
				"doc": "Extra connections open only while queries overlap, are used from one round trip after their handshake and close after 10 s unused; `dprive status` shows `connections` per upstream. A steady load needs about rate x round trip + 1 (40 q/s at 100 ms: 5). DTLS uses one session."
			},
			"user_timeout_ms": {
				"type": "int",
				"min": 1000,
				"max": 600000,
				"default": 10000,
				"help": _('A session whose sent data stays unacknowledged this long is ended (TCP_USER_TIMEOUT).'),
				"doc": "The session is then reopened."
			},
			"dtls_resume_after_s": {
				"type": "int",
				"min": 0,
				"max": 86400,
				"default": 60,
				"help": _('DTLS: after this long without traffic, resume the session before the next query instead of risking an alert (0: never).')
			},
			"dtls_probe_interval_s": {
				"type": "int",
				"min": 0,
				"max": 3600,
				"default": 25,
				"help": _('DTLS: probe a quiet session this often with a tiny query, which also keeps the UDP pinhole open (below 30 s for carrier NATs; 0: never).')
			},
			"dtls_engine": {
				"type": "enum",
				"choices": [
					"auto",
					"mbedtls",
					"pyopenssl"
				],
				"default": "auto",
				"help": _('DTLS library: libmbedtls (in stock OpenWrt images), pyOpenSSL (dprive-dtls), or auto: mbedTLS where it loads, else pyOpenSSL.'),
				"doc": "Stock OpenWrt builds its libopenssl without DTLS, so pyOpenSSL there imports but cannot shake hands. `dprive status` shows the engine in use and why the other does not run."
			},
			"dnsmasq": {
				"type": "bool",
				"default": true,
				"help": _('Hook dnsmasq up to dprive (server=127.0.0.1#listen_port, noresolv) while dprive runs; stopping dprive restores dnsmasq\'s own settings.'),
				"doc": "Off: dnsmasq is left alone."
			},
			"force_dns": {
				"type": "bool",
				"default": false,
				"help": _('Redirect LAN clients\' DNS (port 53) to the router and answer NXDOMAIN for use-application-dns.net, so browsers keep using the router\'s DNS.'),
				"doc": "Off: LAN clients may use any resolver they like."
			},
			"control_socket": {
				"type": "path",
				"default": "/var/run/dprive/control.sock",
				"help": _('Unix socket for `dprive status` and the ubus object.')
			},
			"log_level": {
				"type": "enum",
				"choices": [
					"debug",
					"info",
					"warning",
					"error"
				],
				"default": "info",
				"help": _('debug logs every query; info logs every session event.'),
				"doc": "warning and error log only problems."
			}
		}
	},
	"upstream": {
		"section": "upstream",
		"options": {
			"name": {
				"type": "string",
				"required": true,
				"min": 1,
				"max": 64,
				"help": _('A name for logs and status.'),
				"doc": "Must be unique."
			},
			"address": {
				"type": "ip",
				"required": true,
				"help": _('IPv4 or IPv6 address of the DNS-over-TLS server.')
			},
			"port": {
				"type": "port",
				"default": 853,
				"help": _('Server port (853 for DNS over TLS).'),
				"doc": "A DNS over DTLS server (transport dtls) listens on UDP, usually port 853 too."
			},
			"auth_name": {
				"type": "hostname",
				"default": "",
				"help": _('Name the server certificate must carry (and sent as SNI).')
			},
			"spki": {
				"type": "spki",
				"list": true,
				"default": [],
				"help": _('Pins: base64 SHA-256 of the server key\'s SubjectPublicKeyInfo (RFC 7858 4.2).'),
				"doc": "With pins the server key must match one of them; add one list line per pin."
			},
			"enabled": {
				"type": "bool",
				"default": true,
				"help": _('Send queries to this upstream.'),
				"doc": "Off keeps the entry for later without using it."
			},
			"transport": {
				"type": "enum",
				"choices": [
					"tls",
					"dtls",
					"dtls tls"
				],
				"default": "tls",
				"help": _('tls: DNS over TLS (RFC 7858); dtls: DNS over DTLS (RFC 8094, needs dprive-dtls); \'dtls tls\': DTLS, falling back to TLS where DTLS is blocked.')
			},
			"keepalive_idle_s": {
				"type": "int",
				"min": 1,
				"max": 7200,
				"default": 60,
				"help": _('Probe a quiet session after this many seconds (TCP keepalive); keep it below the NAT timeouts on the path (OpenWrt: 7440 s; carrier NATs: less).')
			},
			"keepalive_interval_s": {
				"type": "int",
				"min": 1,
				"max": 600,
				"default": 10,
				"help": _('Seconds between probes that get no answer.')
			},
			"keepalive_count": {
				"type": "int",
				"min": 1,
				"max": 20,
				"default": 3,
				"help": _('Unanswered probes after which the session is given up and reopened.')
			}
		}
	}
});
