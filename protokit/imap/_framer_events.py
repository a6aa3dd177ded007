"""The IMAP framer's events and errors, and the :class:`Message` it hands to
the parser (the interface between framer and codec; import them from
``protokit.imap._framer``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..errors import RemoteProtocolError

__all__ = [
    "BadMessage",
    "FramerEvent",
    "LiteralAnnounced",
    "LiteralChunk",
    "LiteralEnd",
    "LiteralStart",
    "LiteralTooLargeError",
    "MalformedLiteralError",
    "Message",
    "MessageTooLargeError",
    "StreamedLiteral",
]


# -- the interface shared with the parser ---------------------------------------


@dataclass(frozen=True, slots=True)
class StreamedLiteral:
    """Stands in a :class:`Message` for a literal whose bytes went out as
    :class:`LiteralChunk` events."""

    length: int
    binary: bool


@dataclass(frozen=True, slots=True)
class Message:
    """One complete command or response.

    ``fragments`` alternate line, literal, line, ..., line.  Lines exclude
    their CRLF; every line but the last ends with its literal announcement
    exactly as received (``b"{5}"``, ``b"{5+}"``, ``b"~{5}"``).  A literal is
    its bytes, or a :class:`StreamedLiteral`.
    """

    fragments: tuple[bytes | StreamedLiteral, ...]

    def __repr__(self) -> str:
        # A message may be a LOGIN command or a SASL response: sizes only.
        lines = (len(self.fragments) + 1) // 2
        size = sum(f.length if isinstance(f, StreamedLiteral) else len(f) for f in self.fragments)
        return f"Message(<{lines} line(s), {lines - 1} literal(s), {size} bytes>)"


# -- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralAnnounced:
    """A command line announced a literal; its bytes have not been read yet
    (server role only).

    ``tag`` is the command's tag when its first token is a valid one.
    ``synchronizing`` (``{n}``): the client waits for "+", and so does the
    framer: the caller sends "+" and calls :meth:`Framer.accept_literal`, or
    sends ``tag NO``/``BAD`` and calls :meth:`Framer.reject_literal`.  A
    non-synchronizing ``{n+}`` literal is read at once.  ``binary``: ``~{n}``.
    """

    tag: bytes | None
    length: int
    synchronizing: bool
    binary: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralStart:
    """A literal above the streaming threshold begins; chunks follow."""

    length: int
    binary: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralChunk:
    """Some bytes of a streamed literal, in order."""

    data: bytes

    def __repr__(self) -> str:
        return f"LiteralChunk(<{len(self.data)} bytes>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiteralEnd:
    """The streamed literal is complete."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BadMessage:
    """The message being framed is invalid; the framer consumes the rest of it
    silently and carries on with the next.

    ``tag`` is the first token of its first line when that is a valid tag.
    ``error.reply`` is, in the server role, the line to send
    (``tag BAD ...`` or ``* BAD ...``); ``None`` in the client role.
    """

    tag: bytes | None
    error: RemoteProtocolError


FramerEvent = Message | LiteralAnnounced | LiteralStart | LiteralChunk | LiteralEnd | BadMessage


# -- errors -------------------------------------------------------------------------


class LiteralTooLargeError(RemoteProtocolError):
    """A literal's announced length exceeds ``max_literal`` or would take its
    message past ``max_message``.  Reported before any of its bytes is read."""

    def __init__(
        self, message: str, *, length: int, limit: int, synchronizing: bool, reply: bytes | None
    ) -> None:
        super().__init__(message, reply=reply)
        self.length = length
        self.limit = limit
        self.synchronizing = synchronizing


class MessageTooLargeError(RemoteProtocolError):
    """A message's lines and literals add up past ``max_message``, or it holds
    more than ``max_literals`` literals."""

    def __init__(self, message: str, *, limit: int, reply: bytes | None) -> None:
        super().__init__(message, reply=reply)
        self.limit = limit


class MalformedLiteralError(RemoteProtocolError):
    """A command line ends in braces that are not a literal announcement
    (``{}``, ``{-1}``, ``{x}``, more than 20 digits)."""


# -- construction on the framer's hot path ------------------------------------------

# The slot setters the framer uses to build its most frequent events without
# the generated frozen __init__ (a Python call, then object.__setattr__ per
# field): in benchmark (b) that saved about 8% of the framer's time.
# DESIGN.md: events the parser builds are not re-validated (these have
# nothing to validate); a test checks they equal normally built ones.
_SET_CHUNK_DATA: Final[Callable[[LiteralChunk, bytes], None]] = LiteralChunk.__dict__[
    "data"
].__set__
_SET_FRAGMENTS: Final[Callable[[Message, tuple[bytes | StreamedLiteral, ...]], None]] = (
    Message.__dict__["fragments"].__set__
)
_SET_START_LENGTH: Final[Callable[[LiteralStart, int], None]] = LiteralStart.__dict__[
    "length"
].__set__
_SET_START_BINARY: Final[Callable[[LiteralStart, bool], None]] = LiteralStart.__dict__[
    "binary"
].__set__
_SET_STREAMED_LENGTH: Final[Callable[[StreamedLiteral, int], None]] = StreamedLiteral.__dict__[
    "length"
].__set__
_SET_STREAMED_BINARY: Final[Callable[[StreamedLiteral, bool], None]] = StreamedLiteral.__dict__[
    "binary"
].__set__
