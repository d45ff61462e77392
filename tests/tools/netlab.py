"""A three-namespace test network with a real 100 ms round trip.

    with TestNetwork(workdir, pki) as net:
        net.start_unbound(); relay = net.start_relay()
        lat_ms, rcode, answers = net.query("a.test", port=5453)   # from the router

Built (names `dpt-<pid>-<n>-router` etc., so leftovers are recognisable):

    router ns                  nat ns (carrier NAT)              upstream ns
    wan0 198.18.0.2/24 ==TAP== in0 198.18.0.1/24
                               out0 198.19.0.1/24  ==TAP==  eth0 198.19.0.2/24
    default via 198.18.0.1                                  default via 198.19.0.1

Each TAP pair is joined by tests/tools/delayline.py (25 ms each way by
default: 100 ms router<->upstream round trip). The NAT forwards with iptables
MASQUERADE on out0 and `nf_conntrack_tcp_loose=0` (a flow it forgot is not
picked up again mid-stream). The router and the upstream have
`net.ipv4.tcp_fastopen=3`. Neighbours are static, so no ARP ever adds delay.
Addresses come from 198.18.0.0/15 only and exist only inside these namespaces.

API (roles are "router", "nat", "upstream"):
  run(role, argv)                 run a command in a namespace (CompletedProcess, text)
  popen(role, argv, log_path)     start one; common.stop_process stops it; stopped at close
  socket_in(role, ...)            a socket created inside a namespace (in this process)
  kdig(role, server, port, name)  kdig run there; tls=True checks against the test CA
  start_unbound()                 unbound on 198.19.0.2: DoT 853, plain 53, persistent
                                  TLS ticket keys (a restarted unbound resumes old tickets)
  restart_unbound(graceful)       SIGTERM (graceful) or a silent crash, then start again
  start_relay(...)                tests.tools.dot_relay on 198.19.0.2:8853 -> unbound:53
  start_dprive(upstreams, ...)    dprive in the router namespace (NetnsDprive)
  conntrack_flush(), conntrack_entries(), conntrack_events(),
  invalid_policy("reject"|"drop"|None),
  masquerade_ports(lo, hi) / masquerade_ports(None), tcp_loose(bool)   NAT faults
  measure_rtt(count)              ping router -> upstream; list of samples in ms
  query(name, port, ...)          one DNS query from the router namespace, timed in this
                                  process: QueryResult(latency_ms, rcode, answers)
  dot_query(name, port, session=, tfo=)   one DoT query on a new connection (DotResult)
Everything is removed by close() (and by __exit__), also after a failure;
a new TestNetwork first removes what dead runs left behind.
The clients behind query/dot_query live in tests/tools/netclients.py, the
namespace-aware servers in tests/tools/netservers.py; both are re-exported here.
"""

import atexit
import contextlib
import ctypes
import functools
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from tests.tools import common, netclients
from tests.tools.clients import KdigResult
from tests.tools.dot_relay import DotRelay
from tests.tools.dprive_proc import upstream
# re-exported (listed in __all__): tests and bench use them as netlab.<name>
from tests.tools.netclients import (DotResult, QueryResult, TCP_FASTOPEN_CONNECT,
                                    round_trips, tcp_ext_counter)
from tests.tools.netservers import NetnsDprive, NetnsGateway, NetnsUnbound, listening_in

PREFIX = "dpt"
ROUTER_IP = "198.18.0.2"
NAT_INSIDE_IP = "198.18.0.1"
NAT_OUTSIDE_IP = "198.19.0.1"
UPSTREAM_IP = "198.19.0.2"
DOT_PORT = 853
PLAIN_PORT = 53
RELAY_PORT = 8853
GATEWAY_PORT = 8855     # UDP: DNS over DTLS (unbound holds 853, UDP and TCP)
DPRIVE_PORT = 5453
ROLES = ("router", "nat", "upstream")
TOOLS = {"ip": "iproute2", "ss": "iproute2", "iptables": "iptables",
         "conntrack": "conntrack", "ping": "iputils-ping", "sysctl": "procps", "unbound": "unbound",
         "kdig": "knot-dnsutils", "openssl": "openssl"}
CLONE_NEWNET = 0x40000000
_NS_RE = re.compile(r"^%s-(\d+)-[\w-]+$" % PREFIX)
_instances = 0

__all__ = [
    "PREFIX", "ROUTER_IP", "NAT_INSIDE_IP", "NAT_OUTSIDE_IP", "UPSTREAM_IP", "DOT_PORT",
    "PLAIN_PORT", "RELAY_PORT", "GATEWAY_PORT", "DPRIVE_PORT", "ROLES", "TOOLS", "CLONE_NEWNET",
    "NetlabUnavailable", "in_netns", "list_netns", "delete_netns", "cleanup_stale",
    "check_available", "TestNetwork",
    # from netclients and netservers
    "DotResult", "QueryResult", "TCP_FASTOPEN_CONNECT", "round_trips", "tcp_ext_counter",
    "NetnsDprive", "NetnsUnbound", "listening_in"]


class NetlabUnavailable(common.StopWaiting):
    """This machine cannot build the network (not root, no namespaces or TAP,
    tools missing): the tier is skipped with this message."""


# ---------------------------------------------------------------- namespaces

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: %s" % os.strerror(err))


@contextlib.contextmanager
def in_netns(name):
    """Run the block with this thread in network namespace `name` (sockets
    made inside stay in it). Python 3.11 has no os.setns: ctypes."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open("/run/netns/%s" % name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            try:
                _setns(own)
            except OSError as exc:  # a thread left in the wrong namespace must not go on
                os.write(2, ("cannot return to own netns: %s\n" % exc).encode())
                os._exit(70)
    finally:
        os.close(own)


def _ip(*args, check=True):
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), res.stderr.strip()))
    return res


def list_netns():
    res = _ip("netns", "list", check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def delete_netns(name):
    """Kill every process left in namespace `name` (all started by a test
    network), then delete it."""
    res = _ip("netns", "pids", name, check=False)
    for word in res.stdout.split():
        try:
            os.kill(int(word), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass
    _ip("netns", "del", name, check=False)


def cleanup_stale():
    """Remove namespaces left by test networks whose process is gone."""
    removed = []
    for name in list_netns():
        m = _NS_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            delete_netns(name)
            removed.append(name)
    return removed


def check_available():
    """None if this machine can build the network, else the reason it cannot."""
    if os.geteuid() != 0:
        return "the netns tier needs root (network namespaces, TAP devices, iptables)"
    missing = common.missing_tools(TOOLS)
    if missing:
        return "the netns tier needs %s (apt-get install %s, or tests/tools/ensure-deps.sh)" % (
            ", ".join(missing), " ".join(sorted({TOOLS[m] for m in missing})))
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        return "the netns tier needs /dev/net/tun (TAP devices)"
    return None


# ---------------------------------------------------------------- the network

class TestNetwork:
    """router -- carrier NAT -- upstream, 4 x one_way_delay_ms per round trip."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, workdir, pki, one_way_delay_ms=25.0):
        self.workdir = Path(workdir)
        self.pki = pki
        self.one_way_delay_ms = one_way_delay_ms
        global _instances
        _instances += 1
        self.seq = _instances
        tag = "%s-%d-%d" % (PREFIX, os.getpid(), self.seq)
        self.ns = {role: "%s-%s" % (tag, role) for role in ROLES}
        self.ticket_key_path = self.workdir / "unbound-ticket.key"
        self.delayline = None
        self.unbound = None
        self.relay = None
        self._servers = []       # ServerProcess objects to stop at close
        self._procs = []         # Popen objects from popen()
        self._closed = True
        self._client_ctx = None

    @property
    def closed(self):
        return self._closed

    @property
    def rtt_ms(self):
        """The round trip the delay line is set to (router <-> upstream)."""
        return 4 * self.one_way_delay_ms

    # -- build and tear down -----------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        reason = check_available()
        if reason:
            raise NetlabUnavailable(reason)
        cleanup_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._closed = False
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self):
        for role in ROLES:
            res = _ip("netns", "add", self.ns[role], check=False)
            if res.returncode != 0:
                raise NetlabUnavailable("cannot create network namespaces: %s" % res.stderr.strip())
            self._sysctl(role, "net.ipv6.conf.all.disable_ipv6", 1)
            self._sysctl(role, "net.ipv6.conf.default.disable_ipv6", 1)
            _ip("-n", self.ns[role], "link", "set", "lo", "up")
        self._start_delayline()
        addrs = {("router", "wan0"): ROUTER_IP, ("nat", "in0"): NAT_INSIDE_IP,
                 ("nat", "out0"): NAT_OUTSIDE_IP, ("upstream", "eth0"): UPSTREAM_IP}
        for (role, dev), addr in addrs.items():
            _ip("-n", self.ns[role], "addr", "add", addr + "/24", "dev", dev)
            _ip("-n", self.ns[role], "link", "set", dev, "up")
        _ip("-n", self.ns["router"], "route", "add", "default", "via", NAT_INSIDE_IP)
        _ip("-n", self.ns["upstream"], "route", "add", "default", "via", NAT_OUTSIDE_IP)
        # static neighbours: no ARP round trip ever lands in a measurement
        for (role, dev, peer_ip, peer_role, peer_dev) in (
                ("router", "wan0", NAT_INSIDE_IP, "nat", "in0"),
                ("nat", "in0", ROUTER_IP, "router", "wan0"),
                ("nat", "out0", UPSTREAM_IP, "upstream", "eth0"),
                ("upstream", "eth0", NAT_OUTSIDE_IP, "nat", "out0")):
            _ip("-n", self.ns[role], "neigh", "replace", peer_ip, "lladdr",
                self._mac(peer_role, peer_dev), "dev", dev, "nud", "permanent")
        self._sysctl("nat", "net.ipv4.ip_forward", 1)
        self._sysctl("nat", "net.netfilter.nf_conntrack_tcp_loose", 0)
        for role in ("router", "upstream"):
            self._sysctl(role, "net.ipv4.tcp_fastopen", 3)
        self.masquerade_ports(None)
        self.invalid_policy(None)

    def _start_delayline(self):
        argv = [sys.executable, "-m", "tests.tools.delayline",
                "--tmp-prefix", "d%ds%d" % (os.getpid() % 1000000, self.seq % 100)]
        for a_role, a_dev, b_role, b_dev in (("router", "wan0", "nat", "in0"),
                                             ("nat", "out0", "upstream", "eth0")):
            argv += ["--link", "%s:%s:%s:%s:%g" % (self.ns[a_role], a_dev, self.ns[b_role],
                                                   b_dev, self.one_way_delay_ms)]
        log_path = self.workdir / "delayline.log"
        start = log_path.stat().st_size if log_path.exists() else 0
        env = dict(os.environ, PYTHONPATH=str(common.REPO_ROOT), PYTHONUNBUFFERED="1")
        self.delayline = common.spawn(argv, log_path, env=env, cwd=str(common.REPO_ROOT))

        def ready():
            with open(log_path, errors="replace") as fh:
                fh.seek(start)
                text = fh.read()
            if "ERROR" in text or self.delayline.poll() is not None:
                raise NetlabUnavailable("the delay line could not link the namespaces: %s" % (
                    text.strip() or "exit status %s" % self.delayline.poll()))
            return "READY" in text

        try:
            common.wait_until(ready, 15, what="the delay line to set up its TAP devices")
        except TimeoutError as exc:
            raise NetlabUnavailable(str(exc)) from None

    def close(self):
        """Stop everything this network started and delete its namespaces.
        Safe to call twice; every step runs even if one before failed."""
        if self._closed:
            return
        self._closed = True
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop(timeout_s=3.0)
        for proc in self._procs:
            with contextlib.suppress(Exception):
                common.stop_process(proc, term_timeout_s=3.0)
        for name in self.ns.values():
            with contextlib.suppress(Exception):
                for word in _ip("netns", "pids", name, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(word), signal.SIGKILL)
        if self.delayline is not None:
            with contextlib.suppress(Exception):
                common.stop_process(self.delayline, term_timeout_s=3.0)
        for name in self.ns.values():
            with contextlib.suppress(Exception):
                delete_netns(name)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    # -- running things inside ---------------------------------------------
    def netns(self, role):
        return self.ns.get(role, role)

    def exec_prefix(self, role):
        return ["ip", "netns", "exec", self.netns(role)]

    def run(self, role, argv, check=True, timeout_s=30, **kw):
        """Run argv in the namespace; CompletedProcess with text output."""
        res = subprocess.run(self.exec_prefix(role) + list(argv), capture_output=True,
                             text=True, timeout=timeout_s, **kw)
        if check and res.returncode != 0:
            raise RuntimeError("in %s: %s exited %d: %s" % (
                role, " ".join(argv), res.returncode, (res.stderr or res.stdout).strip()))
        return res

    def popen(self, role, argv, log_path, env=None, cwd=None):
        """Start argv in the namespace (own process group, output to log_path);
        stopped by common.stop_process, and at close() at the latest."""
        proc = common.spawn(self.exec_prefix(role) + list(argv), log_path, env=env, cwd=cwd)
        self._procs.append(proc)
        return proc

    def socket_in(self, role, family=socket.AF_INET, type=socket.SOCK_STREAM):
        with in_netns(self.netns(role)):
            return socket.socket(family, type)

    def _sysctl(self, role, key, value):
        self.run(role, ["sysctl", "-qw", "%s=%s" % (key, value)])

    def sysctl(self, role, key):
        return self.run(role, ["sysctl", "-n", key]).stdout.strip()

    def _mac(self, role, dev):
        text = _ip("-n", self.ns[role], "-o", "link", "show", "dev", dev).stdout
        m = re.search(r"link/ether ([0-9a-f:]{17})", text)
        if not m:
            raise RuntimeError("no MAC address on %s/%s: %r" % (role, dev, text))
        return m.group(1)

    def kdig(self, role, server, port, name, rdtype="A", tls=True, timeout_s=2, extra=()):
        """kdig in a namespace; with tls=True over DoT, checked against the
        test CA and the name dns.test. Returns a clients.KdigResult."""
        argv = [common.find_tool("kdig") or "kdig", "@" + server, "-p", str(port), name, rdtype,
                "+json", "+time=%d" % max(1, int(timeout_s)), "+retry=0"]
        if tls:
            argv += ["+tls-ca=%s" % self.pki.ca_cert, "+tls-hostname=%s" % self.pki.auth_name]
        argv += list(extra)
        res = self.run(role, argv, check=False, timeout_s=timeout_s + 10)
        return KdigResult(self.exec_prefix(role) + argv, res.returncode, res.stdout, res.stderr)

    # -- servers -----------------------------------------------------------
    def _ticket_keys(self):
        if not self.ticket_key_path.exists():
            self.ticket_key_path.write_bytes(os.urandom(80))
            os.chmod(self.ticket_key_path, 0o600)
        return [self.ticket_key_path]

    def start_unbound(self, **kw):
        """unbound in the upstream namespace: DoT on 198.19.0.2:853, plain DNS
        on :53, test data of tests.tools.unbound, ticket keys from a file kept
        for the network's life (so restart_unbound keeps old tickets valid)."""
        if self.unbound is None:
            self.unbound = NetnsUnbound(self, self.workdir / "unbound", self.pki, UPSTREAM_IP,
                                        tls_port=DOT_PORT, plain_port=PLAIN_PORT,
                                        ticket_key_files=self._ticket_keys(), **kw)
            self._servers.append(self.unbound)
        if not self.unbound.running():
            self.unbound.start()
        return self.unbound

    def restart_unbound(self, graceful=True):
        """Stop unbound and start it again on the same ports with the same
        ticket keys (old tickets stay valid).

        graceful=True: SIGTERM; unbound closes its connections (FIN).
        graceful=False: a crash that loses the server's state without a word
        (NetnsUnbound.crash: no FIN; the next segment on an old connection meets a RST)."""
        if graceful:
            self.unbound.stop()
        else:
            self.unbound.crash()
        self.unbound.start()
        return self.unbound

    def start_relay(self, port=RELAY_PORT, **kw):
        """tests.tools.dot_relay on 198.19.0.2:port, forwarding to unbound's
        plain port (unbound is started first if needed)."""
        self.start_unbound()
        relay = DotRelay(self.workdir / "relay", self.pki, (UPSTREAM_IP, port),
                         (UPSTREAM_IP, PLAIN_PORT), argv_prefix=self.exec_prefix("upstream"),
                         name="relay-%d" % port, **kw)
        self._servers.append(relay)
        relay.start()
        if port == RELAY_PORT:
            self.relay = relay
        return relay

    def start_gateway(self, port=GATEWAY_PORT, python=None, **options):
        """`dprive gateway` on UDP 198.19.0.2:port in front of unbound's plain port
        (unbound is started first if needed); ticket keys in a file of the network's."""
        self.start_unbound()
        options.setdefault("ticket_key_file", str(self.workdir / "gateway-ticket.key"))
        gateway = NetnsGateway(self, self.workdir / ("gateway-%d" % port), self.pki, UPSTREAM_IP,
                               PLAIN_PORT, port, options, python=python)
        self._servers.append(gateway)
        return gateway.start()

    def track(self, server):
        """Stop `server` (a ServerProcess) when the network is closed."""
        self._servers.append(server)
        return server

    def start_dprive(self, upstreams, options=None, name="dprive", port=DPRIVE_PORT, env=None):
        """dprive in the router namespace, answering on 127.0.0.1:port there
        (`env`: variables added to its environment)."""
        dp = NetnsDprive(self.workdir / name, self.pki.ca_cert, upstreams, options=options,
                         port=port, name=name, argv_prefix=self.exec_prefix("router"))
        dp.extra_env = dict(env or {})
        self._servers.append(dp)
        dp.start()
        return dp

    def relay_upstream(self, name="relay", port=RELAY_PORT):
        return upstream(name, port, address=UPSTREAM_IP, spki=[self.pki.server_pin])

    def unbound_upstream(self, name="unbound"):
        return upstream(name, DOT_PORT, address=UPSTREAM_IP, spki=[self.pki.server_pin])

    # -- the NAT's faults ----------------------------------------------------
    def iptables(self, *args):
        return self.run("nat", ["iptables", "-w", *args])

    def conntrack_flush(self):
        """Forget every flow (`conntrack -F` in the NAT)."""
        self.run("nat", ["conntrack", "-F"], check=False)

    def conntrack_entries(self, proto="tcp"):
        """The NAT's flows (`conntrack -L`) as dicts: proto, state, src, dst,
        sport, dport (original direction) and reply_src, reply_dst,
        reply_sport, reply_dport (reply_dport is the port the upstream sees)."""
        res = self.run("nat", ["conntrack", "-L", "-p", proto], check=False)
        return [e for e in map(_conntrack_entry, res.stdout.splitlines()) if e]

    @contextlib.contextmanager
    def conntrack_events(self, proto="tcp"):
        """Record the NAT's conntrack events (`conntrack -E`) during the
        block; the list yielded is filled when it ends, each entry as in
        conntrack_entries plus "event" ('NEW', 'UPDATE', 'DESTROY'). Shows
        flows that lived too briefly to be listed (a RST as the only reply
        deletes an entry at once)."""
        log_path = self.workdir / "conntrack-events.log"
        log_path.write_bytes(b"")
        proc = self.popen("nat", ["conntrack", "-E", "-p", proto, "-o", "timestamp"], log_path)
        events = []
        try:
            time.sleep(0.2)        # subscribed before the block acts
            yield events
            time.sleep(0.2)
        finally:
            common.stop_process(proc, term_timeout_s=2.0)
            events.extend(e for e in map(_conntrack_entry, log_path.read_text().splitlines()) if e)

    def invalid_policy(self, mode):
        """What the NAT's FORWARD chain does with TCP segments conntrack calls
        INVALID (e.g. mid-flow after a flush): "reject" (RST back to the
        sender), "drop" (silence) or None (forwarded as they are, not NATed)."""
        self.iptables("-F", "FORWARD")
        rule = ["-A", "FORWARD", "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID"]
        if mode == "reject":
            self.iptables(*rule, "-j", "REJECT", "--reject-with", "tcp-reset")
        elif mode == "drop":
            self.iptables(*rule, "-j", "DROP")
        elif mode is not None:
            raise ValueError("invalid_policy: 'reject', 'drop' or None, not %r" % (mode,))

    def masquerade_ports(self, lo, hi=None):
        """MASQUERADE TCP and UDP to source ports lo..hi (a NAT that rebinds:
        after conntrack_flush a flow gets a new outside port); lo=None puts
        back the plain MASQUERADE (keeps the router's port where it can)."""
        self.iptables("-t", "nat", "-F", "POSTROUTING")
        if lo is not None:
            ports = "%d-%d" % (lo, hi if hi is not None else lo)
            for proto in ("tcp", "udp"):
                self.iptables("-t", "nat", "-A", "POSTROUTING", "-o", "out0", "-p", proto,
                              "-j", "MASQUERADE", "--to-ports", ports)
        self.iptables("-t", "nat", "-A", "POSTROUTING", "-o", "out0", "-j", "MASQUERADE")

    def reset_nat(self):
        """The NAT as built: no INVALID rule, plain MASQUERADE, tcp_loose 0, no flows."""
        self.invalid_policy(None)
        self.masquerade_ports(None)
        self.tcp_loose(False)
        self.conntrack_flush()

    def tcp_loose(self, enabled):
        """nf_conntrack_tcp_loose: with 1 the NAT picks a forgotten flow up
        again from its next segment (and, with masquerade_ports, maps it to a
        new port); the network starts with 0."""
        self._sysctl("nat", "net.netfilter.nf_conntrack_tcp_loose", 1 if enabled else 0)

    # -- measuring -----------------------------------------------------------
    def measure_rtt(self, count=5, interval_s=0.2):
        """ping router -> upstream; the samples in ms (at least one)."""
        res = self.run("router", ["ping", "-n", "-c", str(count), "-i", str(interval_s),
                                  "-W", "2", UPSTREAM_IP], check=False,
                       timeout_s=count * (interval_s + 2) + 10)
        samples = [float(m) for m in re.findall(r"time=([\d.]+) ms", res.stdout)]
        if not samples:
            raise RuntimeError("ping got no reply: %s%s" % (res.stdout, res.stderr))
        return samples

    def query(self, name, port=DPRIVE_PORT, rdtype="A", tcp=False, timeout_s=3.0,
              server="127.0.0.1", role="router"):
        """One DNS query from inside `role`'s namespace (a socket made there,
        used from this process, so the latency holds no process start-up).
        rcode is a name, or None if nothing came back within timeout_s;
        answers are the answer section's rdata as text, sorted."""
        return netclients.query(functools.partial(self.socket_in, role), name, port, rdtype=rdtype,
                                tcp=tcp, timeout_s=timeout_s, server=server)

    def dot_query(self, name, port=RELAY_PORT, rdtype="A", session=None, tfo=False,
                  server=UPSTREAM_IP, timeout_s=5.0, role="router"):
        """One DNS-over-TLS query on a new connection from `role`'s namespace,
        as a client that answers at once would do it (TCP_NODELAY, TCP_QUICKACK;
        the TLS 1.3 Finished and the query leave together). session= offers resumption;
        tfo=True uses TCP_FASTOPEN_CONNECT (the ClientHello rides in the SYN
        once the router holds a cookie). Returns a DotResult; its session
        (taken after the answer, so the tickets are in) resumes the next one."""
        if self._client_ctx is None:      # a session resumes only with its own context
            self._client_ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        return netclients.dot_query(functools.partial(self.socket_in, role), self._client_ctx,
                                    self.pki.auth_name, name, port, server, rdtype=rdtype,
                                    session=session, tfo=tfo, timeout_s=timeout_s)


def _conntrack_entry(line):
    """One line of `conntrack -L` or `conntrack -E` as a dict (None if it is
    no flow)."""
    fields = line.split()
    event = None
    if fields and fields[0].startswith("[") and fields[0].endswith("]") and "." in fields[0]:
        fields = fields[1:]                                    # -o timestamp
    if fields and fields[0].startswith("["):
        event, fields = fields[0].strip("[]"), fields[1:]
    if len(fields) < 4 or not fields[1].isdigit():
        return None
    entry = {"proto": fields[0], "event": event, "line": line.strip(),
             "state": fields[3] if fields[0] == "tcp" and "=" not in fields[3] else None}
    for word in fields:
        key, sep, value = word.partition("=")
        if not sep or key not in ("src", "dst", "sport", "dport"):
            continue
        if key in entry:
            key = "reply_" + key
        if key in entry:
            continue
        entry[key] = int(value) if key.endswith("port") else value
    return entry

