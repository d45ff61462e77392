"""`python -m dprive gateway --config F` as a test server: config written from a
dict of options (checked against the schema), started in its own process
group, ready when its JSON status file says so and its UDP port listens."""

import json
import os
import sys

from dprive import schema
from tests.tools import common
from tests.tools.dprive_proc import uci_section

GATEWAY_TEST_OPTIONS = {
    "status_interval_ms": 100,
    "resolver_timeout_ms": 1500,
    "log_level": "debug",
}


class GatewayProcess(common.ServerProcess):
    def __init__(self, workdir, pki, resolver_port, options=None, python=None, port=None,
                 name="gateway", argv_prefix=(), address="127.0.0.1"):
        self.workdir = workdir
        self.argv_prefix = list(argv_prefix)
        self.name = name
        self.port = port or common.free_port()
        self.python = python or sys.executable
        self.conf_path = workdir / ("%s.conf" % name)
        self.log_path = workdir / ("%s.log" % name)
        self.status_path = workdir / ("%s.json" % name)
        self.options = {
            "listen_address": [address],
            "listen_port": self.port,
            "cert_file": str(pki.server_chain),
            "key_file": str(pki.server_key),
            "resolver_address": address,
            "resolver_port": resolver_port,
            "ticket_key_file": str(workdir / "ticket.key"),
            "status_file": str(self.status_path),
        }
        self.options.update(GATEWAY_TEST_OPTIONS)
        self.options.update(options or {})

    def env(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = str(common.REPO_ROOT / "src")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def write_config(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(uci_section(schema.SECTION_GATEWAY, "main", self.options,
                                           schema.GATEWAY_OPTIONS))

    def start(self, timeout_s=15.0):
        self.write_config()
        try:
            self.status_path.unlink()
        except FileNotFoundError:
            pass
        self.proc = common.spawn(self.argv_prefix + [self.python, "-m", "dprive", "gateway",
                                                     "--config", str(self.conf_path)],
                                 self.log_path, env=self.env(), cwd=str(self.workdir))

        def ready():
            if self.proc.poll() is not None:
                raise common.StopWaiting("gateway exited with %s:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            status = self.status()
            return status and status["running"] and self.listening()

        try:
            common.wait_until(ready, timeout_s, what="the gateway to start")
        except BaseException:
            self.stop()
            raise
        return self

    def listening(self):
        return common.listening(self.port, "udp")

    def status(self):
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def counters(self):
        return self.status()["counters"]

    def wait_status(self, predicate, timeout_s=5.0, what="gateway status"):
        """Wait until predicate(status) holds; returns that status."""
        def check():
            status = self.status()
            return status if status and predicate(status) else None
        return common.wait_until(check, timeout_s, what=what)

    def log_tail(self, lines=60):
        return common.tail(self.log_path, lines)
