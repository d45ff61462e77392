# portable: runs under MicroPython too
"""The core's actions (core/actions.py) compare by value, field by field, and
by type: the tests and the fuzz shell compare what the core returned with
what they expected, so an equality that ignored a field would let a wrong
action pass."""

from testkit import eq, ok

from dprive.core.actions import Close, Connect, ForgetSession, Log, Reply, Send


def test_actions_with_the_same_fields_are_equal_and_hash_alike():
    a, b = Connect(1, "k", True, "tls", False), Connect(1, "k", True, "tls", False)
    ok(a == b and not (a != b), "same fields")
    eq(hash(a), hash(b))
    eq(len(set([a, b, Send(1, b"x"), Send(1, b"x")])), 2)


def test_every_field_counts():
    base = Connect(1, "k", True, "tls", True)
    for other in (Connect(2, "k", True, "tls", True), Connect(1, "j", True, "tls", True),
                  Connect(1, "k", False, "tls", True), Connect(1, "k", True, "dtls", True),
                  Connect(1, "k", True, "tls", False)):
        ok(base != other and not (base == other), "%r against %r" % (base, other))
    ok(Close(3, "gone", "a") != Close(3, "gone", "b"), "the name counts")
    ok(Log(20, "x") != Log(30, "x"))
    ok(ForgetSession("k", "tls") != ForgetSession("k", "dtls"))


def test_the_type_counts_even_with_the_same_field_values():
    ok(Send(1, b"m") != Reply(1, b"m"), "a Send is not a Reply")
    ok(not (Send(1, b"m") == Reply(1, b"m")))
    ok(Send(1, b"m") != (1, b"m"), "nor a tuple")


def test_repr_names_each_field():
    eq(repr(Close(4, "replaced", "up")), "Close(handle=4, reason='replaced', name='up')")
    eq(repr(ForgetSession("k", "dtls")), "ForgetSession(upstream='k', transport='dtls')")
    eq(repr(Reply(9, None)), "Reply(client=9, msg=None)")
