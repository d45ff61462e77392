"""The project's own small DNS-over-TLS test upstream.

unbound 1.17 (as Debian ships it) does not set TCP_NODELAY: after a TLS 1.3
handshake it sends two session tickets, and Nagle holds the second one, and
the first answer behind it, until the first is acknowledged, one round trip
more after every handshake. This relay answers as soon as it can, so the
netns tier can count the round trips the draft's figures promise:

- TLS from the standard library's ssl module with the test PKI's server
  certificate; TLS 1.3 with session tickets, so a client resumes with PSK
  across connections to one relay process (one SSLContext, one ticket key);
- TCP_FASTOPEN on the listening socket (the client's ClientHello may ride in
  its SYN once it holds a cookie), TCP_NODELAY on every accepted socket;
- reads length-prefixed DNS queries (RFC 7766 framing), any number in flight
  per connection, forwards each to a plain DNS server (UDP; over TCP again if
  the UDP answer is truncated), and writes each answer back as it comes;
- optionally closes a connection gracefully (close_notify, FIN) after it has
  been idle for --idle-timeout-ms, like a public resolver does, and then
  announces that timeout to clients that ask (edns-tcp-keepalive).

Run it (inside the upstream namespace in the netns tier):

    python -m tests.tools.dot_relay --listen 198.19.0.2:8853 \
        --upstream 198.19.0.2:53 --cert server-chain.pem --key server.key

It prints `LISTENING host:port` once it accepts connections, then one line per
connection (`CONN peer=... version=TLSv1.3 resumed=True`) and per close
(`CLOSE peer=... queries=N reason=...`). From tests use DotRelay.
"""

import argparse
import asyncio
import os
import re
import signal
import socket
import ssl
import struct
import sys
import time
from pathlib import Path

import dns.edns
import dns.exception
import dns.message

from tests.tools import common

KEEPALIVE_OPTION = 11

DEFAULT_PORT = 8853
UPSTREAM_TIMEOUT_S = 3.0
TFO_QUEUE = 64


def _hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host, int(port)


def announce_idle_timeout(query, answer, idle_timeout_s):
    """Tell a client that asked (edns-tcp-keepalive, RFC 7828) our idle timeout,
    as a DoT server that closes idle connections should."""
    try:
        q = dns.message.from_wire(query)
        if not any(o.otype == KEEPALIVE_OPTION for o in q.options):
            return answer
        a = dns.message.from_wire(answer)
    except dns.exception.DNSException:
        return answer
    units = int(idle_timeout_s * 10)   # in 100 ms units
    keepalive = dns.edns.GenericOption(KEEPALIVE_OPTION, struct.pack("!H", units))
    a.use_edns(0, a.ednsflags, max(a.payload, 1232),
               options=[o for o in a.options if o.otype != KEEPALIVE_OPTION] + [keepalive])
    return a.to_wire()


def servfail_for(query):
    """A header-only SERVFAIL answer to `query` (used when unbound is silent)."""
    if len(query) < 12:
        return None
    qid, flags = struct.unpack("!HH", query[:4])
    flags = (flags & 0x0100) | 0x8000 | 0x0080 | 2     # keep RD; QR, RA, SERVFAIL
    return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)


class _UdpOnce(asyncio.DatagramProtocol):
    def __init__(self, future):
        self.future = future

    def datagram_received(self, data, addr):
        if not self.future.done():
            self.future.set_result(data)

    def error_received(self, exc):
        if not self.future.done():
            self.future.set_exception(exc)


class Relay:
    """The asyncio server. `await relay.start()`, then `await relay.close()`."""

    def __init__(self, listen, upstream, cert, key, tls_max=None, idle_timeout_ms=0,
                 log=print):
        self.listen = listen
        self.upstream = upstream
        self.idle_timeout_s = idle_timeout_ms / 1000.0 if idle_timeout_ms else None
        self.log = log
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls_max == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(cert), str(key))
        ctx.num_tickets = 2
        self.ssl_context = ctx
        self.server = None
        self.connections = 0

    def _listening_socket(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, TFO_QUEUE)
        sock.bind(self.listen)
        sock.listen(128)
        sock.setblocking(False)
        return sock

    async def start(self):
        self.server = await asyncio.start_server(
            self._serve, sock=self._listening_socket(), ssl=self.ssl_context,
            ssl_handshake_timeout=10.0)
        host, port = self.server.sockets[0].getsockname()[:2]
        self.log("LISTENING %s:%d" % (host, port))
        return self

    async def close(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # -- one client connection ------------------------------------------
    async def _serve(self, reader, writer):
        sock = writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        peer = "%s:%d" % writer.get_extra_info("peername")[:2]
        sslobj = writer.get_extra_info("ssl_object")
        self.connections += 1
        self.log("CONN peer=%s version=%s resumed=%s" % (
            peer, sslobj.version() if sslobj else None, sslobj.session_reused if sslobj else None))
        tasks = set()
        queries = 0
        reason = "eof"
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), self.idle_timeout_s)
                except asyncio.TimeoutError:
                    if tasks:
                        continue
                    reason = "idle"
                    break
                (length,) = struct.unpack("!H", head)
                query = await reader.readexactly(length)
                queries += 1
                task = asyncio.ensure_future(self._answer(query, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except asyncio.IncompleteReadError:
            reason = "eof"
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            reason = type(exc).__name__
        finally:
            if tasks:
                await asyncio.wait(tasks, timeout=UPSTREAM_TIMEOUT_S + 1)
            self.log("CLOSE peer=%s queries=%d reason=%s" % (peer, queries, reason))
            try:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 2.0)
            except (asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
                pass

    async def _answer(self, query, writer):
        try:
            answer = await self.forward(query)
        except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            self.log("UPSTREAM-ERROR %s" % type(exc).__name__)
            answer = servfail_for(query)
        if answer is None or writer.is_closing():
            return
        if self.idle_timeout_s is not None:
            answer = announce_idle_timeout(query, answer, self.idle_timeout_s)
        writer.write(struct.pack("!H", len(answer)) + answer)

    # -- towards the plain DNS server -------------------------------------
    async def forward(self, query):
        answer = await self._udp(query)
        if len(answer) >= 4 and answer[2] & 0x02:      # TC: ask again over TCP
            answer = await self._tcp(query)
        return answer

    async def _udp(self, query):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpOnce(future), remote_addr=self.upstream)
        try:
            transport.sendto(query)
            return await asyncio.wait_for(future, UPSTREAM_TIMEOUT_S)
        finally:
            transport.close()

    async def _tcp(self, query):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*self.upstream), UPSTREAM_TIMEOUT_S)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            head = await asyncio.wait_for(reader.readexactly(2), UPSTREAM_TIMEOUT_S)
            return await asyncio.wait_for(
                reader.readexactly(struct.unpack("!H", head)[0]), UPSTREAM_TIMEOUT_S)
        finally:
            writer.close()


async def _run(args):
    def log(line):
        print("%.3f %s" % (time.monotonic(), line), flush=True)

    relay = Relay(args.listen, args.upstream, args.cert, args.key, tls_max=args.tls_max,
                  idle_timeout_ms=args.idle_timeout_ms, log=log)
    await relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await relay.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="DoT test upstream that relays to plain DNS")
    ap.add_argument("--listen", type=_hostport, required=True, help="HOST:PORT to serve DoT on")
    ap.add_argument("--upstream", type=_hostport, required=True, help="HOST:PORT of plain DNS")
    ap.add_argument("--cert", required=True, help="certificate chain (PEM)")
    ap.add_argument("--key", required=True, help="private key (PEM)")
    ap.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--idle-timeout-ms", type=int, default=0,
                    help="close a connection idle this long (0: never)")
    args = ap.parse_args(argv)
    asyncio.run(_run(args))
    return 0


# ---------------------------------------------------------------- for tests

class DotRelay(common.ServerProcess):
    """Start the relay as a child process (under argv_prefix, e.g.
    `ip netns exec NS`), ready once it logged LISTENING."""

    def __init__(self, workdir, pki, listen, upstream, argv_prefix=(), name="relay",
                 tls_max="1.3", idle_timeout_ms=0, python=None):
        self.workdir = Path(workdir)
        self.pki = pki
        self.listen = tuple(listen)
        self.upstream = tuple(upstream)
        self.argv_prefix = list(argv_prefix)
        self.name = name
        self.tls_max = tls_max
        self.idle_timeout_ms = idle_timeout_ms
        self.python = python or sys.executable
        self.log_path = self.workdir / ("%s.log" % name)
        self.proc = None

    @property
    def port(self):
        return self.listen[1]

    def argv(self):
        return [*self.argv_prefix, self.python, "-m", "tests.tools.dot_relay",
                "--listen", "%s:%d" % self.listen, "--upstream", "%s:%d" % self.upstream,
                "--cert", str(self.pki.server_chain), "--key", str(self.pki.server_key),
                "--tls-max", self.tls_max, "--idle-timeout-ms", str(self.idle_timeout_ms)]

    def start(self, timeout_s=15.0):
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        root = str(common.REPO_ROOT)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = common.spawn(self.argv(), self.log_path, env=env, cwd=root)

        def ready():
            if self.proc.poll() is not None:
                raise common.StopWaiting("relay exited with status %s; log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            return "LISTENING " in self._new_log()

        try:
            common.wait_until(ready, timeout_s, interval_s=0.05, what="the DoT relay to listen")
        except BaseException:
            self.stop()
            raise
        return self

    def _new_log(self):
        try:
            with open(self.log_path, errors="replace") as fh:
                fh.seek(self._log_start)
                return fh.read()
        except FileNotFoundError:
            return ""

    def connections(self):
        """[{'peer': 'ip:port', 'version': 'TLSv1.3', 'resumed': bool}] in the
        order this run of the relay accepted them."""
        out = []
        for m in re.finditer(r"CONN peer=(\S+) version=(\S+) resumed=(\S+)", self._new_log()):
            out.append({"peer": m.group(1), "version": m.group(2),
                        "resumed": m.group(3) == "True"})
        return out

    def log_text(self):
        return self._new_log()

    def __repr__(self):
        return "DotRelay(%s:%d -> %s:%d, pid=%s)" % (self.listen + self.upstream + (self.pid,))


if __name__ == "__main__":
    sys.exit(main())
