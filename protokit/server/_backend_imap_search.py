"""IMAP SEARCH on the store: the keys the server hands over, narrowed in SQL
by :meth:`Store.search` (uid set, flags, internal dates, header substrings,
MODSEQ at the top level), then every key checked in Python over the
candidates' metadata, header block (at most 64 KiB, as stored) and, only
for BODY/TEXT/X-GM-RAW, the message streamed in chunks (never held whole).

Runs on the store's worker thread (one :meth:`AsyncStore.call`)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from typing import Final

from ..imap import SearchKey
from ..net._imap_search import FLAG_KEYS, HEADER_KEYS, search_matches, sequence_bounds
from ._store import Store
from ._types import MessageInfo, SearchQuery, UidRange
from ._writer import parse_header_fields

# Internal to the IMAP backend: nothing here is public.
__all__: list[str] = []

_CHUNK: Final = 64 * 1024


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
        if n in FLAG_KEYS:
            flag, present = FLAG_KEYS[n]
            (flags if present else not_flags).append(flag)
        elif n == "SINCE" and since is None:
            since = v
        elif n == "BEFORE" and before is None:
            before = v
        elif n == "ON" and since is None and before is None:
            since, before = v, v + _dt.timedelta(days=1)
        elif n in HEADER_KEYS and isinstance(v, bytes) and v.isascii():
            headers.append((n.lower(), v.decode("ascii")))
        elif n == "MODSEQ" and modseq is None:
            modseq = int(v[1])
        elif n == "UID" and uids is None and view:
            bounds = sequence_bounds(v, max(view))
            uids = tuple(UidRange(max(1, lo), max(1, hi)) for lo, hi in bounds)
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
    """One message being matched (a :class:`protokit.net.SearchableMessage`):
    metadata now, header and body on demand; keywords and labels compared
    case-insensitively."""

    __slots__ = (
        "_fields", "_header", "_labels", "account_id", "flags", "gm_msgid", "gm_thrid",
        "internaldate", "modseq", "size", "store", "uid",
    )  # fmt: skip

    def __init__(self, store: Store, account_id: int, info: MessageInfo) -> None:
        self.store = store
        self.account_id = account_id
        self.uid = info.uid
        self.flags = info.flags
        self.internaldate = info.internal_date
        self.size = info.size
        self.modseq = info.modseq
        self.gm_msgid = info.gm_msgid
        self.gm_thrid = info.thread_id
        self._labels = info.labels
        self._header: bytes | None = None
        self._fields: list[tuple[str, str]] | None = None

    def has_keyword(self, keyword: str) -> bool:
        return any(f.casefold() == keyword.casefold() for f in self.flags)

    def has_label(self, label: bytes) -> bool:
        wanted = label.decode("utf-8", "replace").casefold()
        return any(lab.casefold() == wanted for lab in self._labels)

    def _header_block(self) -> bytes:
        if self._header is None:
            self._header = self.store.header(self.account_id, self.gm_msgid)
        return self._header

    def header(self, name: str) -> str:
        if self._fields is None:
            self._fields = [
                (n.casefold(), v) for n, v in parse_header_fields(self._header_block())
            ]
        wanted = name.casefold()
        return " ".join(v for n, v in self._fields if n == wanted)

    def _chunks(self, start: int = 0) -> Iterator[bytes]:
        offset = start
        while chunk := self.store.body_chunk(self.account_id, self.gm_msgid, offset, _CHUNK):
            offset += len(chunk)
            yield chunk

    def contains(self, needle: bytes, *, body_only: bool) -> bool:
        """Case-insensitive substring search over the streamed octets."""
        needle = needle.lower()
        if not needle:
            return True
        start = len(self._header_block()) if body_only else 0
        tail = b""
        for chunk in self._chunks(start):
            window = tail + chunk.lower()
            if needle in window:
                return True
            tail = window[-(len(needle) - 1) :] if len(needle) > 1 else b""
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
            c = _Candidate(store, account_id, info)
            seq = in_view[info.uid]
            if all(search_matches(k, c, seq=seq, view=view, now=now) for k in keys):
                out.append(info.uid)
    return sorted(out)


def _batches(uids: list[int], size: int = 500) -> Iterator[list[UidRange]]:
    """The uids in bounded batches of ranges (each fetch stays small)."""
    for i in range(0, len(uids), size):
        yield uid_ranges(uids[i : i + size])
