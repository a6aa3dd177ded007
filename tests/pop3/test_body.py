"""The POP3 client's body reader (DotUnstuffer, PRESERVE, not counting):
fed whole, byte by byte, with trailing data, at every split, and against the
counting DotUnstuffer as an oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.wire import BareLineEndingPolicy, DotUnstuffer, ReceiveBuffer

from .helpers import three_ways


def BodyReader() -> DotUnstuffer:
    return DotUnstuffer(BareLineEndingPolicy.PRESERVE, count_bare=False)


def read_all(chunks: list[bytes], max_chunk: int | None = None) -> tuple[bytes, bytes, bool]:
    buf = ReceiveBuffer()
    reader = BodyReader()
    out = b""
    for c in chunks:
        buf.feed(c)
        while True:
            got = reader.read(buf, max_chunk)
            out += got
            if not got:
                break
    assert reader.size == len(out)
    return out, bytes(buf.raw), reader.done


CASES = [
    (b".\r\n", b""),
    (b"abc\r\n.\r\n", b"abc\r\n"),
    (b"..\r\n.\r\n", b".\r\n"),
    (b"..abc\r\n..\r\n...\r\n.\r\n", b".abc\r\n.\r\n..\r\n"),
    (b"a\r\n\r\n.x\r\n.\r\n", b"a\r\n\r\nx\r\n"),
    # Only CRLF "." CRLF ends a body: the smuggling sequences are body bytes.
    (b"a\n.\nb\r\n.\r\n", b"a\n.\nb\r\n"),
    (b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n"),
    (b"a\r.\r\nb\r\n.\r\n", b"a\r.\r\nb\r\n"),
    (b"a\r\n.\nb\r\n.\r\n", b"a\r\n\nb\r\n"),
    (b"bare\rcr and bare\nlf\r\n.\r\n", b"bare\rcr and bare\nlf\r\n"),
]


@pytest.mark.parametrize(("wire", "body"), CASES)
def test_three_ways(wire: bytes, body: bytes) -> None:
    for label, chunks in three_ways(wire, trailing=b"+OK next\r\n"):
        out, rest, done = read_all(chunks)
        assert done, label
        assert out == body, label
        assert rest == (b"+OK next\r\n" if label == "trailing" else b""), label


@pytest.mark.parametrize(("wire", "body"), CASES)
def test_every_prefix_is_need_data_and_never_ends(wire: bytes, body: bytes) -> None:
    for cut in range(len(wire)):
        out, _, done = read_all([wire[:cut]])
        assert not done
        assert body.startswith(out)


@pytest.mark.parametrize("max_chunk", [1, 5, 7])
def test_max_chunk(max_chunk: int) -> None:
    wire = b"..abc\r\nline two\r\n..\r\n.\r\nTAIL"
    out, rest, done = read_all([wire], max_chunk)
    assert (out, rest, done) == (b".abc\r\nline two\r\n.\r\n", b"TAIL", True)


def _oracle(wire: bytes) -> tuple[bytes, bytes, bool]:
    buf = ReceiveBuffer(wire)
    reader = DotUnstuffer(BareLineEndingPolicy.PRESERVE)
    out = b""
    while got := reader.read(buf):
        out += got
    return out, bytes(buf.raw), reader.done


_pieces = st.lists(
    st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"..", b"\r\n.\r\n", b"x y"]),
    max_size=30,
)


@given(_pieces, st.lists(st.integers(0, 200), max_size=6))
def test_matches_the_wire_unstuffer_at_every_split(pieces: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(pieces)
    points = sorted({min(c, len(wire)) for c in cuts})
    chunks, prev = [], 0
    for p in points:
        chunks.append(wire[prev:p])
        prev = p
    chunks.append(wire[prev:])
    assert read_all(chunks) == _oracle(wire)
