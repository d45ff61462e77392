# portable: runs under MicroPython too
"""DNS messages over a byte stream (core/framing.py): the length prefix, and the
decoder fed the stream cut anywhere."""

from testkit import eq, ok, raises

from dprive.core.framing import FrameDecoder, FramingError, frame


def test_frame_puts_the_length_in_two_bytes_big_endian():
    eq(frame(b"abc"), b"\x00\x03abc")
    eq(frame(b"x" * 258), b"\x01\x02" + b"x" * 258)
    eq(frame(b"x" * 65535)[:2], b"\xff\xff")


def test_whole_messages_come_out_in_order_and_a_partial_one_waits():
    stream = frame(b"one") + frame(b"second") + frame(b"third!")[:4]
    d = FrameDecoder()
    eq(d.feed(stream), [b"one", b"second"])
    eq(d.pending(), 4, "the prefix and two bytes of the third")
    eq(d.feed(b"ird!"), [b"third!"])
    eq(d.pending(), 0)


def test_a_stream_dripped_a_byte_at_a_time_gives_the_same_messages():
    messages = [b"a", b"bb" * 100, b"c" * 300, b"d"]
    stream = b"".join(frame(m) for m in messages)
    d = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got += d.feed(stream[i:i + 1])
        eq(d.pending(), i + 1 - sum(len(frame(m)) for m in got), "kept at offset %d" % i)
    eq(got, messages)
    eq(d.pending(), 0)


def test_every_cut_of_the_stream_in_two_gives_the_same_messages():
    messages = [b"first", b"x" * 256, b"end"]
    stream = b"".join(frame(m) for m in messages)
    for cut in range(len(stream) + 1):
        d = FrameDecoder()
        got = d.feed(stream[:cut])
        eq(d.pending(), cut - sum(len(frame(m)) for m in got), "cut at %d" % cut)
        got += d.feed(stream[cut:])
        eq(got, messages, "cut at %d" % cut)


def test_a_prefix_short_of_its_message_keeps_every_byte():
    d = FrameDecoder()
    eq(d.feed(b"\x00"), [])
    eq(d.pending(), 1, "half a prefix")
    eq(d.feed(b"\x05ab"), [])
    eq(d.pending(), 4)
    eq(d.feed(b""), [], "nothing new")
    eq(d.feed(b"cde" + b"\x00\x01"), [b"abcde"])
    eq(d.pending(), 2)
    eq(d.feed(b"z"), [b"z"])


def test_a_zero_length_prefix_ends_the_stream_with_its_offset_and_drops_the_rest():
    d = FrameDecoder()
    with raises(FramingError) as info:
        d.feed(frame(b"ok") + b"\x00\x00" + b"junk")
    err = info.value
    ok("offset 4" in str(err), str(err))
    eq(d.pending(), 0, "nothing kept of a stream that cannot carry on")
    ok(isinstance(err, ValueError), "a ValueError, as the shell catches it")


def test_a_length_of_32768_and_more_is_read_unsigned():
    # A prefix read as signed ("!h") would make 0x8000 a negative length.
    for size in (32768, 65535):
        msg = b"m" * size
        d = FrameDecoder()
        eq(d.feed(frame(msg) + frame(b"next")), [msg, b"next"], "size %d" % size)
        eq(d.pending(), 0)


def test_a_zero_length_prefix_is_refused_as_soon_as_its_two_bytes_arrive():
    # Nothing can follow a zero prefix: waiting for a third byte would leave a
    # peer that sent only these two stalled instead of refused.
    with raises(FramingError):
        FrameDecoder().feed(b"\x00\x00")
    d = FrameDecoder()
    eq(d.feed(b"\x00"), [])
    with raises(FramingError):
        d.feed(b"\x00")
    d = FrameDecoder()
    eq(d.feed(frame(b"ok")), [b"ok"])
    with raises(FramingError):
        d.feed(b"\x00\x00")
    d = FrameDecoder()
    eq(d.feed(frame(b"ok") + b"\x00"), [b"ok"])
    with raises(FramingError):
        d.feed(b"\x00")
