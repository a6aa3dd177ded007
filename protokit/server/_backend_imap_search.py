"""IMAP SEARCH on the store: the keys the server hands over, narrowed in SQL
by :meth:`Store.search` (uid set, flags, internal dates, header substrings,
MODSEQ at the top level), then every key checked in Python over the
candidates' metadata, header block (at most 64 KiB, as stored) and, only
for BODY/TEXT/X-GM-RAW, the message streamed in chunks (never held whole).

Runs on the store's worker thread (one :meth:`AsyncStore.call`)."""

from __future__ import annotations

import datetime as _dt
import email.utils
from collections.abc import Iterator, Sequence
from typing import Final

from ..imap import SearchKey, SequenceSet
from ._store import Store
from ._types import MessageInfo, SearchQuery, UidRange
from ._writer import parse_header_fields

# Internal to the IMAP backend: nothing here is public.
__all__: list[str] = []

_CHUNK: Final = 64 * 1024
_FLAG_KEYS: Final = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS: Final = ("FROM", "TO", "CC", "BCC", "SUBJECT")


def uid_ranges(uids: Sequence[int]) -> list[UidRange]:
    """Ascending uids as few :class:`UidRange` values as possible."""
    out: list[UidRange] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(UidRange(ordered[i], ordered[j]))
        i = j + 1
    return out


def _in_set(n: int, seq: SequenceSet, largest: int) -> bool:
    for a, b in seq.ranges:
        lo = largest if a is None else a
        hi = largest if b is None else b
        if min(lo, hi) <= n <= max(lo, hi):
            return True
    return False


def _prefilter(keys: Sequence[SearchKey], view: Sequence[int]) -> SearchQuery:
    """What SQL can narrow: the top-level keys the store understands."""
    flags: list[str] = []
    not_flags: list[str] = []
    since: _dt.date | None = None
    before: _dt.date | None = None
    headers: list[tuple[str, str]] = []
    modseq: int | None = None
    uids: tuple[UidRange, ...] | None = None
    for k in keys:
        n, v = k.name, k.value
        if n in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[n]
            (flags if present else not_flags).append(flag)
        elif n == "SINCE" and since is None:
            since = v
        elif n == "BEFORE" and before is None:
            before = v
        elif n == "ON" and since is None and before is None:
            since, before = v, v + _dt.timedelta(days=1)
        elif n in _HEADER_KEYS and isinstance(v, bytes) and v.isascii():
            headers.append((n.lower(), v.decode("ascii")))
        elif n == "MODSEQ" and modseq is None:
            modseq = int(v[1])
        elif n == "UID" and uids is None and view:
            largest = max(view)
            ranges = []
            for a, b in v.ranges:
                lo = largest if a is None else a
                hi = largest if b is None else b
                ranges.append(UidRange(max(1, min(lo, hi)), max(1, max(lo, hi))))
            uids = tuple(ranges)
    return SearchQuery(
        uids=uids,
        flags=tuple(flags),
        not_flags=tuple(not_flags),
        since=since,
        before=before,
        headers=tuple(headers),
        modseq=modseq,
    )


class _Candidate:
    """One message being matched: metadata now, header and body on demand."""

    __slots__ = ("_fields", "_header", "account_id", "info", "seq", "store")

    def __init__(self, store: Store, account_id: int, info: MessageInfo, seq: int) -> None:
        self.store = store
        self.account_id = account_id
        self.info = info
        self.seq = seq
        self._header: bytes | None = None
        self._fields: list[tuple[str, str]] | None = None

    def header(self) -> bytes:
        if self._header is None:
            self._header = self.store.header(self.account_id, self.info.gm_msgid)
        return self._header

    def fields(self, name: str) -> str:
        if self._fields is None:
            self._fields = [(n.casefold(), v) for n, v in parse_header_fields(self.header())]
        wanted = name.casefold()
        return " ".join(v for n, v in self._fields if n == wanted)

    def chunks(self, start: int = 0) -> Iterator[bytes]:
        offset = start
        while chunk := self.store.body_chunk(self.account_id, self.info.gm_msgid, offset, _CHUNK):
            offset += len(chunk)
            yield chunk

    def contains(self, needle: bytes, *, body_only: bool) -> bool:
        """Case-insensitive substring search over the streamed octets."""
        needle = needle.lower()
        if not needle:
            return True
        start = len(self.header()) if body_only else 0
        tail = b""
        for chunk in self.chunks(start):
            window = tail + chunk.lower()
            if needle in window:
                return True
            tail = window[-(len(needle) - 1) :] if len(needle) > 1 else b""
        return False


def _contains(haystack: str, needle: bytes) -> bool:
    return needle.lower() in haystack.encode("utf-8", "replace").lower()


def _sent_date(c: _Candidate) -> _dt.date | None:
    raw = c.fields("Date")
    try:
        return email.utils.parsedate_to_datetime(raw).date()
    except (TypeError, ValueError, IndexError):
        return None


def _match(k: SearchKey, c: _Candidate, view: Sequence[int], now: float) -> bool:
    n, v = k.name, k.value
    info = c.info
    if n == "ALL":
        return True
    if n in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[n]
        return (flag in info.flags) is present
    if n in ("NEW", "RECENT"):
        return False  # \Recent is not kept (RFC 9051 dropped it)
    if n == "OLD":
        return True
    if n in ("KEYWORD", "UNKEYWORD"):
        have = any(f.casefold() == str(v).casefold() for f in info.flags)
        return have if n == "KEYWORD" else not have
    if n == "UID":
        return _in_set(info.uid, v, max(view) if view else 0)
    if n == "SEQ":
        return _in_set(c.seq, v, len(view))
    if n == "LARGER":
        return bool(info.size > v)
    if n == "SMALLER":
        return bool(info.size < v)
    if n in _HEADER_KEYS:
        return _contains(c.fields(n), v)
    if n == "HEADER":
        name, value = v
        return _contains(c.fields(name.decode("ascii", "replace")), value)
    if n == "BODY":
        return c.contains(v, body_only=True)
    if n in ("TEXT", "X-GM-RAW"):
        return c.contains(v, body_only=False)
    if n in ("BEFORE", "ON", "SINCE"):
        d = info.internal_date.date()
        return bool(d < v if n == "BEFORE" else d == v if n == "ON" else d >= v)
    if n in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sent = _sent_date(c)
        if sent is None:
            return False
        return bool(sent < v if n == "SENTBEFORE" else sent == v if n == "SENTON" else sent >= v)
    if n in ("OLDER", "YOUNGER"):
        age = now - info.internal_date.timestamp()
        return bool(age >= v if n == "OLDER" else age <= v)
    if n == "MODSEQ":
        return info.modseq >= int(v[1])
    if n == "X-GM-MSGID":
        return bool(info.gm_msgid == v)
    if n == "X-GM-THRID":
        return bool(info.thread_id == v)
    if n == "X-GM-LABELS":
        label = v.decode("utf-8", "replace").casefold()
        return any(lab.casefold() == label for lab in info.labels)
    if n == "NOT":
        return not _match(v, c, view, now)
    if n == "OR":
        return _match(v[0], c, view, now) or _match(v[1], c, view, now)
    if n == "AND":
        return all(_match(x, c, view, now) for x in v)
    return False


def search_mailbox(
    store: Store,
    account_id: int,
    mailbox_id: int,
    keys: Sequence[SearchKey],
    view: Sequence[int],
    now: float,
) -> list[int]:
    """The uids of ``view`` (the session's uids in message-number order)
    matching every key, ascending."""
    if not view:
        return []
    narrowed = store.search(mailbox_id, _prefilter(keys, view))
    in_view = {uid: i + 1 for i, uid in enumerate(view)}
    wanted = [u for u in narrowed if u in in_view]
    out: list[int] = []
    for r in _batches(wanted):
        for info in store.fetch(mailbox_id, r):
            c = _Candidate(store, account_id, info, in_view[info.uid])
            if all(_match(k, c, view, now) for k in keys):
                out.append(info.uid)
    return sorted(out)


def _batches(uids: list[int], size: int = 500) -> Iterator[list[UidRange]]:
    """The uids in bounded batches of ranges (each fetch stays small)."""
    for i in range(0, len(uids), size):
        yield uid_ranges(uids[i : i + size])
