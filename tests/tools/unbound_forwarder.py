"""unbound as a DNS-over-TLS forwarder: the third forwarder the bench compares.

    fwd = UnboundForwarder(workdir, pki, upstream_tls_port)
    fwd.start(); fwd.port   # plain UDP/TCP on 127.0.0.1; fwd.stats()

Plain DNS in on 127.0.0.1, forward-zone "." with forward-tls-upstream to one
DoT upstream, the certificate checked against the test CA and the name
dns.test, one thread, queries padded to 128 bytes (unbound's own padding).

dprive has no cache (dnsmasq in front of it caches), so this unbound must not
answer from one either: cache-max-ttl 0 ends every entry in the second it was
stored and the caches are as small as unbound takes. A name asked again in the
same second could still hit, so the bench sends distinct names in a run and
checks total.num.cachemiss against total.num.queries (stats()).
"""

from tests.tools import clients, common
from tests.tools.unbound import UnboundServer


class UnboundForwarder(UnboundServer):

    def __init__(self, workdir, pki, upstream_tls_port, upstream_address="127.0.0.1",
                 port=None, threads=1, name="unbound-fwd", auth_name=None):
        super().__init__(workdir, pki, q_names=0, threads=threads, log_queries=False,
                         plain_port=port, name=name, control=True)
        self.port = self.plain_port
        self.verbosity = 1
        self.upstream = "%s@%d#%s" % (upstream_address, upstream_tls_port,
                                      auth_name or pki.auth_name)

    def config_text(self):
        lines = [
            "server:",
            "    verbosity: %d" % self.verbosity,
            '    username: ""',
            '    chroot: ""',
            '    directory: "%s"' % self.workdir,
            '    pidfile: "%s"' % self.pid_path,
            '    logfile: ""',
            "    use-syslog: no",
            "    num-threads: %d" % self.threads,
            "    do-ip4: yes",
            "    do-ip6: no",
            "    interface: 127.0.0.1@%d" % self.port,
            "    port: %d" % self.port,
            "    access-control: 127.0.0.0/8 allow",
            '    tls-cert-bundle: "%s"' % self.pki.ca_cert,
            "    pad-queries: yes",
            "    pad-queries-block-size: 128",
            # nothing answered from a cache (see the module docstring)
            "    cache-max-ttl: 0",
            "    cache-max-negative-ttl: 0",
            "    msg-cache-size: 0",
            "    rrset-cache-size: 0",
            "    key-cache-size: 0",
            "    neg-cache-size: 0",
            "    prefetch: no",
            "    serve-expired: no",
            # a forwarder only: no validator, no root priming, the upstream is local
            '    module-config: "iterator"',
            "    do-not-query-localhost: no",
            "    qname-minimisation: no",
            "    harden-referral-path: no",
            "    minimal-responses: yes",
            # test. is one of unbound's default static zones (RFC 6761): forward it
            '    local-zone: "test." nodefault',
            # bursts of a few hundred queries over UDP, as for the upstream
            "    so-rcvbuf: 4m",
            "    so-sndbuf: 4m",
            "    so-reuseport: no",
            # keep one reused session as long as the run, like dprive and stubby
            "    tcp-reuse-timeout: 120000",
            "    max-reuse-tcp-queries: 1000000",
            "forward-zone:",
            '    name: "."',
            "    forward-addr: %s" % self.upstream,
            "    forward-tls-upstream: yes",
        ]
        return "\n".join(lines + self.control_lines()) + "\n"

    def wait_ready(self, timeout_s):
        def ready():
            if self.proc.poll() is not None:
                raise common.StopWaiting("unbound forwarder exited with status %s; log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            if not common.listening(self.port, "udp"):
                return False
            # any answer: up (SERVFAIL too, for an upstream it must refuse)
            return clients.kdig("a.test", port=self.port, timeout_s=2, check=False).rcode is not None

        common.wait_until(ready, timeout_s, interval_s=0.1, what="the unbound forwarder to answer")
