"""Test tools: throwaway certificates (certs), a local unbound DoT server
(unbound), the dprive daemon as a child process (dprive_proc), DNS clients
(clients: kdig, raw UDP/TCP, dnsperf), and small helpers (common).

Always imported as `tests.tools` with the repository root on sys.path: pytest
run from the root has it (and tests/integration/conftest.py inserts it too);
scripts insert it themselves (tests/tools/demo.py, bench/bench.py).

Everything here talks to loopback addresses only, and every process it
starts runs in its own process group and is stopped at exit.
"""
