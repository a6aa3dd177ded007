"""Cut a framed message into a tree of generic values.

One compiled master regex (:data:`~._grammar.TOKEN`) finds every token of a
line in C; a loop with an explicit stack builds the tree, so nesting depth is
bounded (64 by default) and never recursive.  The tree's leaves are:

* ``str``: an atom-like word (atom, number, flag, ``BODY[...]<...>`` ...),
* ``bytes``: a string, quoted or literal (``Bin`` for a ``~{n}`` literal),
* ``None``: NIL,
* a streamed-literal stand-in (any non-bytes fragment of the message),

and its inner nodes are ``list``.  Typed builders then read the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ..errors import RemoteProtocolError
from ._grammar import LITERAL_ANNOUNCEMENT, QUOTED_ESCAPE, TOKEN

__all__ = ["DEFAULT_MAX_DEPTH", "Bin", "tokenize"]

DEFAULT_MAX_DEPTH: Final = 64

_findall = TOKEN.findall
_unescape = QUOTED_ESCAPE.sub


class Bin(bytes):
    """The bytes of a literal8 (``~{n}``), so the builders can tell them apart."""

    __slots__ = ()


def literal_kind(line: bytes) -> tuple[int, bool, bool]:
    """(start of the announcement, binary, non-synchronizing) of a line that
    ends with a literal announcement."""
    m = LITERAL_ANNOUNCEMENT.search(line)
    if m is None:
        raise RemoteProtocolError("line before a literal does not end with {n}")
    return m.start(), bool(m.group(1)), bool(m.group(3))


_WORD_START: Final = frozenset(
    b"!#$%&'*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ\\]^_`abcdefghijklmnopqrstuvwxyz|}~"
)


def tokenize(
    fragments: Sequence[Any], start: int = 0, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> list[Any]:
    """Tokenize ``fragments`` (line, literal, line, ..., line) from offset
    ``start`` of the first line; return the top-level list of values.

    Raises :class:`RemoteProtocolError` on any syntax error, unbalanced or
    too deeply nested parentheses.
    """
    top: list[Any] = []
    cur = top
    stack: list[list[Any]] = []
    # after_value: a value or ")" was the last token, so a space must come
    # next; after_close: it was ")" (body-type-mpart = 1*body and
    # "(" 1*address ")" put lists side by side with no space between them)
    after_value = False
    after_close = False
    word_start = _WORD_START
    last = len(fragments) - 1
    i = 0
    pos = start
    binary = False
    while True:
        line = fragments[i]
        if i < last:
            end, binary, _ = literal_kind(line)
        else:
            end = len(line)
        for tok in _findall(line, pos, end):
            c = tok[0]
            if c == 32:
                if not after_value:
                    raise RemoteProtocolError("unexpected space")
                if len(tok) == 1:
                    # a space before a literal, or LENIENT-TRAILING-SPACE:
                    # a space ending the message is ignored
                    after_value = after_close = False
                    continue
                c = tok[1]
                o = 1
            elif after_value and c != 41 and not (c == 40 and after_close):
                raise RemoteProtocolError("missing space between values")
            else:
                o = 0
            if c == 34:
                body = tok[o + 1 : -1]
                if 92 in body:
                    body = _unescape(rb"\1", body)
                cur.append(body)
                after_close = False
            elif c in word_start:
                word = tok[o:] if o else tok
                if len(word) == 3 and word.upper() == b"NIL":
                    cur.append(None)
                else:
                    cur.append(word.decode("ascii"))
                after_close = False
            elif c == 40:
                if len(stack) >= max_depth:
                    raise RemoteProtocolError(f"nesting deeper than {max_depth}")
                stack.append(cur)
                new: list[Any] = []
                cur.append(new)
                cur = new
                after_value = False
                continue
            elif c == 41:
                if o:
                    raise RemoteProtocolError("space before ')'")
                if not stack:
                    raise RemoteProtocolError("unbalanced ')'")
                cur = stack.pop()
                after_close = True
            else:
                raise RemoteProtocolError(f"unexpected character {bytes((c,))!r}")
            after_value = True
        if i == last:
            break
        # the literal announced at the end of this line
        if after_value:
            raise RemoteProtocolError("missing space before a literal")
        data = fragments[i + 1]
        if binary and isinstance(data, bytes):
            data = Bin(data)
        cur.append(data)
        after_value = True
        after_close = False
        i += 2
        pos = 0
    if stack:
        raise RemoteProtocolError("unclosed '('")
    return top
