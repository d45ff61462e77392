"""`dprive status`: ask the running daemon over its control socket and print the answer."""

import json
import socket
import sys

TIMEOUT_S = 3


def request(path, payload, timeout_s=TIMEOUT_S):
    """Send one JSON request to the control socket at `path`; return the decoded reply."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
        sock.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return json.loads(data)


def _ms(value):
    if value is None:
        return "-"
    return ("%.1f ms" if value < 10 else "%.0f ms") % value


def _dtls_lines(dtls):
    """The DTLS engine block: the daemon's (a tls/dtls_engines.Choice's status), or an
    older one that only knew pyOpenSSL (pyopenssl/cryptography/openssl at the top)."""
    if "engine" not in dtls:
        lines = ["DTLS on pyOpenSSL %s, cryptography %s, %s" % (
            dtls["pyopenssl"] or "-", dtls["cryptography"] or "-", dtls["openssl"] or "-")]
    elif dtls["engine"]:
        lines = ["DTLS on %s (%s, dtls_engine %s)" % (dtls["engine"], dtls["version"],
                                                      dtls["preference"])]
        lines += ["  not %s: %s" % item for item in sorted(dtls["not_used"].items())]
    else:
        lines = []
    if dtls["unavailable"]:
        lines.append("  DTLS unavailable: " + dtls["unavailable"])
    lines += ["  " + note for note in dtls["notes"]]
    return lines


def format_status(status):
    lines = ["dprive %s, up %ss, profile %s, pid %s" % (
        status["version"], status["uptime_s"], status["profile"], status["pid"])]
    lines.append("listening: " + ", ".join(status["listen"]))
    counters = status["counters"]
    lines.append("queries %(queries)d  answers %(answers)d  servfail %(servfail)d  "
                 "formerr %(formerr)d  dropped %(dropped)d  truncated %(truncated)d" % counters)
    bus = status.get("ubus")
    if bus:
        lines.append("ubus: object %s %s" % (bus["object"], "published" if bus["published"]
                                              else "not published: %s" % bus["error"]))
    dtls = status.get("dtls")
    if dtls:
        lines.extend(_dtls_lines(dtls))
    for up in status["upstreams"]:
        lines.append("")
        lines.append("upstream %s  %s port %s  auth %s" % (
            up["name"], up["address"], up["port"], up.get("auth") or up["auth_name"] or "-"))
        lines.append("  state %s%s  transport %s%s  srtt %s  in flight %d  connections %d" % (
            up["state"], "" if up["enabled"] else " (disabled)", up["transport"],
            " (DTLS blocked, using TLS)" if up.get("dtls_blocked") else "",
            _ms(up["srtt_ms"]), up["inflight"], up.get("connections", 0)))
        if "tls_version" in up:
            lines.append("  %s %s%s" % (up["tls_version"], up["cipher"], ", resumed" if up["resumed"] else ""))
        lines.append("  queries %d  answers %d  failures %d  timeouts %d  reconnects %d  replays %d"
                     % (up["queries"], up["answers"], up["failures"], up["timeouts"], up["reconnects"],
                        up["replays"]))
        lines.append("  closes: graceful %d (server-initiated %d)  RST %d  probes failed %d"
                     % (up["graceful_closes"], up["server_closes"], up["rsts"], up["probe_failures"]))
        lines.append("  Fast Open used %d%s  resumptions %d of %d offered  keep-warm queries %d"
                     % (up["tfo_used"], "" if up["tfo_enabled"] else " (off for now)",
                        up["resumptions_accepted"], up["resumptions_offered"], up["keepwarm_queries"]))
        if up.get("dtls_unavailable"):
            lines.append("  DTLS unavailable (%s): %s" % (
                "using TLS" if "tls" in up["transports"] else "no transport left",
                up["dtls_unavailable"]))
        if "dtls" in up.get("transports", ()):
            lines.append("  DTLS: alerts %d (ignored %d)  false starts %d  fallbacks to TLS %d"
                         % (up["alerts"], up["alerts_ignored"], up["false_starts"], up["dtls_fallbacks"]))
        keepalive = up.get("keepalive")
        if keepalive:
            lines.append("  probes: after %ds quiet, every %ds, %d tries; ~%d sent, ~%d bytes/hour while quiet"
                         % (keepalive["idle_s"], keepalive["interval_s"], keepalive["count"],
                            up["probes_sent"], keepalive["probe_bytes_per_hour"]))
        if up["last_close_reason"]:
            lines.append("  last session end: " + up["last_close_reason"])
        for rec in up.get("recoveries", [])[-3:]:
            lines.append("  recovery: %s; handshake %s ms%s%s; first query %s" % (
                rec["cause"], rec.get("handshake_ms", "?"), ", TFO" if rec.get("tfo") else "",
                ", resumed" if rec.get("resumed") else "",
                "not affected" if rec.get("query_rtts") == 0 else "%s RTT" % rec.get("query_rtts", "?")))
    return "\n".join(lines)


def print_status(args):
    path = args.socket
    if path is None:
        from dprive.config import ConfigError, load_config
        try:
            path = load_config(args.config).control_socket
        except ConfigError as err:
            print(err.report(), file=sys.stderr)
            return 2
    try:
        status = request(path, {"cmd": "status"})
    except (OSError, ValueError) as err:
        print("dprive is not running (control socket %s: %s)" % (path, err), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(format_status(status))
    return 0
