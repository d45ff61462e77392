"""The one error type the daemon and the gateway share: StartupError.

Raised while either starts (a port that cannot be bound, a certificate that
cannot be used, a resolver that cannot be reached); run_daemon and
run_gateway log its one line and exit 1, without a traceback. io/policy.py
imports it from here, so `from dprive.io.policy import StartupError` still works.
"""


class StartupError(Exception):
    """A problem that keeps the daemon or the gateway from starting, said in one line."""
