"""`make demo`: dprive in front of a local DNS-over-TLS server, end to end.

Steps (each prints a header line):
  1. make a throwaway CA and a server certificate for dns.test (openssl)
  2. start unbound as a DoT server on 127.0.0.1, answering from local data only
  3. start dprive in front of it (strict profile: the certificate must match)
  4. send real queries through dprive with kdig, over UDP and TCP
  5. show `dprive status`
  6. stop everything (also on Ctrl-C or an error) and remove the temp dir

Nothing leaves the machine: every address is 127.0.0.1.
Options: --keep keeps the temp dir (configs, logs, certificates).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tools import certs, clients, common  # noqa: E402
from tests.tools.dprive_proc import DpriveProcess, upstream  # noqa: E402
from tests.tools.unbound import BIG_NAME, UnboundServer  # noqa: E402

BOLD = "\033[1m" if sys.stdout.isatty() else ""
PLAIN = "\033[0m" if sys.stdout.isatty() else ""

_step_no = [0]


def step(text):
    _step_no[0] += 1
    print("\n%s== %d. %s%s" % (BOLD, _step_no[0], text, PLAIN), flush=True)


def say(text=""):
    print("   " + text.replace("\n", "\n   ") if text else "", flush=True)


def kdig_text(port, *args):
    """kdig's own human-readable output, for showing."""
    argv = ["kdig", "@127.0.0.1", "-p", str(port), "+time=3", "+retry=0", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    return "$ " + " ".join(argv) + "\n" + (proc.stdout + proc.stderr).rstrip()


def summary(label, res):
    if res.rcode is None:
        return "%-34s no answer: %s" % (label, res.error)
    data = ", ".join(str(r)[:40] + ("..." if len(str(r)) > 40 else "") for (_n, _t, r) in res.answers[:3])
    more = " (+%d more)" % (len(res.answers) - 3) if len(res.answers) > 3 else ""
    size = res.json.get("msgLength") if res.json else "?"
    return "%-34s %-8s TC=%d %4s bytes  %s%s" % (
        label, res.rcode, 1 if res.tc else 0, size, data or "-", more)


def run(keep):
    missing = common.missing_tools(["unbound", "kdig", "openssl"])
    if missing:
        print("missing tools: %s (run `make deps`)" % ", ".join(missing), file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="dprive-demo-"))
    ub = dp = None
    ok = False
    try:
        step("Throwaway CA and server certificate (openssl)")
        pki = certs.make_test_pki(workdir / "pki")
        say("CA:          %s" % pki.ca_cert)
        say("server cert: %s  (names: DNS:dns.test, IP:127.0.0.1)" % pki.server_cert)
        say("SPKI pin:    %s" % pki.server_pin)

        step("unbound as a DNS-over-TLS server on 127.0.0.1 (local data only, no recursion)")
        ub = UnboundServer(workdir / "unbound", pki, log_queries=True)
        ub.start()
        say("pid %d, DoT on 127.0.0.1:%d, plain DNS on 127.0.0.1:%d" % (
            ub.pid, ub.tls_port, ub.plain_port))
        say("direct check over TLS, certificate verified against the test CA:")
        say(summary("kdig +tls a.test A", clients.kdig(
            "a.test", port=ub.tls_port, tls_ca=pki.ca_cert, tls_hostname=pki.auth_name)))

        step("dprive in front of it (strict: name dns.test and the pin must match)")
        dp = DpriveProcess(workdir / "dprive", pki.ca_cert,
                           [upstream("local-unbound", ub.tls_port, spki=[pki.server_pin])])
        dp.write_config()
        say("config %s:" % dp.conf_path)
        say(dp.conf_path.read_text().rstrip())
        started = time.monotonic()
        dp.start()
        say("")
        say("dprive pid %d ready in %.2f s; LAN side: 127.0.0.1:%d (UDP and TCP)" % (
            dp.pid, time.monotonic() - started, dp.port))

        step("Queries through dprive (kdig -> dprive over UDP/TCP -> unbound over TLS)")
        seen_before = len(ub.queried_names())
        say(kdig_text(dp.port, "a.test", "A", "+notcp"))
        say("")
        rows = [
            ("UDP  a.test A", clients.kdig("a.test", "A", port=dp.port)),
            ("TCP  b.test A", clients.kdig("b.test", "A", port=dp.port, tcp=True)),
            ("UDP  a.test AAAA", clients.kdig("a.test", "AAAA", port=dp.port)),
            ("TCP  q42.test A", clients.kdig("q42.test", "A", port=dp.port, tcp=True)),
            ("UDP  nothing.test A", clients.kdig("nothing.test", "A", port=dp.port)),
            ("UDP  big.test TXT, bufsize 512", clients.kdig(BIG_NAME, "TXT", port=dp.port, bufsize=512)),
            ("TCP  big.test TXT", clients.kdig(BIG_NAME, "TXT", port=dp.port, tcp=True)),
        ]
        for label, res in rows:
            say(summary(label, res))
        say("")
        say("(TC=1: the answer did not fit the client's 512 bytes; over TCP it comes whole.)")
        say("unbound received %d of these queries, all over TLS from dprive." % (
            len(ub.queried_names()) - seen_before))

        step("dprive status (from its control socket %s)" % dp.control_socket)
        proc = dp.cli("status")
        say("$ python -m dprive status --config %s" % dp.conf_path)
        say((proc.stdout + proc.stderr).rstrip() or "(no output, exit %d)" % proc.returncode)
        ok = True
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    except Exception as exc:  # noqa: BLE001 - shown to the user, then cleanup
        print("\nERROR: %s" % exc, file=sys.stderr, flush=True)
        if dp is not None:
            print("dprive log tail:\n" + dp.log_tail(), file=sys.stderr)
    finally:
        step("Stopping what the demo started")
        # Ctrl-C during cleanup must not leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if dp is not None and dp.proc is not None:
            status = dp.stop()
            say("dprive stopped (SIGTERM), exit status %s" % status)
            say("its log: " + (dp.log_text().strip().splitlines() or ["(empty)"])[-1])
        if ub is not None and ub.proc is not None:
            status = ub.stop()
            say("unbound stopped, exit status %s" % status)
        if keep:
            say("kept %s (configs, logs, certificates)" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            say("removed %s" % workdir)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return 0 if ok else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with logs")
    args = parser.parse_args(argv)
    common.exit_on_sigterm()
    return run(args.keep)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
