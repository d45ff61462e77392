# portable: runs under MicroPython too
"""What the fuzz tier (tests/fuzz) found in the core, each as a plain test.

The inputs that found them are in tests/fuzz/regressions/<target>/ and are
replayed by tests/fuzz/test_fuzz_corpus.py; these say the same in words.
"""

from coreharness import Harness, make_query
from testkit import eq, ok

from dprive.core import forwarder as fw
from dprive.core import message, wire


def test_query_too_long_to_frame_once_padded_gets_formerr_and_nothing_goes_up():
    # A TCP client's 65 KB query: with our keepalive option and padding to
    # 128 it came to 65536 bytes, one more than a TCP length prefix holds, and
    # framing it for the upstream raised struct.error in the shell
    # (io/upstream_conn.py send), leaving the rest of that batch undone.
    h = Harness(config=fw.ForwarderConfig(padding_block=512))
    h.run(h.fwd.start(h.clock.now))
    h.connected()
    longest = make_query(opt=wire.Opt(1232, 0, 0, 0, [(10, b"x" * (message.MAX_QUERY_LEN - 45))]))
    eq(len(longest), message.MAX_QUERY_LEN)
    h.query("longest", longest, udp=False)
    sent = h.outstanding()
    eq(len(sent), 1, "the longest query that may be forwarded is")
    ok(len(sent[0]) <= 65535, "and fits a length prefix once padded")
    h.answer_all()
    too_long = make_query(opt=wire.Opt(1232, 0, 0, 0, [(10, b"x" * 65480)]))
    h.query("too long", too_long, udp=False)
    eq(h.outstanding(), [], "a query too long to frame upstream is not sent")
    answer = h.reply("too long")
    eq(wire.parse_header(answer).rcode(), wire.RCODE_FORMERR)
    eq(wire.get_id(answer), 0x1234)
    eq(h.counter("formerr"), 1)
