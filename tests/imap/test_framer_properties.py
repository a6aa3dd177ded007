"""Properties of the IMAP framer (SECURITY.md "Chunk invariance", "IMAP
literals"): every split of the same bytes gives the same events, every prefix
of a valid message is NEED_DATA, any input gives our events and nothing else,
and a poisoned message never lets its literal bytes through as a message."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from protokit import NEED_DATA
from protokit.errors import RemoteProtocolError
from protokit.imap._framer import (
    BadMessage,
    Framer,
    LiteralAnnounced,
    LiteralChunk,
    LiteralEnd,
    LiteralStart,
    Message,
    StreamedLiteral,
)
from tests.imap.test_framer import Bad, run

# Small limits, so that streaming, skipping and draining all happen.
LIMITS = {"max_line": 40, "max_literal": 48, "max_message": 160, "stream_threshold": 8}

# Line text: printable ASCII; continuation lines may start with anything.
TEXT = st.binary(max_size=20).map(
    lambda b: bytes(0x20 + x % 0x5F for x in b)  # 0x20-0x7E
)
# Literal bytes: anything, and biased towards what looks like commands.
LITERAL = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([b"b LOGIN x y\r\n", b"\r\n", b"{5}\r\n", b"x\r\nc NOOP\r\n", b"\n\r"]),
)


@dataclass
class Sample:
    """Wire bytes of valid messages and the events they must give."""

    data: bytes
    events: list[object]
    ends: list[int]  # offset just past each message


def _line(text: bytes) -> bytes:
    # A line must not end in "}" (that would be an announcement of its own).
    return text + b"." if text.endswith(b"}") else text


@st.composite
def messages(draw: st.DrawFn, *, server: bool) -> Sample:
    data = b""
    events: list[object] = []
    ends: list[int] = []
    for n in range(draw(st.integers(1, 4))):
        tag = b"t%d" % n
        line = tag + b" " + _line(draw(TEXT))
        fragments: list[bytes | StreamedLiteral] = []
        for _ in range(draw(st.integers(0, 3))):
            body = draw(LITERAL)
            binary = draw(st.booleans())
            plus = draw(st.booleans())
            line += b" %s{%d%s}" % (b"~" if binary else b"", len(body), b"+" if plus else b"")
            data += line + b"\r\n" + body
            fragments.append(line)
            if server:
                events.append(
                    LiteralAnnounced(
                        tag=tag, length=len(body), synchronizing=not plus, binary=binary
                    )
                )
            if len(body) > LIMITS["stream_threshold"]:
                events += [
                    LiteralStart(length=len(body), binary=binary),
                    LiteralChunk(data=body),
                    LiteralEnd(),
                ]
                fragments.append(StreamedLiteral(len(body), binary))
            else:
                fragments.append(body)
            line = _line(draw(TEXT))
        data += line + b"\r\n"
        fragments.append(line)
        events.append(Message(tuple(fragments)))
        ends.append(len(data))
    return Sample(data, events, ends)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({min(p, len(data)) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(marks)]


@given(st.booleans(), st.data())
def test_every_split_gives_the_same_events(server: bool, data: st.DataObject) -> None:
    sample = data.draw(messages(server=server))
    points = data.draw(st.lists(st.integers(0, len(sample.data)), max_size=12))
    assert run(Framer(server=server, **LIMITS), cut(sample.data, points)) == sample.events


@given(st.booleans(), st.data())
def test_every_prefix_of_a_message_is_need_data(server: bool, data: st.DataObject) -> None:
    sample = data.draw(messages(server=server))
    framer = Framer(server=server, **LIMITS)
    finished_at: list[int] = []
    for i in range(len(sample.data)):
        framer.feed(sample.data[i : i + 1])
        while (event := framer.next_event()) is not NEED_DATA:
            assert not isinstance(event, BadMessage)
            if isinstance(event, Message):
                finished_at.append(i + 1)
            if isinstance(event, LiteralAnnounced) and event.synchronizing:
                framer.accept_literal()
    assert finished_at == sample.ends
    assert not framer.mid_message


EVENT_TYPES = (Message, LiteralAnnounced, LiteralStart, LiteralChunk, LiteralEnd, BadMessage)


@given(
    st.booleans(),
    st.binary(max_size=400),
    st.lists(st.integers(0, 400), max_size=8),
    st.booleans(),
)
def test_any_input_gives_events_never_exceptions(
    server: bool, blob: bytes, points: list[int], reject: bool
) -> None:
    # Biased towards the interesting bytes.
    blob = blob.replace(b"\x01", b"\r\n").replace(b"\x02", b"{5}").replace(b"\x03", b"{3+}")
    framer = Framer(server=server, **LIMITS)
    for chunk in cut(blob, points):
        framer.feed(chunk)
        while (event := framer.next_event()) is not NEED_DATA:
            assert isinstance(event, EVENT_TYPES)
            if isinstance(event, BadMessage):
                assert isinstance(event.error, RemoteProtocolError)
                assert (event.error.reply is not None) == server
            if isinstance(event, LiteralAnnounced) and event.synchronizing:
                if reject:
                    framer.reject_literal()
                else:
                    framer.accept_literal()
            if isinstance(event, Message):
                size = sum(
                    f.length if isinstance(f, StreamedLiteral) else len(f) for f in event.fragments
                )
                assert size <= LIMITS["max_message"]
                assert all(
                    len(f) <= LIMITS["max_line"]
                    for f in event.fragments[::2]
                    if isinstance(f, bytes)
                )
        assert len(framer._line) <= LIMITS["max_line"] + 1


BAD_FIRST_LINES = [
    b"a APPEND x\r {%d+}\r\n",  # bare CR
    b"a APPEND x {%d+}\n",  # bare LF
    b"a APPEND " + b"x" * 40 + b" {%d+}\r\n",  # over long
]


@given(st.booleans(), st.sampled_from(BAD_FIRST_LINES), LITERAL, LITERAL, st.data())
def test_poisoned_literal_bytes_never_become_messages(
    server: bool, first: bytes, payload: bytes, payload2: bytes, data: st.DataObject
) -> None:
    wire = (
        first % len(payload)
        + payload
        + b" {%d+}\r\n" % len(payload2)
        + payload2
        + b"\r\nz NOOP\r\n"
    )
    points = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    events = run(Framer(server=server, **LIMITS), cut(wire, points))
    assert len(events) == 2
    assert isinstance(events[0], Bad)
    assert events[1] == Message((b"z NOOP",))


@given(st.booleans(), st.integers(49, 400), st.binary(max_size=60), st.data())
def test_too_large_literal_is_drained_exactly(
    server: bool, declared: int, junk: bytes, data: st.DataObject
) -> None:
    # Declared above max_literal: nothing of it is held, all of it is consumed.
    body = (junk + b"b LOGIN x y\r\n" * 40)[:declared].ljust(declared, b"\n")
    wire = b"a APPEND x {%d+}\r\n" % declared + body + b"\r\nz NOOP\r\n"
    points = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    events = run(Framer(server=server, **LIMITS), cut(wire, points))
    assert len(events) == 2
    assert isinstance(events[0], Bad)
    assert events[1] == Message((b"z NOOP",))


LIMIT_SETS = [
    LIMITS,
    {**LIMITS, "stream_threshold": 0},
    {**LIMITS, "max_line": 5},
    {**LIMITS, "max_message": 20, "max_literals": 1},
]


@given(
    st.booleans(),
    st.binary(max_size=300),
    st.lists(st.integers(0, 300), max_size=8),
    st.sampled_from(LIMIT_SETS),
)
def test_any_input_gives_the_same_events_however_split(
    server: bool, blob: bytes, points: list[int], limits: dict[str, int]
) -> None:
    # Chunk invariance holds for bad input too: skipped lines, drained
    # literals and recovered tags do not depend on where the bytes were cut.
    blob = (
        blob.replace(b"\x01", b"\r\n")
        .replace(b"\x02", b"{5}")
        .replace(b"\x03", b"{3+}")
        .replace(b"\x04", b"a1 X ")
        .replace(b"\x05", b"~{70+}")
    )
    whole = run(Framer(server=server, **LIMITS), [blob])
    assert run(Framer(server=server, **LIMITS), cut(blob, points)) == whole
    assert (
        run(Framer(server=server, **LIMITS), [blob[i : i + 1] for i in range(len(blob))]) == whole
    )
