"""A local unbound that answers from its own data only, over DoT and plain DNS.

    with UnboundServer(workdir, pki) as ub:
        ub.tls_port, ub.plain_port   # 127.0.0.1, picked free

It never recurses: `local-zone: "." static` makes every name outside the test
data NXDOMAIN, there are no root hints in use, no remote control, no chroot.

Test data (zone "test."):
  a.test A 192.0.2.1, b.test A 192.0.2.2, c.test A 192.0.2.3,
  a.test AAAA 2001:db8::1
  q0.test .. q{N-1}.test A  (address from q_address(i)), for dnsperf
  big.test TXT: BIG_TXT_COUNT records of BIG_TXT_LEN characters each
                (well over 1500 bytes, to test truncation)
"""

import os
import signal
import subprocess
from pathlib import Path

from tests.tools import common

STATIC_A = {
    "a.test.": "192.0.2.1",
    "b.test.": "192.0.2.2",
    "c.test.": "192.0.2.3",
}
STATIC_AAAA = {"a.test.": "2001:db8::1"}
BIG_NAME = "big.test."
BIG_TXT_COUNT = 12
BIG_TXT_LEN = 200
DEFAULT_Q_NAMES = 1000


def q_name(i):
    return "q%d.test." % i


def q_address(i):
    """The A record unbound serves for q{i}.test (data only, never contacted).

    From 198.18.0.0/15, the benchmarking range this project's tests keep to.
    """
    return "198.%d.%d.%d" % (18 + ((i >> 16) & 1), (i >> 8) & 255, i & 255)


def is_q_answer(resp, i):
    """True if resp (a dnspython message) is the right answer for q{i}.test."""
    if resp is None or isinstance(resp, (bytes, bytearray)) or resp.rcode() != 0:
        return False
    addrs = [r.address for rrset in resp.answer if rrset.rdtype == 1 for r in rrset]
    return addrs == [q_address(i)]


def big_txt_strings():
    """The TXT strings of big.test, in record order (each record one string)."""
    return ["%02d" % k + chr(ord("a") + k % 26) * (BIG_TXT_LEN - 2) for k in range(BIG_TXT_COUNT)]


class UnboundError(common.StopWaiting):
    pass


class UnboundServer(common.ServerProcess):
    """unbound -d -c <workdir>/unbound.conf, in the foreground, own process group."""

    def __init__(self, workdir, pki, q_names=DEFAULT_Q_NAMES, threads=1,
                 log_queries=True, tls_port=None, plain_port=None,
                 keepalive_timeout_ms=120000, name="unbound", listen_address="127.0.0.1",
                 access_control=("127.0.0.0/8",), ticket_key_files=(), argv_prefix=(),
                 control=False):
        """listen_address, access_control (networks allowed), ticket_key_files
        (`tls-session-ticket-keys`, 80 random bytes each, first one encrypts)
        and argv_prefix (e.g. `ip netns exec NS`) are for the netns tier.
        control=True opens unbound-control on a loopback port (stats())."""
        self.workdir = Path(workdir)
        self.listen_address = listen_address
        self.access_control = tuple(access_control)
        self.ticket_key_files = tuple(ticket_key_files)
        self.argv_prefix = list(argv_prefix)
        self.pki = pki
        self.q_names = q_names
        self.threads = threads
        self.log_queries = log_queries
        self.keepalive_timeout_ms = keepalive_timeout_ms
        self.name = name
        self.tls_port = tls_port or common.free_port()
        self.plain_port = plain_port or common.free_port()
        self.conf_path = self.workdir / ("%s.conf" % name)
        self.log_path = self.workdir / ("%s.log" % name)
        self.pid_path = self.workdir / ("%s.pid" % name)
        self.control_port = common.free_port() if control else None
        self.proc = None

    # -- configuration -------------------------------------------------
    def config_text(self):
        wd = str(self.workdir)
        lines = [
            "server:",
            "    verbosity: 1",
            "    log-queries: %s" % ("yes" if self.log_queries else "no"),
            '    username: ""',
            '    chroot: ""',
            '    directory: "%s"' % wd,
            '    pidfile: "%s"' % self.pid_path,
            '    logfile: ""',
            "    use-syslog: no",
            "    log-time-ascii: yes",
            "    num-threads: %d" % self.threads,
            "    do-ip4: yes",
            "    do-ip6: no",
            "    do-udp: yes",
            "    do-tcp: yes",
            "    port: %d" % self.plain_port,
            "    interface: %s@%d" % (self.listen_address, self.plain_port),
            "    interface: %s@%d" % (self.listen_address, self.tls_port),
            "    tls-port: %d" % self.tls_port,
            '    tls-service-key: "%s"' % self.pki.server_key,
            '    tls-service-pem: "%s"' % self.pki.server_chain,
        ]
        lines += ["    access-control: %s allow" % net for net in self.access_control]
        lines += ['    tls-session-ticket-keys: "%s"' % f for f in self.ticket_key_files]
        lines += [
            # many clients at once (dnsperf -m dot, several forwarders)
            "    incoming-num-tcp: 1024",
            "    edns-tcp-keepalive: yes",
            "    edns-tcp-keepalive-timeout: %d" % self.keepalive_timeout_ms,
            "    tcp-idle-timeout: %d" % self.keepalive_timeout_ms,
            # local data only, never any recursion
            '    module-config: "iterator"',
            "    do-not-query-localhost: yes",
            "    harden-referral-path: no",
            "    prefetch: no",
            "    minimal-responses: yes",
            "    max-udp-size: 4096",
            "    so-reuseport: no",
            # bursts of hundreds of UDP queries (dnsperf -q 500) fit in the buffer
            "    so-rcvbuf: 4m",
            "    so-sndbuf: 4m",
            '    local-zone: "." static',
            '    local-zone: "test." static',
            '    local-data: "test. 3600 IN SOA ns.test. admin.test. 1 3600 600 86400 300"',
        ]
        for name, addr in STATIC_A.items():
            lines.append('    local-data: "%s 300 IN A %s"' % (name, addr))
        for name, addr in STATIC_AAAA.items():
            lines.append('    local-data: "%s 300 IN AAAA %s"' % (name, addr))
        for i in range(self.q_names):
            lines.append('    local-data: "%s 300 IN A %s"' % (q_name(i), q_address(i)))
        for text in big_txt_strings():
            lines.append("    local-data: '%s 300 IN TXT \"%s\"'" % (BIG_NAME, text))
        return "\n".join(lines + self.control_lines()) + "\n"

    def control_lines(self):
        if self.control_port is None:
            return ["remote-control:", "    control-enable: no"]
        # loopback only, no certificates: only the bench reads the counters
        # (extended: num.query.tls, the queries that came over TLS)
        return ["server:", "    extended-statistics: yes",
                "remote-control:", "    control-enable: yes",
                "    control-interface: 127.0.0.1", "    control-port: %d" % self.control_port,
                "    control-use-cert: no"]

    def stats(self):
        """unbound-control stats_noreset as {name: float} (needs control=True),
        e.g. total.num.queries, total.num.cachehits, total.num.cachemiss."""
        res = subprocess.run([common.find_tool("unbound-control") or "unbound-control",
                              "-c", str(self.conf_path), "stats_noreset"],
                             capture_output=True, text=True, timeout=10)
        if res.returncode != 0:
            raise UnboundError("unbound-control stats_noreset: %s" % (res.stderr or res.stdout))
        out = {}
        for line in res.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                try:
                    out[key] = float(value)
                except ValueError:
                    pass
        return out

    # -- life cycle ----------------------------------------------------
    def start(self, timeout_s=15.0):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config_text())
        checkconf = common.find_tool("unbound-checkconf")
        if checkconf:
            res = subprocess.run([checkconf, str(self.conf_path)], capture_output=True,
                                 text=True, timeout=30)
            if res.returncode != 0:
                raise UnboundError("unbound-checkconf rejected %s:\n%s%s" % (
                    self.conf_path, res.stdout, res.stderr))
        unbound = common.find_tool("unbound")
        if not unbound:
            raise UnboundError("unbound is not installed (apt-get install unbound)")
        self.proc = common.spawn([*self.argv_prefix, unbound, "-d", "-c", str(self.conf_path)],
                                 self.log_path,
                                 cwd=str(self.workdir))
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout_s):
        from tests.tools import clients

        def ready():
            if self.proc.poll() is not None:
                raise UnboundError("unbound exited with status %s; its log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            if not common.listening(self.tls_port, "tcp"):
                return False
            res = clients.kdig("a.test", "A", port=self.tls_port, tls_ca=self.pki.ca_cert,
                               tls_hostname=self.pki.auth_name, timeout_s=1, check=False)
            return res.rcode == "NOERROR"

        try:
            common.wait_until(ready, timeout_s, interval_s=0.1, what="unbound to answer over DoT")
        except TimeoutError as exc:
            raise UnboundError("%s; unbound's log:\n%s" % (exc, common.tail(self.log_path))) from None

    def kill(self):
        """SIGKILL at once: the upstream disappears without closing anything."""
        if self.proc is not None:
            return common.stop_process(self.proc, term_timeout_s=5.0, sig=signal.SIGKILL)
        return None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def queried_names(self):
        """Names unbound logged as queried (needs log_queries=True).
        Lines look like: `... info: 127.0.0.1 a.test. A IN`."""
        names = []
        for line in self.log_text().splitlines():
            parts = line.split(" info: ", 1)
            if len(parts) != 2:
                continue
            fields = parts[1].split()
            if len(fields) == 4 and fields[3] == "IN":
                names.append(fields[1].lower())
        return names

    def __repr__(self):
        return "UnboundServer(tls=%s:%d, plain=%s:%d, pid=%s)" % (
            self.listen_address, self.tls_port, self.listen_address, self.plain_port, self.pid)


def main():
    """Run one for manual poking: python -m tests.tools.unbound [DIR].
    Stops unbound on Ctrl-C and on SIGTERM."""
    import sys
    import time
    from tests.tools import certs
    common.exit_on_sigterm()
    workdir = Path(sys.argv[1] if len(sys.argv) > 1 else os.getcwd())
    pki = certs.make_test_pki(workdir / "pki")
    with UnboundServer(workdir, pki) as ub:
        print("%r\nCA %s\npin %s" % (ub, pki.ca_cert, pki.server_pin), flush=True)
        try:
            while ub.running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
