"""The daemon in the jail the init script declares, answering real queries.

The init script runs in the scratch router (tests/openwrt/harness.py); the
jail it declared (tests/openwrt/jail.py) is handed to a jail runner with
exactly its mounts, at their scratch-root paths, but for the router's Python,
swapped for this machine's. Then kdig asks over UDP and TCP, through dprive,
a local unbound over DNS-over-TLS. A path the daemon needs that the jail does
not mount (the CA bundle, the control socket's directory, the config) fails
the start or the query; a reload after a uci-style rename must reach the
jailed daemon. Upstreams: unbound's DNS over TLS, and DNS over DTLS through
a dprive gateway in front of it (pyOpenSSL loaded in the jail). Runners: see
tests/openwrt/jail_runners.py.
"""

import os
import pwd
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.openwrt.jail import HOST_GROUP, HOST_USER, JailedDprive, in_root
from tests.openwrt.jail_runners import runner_argv
from tests.tools import certs, clients, common, dtls_engine_pick
from tests.tools.dprive_proc import config_text, upstream
from tests.tools.gateway_proc import GatewayProcess
from tests.tools.unbound import UnboundServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a jail needs root (mount namespaces)")


@pytest.fixture
def unbound(tmp_path):
    if common.missing_tools(["unbound", "kdig"]):
        pytest.skip("unbound and kdig are needed (sh tests/tools/ensure-deps.sh)")
    pki = certs.make_test_pki(tmp_path / "pki")
    server = UnboundServer(tmp_path / "unbound", pki)
    server.start()
    yield server, pki
    server.stop()


@pytest.fixture(params=["tls", "dtls"])
def upstream_server(request, unbound, tmp_path):
    """(port, transport) of the upstream: unbound's DoT, or a dprive gateway's
    DNS over DTLS in front of unbound (pyOpenSSL in the jailed daemon)."""
    server, pki = unbound
    if request.param == "tls":
        yield server.tls_port, "tls"
        return
    pytest.importorskip("OpenSSL", reason="DNS over DTLS needs pyOpenSSL")
    gateway = GatewayProcess(tmp_path / "gateway", pki, server.plain_port)
    gateway.start()
    yield gateway.port, "dtls"
    gateway.stop()


def jailed_router(router, unbound, upstream_server, tmp_path):
    """The scratch router configured for the local upstream, started: its jail declared."""
    server, pki = unbound
    up_port, transport = upstream_server
    ca = router.root / "etc/ssl/dprive-test-ca.pem"
    ca.parent.mkdir(parents=True)
    shutil.copy(pki.ca_cert, ca)
    ca.chmod(0o644)
    port = common.free_port()
    options = {"listen_address": ["127.0.0.1"], "listen_port": port, "ca_bundle": str(ca),
               "control_socket": str(router.root / "var/run/dprive/control.sock")}
    ups = [upstream("local", up_port, spki=[pki.server_pin], transport=transport)]
    (router.root / "etc/config/dprive").write_text(config_text(options, ups))
    router.init("start")
    # What chown does on the router, for the user the jail runs as here.
    shutil.chown(router.root / "var/run/dprive", HOST_USER, HOST_GROUP)
    return options, ups, port


def daemon_pid(top):
    """The python process of the daemon: `top` itself or the one below it (ujail forks)."""
    todo = [top]
    while todo:
        pid = todo.pop()
        cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
        if cmdline[0] == sys.executable.encode() and b"dprive" in cmdline:
            return pid
        for task in Path("/proc/%d/task" % pid).iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    raise AssertionError("no dprive process under %d" % top)


def proc_status(pid):
    return dict(line.split(":\t", 1) for line in Path("/proc/%d/status" % pid).read_text().splitlines()
                if ":\t" in line)


def writable_mounts(pid):
    """Mount points the jailed process sees read-write (mountinfo: point, options)."""
    out = []
    for line in Path("/proc/%d/mountinfo" % pid).read_text().splitlines():
        fields = line.split()
        if "rw" in fields[5].split(","):
            out.append(fields[4])
    return out


@pytest.mark.parametrize("runner", ["minijail", "ujail"])
def test_the_jailed_daemon_answers_and_rereads_its_config(router, unbound, upstream_server, tmp_path,
                                                          request, runner):
    env = request.getfixturevalue("ujail_ubusd") if runner == "ujail" else {}
    options, ups, port = jailed_router(router, unbound, upstream_server, tmp_path)
    dp = JailedDprive(tmp_path / "dprive", router, runner_argv(router, runner, tmp_path),
                      ca_bundle=options["ca_bundle"], upstreams=ups, port=port)
    dp.control_socket = Path(options["control_socket"])
    dp.extra_env = env
    dp.start()
    try:
        assert clients.kdig("a.test", "A", port=port).rcode == "NOERROR", dp.log_tail()
        assert dp.upstream_status("local")["transport"] == upstream_server[1]
        if upstream_server[1] == "dtls" and dtls_engine_pick.has_option():
            # auto: libmbedtls (ctypes, by soname) is what the jailed daemon loads first
            status = dp.status()
            assert status["dtls"]["engine"] == "mbedtls", status["dtls"]
        assert clients.kdig("b.test", "A", port=port, tcp=True).rcode == "NOERROR", dp.log_tail()

        pid = daemon_pid(dp.proc.pid)
        status = proc_status(pid)
        assert status["Uid"].split() == [str(pwd.getpwnam(HOST_USER).pw_uid)] * 4
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
        assert status["NoNewPrivs"].strip() == "1"
        assert os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/self/ns/mnt")
        # Written: RUN_DIR only (and the jail's own /dev).
        run_dir = in_root(router.root, "/var/run/dprive")
        assert [m for m in writable_mounts(pid) if not m.startswith("/dev")] == [run_dir]

        # LuCI's Save & Apply: uci commit renames a new file over the config,
        # then reload; procd would send the HUP the stand-in records.
        config = router.root / "etc/config/dprive"
        new = config.with_name("dprive.uci-tmp")
        renamed = [dict(ups[0], name="renamed")]
        new.write_text(config_text(options, renamed))
        os.replace(new, config)
        router.init("reload")
        assert router.calls("procd_send_signal")[-1] == ("dprive", "*", "HUP")
        # procd signals the pid it started: ujail, which passes it on (jail.c,
        # jail_handle_signal) to the daemon, PID 1 of its PID namespace.
        os.kill(dp.proc.pid, signal.SIGHUP)
        common.wait_until(lambda: [u["name"] for u in dp.status()["upstreams"]] == ["renamed"], 10,
                          what="the jailed daemon to reload the renamed upstream")
        assert clients.kdig("c.test", "A", port=port).rcode == "NOERROR", dp.log_tail()
    finally:
        dp.stop()
    assert "Traceback" not in dp.log_text()
