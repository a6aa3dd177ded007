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

The cost is Python work per value, so the path is built to do as little as
possible per value:

* each literal is first inlined as a quoted string (escaped if need be), so
  one line holds the whole response and every string is quoted;
* the regexes capture the content of quoted strings and leave NIL's group
  empty, so most captured groups are the final values; quoted-string
  escapes are rare, and undone afterwards only in a response that has any;
  a response is first read with patterns whose strings take any octet but
  the quote (the cheapest run for ``re``), and refused by them if it holds
  CR, LF or NUL, or a backslash outside FLAGS;
* the items servers send first, in the order they send them, are read by
  one match (``prefix``), the rest one item at a time;
* ENVELOPE, BODYSTRUCTURE and BODY are matched in full here (every check
  that can refuse them is made at parse time) but built only on first
  access (``Deferred`` in ``_responses``): a caller that lists UIDs and flags
  does not pay for address and body-part objects it never reads;
* values are built by generated constructors that fill a plain slotted twin
  of the class and then switch its ``__class__`` to the frozen dataclass
  (plain slot stores instead of one ``object.__setattr__`` per field).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from types import MemberDescriptorType
from typing import Any, Final, TypeVar

from ..errors import RemoteProtocolError
from ._body import Address, Disposition, Envelope, MultiPart, SinglePart
from ._grammar import FAST, FAST_NOT_QUOTABLE, FAST_PLAIN, QUOTED_ESCAPE, FastPatterns
from ._responses import Deferred, Fetch
from ._types import MONTHS
from ._values import datetime, flag

__all__ = ["fast_fetch", "maker"]

_T = TypeVar("_T")


def maker(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of the frozen slotted dataclass ``cls`` taking every
    field positionally, in field order, without validation (the parser's
    path, for values whose every field it has already checked).

    It fills a twin class by plain slot stores and then gives the object its
    real class: the layouts are identical, so the result is exactly a
    ``cls`` instance (equal to one built by ``cls(...)``).  The twin is a
    subclass of ``cls`` that adds no slot and takes back object's
    ``__setattr__`` (the switch back to its base is the cheapest that
    ``__class__`` assignment checks).  Where ``cls`` wraps a slot in a
    descriptor of its own that keeps the slot's as ``_member`` (Fetch's
    deferred items), the twin puts the slot's back, so that filling it is a
    plain store; without one, the twin is a class beside ``cls`` with the
    same slots.
    """
    names = tuple(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    slots = tuple(cls.__slots__)  # type: ignore[attr-defined]
    if sorted(names) != sorted(slots):  # pragma: no cover - a dataclass(slots=True)
        raise TypeError(f"{cls.__name__}: fields and slots differ")
    twin_name = "_" + cls.__name__ + "Twin"
    namespace: dict[str, Any] = {
        "__slots__": (),
        "__init__": object.__init__,
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
    }
    for n in slots:
        member = cls.__dict__[n]
        if type(member) is not MemberDescriptorType:
            member = getattr(member, "_member", None)
            if type(member) is not MemberDescriptorType:  # pragma: no cover - none here
                twin = type(twin_name, (), {"__slots__": slots})
                break
            namespace[n] = member
    else:
        twin = type(twin_name, (cls,), namespace)
    args = ", ".join(names)
    body = "".join(f"    o.{n} = {n}\n" for n in names)
    # twin() is cheaper than object.__new__(twin): the type call is one C
    # call where object.__new__ goes through a builtin method
    src = f"def make({args}):\n    o = twin()\n{body}    o.__class__ = cls\n    return o\n"
    scope: dict[str, Any] = {"twin": twin, "cls": cls}
    exec(src, scope)  # noqa: S102 - generated from the dataclass's own field names
    make: Callable[..., _T] = scope["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}"
    return make


_new_address = maker(Address)
_new_envelope = maker(Envelope)
_new_disposition = maker(Disposition)
_new_single = maker(SinglePart)
_new_multi = maker(MultiPart)
_new_fetch = maker(Fetch)


class _Matchers:
    """The bound methods of one set of the fast path's patterns."""

    __slots__ = (
        "address",
        "dsp",
        "item",
        "leaf",
        "leaf_re",
        "mpart_ext",
        "pair",
        "prefix",
        "quoted",
        "tail",
        "two",
        "two_re",
    )

    def __init__(self, p: FastPatterns) -> None:
        self.item = p.item.match
        self.prefix = p.prefix.match
        self.leaf = p.body_leaf.match
        self.leaf_re = p.body_leaf
        self.two = p.body_two.match
        self.two_re = p.body_two
        self.tail = p.body_tail.match
        self.address = p.address.finditer
        self.pair = p.pair.findall
        self.quoted = p.quoted.findall
        self.dsp = p.dsp.match
        self.mpart_ext = p.mpart_ext.match


# A message with a quoted-string escape somewhere is read with _ESCAPED, any
# other (nearly all) with _PLAIN's cheaper patterns: see _grammar.
_ESCAPED: Final = _Matchers(FAST)
_PLAIN: Final = _Matchers(FAST_PLAIN)
_unescape = QUOTED_ESCAPE.sub

# A literal longer than this is not a header field: the message is a
# BODY[...] or RFC822 fetch, which this path does not read (so it does not
# copy the literal only to give up).
_MAX_INLINE: Final = 16 * 1024


class _Fallback(Exception):
    """The fast path does not handle this message."""


# Bounded caches of small immutable values that real mailboxes repeat all
# the time (("CHARSET" "UTF-8" "FORMAT" "flowed"), FLAGS (\Seen)): keyed by
# their wire text, cleared when full so that they follow what the server
# sends.  (A parameter list of one pair, such as a boundary, is read by the
# body part's own pattern and not cached: most are new in every message.)
_CACHE_MAX: Final = 4096
_PARAMS: dict[bytes, tuple[tuple[bytes, bytes], ...] | None] = {b"NIL": None}
_DISPOSITIONS: dict[bytes, Disposition | None] = {b"NIL": None}
_FLAGS: dict[bytes, tuple[Any, ...]] = {}
_MISS: Final[Any] = object()
# INTERNALDATE's months as servers write them (other cases take DATE_TIME's
# path), as ISO 8601's digits
_MONTH_DIGITS: Final = {m: f"{i + 1:02d}" for i, m in enumerate(MONTHS)} | {
    m.upper(): f"{i + 1:02d}" for i, m in enumerate(MONTHS)
}
# "dd-Mon-yyyy" as sent -> "yyyy-mm-ddT"
_ISO_DATES: dict[str, str] = {}
_fromisoformat: Final = _dt.datetime.fromisoformat

# body-ext-1part as servers send it for most parts: (md5, disposition,
# language, location, extension_count)
_LEAF_EXT: Final[dict[bytes, tuple[Any, ...]]] = {
    b"": (None, None, None, None, 0),
    b" NIL": (None, None, None, None, 1),
    b" NIL NIL": (None, None, None, None, 2),
    b" NIL NIL NIL": (None, None, None, None, 3),
    b" NIL NIL NIL NIL": (None, None, None, None, 4),
}
# body-ext-mpart after the parameters: (disposition, language, location, n)
_MPART_EXT: Final[dict[bytes, tuple[Any, ...]]] = {
    b"": (None, None, None, 0),
    b" NIL": (None, None, None, 1),
    b" NIL NIL": (None, None, None, 2),
    b" NIL NIL NIL": (None, None, None, 3),
}


def _remember(cache: dict[bytes, Any], raw: bytes, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
        cache[b"NIL"] = None
    cache[raw] = value


def _raw_nstring(raw: bytes | None) -> bytes | None:
    """A raw NIL or quoted string (escapes undone later)."""
    return None if raw is None or raw == b"NIL" else raw[1:-1]


def _flags(raw: bytes) -> tuple[Any, ...]:
    hit = _FLAGS.get(raw)
    if hit is not None:
        return hit
    if not raw:
        return ()
    out = []
    for text in raw.decode("ascii").split(" "):
        if text.upper() == "NIL":  # NIL is not a flag: the generic path says so
            raise _Fallback
        out.append(flag(text))
    value = tuple(out)
    if len(_FLAGS) >= _CACHE_MAX:
        _FLAGS.clear()
    _FLAGS[raw] = value
    return value


def _addresses(g: Sequence[Any], k: int, p: _Matchers) -> tuple[Address, ...] | None:
    """The address list at ``g[k:k + 5]``: the first address's fields, the
    other addresses raw (``None`` for NIL)."""
    rest = g[k + 4]
    if rest is None:
        return None
    first = _new_address(g[k], g[k + 1], g[k + 2], g[k + 3])
    if not rest:
        return (first,)
    new = _new_address
    return (first, *[new(*m.groups()) for m in p.address(rest)])


def _number(raw: bytes) -> int:
    """A 63-bit number (RFC822.SIZE, MODSEQ, X-GM-MSGID, X-GM-THRID); a
    larger one is for the generic path, which says what is wrong."""
    n = int(raw)
    if n >= 2**63:
        raise _Fallback
    return n


def _internaldate(m: Any) -> _dt.datetime:
    """date-time, read as DATE_TIME reads it (``parse_datetime``)."""
    # 'INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz"' (date-day-fixed: two digits,
    # or a space and one) is rebuilt as ISO 8601, which
    # datetime.fromisoformat reads in C; the date's ISO form comes from a
    # cache (a mailbox's messages share few dates).  What fromisoformat
    # refuses (a day out of range, an offset of 24 hours) raises ValueError,
    # and the generic path reports it.  Another form (a one-digit day, a
    # month in another case) is read by DATE_TIME itself.
    text = m.group(3).decode("ascii")
    head = _ISO_DATES.get(text[14:25])
    if head is None:
        # (the key of a one-digit day, "d-Mon-yyyy ", is never one stored)
        digits = _MONTH_DIGITS.get(text[17:20])
        if digits is None or len(text) != 41:
            return datetime(m.group(3)[14:-1])  # raises if invalid
        day = text[14:16]
        head = f"{text[21:25]}-{digits}-{'0' + day[1] if day[0] == ' ' else day}T"
        if len(_ISO_DATES) >= _CACHE_MAX:
            _ISO_DATES.clear()
        _ISO_DATES[text[14:25]] = head
    return _fromisoformat(head + text[26:34] + text[35:40])


def _envelope(deferred: tuple[Any, ...]) -> Envelope:
    """``_DeferredEnvelope.build``."""
    m, p, escaped = deferred
    # the item pattern's groups (one call for all, cheaper than naming the
    # 37 of the envelope; see _grammar): from index 8 date, subject, from
    # (raw, unused) and its five groups; for sender and reply-to, a group
    # set when the list is from's very text (the same value: the same
    # immutable tuple is shared), then the list's own five; to, cc, bcc;
    # in-reply-to, message-id
    g = m.groups()
    from_ = _addresses(g, 11, p)
    env = _new_envelope(
        g[8],
        g[9],
        from_,
        from_ if g[16] is not None else _addresses(g, 17, p),
        from_ if g[22] is not None else _addresses(g, 23, p),
        None if g[32] is None else _addresses(g, 28, p),
        None if g[37] is None else _addresses(g, 33, p),
        None if g[42] is None else _addresses(g, 38, p),
        g[43],
        g[44],
    )
    return _unescaped(env) if escaped else env


def _params(raw: bytes, p: _Matchers) -> tuple[tuple[bytes, bytes], ...] | None:
    hit = _PARAMS.get(raw, _MISS)
    if hit is not _MISS:
        return hit  # type: ignore[no-any-return]
    value: tuple[tuple[bytes, bytes], ...] = tuple(p.pair(raw))
    _remember(_PARAMS, raw, value)
    return value


def _disposition(raw: bytes | None, p: _Matchers) -> Disposition | None:
    # body-fld-dsp = "(" string SP body-fld-param ")" / nil
    if raw is None:
        return None
    try:
        return _DISPOSITIONS[raw]
    except KeyError:
        pass
    m = p.dsp(raw)
    if m is None:  # pragma: no cover - the enclosing pattern matched it
        raise _Fallback
    d = _new_disposition(m.group(1), _params(m.group(2), p))
    _remember(_DISPOSITIONS, raw, d)
    return d


def _language(raw: bytes | None, p: _Matchers) -> tuple[bytes, ...] | None:
    # body-fld-lang = nstring / "(" string *(SP string) ")"
    if raw is None or raw == b"NIL":
        return None
    if raw[0] == 40:
        return tuple(p.quoted(raw))
    return (raw[1:-1],)


def _leaf_ext(
    md5: bytes | None,
    dsp: bytes | None,
    dsp_type: bytes | None,
    key: bytes | None,
    value: bytes | None,
    dsp_params: bytes | None,
    lang: bytes | None,
    loc: bytes | None,
    p: _Matchers,
) -> tuple[Any, ...]:
    """body-ext-1part up to the location, from the groups the leaf pattern
    read it into (see ``_grammar``; ``None`` where a group took no part):
    (md5, disposition, language, location, extension_count)."""
    if dsp is None or dsp == b"NIL":
        disposition = None
    else:
        # the pattern captures a list of one pair as two groups, any other
        # list raw
        params = ((key, value),) if key is not None else _params(dsp_params, p)  # type: ignore[arg-type]
        disposition = _new_disposition(dsp_type, params)
    return (
        None if md5 is None or md5 == b"NIL" else md5[1:-1],
        disposition,
        None if lang is None or lang == b"NIL" else _language(lang, p),
        None if loc is None or loc == b"NIL" else loc[1:-1],
        4 - (dsp is None) - (lang is None) - (loc is None),
    )


def _mpart_ext(raw: bytes, p: _Matchers) -> tuple[Any, ...]:
    m = p.mpart_ext(raw)
    if m is None:  # pragma: no cover - the enclosing pattern matched it
        raise _Fallback
    g = m.groups()
    return (_disposition(g[0], p), _language(g[1], p), _raw_nstring(g[2]), 3 - g.count(None))


def _check_body(line: bytes, pos: int, max_depth: int, p: _Matchers) -> tuple[int, list[Any]]:
    """body = "(" (body-type-1part / body-type-mpart) ")": read and checked
    (every refusal is made here), not built.  Returns where it ends and what
    :func:`_build_body` builds it from: the matches in order, ``None`` where
    a multipart opens.  Raises ``_Fallback`` for what this path does not
    read."""
    match_leaf = p.leaf
    match_two = p.two
    match_tail = p.tail
    ops: list[Any] = []
    depth = 0
    while True:
        if line[pos + 1 : pos + 2] == b"(":
            # a multipart, whose parts' parentheses may reach depth + 5 (the
            # msg-att list, this multipart, a part, its disposition and that
            # disposition's parameters): past the limit, the generic path
            # says what is wrong
            if depth + 5 > max_depth:
                raise _Fallback
            # of two parts that are no multiparts, in one match
            m = match_two(line, pos)
            if m is None:
                depth += 1
                ops.append(None)
                pos += 1
                continue
        else:
            # (the pattern refuses a MESSAGE part, and lines but in TEXT)
            m = match_leaf(line, pos)
            if m is None:
                raise _Fallback
        ops.append(m)
        pos = m.end()
        while True:
            if not depth:
                return pos, ops
            if line[pos : pos + 1] == b"(":
                break  # the next part of this multipart
            t = match_tail(line, pos)
            if t is None:
                raise _Fallback
            ops.append(t)
            depth -= 1
            pos = t.end()


def _build_body(deferred: tuple[Any, ...]) -> Any:
    """The body structure :func:`_check_body` read, built from its matches
    with an explicit stack for the multiparts: ``_DeferredBody.build``."""
    ops, p, escaped = deferred
    stack: list[list[Any]] = [[]]
    leaf_re = p.leaf_re
    two_re = p.two_re
    for m in ops:
        if m is None:
            stack.append([])
            continue
        r = m.re
        if r is leaf_re:
            stack[-1].append(_single(m.groups(), p))
            continue
        g = m.groups()
        if r is two_re:
            parts: Any = (_single(g[:20], p), _single(g[20:40], p))
            subtype, raw_params, key, value, rest = g[40:]
        else:
            parts = tuple(stack.pop())
            subtype, raw_params, key, value, rest = g
        if raw_params is None:
            part = _new_multi(parts, subtype, None, None, None, None, (), 0)
        else:
            ext = _MPART_EXT.get(rest)
            if ext is None:
                ext = _mpart_ext(rest, p)
            part = _new_multi(
                parts,
                subtype,
                ((key, value),) if key is not None else _params(raw_params, p),
                ext[0],
                ext[1],
                ext[2],
                (),
                ext[3] + 1,
            )
        stack[-1].append(part)
    part = stack[0][0]
    return _unescaped(part) if escaped else part


def _single(g: Sequence[Any], p: _Matchers) -> SinglePart:
    """A part from the 20 groups of its match (see _grammar's ``fleaf``)."""
    (
        _text,
        mtype,
        subtype,
        key,
        value,
        raw_params,
        id_,
        desc,
        enc,
        size,
        lines,
        raw_ext,
        md5,
        dsp,
        dsp_type,
        dsp_key,
        dsp_value,
        dsp_params,
        lang,
        loc,
    ) = g
    ext = _LEAF_EXT.get(raw_ext)
    if ext is None:
        ext = _leaf_ext(md5, dsp, dsp_type, dsp_key, dsp_value, dsp_params, lang, loc, p)
    return _new_single(
        mtype,
        subtype,
        ((key, value),) if key is not None else _params(raw_params, p),
        id_,
        desc,
        enc,
        int(size),
        None,
        None,
        None if lines is None else int(lines),
        ext[0],
        ext[1],
        ext[2],
        ext[3],
        (),
        ext[4],
    )


class _DeferredBody(Deferred):
    """BODYSTRUCTURE or BODY, checked by :func:`_check_body`, built by
    :func:`_build_body` on first access (from the matches already made)."""

    __slots__ = ()

    # (ops, matchers, escaped)
    build = _build_body


class _DeferredEnvelope(Deferred):
    """ENVELOPE, checked by the item pattern that matched it, built by
    :func:`_envelope` on first access."""

    __slots__ = ()

    # (match, matchers, escaped)
    build = _envelope


_new_deferred = tuple.__new__


def _inlined(fragments: Sequence[Any]) -> bytes | None:
    """The message as one line, each literal replaced by a quoted string of
    the same value; ``None`` if one cannot be (a binary or streamed literal,
    CR, LF or NUL in it, or one too large to be anything this path reads)."""
    parts = []
    last = len(fragments) - 1
    for i in range(0, last, 2):
        line = fragments[i]
        lit = fragments[i + 1]
        # the framer checked the announcement: "{n}" or "{n+}", or "~{n}"
        brace = line.rfind(b"{")
        if brace <= 0 or line[brace - 1] == 126 or type(lit) is not bytes:
            return None
        if len(lit) > _MAX_INLINE:
            return None
        parts.append(line[:brace])
        if FAST_NOT_QUOTABLE.search(lit) is not None:
            if 13 in lit or 10 in lit or 0 in lit:
                return None
            lit = lit.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        parts += (b'"', lit, b'"')
    parts.append(fragments[last])
    return b"".join(parts)


def _unescaped(v: Any) -> Any:
    """``v`` with the quoted-string escapes undone in every string."""
    t = type(v)
    if t is bytes:
        return _unescape(rb"\1", v) if 92 in v else v
    if t is tuple:
        return tuple([_unescaped(x) for x in v])
    make = _MAKERS.get(t)
    if make is None:
        return v
    return make(*[_unescaped(getattr(v, name)) for name in t.__dataclass_fields__])


_MAKERS: Final[dict[type, Callable[..., Any]]] = {
    Address: _new_address,
    Envelope: _new_envelope,
    Disposition: _new_disposition,
    SinglePart: _new_single,
    MultiPart: _new_multi,
}


def fast_fetch(seq: int, fragments: Sequence[Any], start: int, max_depth: int) -> Fetch | None:
    """The FETCH at ``fragments`` (msg-att from offset ``start`` of the first
    line), or ``None`` when the generic path must read it."""
    # (what the patterns read nests at most 4 deep outside a multipart: the
    # msg-att list, ENVELOPE, an address list and an address, or a part, its
    # disposition and that disposition's parameters; _check_body counts a
    # multipart's)
    if not 0 < seq < 2**32 or max_depth < 4:
        return None
    if len(fragments) == 1:
        line = fragments[0]
    else:
        joined = _inlined(fragments)
        if joined is None:
            return None
        line = joined
    if line[start : start + 1] != b"(":
        return None
    # No pattern takes CR, LF or NUL outside a string, nor inside one in
    # the generic path: the message is not for this path.  (Without them,
    # the escape-free patterns can afford their cheaper strings: _grammar.)
    # (an octet is looked for as an int: bytes' "in" then goes straight to
    # memchr, where a one-octet bytes is first tried as an int, at the cost
    # of raising and clearing a TypeError)
    if 0 in line or 13 in line or 10 in line:
        return None
    # The escape-free patterns first: they match only a message with no
    # quoted-string escape, and most have none.  Looking for one first costs
    # more (flags are full of backslashes) than trying them.
    fetch = _read(seq, line, start, max_depth, False)
    if fetch is None and (b'\\"' in line or b"\\\\" in line):
        # an escape somewhere (flags hold a backslash, but never these two
        # sequences): the patterns that read escapes
        fetch = _read(seq, line, start, max_depth, True)
    return fetch


def _read(seq: int, line: bytes, start: int, max_depth: int, escaped: bool) -> Fetch | None:
    """:func:`fast_fetch` on the message as one line, with the patterns
    that read quoted-string escapes or with those that refuse them."""
    uid = flags = internaldate = size = modseq = msgid = thrid = None
    # ENVELOPE, BODYSTRUCTURE and BODY are checked here and built on first
    # access (Deferred)
    envelope: Deferred | None = None
    bodystructure: Deferred | None = None
    body: Deferred | None = None
    pos = start + 1
    end = len(line)
    flags_at = flags_end = start
    p = _ESCAPED if escaped else _PLAIN
    match_item = p.item
    try:
        # the items in the usual order, in one call (see _grammar; it
        # matches anywhere, if only the empty string); the loop below reads
        # what follows them, in any order
        head = p.prefix(line, pos)
        if head is not None and head.end() != pos:
            raw_uid, raw_flags, raw_size, raw_modseq, raw_msgid, raw_thrid = head.group(
                1, 2, 4, 5, 6, 7
            )
            if raw_uid is not None:
                uid = int(raw_uid)
            if raw_flags is not None:
                flags = _flags(raw_flags)
                flags_at, flags_end = head.span(2)
            if head.start(3) >= 0:
                internaldate = _internaldate(head)
            if raw_size is not None:
                size = _number(raw_size)
            if raw_modseq is not None:
                modseq = _number(raw_modseq)
            if raw_msgid is not None:
                msgid = _number(raw_msgid)
            if raw_thrid is not None:
                thrid = _number(raw_thrid)
            if head.start(8) >= 0:
                envelope = _new_deferred(_DeferredEnvelope, (head, p, escaped))
            pos = head.end()
            # each item ends with a space, or the last before ")"
            last = line[pos - 1] != 32
        else:
            last = False
        while not last:
            if line.startswith(b"BODYSTRUCTURE (", pos):
                # the usual last item, known without trying every other
                # item's pattern first
                pos, ops = _check_body(line, pos + 14, max_depth, p)
                bodystructure = _new_deferred(_DeferredBody, (ops, p, escaped))
            else:
                m = match_item(line, pos)
                if m is None:
                    return None
                pos = m.end()
                idx = m.lastindex
                if idx == 1:
                    uid = int(m.group(1))
                elif idx == 2:
                    flags = _flags(m.group(2))
                    flags_at, flags_end = m.span(2)
                elif idx == 3:
                    internaldate = _internaldate(m)
                elif idx == 8:
                    envelope = _new_deferred(_DeferredEnvelope, (m, p, escaped))
                elif idx == 46:
                    pos, ops = _check_body(line, pos, max_depth, p)
                    body = _new_deferred(_DeferredBody, (ops, p, escaped))
                else:
                    n = _number(m.group(idx))  # type: ignore[arg-type]
                    if idx == 4:
                        size = n
                    elif idx == 5:
                        modseq = n
                    elif idx == 6:
                        msgid = n
                    else:
                        thrid = n
            c = line[pos : pos + 1]
            if c == b" ":
                pos += 1
                continue
            if c != b")":
                return None
            break
        if pos + 1 != end and line[pos + 1 :] != b" ":
            return None
    except (_Fallback, RemoteProtocolError, ValueError, RecursionError):
        # the generic path reads it, or raises the error with its message
        return None
    if not escaped and (
        line.find(b"\\", start, flags_at) >= 0 or line.find(b"\\", flags_end) >= 0
    ):
        # a backslash in a string, which the escape-free patterns do not
        # refuse themselves (see _grammar): what they read is not the
        # message's reading
        return None
    return _new_fetch(
        seq,
        uid,
        flags,
        internaldate,
        size,
        envelope,
        bodystructure,
        body,
        (),
        None,
        None,
        None,
        (),
        modseq,
        msgid,
        thrid,
        None,
        (),
    )
