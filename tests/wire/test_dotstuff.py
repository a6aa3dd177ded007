from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.wire import BareLineEndingPolicy, DotStuffer, DotUnstuffer, ReceiveBuffer
from tests.helpers import splits, three_ways

REJECT = BareLineEndingPolicy.REJECT
NORMALIZE = BareLineEndingPolicy.NORMALIZE
PRESERVE = BareLineEndingPolicy.PRESERVE


def unstuff(
    chunks: list[bytes], policy: BareLineEndingPolicy = REJECT, max_chunk: int | None = None
) -> tuple[bytes, bytes, DotUnstuffer]:
    """Feed chunks; return (body, bytes left in the buffer, reader)."""
    buf = ReceiveBuffer()
    reader = DotUnstuffer(policy)
    body = b""
    for c in chunks:
        buf.feed(c)
        while not reader.done:
            before = len(buf)
            got = reader.read(buf, max_chunk)
            if max_chunk is not None:
                # plus a first-line stuffed dot and the terminating "." CRLF
                assert before - len(buf) <= max(max_chunk, 5) + 4
            body += got
            if before == len(buf):
                break
    return body, buf.extract_all(), reader


def reference(data: bytes, policy: BareLineEndingPolicy) -> tuple[bytes, bytes, int, int] | None:
    """A deliberately simple model of RFC 5321 section 4.5.2 on whole input."""
    if data.startswith(b".\r\n"):
        raw, rest = b"", data[3:]
    else:
        i = data.find(b"\r\n.\r\n")
        if i < 0:
            return None
        raw, rest = data[: i + 2], data[i + 5 :]
    crlf = raw.count(b"\r\n")
    bare_cr, bare_lf = raw.count(b"\r") - crlf, raw.count(b"\n") - crlf
    body = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in raw.split(b"\r\n"))
    if policy is NORMALIZE:
        body = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
    return body, rest, bare_cr, bare_lf


MESSAGE = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM:<b@c>\r\n"


@pytest.mark.parametrize(("label", "chunks"), list(three_ways(MESSAGE)))
def test_whole_bytewise_and_with_trailing_data(label: str, chunks: list[bytes]) -> None:
    body, rest, reader = unstuff(chunks)
    assert body == b"Subject: x\r\n\r\n.leading dot\r\n"
    assert rest == b"MAIL FROM:<b@c>\r\n"
    assert reader.done
    assert reader.size == len(body)
    assert not reader.saw_bare_line_ending


def test_empty_body() -> None:
    body, rest, reader = unstuff([b".\r\nQUIT\r\n"])
    assert (body, rest, reader.done) == (b"", b"QUIT\r\n", True)


def test_first_line_stuffed_dot() -> None:
    body, _, _ = unstuff([b"..\r\n.\r\n"])
    assert body == b".\r\n"
    body, _, _ = unstuff([b".", b".", b"x\r\n.\r\n"])
    assert body == b".x\r\n"


def test_lone_stuffed_dot_chunk() -> None:
    buf = ReceiveBuffer(b".")
    r = DotUnstuffer()
    assert r.read(buf) == b""
    buf.feed(b"a")
    assert r.read(buf) == b"a"
    buf.feed(b"\r\n.\r\n")
    assert r.read(buf) == b"\r\n"
    assert r.done
    assert r.read(buf) == b""


def test_dot_line_not_at_end_is_content() -> None:
    body, rest, _ = unstuff([b"a\r\n..\r\nb\r\n.\r\n"])
    assert body == b"a\r\n.\r\nb\r\n"
    assert rest == b""


def test_incomplete_body_waits() -> None:
    body, rest, reader = unstuff([b"abc\r\n.\r"])
    assert not reader.done
    assert body == b"abc"
    assert rest == b"\r\n.\r"  # held back: may be the terminator


# SECURITY.md, Framing: each sequence followed by a second command and message
# must stay inside the first body.
SMUGGLING = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n\x00.\r\n", b"\n.\r"]


@pytest.mark.parametrize("seq", SMUGGLING, ids=[repr(s) for s in SMUGGLING])
@pytest.mark.parametrize("policy", list(BareLineEndingPolicy), ids=lambda p: p.value)
def test_smuggling_sequences_never_end_the_body(seq: bytes, policy: BareLineEndingPolicy) -> None:
    smuggled = b"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nevil\r\n"
    data = b"Subject: a\r\n\r\nhello" + seq + smuggled + b".\r\nQUIT\r\n"
    for _label, chunks in three_ways(data):
        body, rest, reader = unstuff(chunks, policy)
        assert rest == b"QUIT\r\n", "exactly one message: the smuggled one is body text"
        assert b"MAIL FROM:<evil@x>" in body
        if b"\x00" not in seq:
            assert reader.saw_bare_line_ending
        expected = reference(data, policy)
        assert expected is not None
        assert body == expected[0]


def test_reject_policy_delivers_bytes_and_counts() -> None:
    body, _, r = unstuff([b"a\nb\rc\r\n.\r\n"], REJECT)
    assert body == b"a\nb\rc\r\n"
    assert (r.bare_cr, r.bare_lf) == (1, 1)


def test_normalize_policy_rewrites_and_counts() -> None:
    body, _, r = unstuff([b"a\nb\rc\n\r\r\n.\r\n"], NORMALIZE)
    assert body == b"a\r\nb\r\nc\r\n\r\n\r\n"
    assert (r.bare_cr, r.bare_lf) == (2, 2)


def test_preserve_policy_keeps_and_counts() -> None:
    body, _, r = unstuff([b"a\n.b\r\n.\r\n"], PRESERVE)
    # A dot after a bare LF is not at a line start (RFC 5321: lines end in CRLF).
    assert body == b"a\n.b\r\n"
    assert (r.bare_cr, r.bare_lf) == (0, 1)


def test_cr_split_from_lf_across_chunks_is_not_bare() -> None:
    body, _, r = unstuff([b"a\r", b"\nb\r", b"\n.", b"\r", b"\n"])
    assert body == b"a\r\nb\r\n"
    assert not r.saw_bare_line_ending


def test_max_chunk_bounds_each_read() -> None:
    data = b"0123456789\r\n" * 10 + b".\r\nNEXT"
    buf = ReceiveBuffer(data)
    reader = DotUnstuffer()
    reads = []
    while not reader.done:
        reads.append(reader.read(buf, 7))
    assert all(len(r) <= 7 for r in reads)
    assert len(reads) > 100 // 7
    body, rest = b"".join(reads), buf.extract_all()
    assert body == b"0123456789\r\n" * 10
    assert rest == b"NEXT"


def test_repr() -> None:
    assert repr(DotUnstuffer()) == (
        "<DotUnstuffer policy=reject done=False size=0 bare_cr=0 bare_lf=0>"
    )
    assert repr(DotStuffer()) == "<DotStuffer size=0 closed=False>"


pieces = st.lists(
    st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"\r\n.\r\n", b"..", b"\x00"]),
    max_size=40,
).map(b"".join)


@given(
    pieces, st.lists(st.integers(0, 200), max_size=8), st.sampled_from(list(BareLineEndingPolicy))
)
def test_any_split_matches_the_reference(
    data: bytes, cuts: list[int], policy: BareLineEndingPolicy
) -> None:
    data += b"\r\n.\r\nTAIL"
    expected = reference(data, policy)
    assert expected is not None
    for max_chunk in (None, 3):
        body, rest, reader = unstuff(splits(data, cuts), policy, max_chunk)
        assert reader.done
        assert (body, rest, reader.bare_cr, reader.bare_lf) == expected


@given(pieces, st.lists(st.integers(0, 200), max_size=8))
def test_unterminated_input_never_ends(data: bytes, cuts: list[int]) -> None:
    if reference(data, PRESERVE) is not None:
        return
    _, rest, reader = unstuff(splits(data, cuts), PRESERVE)
    assert not reader.done
    assert len(rest) <= 4


# -- the writer ---------------------------------------------------------------


def stuff(chunks: list[bytes]) -> tuple[bytes, DotStuffer]:
    s = DotStuffer()
    return b"".join(s.write(c) for c in chunks) + s.close(), s


def test_stuffer_doubles_leading_dots_and_terminates() -> None:
    out, s = stuff([b".a\r\nb\r\n..c\r\n"])
    assert out == b"..a\r\nb\r\n...c\r\n.\r\n"
    assert s.size == len(b".a\r\nb\r\n..c\r\n")


def test_stuffer_across_chunk_boundaries() -> None:
    out, _ = stuff([b"a\r", b"\n", b".", b"b\r\n", b"", b".c"])
    assert out == b"a\r\n..b\r\n..c\r\n.\r\n"


def test_stuffer_adds_missing_final_crlf() -> None:
    assert stuff([b"abc"])[0] == b"abc\r\n.\r\n"
    assert stuff([b"abc\r"])[0] == b"abc\r\n.\r\n"
    assert stuff([])[0] == b".\r\n"
    assert stuff([b"\r\n"])[0] == b"\r\n.\r\n"


@pytest.mark.parametrize("seq", SMUGGLING, ids=[repr(s) for s in SMUGGLING])
def test_stuffer_normalises_smuggling_sequences(seq: bytes) -> None:
    out, _ = stuff([b"x" + seq + b"MAIL FROM:<a@b>\r\n"])
    assert out.count(b"\r\n.\r\n") == 1 and out.endswith(b"\r\n.\r\n")
    crlf = out.count(b"\r\n")
    assert out.count(b"\r") == crlf == out.count(b"\n")


def test_stuffer_refuses_use_after_close() -> None:
    s = DotStuffer()
    s.close()
    with pytest.raises(ValueError, match="after close"):
        s.write(b"x")
    with pytest.raises(ValueError, match="twice"):
        s.close()


@given(
    pieces, st.lists(st.integers(0, 200), max_size=8), st.lists(st.integers(0, 400), max_size=8)
)
def test_stuff_then_unstuff_round_trips(body: bytes, cuts: list[int], cuts2: list[int]) -> None:
    out, s = stuff(splits(body, cuts))
    whole, _ = stuff([body])
    assert out == whole, "the writer's output does not depend on chunking"
    crlf = out.count(b"\r\n")
    assert out.count(b"\r") == crlf == out.count(b"\n"), "no bare CR or LF leaves the writer"
    normalized = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
    if normalized and not normalized.endswith(b"\r\n"):
        normalized += b"\r\n"
    got, rest, reader = unstuff(splits(out + b"NEXT", cuts2))
    assert (got, rest) == (normalized, b"NEXT")
    assert s.size == len(normalized)
    assert not reader.saw_bare_line_ending


def test_only_preserve_may_skip_counting() -> None:
    with pytest.raises(ValueError, match="only PRESERVE"):
        DotUnstuffer(REJECT, count_bare=False)
    r = DotUnstuffer(PRESERVE, count_bare=False)
    buf = ReceiveBuffer(b"a\nb\r\n.\r\n")
    assert r.read(buf) == b"a\nb\r\n"
    assert (r.done, r.bare_cr, r.bare_lf) == (True, 0, 0)
