"""The IMAP framer: messages, literals, limits, poisoning, tag recovery.

Every case that ends at a message boundary is fed three ways (whole, one
byte at a time, and with a trailing message after it) by :func:`check`.
Properties (any split, any prefix, any input) are in test_framer_properties.

SECURITY.md lines, and where the framer's part of each is tested:

- IMAP literals ``{-1}``, ``{}``, ``{99999999999999999999}``:
  test_malformed_announcement_is_a_typed_error,
  test_twenty_nines_is_a_literal_too_large;
- a declared ``{400000000}`` followed by ten bytes, memory bounded:
  test_declared_huge_literal_is_refused_before_any_byte,
  test_huge_non_synchronizing_literal_is_drained_exactly and
  test_framer_properties' test_too_large_literal_is_drained_exactly;
- 10,000 nested parentheses (the framer frames them; the parser refuses):
  test_ten_thousand_nested_parentheses_frame_as_one_line;
- line length without buffering past the limit:
  test_line_over_the_limit_is_skipped_without_buffering and the other
  over-long line tests;
- chunk invariance and prefixes: test_framer_properties'
  test_every_split_gives_the_same_events and
  test_every_prefix_of_a_message_is_need_data;
- literal bytes never read as commands: test_literal_bytes_are_never_read_as_commands,
  the poisoning tests here and test_poisoned_literal_bytes_never_become_messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from protokit import NEED_DATA
from protokit.errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    RemoteProtocolError,
)
from protokit.imap._framer import (
    BadMessage,
    Framer,
    LiteralAnnounced,
    LiteralChunk,
    LiteralEnd,
    LiteralStart,
    LiteralTooLargeError,
    MalformedLiteralError,
    Message,
    MessageTooLargeError,
    StreamedLiteral,
)

# -- helpers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A BadMessage, comparable: the error's class and reply instead of the
    error object."""

    tag: bytes | None
    kind: type[RemoteProtocolError]
    reply: bytes | None


def accept(framer: Framer, event: LiteralAnnounced) -> None:
    framer.accept_literal()


def normalize(events: Iterable[object]) -> list[object]:
    """Merge adjacent LiteralChunks (their cut depends on the feeding) and make
    BadMessage comparable."""
    out: list[object] = []
    for ev in events:
        if isinstance(ev, LiteralChunk) and out and isinstance(out[-1], LiteralChunk):
            out[-1] = LiteralChunk(data=out[-1].data + ev.data)
        elif isinstance(ev, BadMessage):
            assert isinstance(ev.error, RemoteProtocolError)
            out.append(Bad(ev.tag, type(ev.error), ev.error.reply))
        else:
            out.append(ev)
    return out


def run(
    framer: Framer,
    chunks: Iterable[bytes],
    decide: Callable[[Framer, LiteralAnnounced], None] = accept,
) -> list[object]:
    """Feed each chunk, pulling events until NEED_DATA after each."""
    events: list[object] = []
    for chunk in chunks:
        framer.feed(chunk)
        while (ev := framer.next_event()) is not NEED_DATA:
            events.append(ev)
            if isinstance(ev, LiteralAnnounced) and ev.synchronizing:
                decide(framer, ev)
    return normalize(events)


TRAILER = b"z9 NOOP\r\n"
TRAILER_EVENT = Message((b"z9 NOOP",))


def check(
    data: bytes,
    expected: list[object],
    *,
    server: bool,
    decide: Callable[[Framer, LiteralAnnounced], None] = accept,
    **limits: int,
) -> None:
    """``data`` gives ``expected`` fed whole, byte by byte, and followed by
    trailing data (a complete message, and an incomplete one)."""
    whole = run(Framer(server=server, **limits), [data], decide)
    assert whole == expected
    bytewise = Framer(server=server, **limits)
    assert run(bytewise, [data[i : i + 1] for i in range(len(data))], decide) == expected
    assert not bytewise.mid_message
    trailing = run(Framer(server=server, **limits), [data + TRAILER], decide)
    assert trailing == [*expected, TRAILER_EVENT]
    partial = Framer(server=server, **limits)
    assert run(partial, [data + TRAILER[:4]], decide) == expected
    assert partial.mid_message


def announced(
    tag: bytes | None, length: int, *, sync: bool = False, binary: bool = False
) -> LiteralAnnounced:
    return LiteralAnnounced(tag=tag, length=length, synchronizing=sync, binary=binary)


# -- lines ----------------------------------------------------------------------------


@pytest.mark.parametrize("server", [True, False])
def test_lines_are_messages(server: bool) -> None:
    check(
        b"a1 NOOP\r\n* OK done\r\n\r\n",
        [Message((b"a1 NOOP",)), Message((b"* OK done",)), Message((b"",))],
        server=server,
    )


def test_crlf_split_across_feeds() -> None:
    framer = Framer(server=True)
    assert run(framer, [b"a NOOP\r"]) == []
    assert framer.mid_message
    assert run(framer, [b"\nb NOOP\r", b"\n"]) == [Message((b"a NOOP",)), Message((b"b NOOP",))]
    assert not framer.mid_message


def test_feed_copies_a_mutable_buffer() -> None:
    framer = Framer(server=True)
    buf = bytearray(b"a NOOP\r\n")
    framer.feed(buf)
    buf[0:1] = b"X"
    framer.feed(memoryview(b"b NOOP\r\n"))
    framer.feed(b"")
    assert run(framer, [b""]) == [Message((b"a NOOP",)), Message((b"b NOOP",))]


def test_ten_thousand_nested_parentheses_frame_as_one_line() -> None:
    # SECURITY.md "Nesting": the framer does not care; the parser bounds depth.
    line = b"a1 STORE 1 FLAGS " + b"(" * 10_000 + b")" * 10_000
    check(line + b"\r\n", [Message((line,))], server=True)
    check(
        b"* 1 FETCH " + line[17:] + b"\r\n", [Message((b"* 1 FETCH " + line[17:],))], server=False
    )


# -- literals -------------------------------------------------------------------------


def test_synchronizing_literal_waits_for_the_server() -> None:
    framer = Framer(server=True)
    framer.feed(b"a1 LOGIN {4}\r\n")
    assert framer.next_event() == announced(b"a1", 4, sync=True)
    with pytest.raises(LocalProtocolError):
        framer.next_event()
    framer.accept_literal()
    assert framer.next_event() is NEED_DATA
    framer.feed(b"user {6}\r\n")
    assert framer.next_event() == announced(b"a1", 6, sync=True)
    framer.accept_literal()
    framer.feed(b"p\r\n{3}")
    assert framer.next_event() is NEED_DATA
    framer.feed(b"\r\n")
    assert framer.next_event() == Message((b"a1 LOGIN {4}", b"user", b" {6}", b"p\r\n{3}", b""))
    assert framer.next_event() is NEED_DATA


def test_accept_or_reject_without_a_pending_literal_is_a_local_error() -> None:
    framer = Framer(server=True)
    with pytest.raises(LocalProtocolError):
        framer.accept_literal()
    with pytest.raises(LocalProtocolError):
        framer.reject_literal()
    framer.feed(b"a APPEND x {3+}\r\n")
    assert framer.next_event() == announced(b"a", 3)
    with pytest.raises(LocalProtocolError):
        framer.accept_literal()


def test_rejected_literal_drops_the_partial_command() -> None:
    def reject(framer: Framer, event: LiteralAnnounced) -> None:
        framer.reject_literal()

    # After "a NO" the client sends no literal: the next line is a command.
    check(
        b"a APPEND x {3+}\r\nabc {500}\r\nb NOOP\r\n",
        [announced(b"a", 3), announced(b"a", 500, sync=True), Message((b"b NOOP",))],
        server=True,
        decide=reject,
    )


def test_literal_bytes_are_never_read_as_commands() -> None:
    payload = b"x\r\nb LOGIN x y\r\n{5}\r\n"
    check(
        b"a APPEND inbox {%d}\r\n%s\r\n" % (len(payload), payload),
        [
            announced(b"a", len(payload), sync=True),
            Message((b"a APPEND inbox {21}", payload, b"")),
        ],
        server=True,
    )


@pytest.mark.parametrize(
    ("announcement", "length", "sync", "binary"),
    [
        (b"{5}", 5, True, False),
        (b"{5+}", 5, False, False),
        (b"~{5}", 5, True, True),
        (b"~{5+}", 5, False, True),
        (b"{05}", 5, True, False),  # number = 1*DIGIT: leading zeros allowed
        (b"{00000000000000000005}", 5, True, False),  # 20 digits
    ],
)
def test_literal_kinds_server(announcement: bytes, length: int, sync: bool, binary: bool) -> None:
    first = b"A001 APPEND box " + announcement
    check(
        first + b"\r\n\x00\r\n\xff\n\r\n",
        [
            announced(b"A001", length, sync=sync, binary=binary),
            Message((first, b"\x00\r\n\xff\n", b"")),
        ],
        server=True,
    )


@pytest.mark.parametrize(("announcement", "binary"), [(b"{5}", False), (b"~{5}", True)])
def test_literals_from_a_server_never_wait(announcement: bytes, binary: bool) -> None:
    # No LiteralAnnounced in the client role: there is nothing to decide.
    first = b"* 12 FETCH (BODY[] " + announcement
    data = first + b"\r\nab\r\nc)\r\n"
    check(data, [Message((first, b"ab\r\nc", b")"))], server=False)
    check(
        data,
        [
            LiteralStart(length=5, binary=binary),
            LiteralChunk(data=b"ab\r\nc"),
            LiteralEnd(),
            Message((first, StreamedLiteral(5, binary), b")")),
        ],
        server=False,
        stream_threshold=4,
    )


def test_zero_length_literal() -> None:
    check(
        b"a LOGIN {0}\r\n {0+}\r\n\r\n",
        [
            announced(b"a", 0, sync=True),
            announced(b"a", 0),
            Message((b"a LOGIN {0}", b"", b" {0+}", b"", b"")),
        ],
        server=True,
    )


def test_continuation_request_never_announces_a_literal() -> None:
    check(b"+ send {5}\r\n", [Message((b"+ send {5}",))], server=False)
    check(b"+\r\n", [Message((b"+",))], server=False)


def test_client_role_passes_brace_text_to_the_parser() -> None:
    # resp-text may end in braces that are no announcement.
    check(b"* OK see {-1}\r\n", [Message((b"* OK see {-1}",))], server=False)
    check(b"* OK {}\r\n", [Message((b"* OK {}",))], server=False)


def test_closing_brace_in_an_atom_is_not_an_announcement() -> None:
    # "}" is an ATOM-CHAR; "{" is not.
    check(b"a SELECT foo}\r\n", [Message((b"a SELECT foo}",))], server=True)
    check(b'a SELECT "x{" y}\r\n', [Message((b'a SELECT "x{" y}',))], server=True)


# -- streaming ------------------------------------------------------------------------


def test_literal_at_the_threshold_is_held_above_it_streamed() -> None:
    body = bytes(range(256)) * 4
    check(
        b"* 1 FETCH (BODY[] {1024}\r\n" + body + b")\r\n",
        [Message((b"* 1 FETCH (BODY[] {1024}", body, b")"))],
        server=False,
        stream_threshold=1024,
    )
    check(
        b"* 1 FETCH (BODY[] {1024}\r\n" + body + b")\r\n",
        [
            LiteralStart(length=1024, binary=False),
            LiteralChunk(data=body),
            LiteralEnd(),
            Message((b"* 1 FETCH (BODY[] {1024}", StreamedLiteral(1024, False), b")")),
        ],
        server=False,
        stream_threshold=1023,
    )


def test_streamed_chunks_follow_the_feeding() -> None:
    framer = Framer(server=True, stream_threshold=4)
    framer.feed(b"a APPEND x ~{10+}\r\n0123")
    assert framer.next_event() == announced(b"a", 10, binary=True)
    assert framer.next_event() == LiteralStart(length=10, binary=True)
    assert framer.next_event() == LiteralChunk(data=b"0123")
    assert framer.next_event() is NEED_DATA
    framer.feed(b"45")
    framer.feed(b"6789 {2+}\r\nxy\r\n")
    assert framer.next_event() == LiteralChunk(data=b"45")
    assert framer.next_event() == LiteralChunk(data=b"6789")
    assert framer.next_event() == LiteralEnd()
    assert framer.next_event() == announced(b"a", 2)
    assert framer.next_event() == Message(
        (b"a APPEND x ~{10+}", StreamedLiteral(10, True), b" {2+}", b"xy", b"")
    )
    assert framer.next_event() is NEED_DATA


def test_streamed_synchronizing_literal_after_accept() -> None:
    data = b"a APPEND x {6}\r\nabcdef\r\n"
    check(
        data,
        [
            announced(b"a", 6, sync=True),
            LiteralStart(length=6, binary=False),
            LiteralChunk(data=b"abcdef"),
            LiteralEnd(),
            Message((b"a APPEND x {6}", StreamedLiteral(6, False), b"")),
        ],
        server=True,
        stream_threshold=5,
    )


# -- limits ---------------------------------------------------------------------------


def test_default_limits() -> None:
    assert Framer(server=True).max_line == 64 * 1024
    assert Framer(server=False).max_line == 1024 * 1024
    framer = Framer(server=True)
    assert framer.max_message == framer.max_literal == 64 * 1024 * 1024
    assert framer.stream_threshold == 64 * 1024
    assert framer.max_literals == 100_000
    assert framer.max_nonsync_literal is None
    with pytest.raises(ValueError, match="max_line"):
        Framer(server=True, max_line=-1)


@pytest.mark.parametrize("server", [True, False])
def test_line_at_the_limit_frames(server: bool) -> None:
    line = b"a " + b"x" * 14
    check(line + b"\r\n", [Message((line,))], server=server, max_line=16)


@pytest.mark.parametrize("server", [True, False])
def test_line_over_the_limit_is_skipped_without_buffering(server: bool) -> None:
    reply = b"a7 BAD [TOOBIG] Line too long\r\n" if server else None
    line = b"a7 " + b"x" * 14
    check(line + b"\r\n", [Bad(b"a7", LineTooLongError, reply)], server=server, max_line=16)
    framer = Framer(server=server, max_line=16)
    framer.feed(b"a7 NOOP " + b"y" * 100)
    event = framer.next_event()
    assert isinstance(event, BadMessage)
    assert isinstance(event.error, LineTooLongError)
    assert event.error.complete is False
    assert event.error.limit == 16
    for _ in range(100):
        framer.feed(b"z" * 10_000)
        assert framer.next_event() is NEED_DATA
        assert len(framer._line) == 0
        assert len(framer._tail) <= 26
    assert run(framer, [b"zz\r\nb NOOP\r\n"]) == [Message((b"b NOOP",))]


@pytest.mark.parametrize("server", [True, False])
@pytest.mark.parametrize("announcement", [b"{13+}", b"~{00000000000000000013+}"])
def test_over_long_line_with_a_literal_drains_it(server: bool, announcement: bytes) -> None:
    # The announcement at the end of a skipped line still counts: the literal
    # is consumed as part of the bad message, never read as a command.  The
    # longest announcement (20 digits, "~" and "+") fits in the end kept.
    reply = b"a BAD [TOOBIG] Line too long\r\n" if server else None
    data = b"a APPEND " + b"x" * 40 + b" " + announcement + b"\r\nb LOGIN x y\r\n\r\n"
    check(data, [Bad(b"a", LineTooLongError, reply)], server=server, max_line=32)


def test_over_long_response_line_with_a_literal_drains_it() -> None:
    # A server never waits for "+": its {n} bytes follow and are drained.
    data = b"* 1 FETCH (BODY[] " + b"x" * 40 + b" ~{13}\r\nb LOGIN x y\r\n)\r\n"
    check(data, [Bad(None, LineTooLongError, None)], server=False, max_line=32)


def test_over_long_line_with_a_synchronizing_literal_ends_there() -> None:
    # The client waits for "+", which never comes: its next line is a command.
    data = b"a APPEND " + b"x" * 40 + b" {13}\r\n"
    check(
        data,
        [Bad(b"a", LineTooLongError, b"a BAD [TOOBIG] Line too long\r\n")],
        server=True,
        max_line=32,
    )


@pytest.mark.parametrize("server", [True, False])
def test_declared_huge_literal_is_refused_before_any_byte(server: bool) -> None:
    # SECURITY.md: "a declared {400000000} followed by ten bytes".
    reply = b"a BAD [TOOBIG] Literal too large\r\n" if server else None
    framer = Framer(server=server)
    framer.feed(b"a APPEND x {400000000}\r\n0123456789")
    event = framer.next_event()
    assert isinstance(event, BadMessage)
    assert event.tag == b"a"  # a tagged response's tag, too
    assert isinstance(event.error, LiteralTooLargeError)
    assert event.error.length == 400_000_000
    assert event.error.limit == 64 * 1024 * 1024
    assert event.error.reply == reply
    assert framer.next_event() is NEED_DATA
    if server:
        # The client waits for "+": the ten bytes are its next command.
        assert run(framer, [b"\r\n"]) == [Message((b"0123456789",))]
    else:
        # A server sends the bytes at once: all 400000000 are drained.
        assert framer._drain == 400_000_000 - 10
        for _ in range(50):
            framer.feed(b"b LOGIN x y\r\n" * 1000)
            assert framer.next_event() is NEED_DATA
            assert framer.mid_message
        assert len(framer._line) == 0
        assert framer._parts == []


def test_huge_non_synchronizing_literal_is_drained_exactly() -> None:
    check(
        b"a APPEND x {21+}\r\nb LOGIN x y\r\n01234567 {3+}\r\nabc\r\n",
        [Bad(b"a", LiteralTooLargeError, b"a BAD [TOOBIG] Literal too large\r\n")],
        server=True,
        max_literal=20,
    )


@pytest.mark.parametrize(
    "announcement",
    [b"{-1}", b"{}", b"{ab}", b"{123456789012345678901}", b"{5-}", b"{+}", b"~{}", b"{-1+}"],
)
def test_malformed_announcement_is_a_typed_error(announcement: bytes) -> None:
    check(
        b"a1 LOGIN " + announcement + b"\r\n",
        [Bad(b"a1", MalformedLiteralError, b"a1 BAD Malformed literal announcement\r\n")],
        server=True,
    )


def test_twenty_nines_is_a_literal_too_large() -> None:
    framer = Framer(server=True)
    events = run(framer, [b"a1 LOGIN {99999999999999999999}\r\n"])
    assert events == [Bad(b"a1", LiteralTooLargeError, b"a1 BAD [TOOBIG] Literal too large\r\n")]


def test_message_limit_counts_lines_and_literals() -> None:
    # "a X {10}" CRLF, 10 octets, " {5}" CRLF: 26 so far; 5 more make 31 > 30.
    check(
        b"a X {10}\r\n0123456789 {5}\r\n",
        [
            announced(b"a", 10, sync=True),
            Bad(b"a", LiteralTooLargeError, b"a BAD [TOOBIG] Literal too large\r\n"),
        ],
        server=True,
        max_message=30,
    )
    check(
        b"a X {10}\r\n0123456789" + b"y" * 20 + b"\r\n",
        [
            announced(b"a", 10, sync=True),
            Bad(b"a", MessageTooLargeError, b"a BAD [TOOBIG] Message too large\r\n"),
        ],
        server=True,
        max_message=30,
    )
    check(
        b"a X {10}\r\n0123456789 {4}\r\nabcd\r\n",
        [
            announced(b"a", 10, sync=True),
            announced(b"a", 4, sync=True),
            Message((b"a X {10}", b"0123456789", b" {4}", b"abcd", b"")),
        ],
        server=True,
        max_message=32,  # exactly: 10 + 10 + 6 + 4 + 2
    )


def test_literal_count_limit() -> None:
    check(
        b"a X {0+}\r\n {0+}\r\n {0+}\r\n {1+}\r\nb\r\n",
        [
            announced(b"a", 0),
            announced(b"a", 0),
            Bad(b"a", MessageTooLargeError, b"a BAD [TOOBIG] Too many literals\r\n"),
        ],
        server=True,
        max_literals=2,
    )


def test_literal_limit_exactly() -> None:
    check(
        b"a X {4+}\r\nabcd\r\n",
        [announced(b"a", 4), Message((b"a X {4+}", b"abcd", b""))],
        server=True,
        max_literal=4,
    )


# -- bad lines and poisoning ------------------------------------------------------------


@pytest.mark.parametrize("server", [True, False])
def test_bare_line_endings_are_bad_messages(server: bool) -> None:
    reply = b"a BAD Lines end with CRLF and hold no bare CR\r\n" if server else None
    check(b"a NOOP\n", [Bad(b"a", BareLineEndingError, reply)], server=server)
    check(b"a NO\rOP\r\n", [Bad(b"a", BareLineEndingError, reply)], server=server)
    framer = Framer(server=server)
    framer.feed(b"a NOOP\n")
    event = framer.next_event()
    assert isinstance(event, BadMessage)
    assert isinstance(event.error, BareLineEndingError)
    assert event.error.line == b"a NOOP\n"


def test_bad_line_with_a_literal_is_poisoned_to_its_end() -> None:
    payload = b"b LOGIN x y\r\n"
    check(
        b"a APPEND x\r{13+}\r\n" + payload + b" {13+}\n" + payload + b" ~{3+}\r\nxyz\r\n",
        [Bad(b"a", BareLineEndingError, b"a BAD Lines end with CRLF and hold no bare CR\r\n")],
        server=True,
    )


def test_poisoned_message_skips_over_long_continuation_lines() -> None:
    check(
        b"a X {99+}\r\n" + b"q" * 99 + b"w" * 40 + b" {2+}\r\nxy\r\n",
        [Bad(b"a", LiteralTooLargeError, b"a BAD [TOOBIG] Literal too large\r\n")],
        server=True,
        max_literal=50,
        max_line=32,
    )


def test_malformed_announcement_in_a_continuation_line() -> None:
    check(
        b"a X {1+}\r\nq {x}\r\n",
        [
            announced(b"a", 1),
            Bad(b"a", MalformedLiteralError, b"a BAD Malformed literal announcement\r\n"),
        ],
        server=True,
    )


# -- tag recovery -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "tag"),
    [
        (b"A001 X {1}", b"A001"),
        (b"]x.y!~|} X {1}", b"]x.y!~|}"),
        (b"a {1}", b"a"),
        (b"* X {1}", None),
        (b"+a X {1}", None),
        (b"a+b X {1}", None),
        (b"a(b X {1}", None),
        (b'a"b X {1}', None),
        (b"a\x7fb X {1}", None),
        (b"\xc3\xa9 X {1}", None),
        (b" a X {1}", None),
        (b"t" * 256 + b" X {1}", b"t" * 256),
        (b"t" * 257 + b" X {1}", None),
    ],
)
def test_tag_recovery(line: bytes, tag: bytes | None) -> None:
    framer = Framer(server=True)
    framer.feed(line + b"\r\n")
    assert framer.next_event() == announced(tag, 1, sync=True)
    framer.reject_literal()
    framer.feed(line.replace(b"{1}", b"{-1}") + b"\r\n")
    event = framer.next_event()
    assert isinstance(event, BadMessage)
    assert event.tag == tag
    assert event.error.reply == (tag or b"*") + b" BAD Malformed literal announcement\r\n"


def test_tag_recovered_from_an_over_long_line_head() -> None:
    framer = Framer(server=True, max_line=300)
    events = run(framer, [b"A", b"B1 ", b"x" * 400, b"\r\n"])
    assert events == [Bad(b"AB1", LineTooLongError, b"AB1 BAD [TOOBIG] Line too long\r\n")]


@pytest.mark.parametrize(
    ("line", "tag"),
    [
        (b"!!!!!,!!a1 X yyyy", None),  # the head kept (max_line + 2) cuts the token
        (b"a1 XXXXXXXXXXXX", b"a1"),
        (b"a1234567 XXXXXXX", b"a1234567"),
        (b"a123456789 XXXXX", None),  # no SP within the head: the tag may go on
    ],
)
def test_tag_of_an_over_long_line_does_not_depend_on_the_feeding(
    line: bytes, tag: bytes | None
) -> None:
    reply = (tag or b"*") + b" BAD [TOOBIG] Line too long\r\n"
    expected: list[object] = [Bad(tag, LineTooLongError, reply)]
    check(line + b"\r\n", expected, server=True, max_line=7)


def test_response_tag_recovered_in_client_role() -> None:
    framer = Framer(server=False)
    assert run(framer, [b"a1 OK x\rdone\r\n* OK y\n"]) == [
        Bad(b"a1", BareLineEndingError, None),
        Bad(None, BareLineEndingError, None),
    ]


# -- events -------------------------------------------------------------------------------


def test_events_are_frozen_slotted_and_keyword_only() -> None:
    for cls in (LiteralAnnounced, LiteralStart, LiteralChunk, LiteralEnd, BadMessage):
        params = getattr(cls, "__dataclass_params__")  # noqa: B009
        assert params.frozen
        assert "__slots__" in cls.__dict__
        assert all(f.kw_only for f in dataclasses.fields(cls))
    with pytest.raises(TypeError):
        LiteralChunk(b"x")  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Message((b"a",)).fragments = ()  # type: ignore[misc]
    # The shared interface: both built positionally or by keyword.
    assert Message(fragments=(b"a",)) == Message((b"a",))
    assert StreamedLiteral(length=3, binary=True) == StreamedLiteral(3, True)


def test_reprs_never_show_content() -> None:
    framer = Framer(server=True, stream_threshold=4)
    events = run(framer, [b"a LOGIN hunter2 {7+}\r\nswordfi {4+}\r\nsh42\r\nb LOGIN x hunter2\n"])
    text = repr(events) + repr(framer)
    framer.feed(b"a LOGIN hunter2 sw")
    text += repr(framer)
    for secret in (b"hunter2", b"swordfi", b"sh42"):
        assert secret.decode() not in text
    assert repr(events[-2]) == "Message(<3 line(s), 2 literal(s), 36 bytes>)"
    assert repr(LiteralChunk(data=b"secret")) == "LiteralChunk(<6 bytes>)"


def test_held_literal_trickling_in_is_accumulated_not_kept_in_pieces() -> None:
    body = bytes(range(256)) * 8
    data = b"a APPEND x {2048+}\r\n" + body + b"\r\n"
    framer = Framer(server=True)
    events: list[object] = []
    for i in range(len(data)):
        events += run(framer, [data[i : i + 1]])
        assert len(framer._parts) <= 64
    assert events == [announced(b"a", 2048), Message((b"a APPEND x {2048+}", body, b""))]
    check(data, events, server=True)


def test_literal_minus_bounds_non_synchronizing_literals() -> None:
    # RFC 7888 section 4: under LITERAL-, {n+} above 4096 octets is refused
    # with BAD [TOOBIG]; its bytes, already on their way, are drained.
    big = b"y" * 4097
    check(
        b"a APPEND x {4097+}\r\n" + big + b"\r\n",
        [Bad(b"a", LiteralTooLargeError, b"a BAD [TOOBIG] Literal too large\r\n")],
        server=True,
        max_nonsync_literal=4096,
    )
    framer = Framer(server=True, max_nonsync_literal=4096)
    framer.feed(b"a APPEND x {4097+}\r\n")
    event = framer.next_event()
    assert isinstance(event, BadMessage)
    assert isinstance(event.error, LiteralTooLargeError)
    assert (event.error.length, event.error.limit, event.error.synchronizing) == (
        4097,
        4096,
        False,
    )
    # At the limit, and synchronizing literals of any size, are fine.
    ok = b"y" * 4096
    check(
        b"a APPEND x {4096+}\r\n" + ok + b" {4097}\r\n" + big + b"\r\n",
        [
            announced(b"a", 4096),
            announced(b"a", 4097, sync=True),
            Message((b"a APPEND x {4096+}", ok, b" {4097}", big, b"")),
        ],
        server=True,
        max_nonsync_literal=4096,
    )


def test_events_built_on_the_hot_path_are_ordinary_events() -> None:
    # The framer sets the slots of its most frequent events directly.
    framer = Framer(server=False, stream_threshold=2)
    framer.feed(b"* 1 FETCH (BODY[] ~{3}\r\nabc)\r\n")
    start, chunk, end, message = (framer.next_event() for _ in range(4))
    assert framer.next_event() is NEED_DATA
    built = (
        LiteralStart(length=3, binary=True),
        LiteralChunk(data=b"abc"),
        LiteralEnd(),
        Message((b"* 1 FETCH (BODY[] ~{3}", StreamedLiteral(3, True), b")")),
    )
    for got, want in zip((start, chunk, end, message), built, strict=True):
        assert got is not NEED_DATA
        assert type(got) is type(want)
        assert got == want
        assert hash(got) == hash(want)
        assert repr(got) == repr(want)
        for field in dataclasses.fields(got):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(got, field.name, None)
    assert isinstance(message, Message)
    assert hash(message.fragments[1]) == hash(StreamedLiteral(3, True))


def test_unread_and_first_line_for_connection_hand_offs() -> None:
    # STARTTLS/COMPRESS hand-offs: what was fed past the last framed message
    f = Framer(server=False)
    for chunk in (b"a1 OK begin\r\n* CAP", b"ABILITY x\r\n", b"partial"):
        f.feed(chunk)
    ev = f.next_event()
    assert isinstance(ev, Message) and ev.fragments == (b"a1 OK begin",)
    assert f.unread() == b"* CAPABILITY x\r\npartial"
    assert f.take_unread() == b"* CAPABILITY x\r\npartial"
    assert f.unread() == b"" and f.next_event() is NEED_DATA
    # a partial line already carried counts too
    f.feed(b"* OK hel")
    assert f.next_event() is NEED_DATA
    assert f.unread() == b"* OK hel"
    assert f.take_unread() == b"* OK hel" and not f.mid_message
    # a server learns which command announced a literal
    s = Framer(server=True)
    s.feed(b"a2 APPEND INBOX {3}\r\n")
    ev2 = s.next_event()
    assert isinstance(ev2, LiteralAnnounced)
    assert s.first_line == b"a2 APPEND INBOX {3}"


def test_client_role_names_the_lines_before_a_streamed_literal() -> None:
    # A proxy relaying a large FETCH body forwards the line that announced it
    # at LiteralStart, before the first chunk.
    framer = Framer(server=False, stream_threshold=4)
    framer.feed(b"* 1 FETCH (UID 7 BODY[] {2}\r\nab BODY[TEXT] {6}\r\nabcdef)\r\n")
    assert framer.next_event() == LiteralStart(length=6, binary=False)
    assert framer.announced_prefix() == (b"* 1 FETCH (UID 7 BODY[] {2}", b"ab", b" BODY[TEXT] {6}")
    assert framer.next_event() == LiteralChunk(data=b"abcdef")
