"""Test tools: throwaway certificates, a local unbound DoT server, a dprive
process, and DNS clients (kdig and raw sockets).

Import them as `tests.tools` with the repository root on sys.path:
pytest run from the root has it; scripts call `tests.tools.paths` logic the same
way (see demo.py and bench/bench.py: they insert the root themselves).

Everything here talks to loopback addresses only.
"""
