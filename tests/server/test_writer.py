"""The message writer's incremental readers, fed whole, byte by byte and
with trailing data: the CRLF-size counter and the header-block capture;
and the header-field parser."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protokit.server import LineEndingCounter, MessageWriter
from protokit.server._writer import message_ids, parse_header_fields
from tests.helpers import splits, three_ways


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def count(chunks: list[bytes]) -> int:
    c = LineEndingCounter()
    for chunk in chunks:
        c.feed(chunk)
    return c.bare


def test_counter_three_ways() -> None:
    data = b"a\r\nb\rc\nd\r\r\n\n\r"
    for label, chunks in three_ways(data):
        assert count(chunks) == 5, label
        assert count([*chunks, b"\n"]) == 4, label  # a trailing LF completes the final CR
    assert count([b"\r", b"", b"\n"]) == 0


@given(
    st.binary(max_size=200).map(lambda b: b.replace(b"x", b"\r").replace(b"y", b"\n")),
    st.lists(st.integers(0, 200)),
)
def test_counter_matches_normalisation_for_any_split(data: bytes, cuts: list[int]) -> None:
    assert len(data) + count(splits(data, cuts)) == len(crlf(data))


def head(chunks: list[bytes]) -> bytes:
    w = MessageWriter()
    for chunk in chunks:
        w.write(chunk)
    try:
        return w._finish()[2]
    finally:
        w.abort()


def test_header_capture_three_ways() -> None:
    cases = {
        b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n": b"A: 1\r\nB: 2\r\n\r\n",
        b"A: 1\n\nbody": b"A: 1\n\n",
        b"\r\nbody only": b"",  # no header: the first line is empty... kept as is
        b"A: 1\r\nno end": b"A: 1\r\nno end",
    }
    for data, expected in cases.items():
        for label, chunks in three_ways(data):
            got = head(chunks)
            if data.startswith(b"\r\n"):
                assert got == b"\r\nbody only", label  # no "\r\n\r\n": all of it is header
            else:
                assert got == expected, (label, data)
        assert head([data, b"\r\n\r\ntrailing"]).startswith(expected) or data.startswith(b"\r\n")


def test_header_fields() -> None:
    raw = b"Subject: hello\r\n  world\r\nX-Empty:\r\nBad line\r\nTo :a@b\r\n\tfolded\r\n\r\n"
    assert parse_header_fields(raw) == [
        ("Subject", "hello  world"),
        ("X-Empty", ""),
        ("To", "a@b\tfolded"),
    ]
    assert parse_header_fields(b"Subject: caf\xc3\xa9 \xff\r\n") == [("Subject", "café \ufffd")]
    assert message_ids("<a@b> junk <c@d>\t<e f>") == ["<a@b>", "<c@d>"]
