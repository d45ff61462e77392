"""A LAN side for a running netlab.TestNetwork, and a real dnsmasq on it.

    lan = LanSide(net).start()             # namespace dpt-<pid>-<n>-lan
    dnsmasq = NetnsDnsmasq(net, workdir, lan.router_ip, openwrt_dnsmasq_lines(section)).start()
    net.query("a.test", port=53, server=lan.router_ip, role=lan.ns)
    ...
    dnsmasq.stop(); lan.close()

    lan ns                         router ns
    eth0 198.18.1.2/24 ==veth==    lan0 198.18.1.1/24     (wan0 as netlab builds it)
    default via 198.18.1.1

No delay on the LAN and no forwarding on the router: the LAN client reaches
the router's own services only, as the test needs. The namespace is named like
netlab's, so a run killed outright leaves one that the next TestNetwork
removes; close() (also at interpreter exit) removes it otherwise, and the veth
pair goes with it.

NetnsDnsmasq runs Debian's dnsmasq in the router namespace with a config file
of its own (no DHCP, no /etc/hosts, pid file and query log in its workdir).
openwrt_dnsmasq_lines turns the DNS options of an OpenWrt `config dnsmasq`
section (as dprive's hook-up leaves it in /etc/config/dhcp) into the lines
OpenWrt's /etc/init.d/dnsmasq would give dnsmasq for them.
"""

import atexit
import contextlib
import subprocess

from tests.tools import common, netlab
from tests.tools.netservers import listening_in

LAN_ROUTER_IP = "198.18.1.1"
LAN_CLIENT_IP = "198.18.1.2"
LAN_PREFIX_LEN = 24

# uci option of a dnsmasq section -> what OpenWrt's dnsmasq init script hands dnsmasq.
# Lists give one line per value. Left out: the DHCP options (no DHCP here) and
# rebind_protection (stop-dns-rebind would drop the test data's 192.0.2.x answers
# as private addresses).
_LIST_OPTIONS = {"server": "server", "address": "address"}
_VALUE_OPTIONS = {"local": "local", "domain": "domain", "resolvfile": "resolv-file"}
_BOOL_OPTIONS = {"noresolv": "no-resolv", "domainneeded": "domain-needed",
                 "localservice": "local-service"}


def openwrt_dnsmasq_lines(section, resolv_file=None):
    """dnsmasq config lines for the DNS options of a uci dnsmasq section
    ({option: value or [values]}). resolv_file replaces the section's
    resolvfile path (the router's /tmp is not ours)."""
    lines = []
    for option, value in section.items():
        if option in _LIST_OPTIONS:
            values = value if isinstance(value, list) else [value]
            lines += ["%s=%s" % (_LIST_OPTIONS[option], v) for v in values]
        elif option in _BOOL_OPTIONS:
            if value == "1":
                lines.append(_BOOL_OPTIONS[option])
        elif option in _VALUE_OPTIONS:
            if option == "resolvfile" and resolv_file is not None:
                value = str(resolv_file)
            lines.append("%s=%s" % (_VALUE_OPTIONS[option], value))
    return lines


class LanSide:
    """A fourth namespace `lan` with one client, joined to the router by a veth pair."""

    def __init__(self, net, router_ip=LAN_ROUTER_IP, client_ip=LAN_CLIENT_IP):
        self.net = net
        self.router_ip = router_ip
        self.client_ip = client_ip
        self.ns = net.netns("router").rsplit("-", 1)[0] + "-lan"
        self._created = False

    def start(self):
        res = subprocess.run(["ip", "netns", "add", self.ns], capture_output=True, text=True,
                             timeout=30)
        if res.returncode != 0:
            raise netlab.NetlabUnavailable("cannot create the LAN namespace: %s" % res.stderr.strip())
        self._created = True
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self):
        lan, router = self.ns, "router"
        for key in ("all", "default"):
            self.net.run(lan, ["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % key])
        self.net.run(lan, ["ip", "link", "set", "lo", "up"])
        self.net.run(router, ["ip", "link", "add", "lan0", "type", "veth",
                              "peer", "name", "eth0", "netns", lan])
        self.net.run(router, ["ip", "addr", "add", "%s/%d" % (self.router_ip, LAN_PREFIX_LEN),
                              "dev", "lan0"])
        self.net.run(lan, ["ip", "addr", "add", "%s/%d" % (self.client_ip, LAN_PREFIX_LEN),
                           "dev", "eth0"])
        self.net.run(router, ["ip", "link", "set", "lan0", "up"])
        self.net.run(lan, ["ip", "link", "set", "eth0", "up"])
        self.net.run(lan, ["ip", "route", "add", "default", "via", self.router_ip])

    def close(self):
        """Delete the namespace (its processes are killed; the veth pair goes with it).
        Safe to call twice."""
        if not self._created:
            return
        self._created = False
        with contextlib.suppress(Exception):
            netlab.delete_netns(self.ns)
        if not self.net.closed:      # else the router namespace, and the veth with it, is gone
            with contextlib.suppress(Exception):
                self.net.run("router", ["ip", "link", "del", "lan0"], check=False)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False


class NetnsDnsmasq(common.ServerProcess):
    """Debian's dnsmasq in the router namespace, on listen_address:port only,
    in the foreground, every query logged to query.log in workdir."""

    def __init__(self, net, workdir, listen_address, lines, port=53):
        self.net = net
        self.workdir = workdir
        self.listen_address = listen_address
        self.port = port
        self.lines = list(lines)
        self.conf_path = workdir / "dnsmasq.conf"
        self.pid_path = workdir / "dnsmasq.pid"
        self.query_log = workdir / "query.log"
        self.log_path = workdir / "dnsmasq.out"
        self.proc = None

    def config_text(self):
        own = ["port=%d" % self.port, "listen-address=%s" % self.listen_address,
               "bind-dynamic", "no-hosts", "pid-file=%s" % self.pid_path,
               "log-facility=%s" % self.query_log]
        return "\n".join(own + self.lines) + "\n"

    def start(self, timeout_s=10.0):
        binary = common.find_tool("dnsmasq")
        if binary is None:
            raise common.StopWaiting("dnsmasq is not installed (apt-get install dnsmasq-base)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config_text())
        argv = [binary, "--keep-in-foreground", "--conf-file=%s" % self.conf_path, "--log-queries"]
        self.proc = self.net.popen("router", argv, self.log_path)

        def ready():
            if self.proc.poll() is not None:
                raise common.StopWaiting("dnsmasq exited with status %s:\n%s%s" % (
                    self.proc.returncode, common.tail(self.log_path), common.tail(self.query_log)))
            pid = self.proc.pid
            return listening_in(pid, self.port, "udp") and listening_in(pid, self.port, "tcp")

        try:
            common.wait_until(ready, timeout_s, what="dnsmasq to listen")
        except BaseException:
            self.stop()
            raise
        return self

    def log_text(self):
        try:
            return self.query_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
