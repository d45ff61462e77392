"""The daemon on each DoT engine (tls_engine openssl and mbedtls) against the
session's unbound: answers, authentication failures (name, CA, pin) that keep
every query away from the server, resumption on reconnect (TLS 1.3 tickets on
OpenSSL and mbedTLS 3.6, TLS 1.2 tickets on mbedTLS 2.28: unbound speaks
both), garbage from a server, and a start that says which engine runs. The
libmbedtls is DPRIVE_MBEDTLS_LIBDIR's, inherited by the daemon; the rest of
the tier runs on mbedTLS with DPRIVE_TEST_TLS_ENGINE=mbedtls."""

import re
import time

import pytest

from dprive.tls import mbedtls_lib
from tests.integration.test_authentication import _assert_refused
from tests.tools import clients
from tests.tools.dprive_proc import upstream
from tests.tools.hostile_upstream import HostileUpstream

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=["openssl", "mbedtls"])
def engine(request):
    if request.param == "mbedtls" and mbedtls_lib.unavailable_reason() is not None:
        pytest.skip("libmbedtls: %s" % mbedtls_lib.unavailable_reason())
    return request.param


def mbedtls_tls13():
    from dprive.tls import dot_mbedtls
    return dot_mbedtls.has_tls13(mbedtls_lib.load())


def expected_version(engine):
    return "TLSv1.3" if engine == "openssl" or mbedtls_tls13() else "TLSv1.2"


@pytest.fixture
def start(make_dprive, engine):
    def make(upstreams, **options):
        return make_dprive(upstreams, tls_engine=engine, **options)
    return make


def _ask(dp, name="a.test", address="192.0.2.1", tcp=False):
    res = clients.kdig(name, "A", port=dp.port, tcp=tcp, timeout_s=4)
    assert res.rcode == "NOERROR" and res.addresses() == [address], res


def test_answers_and_the_log_names_the_engine(start, unbound, engine):
    dp = start([upstream("u", unbound.tls_port)])
    _ask(dp)
    _ask(dp, "b.test", "192.0.2.2", tcp=True)
    up = dp.upstream_status("u")
    assert up["tls_version"] == expected_version(engine), up
    assert re.search(r"TLS engine %s \(.*tls_engine %s\)" % (engine, engine), dp.log_text())


def test_reconnects_resume(start, unbound, pki, engine):
    dp = start([upstream("u", unbound.tls_port, spki=[pki.server_pin])])
    _ask(dp)
    time.sleep(0.3)                      # TLS 1.3 tickets come after the handshake
    for _ in range(2):
        dp.control("reconnect")
        time.sleep(0.3)
        _ask(dp, "b.test", "192.0.2.2")
    up = dp.upstream_status("u")
    assert up["resumptions_offered"] == 2 and up["resumptions_accepted"] == 2, up
    assert up["resumed"] is True and up["failures"] == 0, up
    assert up["tls_version"] == expected_version(engine), up


def test_wrong_name_gets_no_query(start, unbound, unique_name):
    dp = start([upstream("bad-upstream", unbound.tls_port, auth_name="wrong.test")])
    lines = _assert_refused(dp, unbound, unique_name, "wrongname")
    assert any("mismatch" in line for line in lines), "\n".join(lines)


def test_untrusted_ca_gets_no_query(make_dprive, engine, unbound, pki, unique_name):
    dp = make_dprive([upstream("bad-upstream", unbound.tls_port)], ca_bundle=pki.wrong_ca_cert,
                     tls_engine=engine)
    _assert_refused(dp, unbound, unique_name, "wrongca")


def test_wrong_pin_gets_no_query_and_right_pin_works(start, unbound, pki, unique_name):
    dp = start([upstream("bad-upstream", unbound.tls_port, spki=[pki.wrong_pin])])
    lines = _assert_refused(dp, unbound, unique_name, "wrongpin")
    assert any("SPKI pin mismatch" in line for line in lines), "\n".join(lines)
    good = start([upstream("u", unbound.tls_port, auth_name=None, spki=[pki.wrong_pin, pki.server_pin])])
    _ask(good)


@pytest.mark.parametrize("fault", ["garbage_bytes", "bad_record"])
def test_garbage_from_a_server_is_a_record_error_and_the_other_answers(start, unbound, pki, fault):
    with HostileUpstream(pki, honest_share=0.0, faults=(fault,)) as hostile:
        dp = start([upstream("hostile", hostile.port), upstream("good", unbound.tls_port)],
                   attempt_min_ms=200)
        for tcp in (False, True):
            _ask(dp, tcp=tcp)
        assert hostile.faults[fault] >= 1, "the hostile upstream was never asked"
        bad = dp.upstream_status("hostile")
        assert bad["failures"] >= 1 and bad["answers"] == 0, bad
        assert any("hostile:" in line and "TLS record error" in line
                   for line in dp.log_text().splitlines()), dp.log_tail(30)
        assert dp.counters()["servfail"] == 0


def test_tls13_minimum(start, unbound, engine):
    """tls_min_version 1.3: TLS 1.3 where the engine has it; mbedTLS 2.28 refuses to start."""
    if engine == "mbedtls" and not mbedtls_tls13():
        from tests.tools.dprive_proc import DpriveError
        with pytest.raises(DpriveError):
            start([upstream("u", unbound.tls_port)], tls_min_version="1.3")
        return
    dp = start([upstream("u", unbound.tls_port)], tls_min_version="1.3")
    _ask(dp)
    assert dp.upstream_status("u")["tls_version"] == "TLSv1.3"
