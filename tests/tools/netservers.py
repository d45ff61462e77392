"""Servers run inside tests.tools.netlab's namespaces: UnboundServer and
DpriveProcess started under `ip netns exec`, whose readiness is read from
the namespace the process is in (/proc/PID/net), not from this process's.
"""

from tests.tools import common
from tests.tools.dprive_proc import DpriveError, DpriveProcess
from tests.tools.gateway_proc import GatewayProcess
from tests.tools.unbound import UnboundError, UnboundServer


def listening_in(pid, port, proto):
    """Like common.listening, but in the namespace of process pid."""
    for fname in ("/proc/%d/net/%s" % (pid, proto), "/proc/%d/net/%s6" % (pid, proto)):
        try:
            with open(fname) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    if fields[1].endswith(":%04X" % port) and (proto != "tcp" or fields[3] == "0A"):
                        return True
        except (FileNotFoundError, ProcessLookupError):
            continue
    return False


class NetnsUnbound(UnboundServer):
    """UnboundServer on listen_address (198.19.0.2) inside the upstream
    namespace of TestNetwork `net`; ready when kdig there gets an answer over DoT."""

    def __init__(self, net, workdir, pki, listen_address, **kw):
        self.net = net
        super().__init__(workdir, pki, listen_address=listen_address,
                         access_control=("127.0.0.0/8", "198.18.0.0/15"),
                         argv_prefix=net.exec_prefix("upstream"), **kw)

    def wait_ready(self, timeout_s):
        def ready():
            if self.proc.poll() is not None:
                raise UnboundError("unbound exited with status %s; its log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            if not listening_in(self.proc.pid, self.tls_port, "tcp"):
                return False
            res = self.net.kdig("upstream", self.listen_address, self.tls_port, "a.test",
                                timeout_s=1)
            return res.rcode == "NOERROR"

        try:
            common.wait_until(ready, timeout_s, interval_s=0.1, what="unbound to answer over DoT")
        except TimeoutError as exc:
            raise UnboundError("%s; unbound's log:\n%s" % (exc, common.tail(self.log_path))) from None

    def crash(self):
        """Stop unbound as a crash that loses the server's state without a word.
        A SIGKILL alone is not that on Linux: the kernel closes the dead
        process's sockets and sends FIN. So while unbound is killed, TCP
        from its ports is dropped in the upstream's OUTPUT chain and its
        orphaned connections are destroyed (`ss -K`); then the rule goes.
        The next segment a client sends on an old connection meets a RST."""
        ports = "%d,%d" % (self.tls_port, self.plain_port)
        rule = ["OUTPUT", "-p", "tcp", "-m", "multiport", "--sports", ports, "-j", "DROP"]
        self.net.run("upstream", ["iptables", "-w", "-I", *rule])
        try:
            self.kill()
            self.net.run("upstream", ["ss", "-K", "-t", "-n", "state", "all",
                                      "( sport = :%d or sport = :%d )" % (
                                          self.tls_port, self.plain_port)],
                         check=False)
        finally:
            self.net.run("upstream", ["iptables", "-w", "-D", *rule])


class NetnsDprive(DpriveProcess):
    """DpriveProcess under `ip netns exec ROUTER`; readiness read from the
    daemon's own namespace (/proc/PID/net)."""

    def wait_ready(self, timeout_s):
        def ready():
            if self.proc.poll() is not None:
                raise DpriveError("dprive exited with status %s before it was ready; log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            pid = self.proc.pid
            if not (listening_in(pid, self.port, "udp") and listening_in(pid, self.port, "tcp")):
                return False
            return self.control_socket.exists() and self.status(timeout_s=1.0) is not None

        try:
            common.wait_until(ready, timeout_s, interval_s=0.05, what="dprive to be ready")
        except TimeoutError as exc:
            raise DpriveError("%s; dprive's log:\n%s" % (exc, common.tail(self.log_path))) from None


class NetnsGateway(GatewayProcess):
    """`dprive gateway` inside the upstream namespace of TestNetwork `net`."""

    def __init__(self, net, workdir, pki, address, resolver_port, port, options=None, python=None):
        super().__init__(workdir, pki, resolver_port, options, python=python, port=port,
                         argv_prefix=net.exec_prefix("upstream"), address=address)

    def listening(self):
        return listening_in(self.proc.pid, self.port, "udp")
