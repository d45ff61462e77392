"""The JSON status file that shows the gateway's counters (counters.py) and state.

The file is rewritten (write to a temporary name, then rename, so a reader
never sees half of it) when something changed, at most once per interval,
and a last time at exit with "running": false. Tests and monitoring read it;
the counters are also logged at exit.
"""

import json
import os
import sys

from dprive import __version__
from dprive.gateway.counters import COUNTERS, new_counters

__all__ = ["COUNTERS", "StatusFile", "new_counters", "report_unavailable"]

class StatusFile:
    def __init__(self, path, interval_s):
        self.path = path
        self.interval_s = interval_s
        self.last_written = None
        self.last_snapshot = None
        self.error_logged = False

    def maybe_write(self, status, now, force=False):
        """Write `status` if it changed and the interval has passed (or if forced).
        Returns an OSError text the first time writing fails, else None."""
        snapshot = json.dumps(status, sort_keys=True)
        if not force:
            if snapshot == self.last_snapshot:
                return None
            if self.last_written is not None and now - self.last_written < self.interval_s:
                return None
        self.last_written, self.last_snapshot = now, snapshot
        tmp = "%s.%d.tmp" % (self.path, os.getpid())
        try:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            with open(tmp, "w") as handle:
                handle.write(snapshot + "\n")
            os.replace(tmp, self.path)
        except OSError as err:
            if not self.error_logged:
                self.error_logged = True
                return "cannot write status file %s: %s" % (self.path, err.strerror or err)
        return None


def report_unavailable(settings, support):
    """No DTLS engine runs here (`support`: the tls.dtls_engines.Choice, whose
    reason names each engine's): say why on stderr and in the status file
    (running false), and return the exit code, instead of a traceback."""
    why = "DTLS unavailable: %s" % support.unavailable
    print("dprive gateway: %s" % why, file=sys.stderr)
    status = {"version": __version__, "pid": os.getpid(), "running": False, "error": why,
              "dtls": support.status()}
    error = StatusFile(settings.status_file, 0).maybe_write(status, 0.0, force=True)
    if error:
        print("dprive gateway: %s" % error, file=sys.stderr)
    return 1
