"""The FETCH fast path: the common shape of a FETCH response read with a few
structure-sized regexes instead of one token at a time.

It handles UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ, X-GM-MSGID,
X-GM-THRID, ENVELOPE and BODYSTRUCTURE/BODY made of basic and text parts
(nested multiparts included), as servers send them: upper-case names, quoted
strings or non-binary literals, NIL.  Anything else (another item, a
message/rfc822 part, extension data beyond the location, lower case, a
streamed literal ...) makes it return ``None`` and the caller parses the
message with the generic tokenizer, which gives the same value or the error.
``tests/imap/test_fastfetch.py`` checks the two paths agree.

Literals are replaced by a NUL placeholder in one joined line (a real NUL is
never valid in a line, so such a message takes the generic path); the
placeholders are filled in textual order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from ..errors import RemoteProtocolError
from ._body import Address, Disposition, Envelope, MultiPart, SinglePart
from ._grammar import (
    FAST_ADDRESS,
    FAST_BODY_LEAF,
    FAST_BODY_TAIL,
    FAST_ITEM,
    FAST_PAIR,
    FAST_QUOTED_IN_LIST,
    LITERAL_ANNOUNCEMENT,
    QUOTED_ESCAPE,
)
from ._responses import Fetch
from ._values import datetime, flag

__all__ = ["fast_fetch"]

_unescape = QUOTED_ESCAPE.sub
_new = object.__new__
_set = object.__setattr__
_FETCH_DEFAULTS: Final = tuple(
    (name, f.default) for name, f in Fetch.__dataclass_fields__.items() if name != "seq"
)


# slot descriptors of Address, set directly (the hottest object of all)
_set_name = Address.__dict__["name"].__set__
_set_adl = Address.__dict__["adl"].__set__
_set_mailbox = Address.__dict__["mailbox"].__set__
_set_host = Address.__dict__["host"].__set__


# slot setters of Fetch, in the order of _FETCH_DEFAULTS (dict order)
_FETCH_SEQ = Fetch.__dict__["seq"].__set__
_FETCH_SETTERS: Final = tuple(Fetch.__dict__[name].__set__ for name, _ in _FETCH_DEFAULTS)
_SP = {name: SinglePart.__dict__[name].__set__ for name in SinglePart.__dataclass_fields__}
_ENV = [Envelope.__dict__[name].__set__ for name in Envelope.__dataclass_fields__]
_NO_EXT: Final = (None, None, None, None)
_MP = [MultiPart.__dict__[name].__set__ for name in MultiPart.__dataclass_fields__]


class _Fallback(Exception):
    """The fast path does not handle this message."""


_NUMBER_ITEMS: Final = {4: "rfc822_size", 5: "modseq", 6: "gm_msgid", 7: "gm_thrid"}


def _flag(text: str) -> Any:
    if text.upper() == "NIL":  # NIL is not a flag: the generic path says so
        raise _Fallback
    return flag(text)


# Quoted strings repeat a lot in FETCH data ("TEXT", "PLAIN", charsets,
# hosts, names): their values are interned in a bounded cache.  NIL is
# pre-filled; the literal placeholder is never cached.
_CACHE: dict[bytes, bytes | None] = {b"NIL": None}
# Likewise body parameter lists and dispositions (("CHARSET" "UTF-8") ...),
# immutable values that are safe to share.
_STRUCT_CACHE: dict[bytes, Any] = {}
_CACHE_MAX: Final = 8192
_MISS: Final = object()


def _ns(raw: bytes, lits: Iterator[bytes]) -> bytes | None:
    """A matched nstring: NIL, "quoted" or the literal placeholder."""
    v = _CACHE.get(raw, _MISS)
    if v is not _MISS:
        return v  # type: ignore[return-value]
    c = raw[0]
    if c == 34:
        body = raw[1:-1]
        value = _unescape(rb"\1", body) if 92 in body else body
        if len(_CACHE) < _CACHE_MAX:
            _CACHE[raw] = value
        return value
    if c == 0:
        return next(lits)
    return None


def _s(raw: bytes, lits: Iterator[bytes]) -> bytes:
    v = _ns(raw, lits)
    if v is None:
        raise _Fallback
    return v


def _addresses(raw: bytes, lits: Iterator[bytes]) -> tuple[Address, ...] | None:
    if raw == b"NIL":
        return None
    out = []
    get = _CACHE.get
    miss = _MISS
    for name, adl, mbox, host in FAST_ADDRESS.findall(raw):
        a = _new(Address)
        v = get(name, miss)
        _set_name(a, _ns(name, lits) if v is miss else v)
        v = get(adl, miss)
        _set_adl(a, _ns(adl, lits) if v is miss else v)
        v = get(mbox, miss)
        _set_mailbox(a, _ns(mbox, lits) if v is miss else v)
        v = get(host, miss)
        _set_host(a, _ns(host, lits) if v is miss else v)
        out.append(a)
    return tuple(out)


def _envelope(g: Sequence[bytes], lits: Iterator[bytes]) -> Envelope:
    env = _new(Envelope)
    s = _ENV
    s[0](env, _ns(g[0], lits))
    s[1](env, _ns(g[1], lits))
    from_ = _addresses(g[2], lits)
    s[2](env, from_)
    # sender and reply-to are usually the very text of from: the same
    # (immutable) tuple is shared, unless a literal is in it
    same = g[2] is not None and 0 not in g[2]
    s[3](env, from_ if same and g[3] == g[2] else _addresses(g[3], lits))
    s[4](env, from_ if same and g[4] == g[2] else _addresses(g[4], lits))
    s[5](env, _addresses(g[5], lits))
    s[6](env, _addresses(g[6], lits))
    s[7](env, _addresses(g[7], lits))
    s[8](env, _ns(g[8], lits))
    s[9](env, _ns(g[9], lits))
    return env


def _params(raw: bytes | None, lits: Iterator[bytes]) -> tuple[tuple[bytes, bytes], ...] | None:
    if raw is None or raw == b"NIL":
        return None
    hit = _STRUCT_CACHE.get(raw, _MISS)
    if hit is not _MISS:
        return hit  # type: ignore[no-any-return]
    value = tuple((_s(k, lits), _s(v, lits)) for k, v in FAST_PAIR.findall(raw))
    _remember(raw, value)
    return value


def _remember(raw: bytes, value: Any) -> None:
    # a structure holding a literal placeholder is never cached
    if len(_STRUCT_CACHE) < _CACHE_MAX and 0 not in raw:
        _STRUCT_CACHE[raw] = value


def _disposition(raw: bytes | None, lits: Iterator[bytes]) -> Disposition | None:
    if raw is None or raw == b"NIL":
        return None
    # "(" string SP body-fld-param ")"
    hit = _STRUCT_CACHE.get(raw, _MISS)
    if hit is not _MISS:
        return hit  # type: ignore[no-any-return]
    inner = raw[1:-1]
    split = _split_dsp(inner)
    d = _new(Disposition)
    _set(d, "type", _s(split[0], lits))
    _set(d, "params", _params(split[1], lits))
    _remember(raw, d)
    return d


def _split_dsp(inner: bytes) -> tuple[bytes, bytes]:
    # the type is a quoted string or the literal placeholder
    if inner[:1] == b"\x00":
        return inner[:1], inner[2:]
    m = FAST_QUOTED_IN_LIST.match(inner)
    if m is None:
        raise _Fallback
    return m.group(), inner[m.end() + 1 :]


def _language(raw: bytes | None, lits: Iterator[bytes]) -> tuple[bytes, ...] | None:
    if raw is None or raw == b"NIL":
        return None
    if raw[0] == 40:
        return tuple(_s(x, lits) for x in FAST_QUOTED_IN_LIST.findall(raw))
    return (_s(raw, lits),)


def _leaf(m: Any, lits: Iterator[bytes]) -> SinglePart:
    g = m.groups()
    mtype = _s(g[0], lits)
    upper = mtype.upper()
    if upper == b"MESSAGE":
        raise _Fallback
    is_text = upper == b"TEXT"
    if is_text != (g[7] is not None):
        raise _Fallback
    p = _new(SinglePart)
    s = _SP
    s["type"](p, mtype)
    s["subtype"](p, _s(g[1], lits))
    s["params"](p, _params(g[2], lits))
    s["id"](p, _ns(g[3], lits))
    s["description"](p, _ns(g[4], lits))
    s["encoding"](p, _s(g[5], lits))
    s["size"](p, int(g[6]))
    s["envelope"](p, None)
    s["body"](p, None)
    s["lines"](p, int(g[7]) if is_text else None)
    ext = g[8:]
    if ext == _NO_EXT:
        s["md5"](p, None)
        s["disposition"](p, None)
        s["language"](p, None)
        s["location"](p, None)
        s["extension_count"](p, 0)
    else:
        s["md5"](p, _ns(g[8], lits) if g[8] is not None else None)
        s["disposition"](p, _disposition(g[9], lits))
        s["language"](p, _language(g[10], lits))
        s["location"](p, _ns(g[11], lits) if g[11] is not None else None)
        s["extension_count"](p, 4 - ext.count(None))
    s["extensions"](p, ())
    return p


def _body(line: bytes, pos: int, lits: Iterator[bytes], max_depth: int) -> tuple[Any, int]:
    """body = "(" (body-type-1part / body-type-mpart) ")", with an explicit
    stack for the multiparts."""
    stack: list[list[Any]] = []
    while True:
        if line[pos + 1 : pos + 2] == b"(":
            if len(stack) >= max_depth - 1:
                raise _Fallback
            stack.append([])
            pos += 1
            continue
        m = FAST_BODY_LEAF.match(line, pos)
        if m is None:
            raise _Fallback
        part: Any = _leaf(m, lits)
        pos = m.end()
        while True:
            if not stack:
                return part, pos
            stack[-1].append(part)
            if line[pos : pos + 1] == b"(":
                break  # the next part of this multipart
            t = FAST_BODY_TAIL.match(line, pos)
            if t is None:
                raise _Fallback
            g = t.groups()
            mp = _new(MultiPart)
            ms = _MP
            ms[0](mp, tuple(stack.pop()))
            ms[1](mp, _s(g[0], lits))
            ms[2](mp, _params(g[1], lits))
            ms[3](mp, _disposition(g[2], lits))
            ms[4](mp, _language(g[3], lits))
            ms[5](mp, _ns(g[4], lits) if g[4] is not None else None)
            ms[6](mp, ())
            ms[7](mp, 4 - g.count(None))
            part = mp
            pos = t.end()


def _joined(fragments: Sequence[Any], start: int) -> tuple[bytes, list[bytes]]:
    first = fragments[0]
    if len(fragments) == 1:
        if 0 in first:
            raise _Fallback
        return first[start:], []
    parts = []
    lits = []
    last = len(fragments) - 1
    for i in range(0, last, 2):
        line = fragments[i]
        m = LITERAL_ANNOUNCEMENT.search(line)
        lit = fragments[i + 1]
        if m is None or m.group(1) or type(lit) is not bytes or 0 in line:
            raise _Fallback
        parts.append(line[start if i == 0 else 0 : m.start()])
        parts.append(b"\x00")
        lits.append(lit)
    tail = fragments[last]
    if 0 in tail:
        raise _Fallback
    parts.append(tail)
    return b"".join(parts), lits


def fast_fetch(seq: int, fragments: Sequence[Any], start: int, max_depth: int) -> Fetch | None:
    """The FETCH at ``fragments`` (msg-att from offset ``start`` of the first
    line), or ``None`` when the generic path must read it."""
    try:
        line, lit_list = _joined(fragments, start)
        lits = iter(lit_list)
        if seq == 0 or line[:1] != b"(":
            return None
        d = dict(_FETCH_DEFAULTS)
        pos = 1
        end = len(line)
        match = FAST_ITEM.match
        while True:
            m = match(line, pos)
            if m is None:
                return None
            idx = m.lastindex or 0
            if idx == 1:
                d["uid"] = int(m.group(1))
            elif idx == 2:
                raw = m.group(2)
                d["flags"] = (
                    tuple([_flag(f) for f in raw.decode("ascii").split(" ")]) if raw else ()
                )
            elif idx == 3:
                d["internaldate"] = datetime(m.group(3))
            elif idx <= 7:
                n = int(m.group(idx))
                if n >= 2**63:
                    return None
                d[_NUMBER_ITEMS[idx]] = n
            elif idx == 17:
                d["envelope"] = _envelope(m.groups()[7:17], lits)
            else:  # 18: BODYSTRUCTURE, 19: BODY, followed by "("
                body, pos2 = _body(line, m.end(), lits, max_depth)
                d["bodystructure" if idx == 18 else "body"] = body
                pos = pos2
                m = None
            if m is not None:
                pos = m.end()
            c = line[pos : pos + 1]
            if c == b" ":
                pos += 1
                continue
            if c == b")" and (pos + 1 == end or line[pos + 1 :] == b" "):
                break
            return None
        if next(lits, None) is not None:
            return None
        f = _new(Fetch)
        _FETCH_SEQ(f, seq)
        for setter, value in zip(_FETCH_SETTERS, d.values(), strict=True):
            setter(f, value)
        return f
    except (_Fallback, StopIteration, RemoteProtocolError):
        # the generic path reads it, or raises the error with its message
        return None
