"""gateway/stateless.py and cookies.py, what the fuzz tier (tests/fuzz, target gateway) found in them."""

from dprive.gateway.cookies import CookieJar


def test_cookie_checked_in_the_first_window_after_boot():
    # The gateway's clock is time.monotonic(), which on Linux starts near
    # boot: a gateway started by procd in the first 30 s of uptime is in
    # window 0, and checking a stale cookie there also tried window -1,
    # which struct.pack("!Q") refused (struct.error out of the gateway's datagram handling).
    jar = CookieJar(b"k" * 32, 30.0)
    assert not jar.check(b"\x00" * 16, ("198.18.0.1", 5353), 5.0)
    assert jar.check(jar.make(("198.18.0.1", 5353), 5.0), ("198.18.0.1", 5353), 29.0)
    assert jar.check(jar.make(("198.18.0.1", 5353), 5.0), ("198.18.0.1", 5353), 59.0)
    assert not jar.check(jar.make(("198.18.0.1", 5353), 5.0), ("198.18.0.1", 5353), 60.0)
