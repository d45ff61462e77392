"""Strict profile (RFC 8310): an upstream that fails authentication gets no
query at all, the client gets SERVFAIL, and the log says why.

dprive is only told the upstream's TLS port, so any cleartext query would
have nowhere to go; unbound logs every query it receives (on any port), so
"unbound never saw the name" shows that nothing was sent, in clear or over
the unauthenticated TLS session."""

import re
import time

from tests.tools import clients
from tests.tools.dprive_proc import upstream

AUTH_LOG_RE = re.compile(r"auth|certificate|verif|hostname|mismatch|pin|spki", re.I)


def _wait_for_log(dp, regex, timeout_s=3.0):
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [ln for ln in dp.log_text().splitlines() if regex.search(ln)]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def _assert_refused(dp, unbound, unique_name, tag, log_re=AUTH_LOG_RE):
    name = unique_name(tag)
    for tcp in (False, True):
        res = clients.kdig(name, "A", port=dp.port, tcp=tcp, timeout_s=6)
        assert res.rcode == "SERVFAIL", res
        assert res.answers == []
    lines = _wait_for_log(dp, log_re)
    assert lines, "no log line about the failed authentication; log:\n" + dp.log_tail()
    assert any("bad-upstream" in ln for ln in lines), (
        "authentication log lines do not name the upstream:\n" + "\n".join(lines))
    assert name.lower() not in unbound.queried_names(), (
        "unbound received %s although its authentication failed" % name)
    up = dp.upstream_status("bad-upstream")
    assert up["answers"] == 0, up
    assert up["failures"] >= 1, up
    return lines


def test_wrong_auth_name_servfail(make_dprive, unbound, unique_name):
    dp = make_dprive([upstream("bad-upstream", unbound.tls_port, auth_name="wrong.test")])
    _assert_refused(dp, unbound, unique_name, "wrongname")


def test_untrusted_ca_servfail(make_dprive, unbound, pki, unique_name):
    dp = make_dprive([upstream("bad-upstream", unbound.tls_port)], ca_bundle=pki.wrong_ca_cert)
    _assert_refused(dp, unbound, unique_name, "wrongca")


def test_wrong_spki_pin_servfail(make_dprive, unbound, pki, unique_name):
    dp = make_dprive([upstream("bad-upstream", unbound.tls_port, spki=[pki.wrong_pin])])
    lines = _assert_refused(dp, unbound, unique_name, "wrongpin")
    assert any(re.search(r"pin|spki", ln, re.I) for ln in lines), (
        "the log should say the pin did not match:\n" + "\n".join(lines))


def test_right_spki_pin_works(make_dprive, unbound, pki):
    dp = make_dprive([upstream("pinned", unbound.tls_port, spki=[pki.server_pin])])
    for tcp in (False, True):
        res = clients.kdig("a.test", port=dp.port, tcp=tcp)
        assert res.addresses() == ["192.0.2.1"], res


def test_pin_set_any_match_works(make_dprive, unbound, pki):
    """A pin set matches when any pin matches (RFC 7858 4.2: backup pins)."""
    dp = make_dprive([upstream("pinned", unbound.tls_port,
                               spki=[pki.wrong_pin, pki.server_pin])])
    res = clients.kdig("b.test", port=dp.port)
    assert res.addresses() == ["192.0.2.2"], res


def test_pin_without_auth_name_works(make_dprive, unbound, pki):
    """Strict with a pin only (no name): the pin authenticates the server."""
    dp = make_dprive([upstream("pin-only", unbound.tls_port, auth_name=None,
                               spki=[pki.server_pin])])
    res = clients.kdig("c.test", port=dp.port)
    assert res.addresses() == ["192.0.2.3"], res


def test_bad_upstream_skipped_good_one_used(make_dprive, make_unbound, unbound, pki,
                                            unique_name):
    """One upstream fails authentication, the other is fine: answers come,
    and the failing one never receives a query."""
    other = make_unbound(log_queries=False)
    dp = make_dprive([
        upstream("bad-upstream", unbound.tls_port, auth_name="wrong.test"),
        upstream("good", other.tls_port, spki=[pki.server_pin]),
    ])
    names = [unique_name("skip") for _ in range(5)]
    for name in names:
        res = clients.kdig(name, port=dp.port, timeout_s=4)
        assert res.rcode == "NXDOMAIN", res
    seen = set(unbound.queried_names())
    assert not seen.intersection(names), "the unauthenticated upstream got queries"
    bad = dp.upstream_status("bad-upstream")
    good = dp.upstream_status("good")
    assert bad["answers"] == 0, bad
    assert good["answers"] >= 5, good
