"""The writer's core: the cheapest valid form of every value, and pieces.

A command is written as a list of pieces: :class:`LinePiece` (bytes to send,
ending with CRLF or with a literal announcement and CRLF) and
:class:`LiteralPiece` (the literal's octets; when ``synchronizing`` the client
must wait for the server's "+" before sending it).  Responses are written as
plain bytes (a server never waits for a continuation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import LocalProtocolError
from ._grammar import ASTRING_ATOM, LIST_ATOM, TEXT, TOKEN
from ._mutf7 import encode_mutf7
from ._tokens import _WORD_START
from ._types import Literal, SequenceSet

__all__ = ["LinePiece", "LiteralPiece", "Piece", "Writer"]

_MAX_QUOTED = 1024
_LITERAL_MINUS_MAX = 4096


@dataclass(frozen=True, slots=True)
class LinePiece:
    """Bytes of a command line, ending with CRLF (possibly after a literal
    announcement)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LiteralPiece:
    """A literal's octets.  When ``synchronizing``, send them only after the
    server's "+" continuation request (a NO/BAD instead means: never send)."""

    data: bytes
    synchronizing: bool
    binary: bool = False

    def __repr__(self) -> str:
        return (
            f"LiteralPiece(<{len(self.data)} octets>, synchronizing={self.synchronizing},"
            f" binary={self.binary})"
        )


Piece = LinePiece | LiteralPiece


class Adjacent(tuple[Any, ...]):
    """A list whose lists are written side by side, with no space between
    them: "(" 1*address ")", thread lists (RFC 5256)."""

    __slots__ = ()


class Bare(tuple[Any, ...]):
    """Lists written side by side with no parentheses around them: the
    1*body of a multipart body structure."""

    __slots__ = ()


def _quotable(data: bytes, utf8: bool) -> bool:
    # (octets looked for as ints: bytes' "in" goes straight to memchr, where
    # a one-octet bytes is first tried as an int, raising a TypeError)
    if len(data) > _MAX_QUOTED or 13 in data or 10 in data or 0 in data:
        return False
    if data.isascii():
        return True
    if not utf8:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Writer:
    """Accumulates one message.  ``server``: literals are written inline
    (responses); otherwise each literal splits the message into pieces."""

    __slots__ = ("check", "literal_minus", "literal_plus", "parts", "pieces", "server", "utf8")

    def __init__(
        self,
        *,
        server: bool,
        literal_plus: bool = False,
        literal_minus: bool = False,
        utf8: bool = False,
    ) -> None:
        self.server = server
        self.literal_plus = literal_plus
        self.literal_minus = literal_minus
        self.utf8 = utf8
        # check-only: validate a value without producing its bytes (a
        # streamed literal's stand-in is accepted where a literal goes)
        self.check = False
        self.parts: list[bytes] = []
        self.pieces: list[Piece] = []

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def number(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n >= 2**63:
            raise LocalProtocolError(f"not a valid number: {n!r}")
        self.parts.append(b"%d" % n)

    def text(self, text: str) -> None:
        """resp-text's free text (never empty on the wire: "" becomes one space's
        absence, i.e. nothing)."""
        raw = text.encode("utf-8", "surrogateescape")
        if TEXT.match(raw) is None:
            raise LocalProtocolError("CR, LF or NUL in response text")
        self.parts.append(raw)

    def literal(self, data: bytes, binary: bool = False) -> None:
        if not binary and 0 in data:
            raise LocalProtocolError("NUL in a literal that is not binary")
        n = len(data)
        prefix = b"~" if binary else b""
        if self.server:
            self.parts.append(b"%s{%d}\r\n" % (prefix, n))
            self.parts.append(data)
            return
        sync = not (self.literal_plus or (self.literal_minus and n <= _LITERAL_MINUS_MAX))
        self.parts.append(b"%s{%d%s}\r\n" % (prefix, n, b"" if sync else b"+"))
        self.pieces.append(LinePiece(b"".join(self.parts)))
        self.parts.clear()
        self.pieces.append(LiteralPiece(data, sync, binary))

    def string(self, data: bytes | Literal) -> None:
        """A string: quoted when possible, else a literal (never an atom)."""
        if isinstance(data, Literal):
            self.literal(data.data, data.binary)
            return
        if not isinstance(data, bytes):
            raise LocalProtocolError(f"string must be bytes, not {type(data).__name__}")
        if _quotable(data, self.utf8):
            if 34 in data or 92 in data:  # a quote or a backslash
                data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
            self.parts.append(b'"' + data + b'"')
        else:
            self.literal(data)

    def nstring(self, data: bytes | Literal | None) -> None:
        if data is None:
            self.parts.append(b"NIL")
        else:
            self.string(data)

    def astring(self, data: bytes | Literal) -> None:
        """An astring: atom when possible (never NIL), else quoted, else literal."""
        if (
            isinstance(data, bytes)
            and ASTRING_ATOM.match(data) is not None
            and data.upper() != b"NIL"
        ):
            self.parts.append(data)
        else:
            self.string(data)

    def mailbox(self, name: str) -> None:
        raw = name.encode("utf-8") if self.utf8 else encode_mutf7(name)
        self.astring(raw)

    def list_mailbox(self, name: str) -> None:
        """A LIST/LSUB reference or pattern: bare when it is 1*list-char
        (wildcards included), else as a mailbox string."""
        raw = name.encode("utf-8") if self.utf8 else encode_mutf7(name)
        if LIST_ATOM.match(raw) is not None and raw.upper() != b"NIL":
            self.parts.append(raw)
        else:
            self.astring(raw)

    def word(self, word: str, *, nil: bool = False) -> None:
        """A bare word (atom, flag, section item...), checked to read back as
        one word.  ``NIL`` is refused unless ``nil``: the positions that pass
        it take only an atom, so the parser reads ``NIL`` there as the word
        (``* CAPABILITY NIL``, ``a ENABLE NIL``), where elsewhere it is nil."""
        raw = word.encode("ascii", "replace") if isinstance(word, str) else b""
        m = TOKEN.match(raw)
        if (
            not raw
            or m is None
            or m.end() != len(raw)
            or raw[0] not in _WORD_START
            or (not nil and raw.upper() == b"NIL")
        ):
            raise LocalProtocolError(f"not a valid atom: {word!r}")
        self.parts.append(raw)

    def value(self, v: Any) -> None:
        """A generic value: str is a word, bytes a string, None NIL, int a
        number, tuple/list a parenthesized list, SequenceSet its form."""
        if isinstance(v, bytes | Literal):
            self.string(v)
        elif v is None:
            self.parts.append(b"NIL")
        elif isinstance(v, bool):
            raise LocalProtocolError("bool is not an IMAP value")
        elif isinstance(v, int):
            self.number(v)
        elif isinstance(v, str):
            self.word(v)
        elif isinstance(v, tuple | list):
            bare = isinstance(v, Bare)
            adjacent = bare or isinstance(v, Adjacent)
            if not bare:
                self.parts.append(b"(")
            prev_list = False
            first = True
            for x in v:
                is_list = isinstance(x, tuple | list) and not isinstance(x, SequenceSet)
                if not first and not (adjacent and prev_list and is_list):
                    self.parts.append(b" ")
                first = False
                prev_list = is_list
                self.value(x)
            if not bare:
                self.parts.append(b")")
        elif isinstance(v, SequenceSet):
            self.parts.append(v.to_bytes())
        else:
            raise LocalProtocolError(f"cannot write {type(v).__name__} as an IMAP value")

    def finish_pieces(self) -> list[Piece]:
        self.parts.append(b"\r\n")
        self.pieces.append(LinePiece(b"".join(self.parts)))
        return self.pieces

    def finish_bytes(self) -> bytes:
        self.parts.append(b"\r\n")
        return b"".join(self.parts)
