"""Debian's stubby (getdns 1.6), the peer dprive is measured against.

A YAML config of ours: one DoT upstream, strict authentication against the
test CA, padding like dprive's, no DNSSEC (and a trust-anchor URL that could
only reach a closed port on loopback, should getdns ever try).
"""

import subprocess
from pathlib import Path

from tests.tools import clients, common

IDLE_TIMEOUT_MS = 120000   # longer than a bench run, like unbound's keepalive there


class StubbyProcess(common.ServerProcess):
    """stubby -C <workdir>/stubby.yml in the foreground, own process group."""

    def __init__(self, workdir, pki, tls_port, port=None, upstream_address="127.0.0.1",
                 idle_timeout_ms=IDLE_TIMEOUT_MS, argv_prefix=()):
        self.workdir = Path(workdir)
        self.pki = pki
        self.tls_port = tls_port
        self.port = port or common.free_port()
        self.upstream_address = upstream_address
        self.idle_timeout_ms = idle_timeout_ms
        self.argv_prefix = list(argv_prefix)
        self.conf_path = self.workdir / "stubby.yml"
        self.log_path = self.workdir / "stubby.log"
        self.proc = None

    def config_text(self):
        appdata = self.workdir / "appdata"
        appdata.mkdir(parents=True, exist_ok=True)
        return "\n".join([
            "resolution_type: GETDNS_RESOLUTION_STUB",
            "dns_transport_list:",
            "  - GETDNS_TRANSPORT_TLS",
            "tls_authentication: GETDNS_AUTHENTICATION_REQUIRED",
            "tls_query_padding_blocksize: 128",
            "edns_client_subnet_private: 1",
            "round_robin_upstreams: 0",
            "idle_timeout: %d" % self.idle_timeout_ms,
            "timeout: 5000",
            'tls_ca_file: "%s"' % self.pki.ca_cert,
            "dnssec: GETDNS_EXTENSION_FALSE",
            'appdata_dir: "%s"' % appdata,
            'trust_anchors_url: "http://127.0.0.1:9/root-anchors.xml"',
            "listen_addresses:",
            "  - 127.0.0.1@%d" % self.port,
            "upstream_recursive_servers:",
            "  - address_data: %s" % self.upstream_address,
            "    tls_port: %d" % self.tls_port,
            '    tls_auth_name: "%s"' % self.pki.auth_name,
            "",
        ])

    def start(self, timeout_s=15.0):
        stubby = common.find_tool("stubby")
        if not stubby:
            raise RuntimeError("stubby is not installed (apt-get install stubby)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config_text())
        check = subprocess.run([stubby, "-i", "-C", str(self.conf_path)], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError("stubby rejected %s:\n%s" % (self.conf_path, check.stderr[-2000:]))
        return self.launch(self.argv_prefix + [stubby, "-C", str(self.conf_path), "-v", "4"],
                           self.log_path, timeout_s, cwd=str(self.workdir))

    def wait_ready(self, timeout_s):
        def ready():
            if self.proc.poll() is not None:
                raise common.StopWaiting("stubby exited with status %s; log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            if not common.listening(self.port, "udp"):
                return False
            res = clients.kdig("a.test", port=self.port, timeout_s=2, check=False)
            return res.rcode == "NOERROR"

        common.wait_until(ready, timeout_s, interval_s=0.1, what="stubby to answer")
