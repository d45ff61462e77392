"""Small shared helpers: free loopback ports, child processes in their own
process group, waiting with a deadline, finding the Debian tools."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"

# Every process started through spawn() is remembered here until it is
# reaped, so that an interpreter exit (an error, Ctrl-C, a failing test run)
# still stops it.
_LIVE = {}


def find_tool(name):
    """Path of a Debian tool, also in /usr/sbin (not on every user's PATH)."""
    path = shutil.which(name)
    if path:
        return path
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        cand = os.path.join(folder, name)
        if os.access(cand, os.X_OK):
            return cand
    return None


def missing_tools(names):
    return [n for n in names if find_tool(n) is None]


def _port_free(port):
    """True if `port` on 127.0.0.1 can be bound for both UDP and TCP."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.bind((LOOPBACK, port))
        udp.bind((LOOPBACK, port))
        return True
    except OSError:
        return False
    finally:
        tcp.close()
        udp.close()


_handed_out = set()


def free_port():
    """A port free on 127.0.0.1 for both UDP and TCP.

    Asks the kernel for an ephemeral TCP port and checks UDP too. Ports handed
    out before in this process are not handed out again, so that two servers
    configured before either starts do not collide.
    """
    for _ in range(200):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        finally:
            sock.close()
        if port in _handed_out:
            continue
        if _port_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


def spawn(argv, log_path, env=None, cwd=None):
    """Start argv in a new session (its own process group), stdout and stderr
    appended to log_path. The process is stopped at interpreter exit if
    nobody stopped it before."""
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True)
    finally:
        log.close()
    _LIVE[proc.pid] = proc
    return proc


def stop_process(proc, term_timeout_s=5.0, sig=signal.SIGTERM):
    """Send `sig` to the process (and then SIGKILL to its whole group if it
    has not exited after term_timeout_s). Returns the exit status."""
    if proc is None:
        return None
    if proc.pid not in _LIVE:
        # stopped before: its process group id may belong to someone else by now
        return proc.poll()
    try:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=term_timeout_s)
            except subprocess.TimeoutExpired:
                pass
        kill_group(proc)
        return proc.wait(timeout=5)
    finally:
        _LIVE.pop(proc.pid, None)


def kill_group(proc):
    """SIGKILL the process group that spawn() made for proc (its leader may be
    gone already; children it left behind are not)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def exit_on_sigterm():
    """Make SIGTERM raise SystemExit in the main thread, so that `finally`
    blocks and atexit run and the children are stopped (by default SIGTERM
    ends Python at once and leaves them running)."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


@atexit.register
def _stop_leftovers():
    for proc in list(_LIVE.values()):
        try:
            stop_process(proc, term_timeout_s=2.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class ServerProcess:
    """A server a test starts in its own process group (see spawn).

    Subclasses set self.proc in start(); this gives them pid, running(),
    stop() (SIGTERM, then SIGKILL to the group; returns the exit status) and
    use in a with-block.
    """

    proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s=5.0):
        if self.proc is None:
            return None
        return stop_process(self.proc, term_timeout_s=timeout_s)

    def launch(self, argv, log_path, timeout_s, env=None, cwd=None):
        """spawn() argv and wait_ready(timeout_s), which the subclass defines; a
        server that does not come up is stopped before the error goes on."""
        self.proc = spawn(argv, log_path, env=env, cwd=cwd)
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class StopWaiting(RuntimeError):
    """Raised by a wait_until predicate when waiting longer is pointless
    (the process died): wait_until lets it through at once."""


def wait_until(predicate, timeout_s, interval_s=0.05, what="condition"):
    """Call predicate() until it returns a true value; return that value.
    Raises TimeoutError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except StopWaiting:
            raise
        except Exception as exc:  # noqa: BLE001 - remembered for the message
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise TimeoutError("timed out after %.1f s waiting for %s%s" % (timeout_s, what, detail))
        time.sleep(interval_s)


def listening(port, proto, host=LOOPBACK):
    """True if something has bound `host:port` (proto 'tcp': in LISTEN state;
    'udp': bound). Reads /proc/net, so it sends nothing to the server."""
    hexport = "%04X" % port
    if ":" in host:
        files = ["/proc/net/%s6" % proto]
    else:
        files = ["/proc/net/%s" % proto, "/proc/net/%s6" % proto]
    for fname in files:
        try:
            with open(fname) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if not local.endswith(":" + hexport):
                        continue
                    if proto == "tcp" and state != "0A":
                        continue
                    return True
        except FileNotFoundError:
            continue
    return False


def vm_kib(pid, key="VmRSS"):
    """A memory figure of a live process from /proc/PID/status, in KiB
    (VmRSS: resident now; VmHWM: the peak)."""
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def peak_rss_kib(pid):
    """VmHWM (peak resident set size) of a live process, in KiB."""
    return vm_kib(pid, "VmHWM")


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except FileNotFoundError:
        return "(no log file %s)" % path
