"""Fuzz entry points: one function per parser, taking ``bytes``.

Usable by atheris, libFuzzer-style drivers, or any byte-oriented fuzzer::

    import atheris, sys
    from protokit.testing.fuzz import fuzz_smtp_server
    atheris.Setup(sys.argv, fuzz_smtp_server)
    atheris.Fuzz()

The first two octets of an input choose two chunk sizes used in turn to feed
the rest (0: the rest at once); every entry point runs the payload whole and
in that chunk plan.  Each one raises only when an invariant breaks, which is a
bug in protokit:

- only protokit's :class:`~protokit.ProtocolError` escapes the parser (any
  other exception propagates: that is the crash a fuzzer reports);
- parse, write, parse is stable where a writer exists;
- events (and replies written) do not depend on the chunking;
- memory stays bounded: buffered octets stay under the configured limits.

A broken invariant raises :class:`InvariantViolation` (an ``AssertionError``).
Standard library only: no hypothesis needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from .._sentinel import NEED_DATA
from ..errors import LocalProtocolError, ProtocolError
from ..imap import (
    BadMessage,
    Framer,
    LinePiece,
    LiteralAnnounced,
    LiteralChunk,
    LiteralPiece,
    Message,
    StreamedLiteral,
    parse_command,
    parse_response,
    write_command,
    write_response,
)
from ..wire import (
    BareLineEndingPolicy,
    DotStuffer,
    DotUnstuffer,
    ReceiveBuffer,
    b64decode_strict,
    b64encode,
)
from ._fuzz_mail import (
    fuzz_pop3_client,
    fuzz_pop3_server,
    fuzz_smtp_client,
    fuzz_smtp_server,
)
from ._fuzz_sasl import SASL_ENTRY_POINTS, fuzz_sasl_server
from ._harness import (
    InvariantViolation,
    Outcome,
    bounded,
    merge,
    protocol_error,
    same_for_every_chunking,
    split_input,
)

__all__ = [
    "ENTRY_POINTS",
    "InvariantViolation",
    "fuzz_base64",
    "fuzz_imap_command_parser",
    "fuzz_imap_response_parser",
    "fuzz_imap_server_framer",
    "fuzz_pop3_client",
    "fuzz_pop3_server",
    "fuzz_sasl_server",
    "fuzz_smtp_client",
    "fuzz_smtp_server",
    "fuzz_wire_dotunstuffer",
    "split_input",
]

# Small limits so that the fuzzer reaches them.
IMAP_MAX_LINE: Final = 1024
IMAP_STREAM_THRESHOLD: Final = 512
IMAP_MAX_MESSAGE: Final = 16 * 1024


# -- IMAP ------------------------------------------------------------------------


def _frame(chunks: list[bytes], *, server: bool) -> tuple[list[Any], list[Message]]:
    """Frame ``chunks`` (accepting every synchronizing literal); return the
    normalised events and the complete messages."""
    framer = Framer(
        server=server,
        max_line=IMAP_MAX_LINE,
        stream_threshold=IMAP_STREAM_THRESHOLD,
        max_message=IMAP_MAX_MESSAGE,
        max_literal=IMAP_MAX_MESSAGE,
    )
    events: list[Any] = []
    messages: list[Message] = []
    for data in chunks:
        framer.feed(data)
        while (ev := framer.next_event()) is not NEED_DATA:
            if isinstance(ev, LiteralAnnounced):
                if ev.synchronizing:
                    framer.accept_literal()
                events.append(ev)
            elif isinstance(ev, BadMessage):
                err = ev.error
                events.append(("bad", ev.tag, type(err).__name__, err.message, err.reply))
            else:
                if isinstance(ev, Message):
                    messages.append(ev)
                    size = sum(len(f) for f in ev.fragments if isinstance(f, bytes))
                    bounded("imap framer message", size, IMAP_MAX_MESSAGE)
                events.append(ev)
        # Between messages only a partial line may be held.
        bounded("imap framer", len(framer.unread()), IMAP_MAX_LINE + 2)
    return merge(events, LiteralChunk), messages


# Values the parser accepts and the writer deliberately refuses to send.
_WRITER_STRICTER: Final = {
    # LENIENT-NUL-LITERAL: the parser takes literal octets as sent (RFC 9051
    # CHAR8 excludes NUL); the writer refuses NUL outside a ~{n} literal.
    "NUL in a literal that is not binary",
    # LENIENT-STATUS-NO-TEXT: "a1 OK" with no text is RFC 9051 (resp-text's
    # text is optional there); the writer keeps RFC 3501's rule and refuses it.
    "a status response needs a code or text",
}


def _pieces_bytes(pieces: list[Any]) -> bytes:
    out = bytearray()
    for p in pieces:
        if not isinstance(p, LinePiece | LiteralPiece):  # pragma: no cover
            raise InvariantViolation(f"writer returned {type(p).__name__}")
        out += p.data
    return bytes(out)


def _streamed(message: Message) -> bool:
    return any(isinstance(f, StreamedLiteral) for f in message.fragments)


def _imap_run(chunks: list[bytes], *, server: bool) -> Outcome:
    events, messages = _frame(chunks, server=server)
    out = Outcome(events=events)
    for m in messages:
        for utf8 in (False, True):
            try:
                value: Any = (
                    parse_command(m, utf8=utf8) if server else parse_response(m, utf8=utf8)
                )
            except LocalProtocolError as exc:  # the peer's fault is a RemoteProtocolError
                raise InvariantViolation(f"parser raised LocalProtocolError: {exc}") from exc
            except ProtocolError as exc:
                out.events.append(("error", utf8, *protocol_error(exc), exc.reply))
                continue
            out.events.append(value)
            if not _streamed(m):
                _imap_roundtrip(value, server=server, utf8=utf8)
    return out


def _imap_roundtrip(value: Any, *, server: bool, utf8: bool) -> None:
    """Parse, write, parse: the value written back parses to itself."""
    try:
        if server:
            data = _pieces_bytes(write_command(value, literal_plus=True, utf8=utf8))
        else:
            data = write_response(value, utf8=utf8)
    except LocalProtocolError as exc:
        if exc.message in _WRITER_STRICTER:
            return

        raise InvariantViolation(f"parsed {value!r} but cannot write it: {exc.message}") from exc
    framed = _frame([data], server=server)[1]
    if len(framed) != 1:
        raise InvariantViolation(f"{value!r} written as {data!r} frames as {len(framed)} messages")
    try:
        again = (
            parse_command(framed[0], utf8=utf8) if server else parse_response(framed[0], utf8=utf8)
        )
    except ProtocolError as exc:
        raise InvariantViolation(f"{value!r} written as {data!r} does not parse: {exc}") from exc
    if again != value:
        raise InvariantViolation(
            f"parse-write-parse changed {value!r} into {again!r} via {data!r}"
        )


def fuzz_imap_server_framer(data: bytes) -> None:
    """The server side: the command framer, then the command parser."""
    same_for_every_chunking(
        "imap server framer", data, lambda chunks: _imap_run(chunks, server=True)
    )


def fuzz_imap_command_parser(data: bytes) -> None:
    """Same as :func:`fuzz_imap_server_framer` (the name a parser fuzzer expects)."""
    fuzz_imap_server_framer(data)


def fuzz_imap_response_parser(data: bytes) -> None:
    """The client side: the response framer, then the response parser."""
    same_for_every_chunking(
        "imap response parser", data, lambda chunks: _imap_run(chunks, server=False)
    )


# -- wire --------------------------------------------------------------------------

_POLICIES: Final = tuple(BareLineEndingPolicy)
_LINE_END: Final = re.compile(rb"\r\n|\r|\n")


def _unstuff(chunks: list[bytes], policy: BareLineEndingPolicy, max_chunk: int | None) -> Outcome:
    buf = ReceiveBuffer()
    unstuffer = DotUnstuffer(policy)
    out = Outcome()
    body = bytearray()
    try:
        for data in chunks:
            buf.feed(data)
            while not unstuffer.done:
                piece = unstuffer.read(buf, max_chunk)
                # max_chunk bounds the octets consumed (at least 5); NORMALIZE
                # may double them (bare LF -> CRLF).
                if max_chunk is not None and len(piece) > 2 * max(max_chunk, 5):
                    raise InvariantViolation(
                        f"dot-unstuffer: {len(piece)} for max_chunk {max_chunk}"
                    )
                if not piece:
                    break
                body += piece
            if not unstuffer.done:
                # Only a tail that may still become a line ending or a dot is held.
                bounded("dot-unstuffer", len(buf), 5)
    except ProtocolError as exc:
        out.error = protocol_error(exc)
    out.events = [bytes(body), unstuffer.done, unstuffer.bare_cr, unstuffer.bare_lf]
    out.output = bytes(buf.raw)
    return out


def fuzz_wire_dotunstuffer(data: bytes) -> None:
    """The DATA/RETR body reader; the third octet picks the bare line ending
    policy and the fourth a ``max_chunk`` (0: none)."""
    if len(data) < 4:
        return
    policy = _POLICIES[data[2] % len(_POLICIES)]
    max_chunk = data[3] or None
    data = data[:2] + data[4:]
    whole = same_for_every_chunking(
        "dot-unstuffer", data, lambda chunks: _unstuff(chunks, policy, max_chunk)
    )
    body, done = whole.events[0], whole.events[1]
    if not done or whole.error is not None:
        return
    _, payload = split_input(data)
    # Bytes after the terminator stay in the buffer, untouched.
    rest = payload[(b"\r\n" + payload).find(b"\r\n.\r\n") + 3 :]
    if whole.output != rest:
        raise InvariantViolation(f"dot-unstuffer left {whole.output!r}, expected {rest!r}")
    # Write, parse: stuffing the body and reading it back gives the body, its
    # bare CR and LF made CRLF (the stuffer normalises them by design).
    stuffer = DotStuffer()
    wire = stuffer.write(body) + stuffer.close()
    again = _unstuff([wire], BareLineEndingPolicy.REJECT, None)
    expected = _LINE_END.sub(b"\r\n", body)
    if again.error is not None or again.events[:2] != [expected, True]:
        raise InvariantViolation(f"dot-stuffing {body!r} gave {wire!r}, read back {again!r}")


def fuzz_base64(data: bytes) -> None:
    """Strict base64 (SASL): decoding either fails with our error or gives
    bytes that encode back to exactly the input."""
    try:
        decoded = b64decode_strict(data)
    except ProtocolError:
        return
    if b64encode(decoded) != data:
        raise InvariantViolation(f"{data!r} decodes to {decoded!r}, which encodes differently")


ENTRY_POINTS: Final[dict[str, Callable[[bytes], None]]] = {
    "imap_server_framer": fuzz_imap_server_framer,
    "imap_response_parser": fuzz_imap_response_parser,
    "smtp_server": fuzz_smtp_server,
    "smtp_client": fuzz_smtp_client,
    "pop3_server": fuzz_pop3_server,
    "pop3_client": fuzz_pop3_client,
    "wire_dotunstuffer": fuzz_wire_dotunstuffer,
    "base64": fuzz_base64,
    **SASL_ENTRY_POINTS,
}
"""Every entry point by its harness name."""
