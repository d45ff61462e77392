"""Run the dprive daemon as a child process for tests, the demo and the bench.

    ups = [upstream("local", ub.tls_port, spki=[pki.server_pin])]
    with DpriveProcess(workdir, pki.ca_cert, ups, options={"query_timeout_ms": 2000}) as dp:
        dp.port          # UDP and TCP on 127.0.0.1
        dp.status()      # the control socket's JSON

The config is written in UCI syntax with option names checked against
dprive.schema, so a typo in a test fails here rather than as a config error
in the daemon's log.
"""

import os
import subprocess
import sys
from pathlib import Path

from dprive import status_client
from tests.tools import common

try:
    from dprive import schema as _schema
except ImportError:  # the tools still load without the package installed
    _schema = None


class DpriveError(common.StopWaiting):
    pass


def upstream(name, port, address="127.0.0.1", auth_name="dns.test", spki=(), enabled=True,
             **options):
    """One `config upstream` section as a dict (the option names of the schema)."""
    up = dict(options, name=name, address=address, port=port, enabled=enabled)
    if auth_name is not None:
        up["auth_name"] = auth_name
    if spki:
        up["spki"] = list(spki)
    return up


def _uci_value(value):
    if isinstance(value, bool):
        value = "1" if value else "0"
    text = str(value)
    if "'" in text or "\n" in text:
        raise ValueError("value %r cannot be written in single quotes" % text)
    return "'%s'" % text


def uci_section(kind, name, options, known):
    if known is not None:
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError("not in dprive.schema for `config %s`: %s" % (kind, ", ".join(unknown)))
    head = "config %s" % kind + (" '%s'" % name if name else "")
    lines = [head]
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            for item in value:
                lines.append("\tlist %s %s" % (key, _uci_value(item)))
        else:
            lines.append("\toption %s %s" % (key, _uci_value(value)))
    return "\n".join(lines) + "\n"


def config_text(main_options, upstreams):
    known_main = _schema.MAIN_OPTIONS if _schema else None
    known_up = _schema.UPSTREAM_OPTIONS if _schema else None
    parts = [uci_section("dprive", "main", main_options, known_main)]
    for up in upstreams:
        parts.append(uci_section("upstream", None, up, known_up))
    return "\n".join(parts)


class DpriveProcess(common.ServerProcess):
    """`python -m dprive run --config FILE`, stderr to a log file, own process group."""

    def __init__(self, workdir, ca_bundle, upstreams, options=None, port=None,
                 name="dprive", python=None, argv_prefix=()):
        """argv_prefix goes before the daemon's command line (the netns tier
        runs it under `ip netns exec NS`)."""
        self.workdir = Path(workdir)
        self.argv_prefix = list(argv_prefix)
        self.extra_env = {}      # e.g. PYTHONPATH with a stand-in module
        self.name = name
        self.port = port or common.free_port()
        self.conf_path = self.workdir / ("%s.conf" % name)
        self.log_path = self.workdir / ("%s.log" % name)
        self.control_socket = self.workdir / ("%s.sock" % name)
        self.python = python or sys.executable
        self.options = {
            "listen_address": ["127.0.0.1"],
            "listen_port": self.port,
            "profile": "strict",
            "ca_bundle": str(ca_bundle),
            "control_socket": str(self.control_socket),
            "log_level": "info",
        }
        self.options.update(options or {})
        self.upstreams = list(upstreams)
        self.proc = None

    # -- config ----------------------------------------------------------
    def write_config(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(config_text(self.options, self.upstreams))
        return self.conf_path

    def _env(self):
        env = dict(os.environ)
        env.update(self.extra_env)
        src = str(common.REPO_ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def cli(self, *args, timeout_s=15):
        """Run `python -m dprive ARGS --config FILE`; returns CompletedProcess (text)."""
        argv = [self.python, "-m", "dprive", *args, "--config", str(self.conf_path)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              env=self._env(), cwd=str(self.workdir))

    # -- life cycle ------------------------------------------------------
    def start(self, timeout_s=15.0):
        self.write_config()
        try:
            self.control_socket.unlink()
        except FileNotFoundError:
            pass
        argv = [*self.argv_prefix, self.python, "-m", "dprive", "run", "--config",
                str(self.conf_path)]
        return self.launch(argv, self.log_path, timeout_s, env=self._env(), cwd=str(self.workdir))

    def wait_ready(self, timeout_s):
        """Ready: UDP and TCP bound on the listen port (read from /proc/net,
        so no query is sent) and the control socket answers `status`."""

        def ready():
            if self.proc.poll() is not None:
                raise DpriveError("dprive exited with status %s before it was ready; log:\n%s" % (
                    self.proc.returncode, common.tail(self.log_path)))
            if not (common.listening(self.port, "udp") and common.listening(self.port, "tcp")):
                return False
            if not self.control_socket.exists():
                return False
            return self.status(timeout_s=1.0) is not None

        try:
            common.wait_until(ready, timeout_s, interval_s=0.05, what="dprive to be ready")
        except TimeoutError as exc:
            raise DpriveError("%s; dprive's log:\n%s" % (exc, common.tail(self.log_path))) from None

    # -- control socket ---------------------------------------------------
    def control(self, cmd, timeout_s=3.0, **args):
        """Send one command line, return the decoded JSON reply line."""
        request = dict(args, cmd=cmd)
        try:
            return status_client.request(str(self.control_socket), request, timeout_s)
        except ValueError:
            raise DpriveError("no JSON reply to %r from %s" % (request, self.control_socket)) from None

    def status(self, timeout_s=3.0):
        return self.control("status", timeout_s=timeout_s)

    def counters(self):
        return dict(self.status().get("counters", {}))

    def upstream_status(self, name):
        for up in self.status().get("upstreams", []):
            if up.get("name") == name:
                return up
        raise KeyError("no upstream %r in status" % name)

    # -- logs -------------------------------------------------------------
    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return common.tail(self.log_path, lines)

    def __repr__(self):
        return "DpriveProcess(127.0.0.1:%d, pid=%s)" % (self.port, self.pid)
