"""Small builders shared by the response and command parsers: they read one
position of the token tree and raise :class:`RemoteProtocolError` on anything
that does not fit the rule of that position."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Final

from ..errors import RemoteProtocolError
from ._grammar import FLAG, HEADER_FIELD, NUMBER, SECTION
from ._mutf7 import decode_mutf7
from ._responses import Section
from ._tokens import tokenize
from ._types import (
    Flag,
    Mailbox,
    SequenceSet,
    _mailbox_from_wire,
    _make,
    _parse_sequence_set,
    parse_datetime,
)

_FLAG_CACHE: dict[str, Flag] = {}
_FLAG_CACHE_MAX: Final = 4096
_SECTION_CACHE: dict[str, Section] = {}


def err(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"invalid {what}")


def number(v: Any, what: str = "number") -> int:
    if type(v) is str and NUMBER.match(v.encode()) is not None:
        n = int(v)
        if n < 2**63:
            return n
    raise err(what)


def nz_number(v: Any, what: str = "number") -> int:
    n = number(v, what)
    if n == 0:
        raise err(what)
    return n


def nstring(v: Any, what: str = "string") -> bytes | None:
    if v is None or type(v) is bytes:
        return v
    if isinstance(v, bytes):
        return bytes(v)
    raise err(what)


def string(v: Any, what: str = "string") -> bytes:
    if isinstance(v, bytes):
        return bytes(v)
    raise err(what)


def astring(v: Any, what: str = "astring") -> bytes:
    """astring = 1*ASTRING-CHAR / string; an atom "NIL" is the text NIL."""
    if isinstance(v, bytes):
        return bytes(v)
    if type(v) is str:
        if "[" in v or "%" in v or "*" in v or "\\" in v:
            raise err(what)
        return v.encode("ascii")
    if v is None:
        return b"NIL"
    raise err(what)


def word(v: Any, what: str = "atom") -> str:
    if type(v) is str:
        return v
    if v is None:
        return "NIL"
    raise err(what)


def flag(v: Any) -> Flag:
    if type(v) is not str:
        raise err("flag")
    f = _FLAG_CACHE.get(v)
    if f is None:
        if FLAG.match(v.encode()) is None:
            raise err("flag")
        f = _make(Flag, v)
        if len(_FLAG_CACHE) < _FLAG_CACHE_MAX:
            _FLAG_CACHE[v] = f
    return f


def flag_list(v: Any) -> tuple[Flag, ...]:
    if not isinstance(v, list):
        raise err("flag list")
    return tuple([flag(x) for x in v])


def mailbox(v: Any, utf8: bool) -> Mailbox:
    """mailbox = "INBOX" / astring, in modified UTF-7 unless UTF-8 is on.

    LENIENT-UTF8-MAILBOX: a name that is not valid modified UTF-7 but is
    valid UTF-8 (servers that send UTF-8 without being asked) is read as
    UTF-8."""
    raw = astring(v, "mailbox")
    if 13 in raw or 10 in raw or 0 in raw:  # CR, LF, NUL (as ints: memchr)
        raise err("mailbox")
    try:
        if utf8:
            text = raw.decode("utf-8")
        else:
            try:
                text = decode_mutf7(raw)
            except ValueError:
                text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise err("mailbox") from None
    return _mailbox_from_wire(text)


def sequence_set(v: Any, what: str = "sequence set") -> SequenceSet:
    if type(v) is str:
        seq = _parse_sequence_set(v.encode())
        if seq is not None:
            return seq
    raise err(what)


def datetime(v: Any) -> _dt.datetime:
    if isinstance(v, bytes):
        d = parse_datetime(v)
        if d is not None:
            return d
    raise err("date-time")


def section(spec: str) -> Section:
    """section-spec (the text between the brackets)."""
    s = _SECTION_CACHE.get(spec)
    if s is not None:
        return s
    m = SECTION.match(spec.encode())
    if m is None:
        raise err("section")
    part_s, text_b, fields_b = m.groups()
    part = tuple(int(x) for x in part_s.split(b".")) if part_s else ()
    text = text_b.decode().upper() if text_b else None
    fields: tuple[bytes, ...] = ()
    if text is not None and text.startswith("HEADER.FIELDS"):
        if fields_b is None:
            raise err("section")
        toks = tokenize([fields_b])
        if not toks:
            raise err("section")
        fields = tuple(astring(x, "header field") for x in toks)
        for f in fields:
            if HEADER_FIELD.match(f) is None:
                raise err("header field name")
    elif fields_b is not None:
        raise err("section")
    if text == "MIME" and not part:
        raise err("section")
    s = object.__new__(Section)
    object.__setattr__(s, "part", part)
    object.__setattr__(s, "text", text)
    object.__setattr__(s, "fields", fields)
    if len(_SECTION_CACHE) < _FLAG_CACHE_MAX:
        _SECTION_CACHE[spec] = s
    return s


def section_bytes(s: Section) -> bytes:
    out = ".".join(str(p) for p in s.part)
    if s.text:
        out = f"{out}.{s.text}" if out else s.text
    raw = out.encode("ascii")
    if s.fields:
        # a field named NIL (any case) is quoted: bare, it would read as NIL
        raw += (
            b" ("
            + b" ".join(b'"' + f + b'"' if f.upper() == b"NIL" else f for f in s.fields)
            + b")"
        )
    return raw


def generic(v: Any) -> Any:
    """The token tree as an immutable generic value (lists become tuples)."""
    if type(v) is list:
        return tuple([generic(x) for x in v])
    if isinstance(v, bytes) and type(v) is not bytes:
        return bytes(v)
    return v
