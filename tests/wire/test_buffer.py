from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.errors import BareLineEndingError, LineTooLongError, RemoteProtocolError
from protokit.wire import ReceiveBuffer
from tests.helpers import splits, three_ways


def drain_lines(buf: ReceiveBuffer, limit: int = 1000) -> list[bytes]:
    out = []
    while (line := buf.extract_line(limit)) is not None:
        out.append(line)
    return out


@pytest.mark.parametrize(("label", "chunks"), list(three_ways(b"EHLO a\r\nMAIL FROM:<>\r\n\r\n")))
def test_lines_whole_bytewise_and_in_pairs(label: str, chunks: list[bytes]) -> None:
    buf = ReceiveBuffer()
    got: list[bytes] = []
    for c in chunks:
        buf.feed(c)
        got += drain_lines(buf)
    assert got == [b"EHLO a", b"MAIL FROM:<>", b""]
    assert len(buf) == 0


def test_trailing_partial_line_stays_buffered() -> None:
    buf = ReceiveBuffer(b"NOOP\r\nQUI")
    assert buf.extract_line(100) == b"NOOP"
    assert buf.extract_line(100) is None
    assert len(buf) == 3
    buf.feed(b"T\r\nDATA")
    assert buf.extract_line(100) == b"QUIT"
    assert buf.extract_all() == b"DATA"


def test_search_resumes_where_it_stopped() -> None:
    # A line trickling in byte by byte is scanned once: the buffer remembers
    # that the bytes it already searched hold no LF.
    buf = ReceiveBuffer()
    for i, b in enumerate(b"abcdefgh"):
        buf.feed(bytes([b]))
        assert buf.extract_line(100) is None
        assert buf._searched == i + 1  # absolute offset: nothing consumed yet
    buf.feed(b"\r\n")
    assert buf.extract_line(100) == b"abcdefgh"
    buf.feed(b"xy")
    assert buf.extract_line(100) is None
    assert buf._searched == 2  # compacted on feed, and the new bytes searched


def test_bare_lf_is_reported_with_the_line_consumed() -> None:
    buf = ReceiveBuffer(b"NOOP\nQUIT\r\n")
    with pytest.raises(BareLineEndingError) as info:
        buf.extract_line(100)
    assert info.value.line == b"NOOP\n"
    assert isinstance(info.value, RemoteProtocolError)
    assert buf.extract_line(100) == b"QUIT"


def test_lone_lf_line() -> None:
    buf = ReceiveBuffer(b"\n")
    with pytest.raises(BareLineEndingError) as info:
        buf.extract_line(10)
    assert info.value.line == b"\n"
    assert len(buf) == 0


def test_bare_cr_inside_a_line_is_reported() -> None:
    buf = ReceiveBuffer(b"RCPT TO:<a>\rDATA\r\nNOOP\r\n")
    with pytest.raises(BareLineEndingError) as info:
        buf.extract_line(100)
    assert info.value.line == b"RCPT TO:<a>\rDATA\r\n"
    assert buf.extract_line(100) == b"NOOP"


def test_bare_cr_then_crlf_is_reported() -> None:
    buf = ReceiveBuffer(b"A\r\r\n")
    with pytest.raises(BareLineEndingError):
        buf.extract_line(100)


def test_line_at_exactly_the_limit() -> None:
    buf = ReceiveBuffer(b"x" * 10 + b"\r\n")
    assert buf.extract_line(10) == b"x" * 10


def test_line_over_the_limit_is_refused_before_its_end_arrives() -> None:
    buf = ReceiveBuffer()
    buf.feed(b"x" * 11)
    assert buf.extract_line(10) is None  # 11 bytes may still be 10 + CR
    buf.feed(b"y")
    with pytest.raises(LineTooLongError) as info:
        buf.extract_line(10)
    assert info.value.limit == 10
    assert info.value.complete is False
    # The caller discards the rest of the line as it arrives, never holding it.
    assert buf.skip_line() is False
    assert len(buf) == 0
    buf.feed(b"zzzz")
    assert buf.skip_line() is False
    assert len(buf) == 0
    buf.feed(b"zz\r\nNEXT\r\n")
    assert buf.skip_line() is True
    assert buf.extract_line(10) == b"NEXT"


def test_a_complete_over_long_line_is_refused() -> None:
    buf = ReceiveBuffer(b"x" * 11 + b"\r\nOK\r\n")
    with pytest.raises(LineTooLongError):
        buf.extract_line(10)
    assert buf.skip_line() is True
    assert buf.extract_line(10) == b"OK"


def test_limit_can_change_between_lines() -> None:
    buf = ReceiveBuffer(b"12345\r\n123456789\r\n")
    assert buf.extract_line(5) == b"12345"
    with pytest.raises(LineTooLongError):
        buf.extract_line(5)
    buf2 = ReceiveBuffer(b"123456789\r\n")
    assert buf2.extract_line(9) == b"123456789"


def test_exact_and_at_most_reads() -> None:
    buf = ReceiveBuffer(b"0123456789")
    assert buf.extract_exactly(11) is None
    assert buf.extract_exactly(3) == b"012"
    assert buf.extract_at_most(4) == b"3456"
    assert buf.extract_at_most(100) == b"789"
    assert buf.extract_at_most(5) == b""
    assert buf.extract_exactly(0) == b""
    with pytest.raises(ValueError, match="n must be"):
        buf.extract_exactly(-1)
    with pytest.raises(ValueError, match="n must be"):
        buf.extract_at_most(-1)


def test_exact_read_then_line_search_is_not_confused() -> None:
    buf = ReceiveBuffer(b"abc")
    assert buf.extract_line(100) is None
    assert buf.extract_exactly(2) == b"ab"
    buf.feed(b"\r\n")
    assert buf.extract_line(100) == b"c"


def test_repr_shows_size_not_contents() -> None:
    buf = ReceiveBuffer(b"AUTH PLAIN c2VjcmV0\r\n")
    assert repr(buf) == "<ReceiveBuffer 21 bytes>"
    assert bool(buf)
    assert buf.startswith(b"AUTH")


lines_st = st.lists(
    st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
)


@given(lines_st, st.lists(st.integers(0, 400)), st.binary(max_size=10))
def test_any_split_gives_the_same_lines(lines: list[bytes], cuts: list[int], tail: bytes) -> None:
    tail = tail.replace(b"\n", b"")
    data = b"".join(line + b"\r\n" for line in lines) + tail
    buf = ReceiveBuffer()
    got: list[bytes] = []
    for c in splits(data, cuts):
        buf.feed(c)
        got += drain_lines(buf, 100)
    assert got == lines
    assert buf.extract_all() == tail


@given(st.binary(max_size=200), st.lists(st.integers(0, 200)))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, cuts: list[int]) -> None:
    buf = ReceiveBuffer()
    for c in splits(data, cuts):
        buf.feed(c)
        while True:
            try:
                if buf.extract_line(16) is None:
                    break
            except LineTooLongError:
                buf.skip_line()
            except BareLineEndingError:
                pass
    assert len(buf) <= 17


ops_st = st.lists(
    st.one_of(
        st.tuples(st.just("feed"), st.binary(max_size=12)),
        st.tuples(st.just("line"), st.integers(0, 20)),
        st.tuples(st.just("exactly"), st.integers(0, 10)),
        st.tuples(st.just("at_most"), st.integers(0, 10)),
        st.tuples(st.just("consume"), st.integers(0, 10)),
    ),
    max_size=40,
)


@given(ops_st)
def test_operations_match_a_plain_bytes_model(ops: list[tuple[str, object]]) -> None:
    buf = ReceiveBuffer()
    model = b""
    for op, arg in ops:
        if op == "feed":
            assert isinstance(arg, bytes)
            buf.feed(arg)
            model += arg
        elif op == "line":
            assert isinstance(arg, int)
            lf = model.find(b"\n")
            try:
                got = buf.extract_line(arg)
            except LineTooLongError:
                assert (lf < 0 or lf > arg + 1) and len(model) > arg + 1
                buf.skip_line()
                model = b"" if lf < 0 else model[lf + 1 :]
                continue
            except BareLineEndingError as exc:
                assert exc.line == model[: lf + 1]  # noqa: PT017
                model = model[lf + 1 :]
                continue
            if got is None:
                assert lf < 0
            else:
                assert model[: lf + 1] == got + b"\r\n"
                model = model[lf + 1 :]
        elif op == "exactly":
            assert isinstance(arg, int)
            got = buf.extract_exactly(arg)
            assert got == (model[:arg] if len(model) >= arg else None)
            if got is not None:
                model = model[arg:]
        elif op == "at_most":
            assert isinstance(arg, int)
            assert buf.extract_at_most(arg) == model[:arg]
            model = model[arg:]
        else:
            assert isinstance(arg, int)
            n = min(arg, len(buf))
            assert bytes(buf.raw[:n]) == model[:n]
            buf.consume(n)
            model = model[n:]
        assert len(buf) == len(model)
        assert buf.startswith(model[:3])
