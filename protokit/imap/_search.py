"""Search keys (RFC 9051 section 6.4.4, RFC 3501 section 6.4.4), with
CONDSTORE's MODSEQ (RFC 7162), WITHIN's OLDER/YOUNGER (RFC 5032) and Gmail's
X-GM-RAW, X-GM-MSGID, X-GM-THRID, X-GM-LABELS."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Final

from ..errors import LocalProtocolError, RemoteProtocolError
from ._types import Flag, SequenceSet, format_date, parse_date
from ._values import astring, err, flag, number, sequence_set
from ._write import Writer

__all__ = ["SearchKey", "parse_search_keys", "write_search_keys"]

# search-key names and the kind of argument each takes
NO_ARG: Final = frozenset(
    {
        "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
        "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN",
    }
)  # fmt: skip
STRING_ARG: Final = frozenset(
    {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO", "X-GM-RAW", "X-GM-LABELS"}
)
DATE_ARG: Final = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})
NUMBER_ARG: Final = frozenset(
    {"LARGER", "SMALLER", "OLDER", "YOUNGER", "X-GM-MSGID", "X-GM-THRID"}
)
FLAG_ARG: Final = frozenset({"KEYWORD", "UNKEYWORD"})
_ENTRY_TYPES: Final = ("PRIV", "SHARED", "ALL")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchKey:
    """One search key.  ``value`` by ``name``:

    * ALL, SEEN, ... (no argument): ``None``
    * BCC, BODY, CC, FROM, SUBJECT, TEXT, TO, X-GM-RAW, X-GM-LABELS: ``bytes``
    * BEFORE, ON, SINCE, SENT*: ``datetime.date``
    * LARGER, SMALLER, OLDER, YOUNGER, X-GM-MSGID, X-GM-THRID: ``int``
    * KEYWORD, UNKEYWORD: ``Flag``
    * HEADER: ``(field, value)`` bytes
    * UID and SEQ (a bare sequence set): ``SequenceSet``
    * MODSEQ: ``(entry, modseq)``, entry ``None`` or ``(name bytes, "PRIV"/"SHARED"/"ALL")``
    * NOT: ``SearchKey``; OR: ``(SearchKey, SearchKey)``; AND (a parenthesized
      list): ``tuple[SearchKey, ...]``
    """

    name: str
    value: Any = None

    def __post_init__(self) -> None:
        _validate(self)


def _validate(k: SearchKey) -> None:
    n, v = k.name, k.value
    bad = LocalProtocolError(f"invalid search key {n}: {v!r}")
    if not isinstance(n, str):
        raise bad
    if n in NO_ARG:
        if v is not None:
            raise bad
    elif n in STRING_ARG:
        if not isinstance(v, bytes):
            raise bad
    elif n in DATE_ARG:
        if not isinstance(v, _dt.date) or isinstance(v, _dt.datetime):
            raise bad
    elif n in NUMBER_ARG:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**63:
            raise bad
    elif n in FLAG_ARG:
        if not isinstance(v, Flag) or v.startswith("\\"):
            raise bad
    elif n == "HEADER":
        if not (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, bytes) for x in v)):
            raise bad
    elif n in ("UID", "SEQ"):
        if not isinstance(v, SequenceSet):
            raise bad
    elif n == "MODSEQ":
        if not (isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], int)):
            raise bad
        if v[0] is not None and not (
            isinstance(v[0], tuple)
            and len(v[0]) == 2
            and isinstance(v[0][0], bytes)
            and v[0][1] in _ENTRY_TYPES
        ):
            raise bad
    elif n == "NOT":
        if not isinstance(v, SearchKey):
            raise bad
    elif n == "OR":
        if not (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, SearchKey) for x in v)):
            raise bad
    elif n == "AND":
        if not (isinstance(v, tuple) and v and all(isinstance(x, SearchKey) for x in v)):
            raise bad
    else:
        raise bad


def _key(name: str, value: Any) -> SearchKey:
    k = object.__new__(SearchKey)
    object.__setattr__(k, "name", name)
    object.__setattr__(k, "value", value)
    return k


class _Cursor:
    __slots__ = ("i", "toks")

    def __init__(self, toks: list[Any]) -> None:
        self.toks = toks
        self.i = 0

    def next(self) -> Any:
        if self.i >= len(self.toks):
            raise RemoteProtocolError("search key argument missing")
        v = self.toks[self.i]
        self.i += 1
        return v


def _date(v: Any) -> _dt.date:
    raw = v if isinstance(v, bytes) else v.encode() if isinstance(v, str) else b""
    d = parse_date(raw)
    if d is None:
        raise err("search date")
    return d


def _one(c: _Cursor, depth: int, max_depth: int) -> SearchKey:
    if depth > max_depth:
        raise RemoteProtocolError(f"search keys nested deeper than {max_depth}")
    t = c.next()
    if isinstance(t, list):
        if not t:
            raise err("search key list")
        sub = _Cursor(t)
        keys = []
        while sub.i < len(t):
            keys.append(_one(sub, depth + 1, max_depth))
        return _key("AND", tuple(keys))
    if type(t) is not str:
        raise err("search key")
    name = t.upper()
    if name in NO_ARG:
        return _key(name, None)
    if name in STRING_ARG:
        return _key(name, astring(c.next(), name))
    if name in DATE_ARG:
        return _key(name, _date(c.next()))
    if name in NUMBER_ARG:
        return _key(name, number(c.next(), name))
    if name in FLAG_ARG:
        f = flag(c.next())
        if f.startswith("\\"):
            raise err(name)
        return _key(name, f)
    if name == "HEADER":
        return _key(name, (astring(c.next()), astring(c.next())))
    if name == "UID":
        return _key(name, sequence_set(c.next()))
    if name == "NOT":
        return _key(name, _one(c, depth + 1, max_depth))
    if name == "OR":
        a = _one(c, depth + 1, max_depth)
        return _key(name, (a, _one(c, depth + 1, max_depth)))
    if name == "MODSEQ":
        # search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
        # search-modseq-ext  = SP entry-name SP entry-type-req
        v = c.next()
        entry = None
        if isinstance(v, bytes):
            etype = c.next()
            if type(etype) is not str or etype.upper() not in _ENTRY_TYPES:
                raise err("MODSEQ entry type")
            entry = (bytes(v), etype.upper())
            v = c.next()
        return _key(name, (entry, number(v, "MODSEQ")))
    return _key("SEQ", sequence_set(t, "search key"))


def parse_search_keys(toks: list[Any], max_depth: int) -> tuple[SearchKey, ...]:
    """search-key *(SP search-key), from a flat token list."""
    c = _Cursor(toks)
    out = []
    while c.i < len(toks):
        out.append(_one(c, 0, max_depth))
    if not out:
        raise err("search: no search key")
    return tuple(out)


def write_search_key(w: Writer, k: SearchKey, depth: int = 0) -> None:
    if depth > 64:
        raise LocalProtocolError("search keys nested too deeply")
    if not isinstance(k, SearchKey):
        raise LocalProtocolError("not a SearchKey")
    n, v = k.name, k.value
    if n == "AND":
        w.raw(b"(")
        write_search_keys(w, v, depth + 1)
        w.raw(b")")
        return
    if n == "SEQ":
        w.raw(v.to_bytes())
        return
    w.raw(n.encode("ascii"))
    if n in NO_ARG:
        return
    w.raw(b" ")
    if n in STRING_ARG:
        w.astring(v)
    elif n in DATE_ARG:
        w.raw(format_date(v))
    elif n in NUMBER_ARG:
        w.number(v)
    elif n in FLAG_ARG:
        w.word(v)
    elif n == "HEADER":
        w.astring(v[0])
        w.raw(b" ")
        w.astring(v[1])
    elif n == "UID":
        w.raw(v.to_bytes())
    elif n == "NOT":
        write_search_key(w, v, depth + 1)
    elif n == "OR":
        write_search_key(w, v[0], depth + 1)
        w.raw(b" ")
        write_search_key(w, v[1], depth + 1)
    elif n == "MODSEQ":
        if v[0] is not None:
            w.string(v[0][0])
            w.raw(b" " + v[0][1].encode("ascii") + b" ")
        w.number(v[1])


def write_search_keys(w: Writer, keys: tuple[SearchKey, ...], depth: int = 0) -> None:
    if not keys:
        raise LocalProtocolError("at least one search key")
    for i, k in enumerate(keys):
        if i:
            w.raw(b" ")
        write_search_key(w, k, depth)
