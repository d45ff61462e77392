"""The targets bench/bench.py measures, each one started fresh for every round.

    direct UDP    dnsperf straight to the upstream unbound's plain port (the
                  latency baseline: what unbound itself takes to answer)
    direct DoT    dnsperf -m dot straight to the upstream unbound (the ceiling)
    dprive        UDP -> dprive -> DoT -> unbound (tls_engine auto: OpenSSL on Debian 12)
    dprive mbedTLS  the same on the mbedTLS engine (OpenWrt's default), 3.6 where built
    dprive DTLS   UDP -> dprive -> DTLS -> `dprive gateway` -> unbound (plain)
    stubby        UDP -> stubby -> DoT -> unbound
    unbound fwd   UDP -> unbound (forward-tls-upstream, no cache) -> DoT -> unbound

Every forwarder has one upstream, checks the name dns.test against the test CA,
and gets the same warm-up (three queries, then SETTLE_S quiet) before its idle
RSS is read. dprive is driven as a process (tests/tools/dprive_proc.py) only.
"""

import time

from tests.tools import clients, common
from tests.tools.dprive_proc import DpriveProcess, upstream
from tests.tools.stubby import StubbyProcess
from tests.tools.unbound_forwarder import UnboundForwarder

SETTLE_S = 1.0
WARM_NAMES = ("a.test", "b.test", "c.test")


class Target:
    """label, path, dnsperf mode; start(workdir) returns the server (None for
    direct) whose .port and .pid the runs use."""

    forwarder = True

    def __init__(self, label, path, mode="udp"):
        self.label, self.path, self.mode = label, path, mode
        self.server = None
        self.idle_rss_kib = None

    @property
    def pid(self):
        return self.server.pid if self.server else None

    def start(self, workdir, env):
        self.server = self.make(workdir, env)
        self.server.start()
        for name in WARM_NAMES:
            clients.kdig(name, port=self.server.port, timeout_s=3)
        return self.server

    def read_idle_rss(self):
        self.idle_rss_kib = common.vm_kib(self.pid, "VmRSS")
        return self.idle_rss_kib

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None


class Direct(Target):
    forwarder = False

    def __init__(self, mode):
        super().__init__("direct " + ("DoT" if mode == "dot" else "UDP"),
                         "dnsperf %s -> unbound" % ("DoT" if mode == "dot" else "UDP"), mode=mode)

    def start(self, workdir, env):
        ub = env["upstream"]
        self.port = ub.tls_port if self.mode == "dot" else ub.plain_port
        return None

    @property
    def pid(self):
        return None


class Dprive(Target):
    def __init__(self):
        super().__init__("dprive", "UDP -> dprive -> DoT")

    def make(self, workdir, env):
        return DpriveProcess(workdir / "dprive", env["pki"].ca_cert,
                             [upstream("unbound", env["upstream"].tls_port)],
                             options={"log_level": "warning"})


class DpriveMbedtls(Target):
    """dprive on the mbedTLS DoT engine, as OpenWrt runs it (tls_engine auto takes
    mbedTLS 3.x there): on build/mbedtls-3.6 when `make mbedtls36` made it."""

    def __init__(self):
        self.libdir = common.REPO_ROOT / "build" / "mbedtls-3.6" / "lib"
        version = "3.6" if self.libdir.is_dir() else "system"
        super().__init__("dprive mbedTLS", "UDP -> dprive -> DoT (mbedTLS %s)" % version)

    def make(self, workdir, env):
        dp = DpriveProcess(workdir / "dprive-mbedtls", env["pki"].ca_cert,
                           [upstream("unbound", env["upstream"].tls_port)],
                           options={"log_level": "warning", "tls_engine": "mbedtls"},
                           name="dprive-mbedtls")
        if self.libdir.is_dir():
            dp.extra_env["DPRIVE_MBEDTLS_LIBDIR"] = str(self.libdir)
        return dp


class DpriveDtls(Target):
    def __init__(self):
        super().__init__("dprive DTLS", "UDP -> dprive -> DTLS gw")

    def make(self, workdir, env):
        return DpriveProcess(workdir / "dprive-dtls", env["pki"].ca_cert,
                             [upstream("gateway", env["gateway"].port, transport="dtls")],
                             options={"log_level": "warning"}, name="dprive-dtls")


class Stubby(Target):
    def __init__(self):
        super().__init__("stubby", "UDP -> stubby -> DoT")

    def make(self, workdir, env):
        return StubbyProcess(workdir / "stubby", env["pki"], env["upstream"].tls_port)


class UnboundFwd(Target):
    def __init__(self):
        super().__init__("unbound fwd", "UDP -> unbound -> DoT")

    def make(self, workdir, env):
        return UnboundForwarder(workdir / "unbound-fwd", env["pki"], env["upstream"].tls_port)


def port_of(target):
    return target.port if isinstance(target, Direct) else target.server.port


ALL = {"direct-udp": lambda: Direct("udp"), "direct-dot": lambda: Direct("dot"), "dprive": Dprive,
       "dprive-mbedtls": DpriveMbedtls, "dtls": DpriveDtls, "stubby": Stubby, "unbound": UnboundFwd}


def start_round(targets, workdir, env):
    for t in targets:
        t.start(workdir, env)
    time.sleep(SETTLE_S)
    for t in targets:
        if t.forwarder:
            t.read_idle_rss()
