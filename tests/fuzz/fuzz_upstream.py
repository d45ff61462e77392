"""Fuzz target `upstream`: what upstream servers send to a live Forwarder.

Sessions over TLS and DTLS with queries in flight; answers for IDs the core
asked and for others, mutated, cut short, late, truncated, raw bytes, and a
TCP stream cut at arbitrary points through core/framing.py; closes, connect
failures, alerts, time and reloads in any order (corescript.py). Every
action and table is checked (coreshell.py), and in the end every client
has had exactly one reply.
"""

from corescript import run_script

TARGET = "upstream"


def one_input(data):
    run_script(data)
