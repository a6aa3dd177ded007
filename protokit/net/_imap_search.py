"""SEARCH key evaluation for IMAP backends: :func:`search_matches` tells
whether one message matches a parsed :class:`~protokit.imap.SearchKey`
(RFC 9051 6.4.4, CONDSTORE's MODSEQ, Gmail's X-GM-*), over the small
:class:`SearchableMessage` Protocol, so that every backend evaluates the
keys alike: :class:`~protokit.net.InMemoryIMAPBackend`, protokit.server's
store, or a third-party :meth:`SelectedMailbox.search
<protokit.net.SelectedMailbox.search>`.

A backend may narrow the candidates first (an index, SQL) with
:data:`FLAG_KEYS`, :data:`HEADER_KEYS` and :func:`sequence_bounds`, then
check every key here.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
from collections.abc import Collection, Iterator, Sequence
from typing import Final, Protocol

from ..imap import SearchKey, SequenceSet

__all__ = ["SearchableMessage", "search_matches"]

#: Flag keys: the system flag each tests, and whether it must be set.
FLAG_KEYS: Final = {
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
#: Keys that search one header field by substring (the field is the key's name).
HEADER_KEYS: Final = ("FROM", "TO", "CC", "BCC", "SUBJECT")


class SearchableMessage(Protocol):
    """What :func:`search_matches` reads of a message: its metadata as
    attributes (or properties), and four questions about its flags, labels
    and octets, answered as the backend defines them (say, keywords
    compared exactly or case-insensitively)."""

    @property
    def uid(self) -> int: ...

    @property
    def flags(self) -> Collection[str]:
        """The stored flags; a system-flag key tests membership exactly."""
        ...

    @property
    def internaldate(self) -> _dt.datetime:
        """Timezone-aware (BEFORE/ON/SINCE compare its date, OLDER/YOUNGER its age)."""
        ...

    @property
    def size(self) -> int: ...

    @property
    def modseq(self) -> int: ...

    @property
    def gm_msgid(self) -> int | None: ...

    @property
    def gm_thrid(self) -> int | None: ...

    def has_keyword(self, keyword: str) -> bool:
        """KEYWORD (and, negated, UNKEYWORD)."""
        ...

    def has_label(self, label: bytes) -> bool:
        """X-GM-LABELS."""
        ...

    def header(self, name: str) -> str:
        """The values of every header field ``name`` (case-insensitive),
        joined by a space; "" if there is none."""
        ...

    def contains(self, needle: bytes, *, body_only: bool) -> bool:
        """Whether ``needle`` occurs, case-insensitively, in the message's
        octets (``body_only``: after the header block; BODY against TEXT)."""
        ...


def sequence_bounds(seq: SequenceSet, largest: int) -> Iterator[tuple[int, int]]:
    """``seq``'s ranges as ``(low, high)``, ``*`` standing for ``largest``
    (the highest UID or message number in view)."""
    for a, b in seq.ranges:
        lo = largest if a is None else a
        hi = largest if b is None else b
        yield min(lo, hi), max(lo, hi)


def _in_set(n: int, seq: SequenceSet, largest: int) -> bool:
    return any(lo <= n <= hi for lo, hi in sequence_bounds(seq, largest))


def _contains(haystack: str, needle: bytes) -> bool:
    return needle.lower() in haystack.encode("utf-8", "replace").lower()


def _sent_date(msg: SearchableMessage) -> _dt.date | None:
    try:
        return email.utils.parsedate_to_datetime(msg.header("Date")).date()
    except (TypeError, ValueError, IndexError):
        return None


def search_matches(
    key: SearchKey, msg: SearchableMessage, *, seq: int, view: Sequence[int], now: float
) -> bool:
    """Whether ``msg`` matches ``key`` (NOT, OR and parenthesized lists
    included; an unknown key matches nothing).

    ``seq`` is the message's number in the session, ``view`` the session's
    UIDs in message-number order (``*`` in UID and SEQ sets), ``now`` the
    POSIX time OLDER and YOUNGER count from (one value for the whole search).
    \\Recent is not kept (RFC 9051 dropped it): NEW and RECENT match nothing,
    OLD everything.
    """
    n, v = key.name, key.value
    if n == "ALL":
        return True
    if n in FLAG_KEYS:
        flag, present = FLAG_KEYS[n]
        return (flag in msg.flags) is present
    if n in ("NEW", "RECENT"):
        return False
    if n == "OLD":
        return True
    if n in ("KEYWORD", "UNKEYWORD"):
        return msg.has_keyword(str(v)) is (n == "KEYWORD")
    if n == "UID":
        return _in_set(msg.uid, v, max(view) if view else 0)
    if n == "SEQ":
        return _in_set(seq, v, len(view))
    if n == "LARGER":
        return bool(msg.size > v)
    if n == "SMALLER":
        return bool(msg.size < v)
    if n in HEADER_KEYS:
        return _contains(msg.header(n), v)
    if n == "HEADER":
        name, value = v
        return _contains(msg.header(name.decode("ascii", "replace")), value)
    if n == "BODY":
        return msg.contains(v, body_only=True)
    if n in ("TEXT", "X-GM-RAW"):
        return msg.contains(v, body_only=False)
    if n in ("BEFORE", "ON", "SINCE"):
        d = msg.internaldate.date()
        return bool(d < v if n == "BEFORE" else d == v if n == "ON" else d >= v)
    if n in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sent = _sent_date(msg)
        if sent is None:
            return False
        return bool(sent < v if n == "SENTBEFORE" else sent == v if n == "SENTON" else sent >= v)
    if n in ("OLDER", "YOUNGER"):
        age = now - msg.internaldate.timestamp()
        return bool(age >= v if n == "OLDER" else age <= v)
    if n == "MODSEQ":
        return msg.modseq >= int(v[1])
    if n == "X-GM-MSGID":
        return bool(msg.gm_msgid == v)
    if n == "X-GM-THRID":
        return bool(msg.gm_thrid == v)
    if n == "X-GM-LABELS":
        return msg.has_label(v)
    if n == "NOT":
        return not search_matches(v, msg, seq=seq, view=view, now=now)
    if n == "OR":
        return search_matches(v[0], msg, seq=seq, view=view, now=now) or search_matches(
            v[1], msg, seq=seq, view=view, now=now
        )
    if n == "AND":
        return all(search_matches(x, msg, seq=seq, view=view, now=now) for x in v)
    return False
