"""The values the store hands out: accounts, mailboxes, messages, changes,
and the errors it raises.  Plain frozen dataclasses; nothing here touches
SQLite."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

__all__ = [
    "ALL_MAIL",
    "DEFAULT_MAILBOXES",
    "SYSTEM_FLAGS",
    "Account",
    "AccountExists",
    "Change",
    "ChangeKind",
    "CopyResult",
    "Delivered",
    "FlagMode",
    "InvalidName",
    "MailboxExists",
    "MailboxInfo",
    "MessageInfo",
    "MessageTooLarge",
    "NoSuchAccount",
    "NoSuchMailbox",
    "PopEntry",
    "SchemaTooNew",
    "SearchQuery",
    "SelectInfo",
    "StoreError",
    "StoreResult",
    "Submitted",
    "UidRange",
    "normalize_flags",
]

#: The mailbox every message of an account is a member of (Gmail's label view).
ALL_MAIL: Final = "All Mail"

#: Created with every account: (name, RFC 6154 special-use attribute).
DEFAULT_MAILBOXES: Final[tuple[tuple[str, str | None], ...]] = (
    ("INBOX", None),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    (ALL_MAIL, "\\All"),
)

#: RFC 3501 section 2.3.2 system flags a client may store (not \Recent).
SYSTEM_FLAGS: Final = ("\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen")
_SYSTEM_BY_FOLD: Final = {f.casefold(): f for f in SYSTEM_FLAGS}

# flag-keyword = atom (RFC 3501 section 9): ATOM-CHAR is any CHAR except
# atom-specials  "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]"; bounded length.
_KEYWORD: Final = re.compile(r"[\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c-\x7e]{1,255}")
_MAX_FLAGS_PER_MESSAGE: Final = 100


class StoreError(Exception):
    """Base class of the store's errors (messages never contain secrets)."""


class SchemaTooNew(StoreError):
    """The database was written by a newer protokit (its schema version is higher)."""


class NoSuchAccount(StoreError):
    """No account has this address."""


class AccountExists(StoreError):
    """An account with this address exists already."""


class NoSuchMailbox(StoreError):
    """The account has no mailbox of this name (or id)."""


class MailboxExists(StoreError):
    """The account has a mailbox of this name already."""


class InvalidName(StoreError, ValueError):
    """An address, mailbox name or flag that the store refuses."""


class MessageTooLarge(StoreError):
    """A message grew past the writer's ``max_size``."""


def normalize_flags(flags: object) -> tuple[str, ...]:
    """Flags as the store keeps them: system flags in their canonical case,
    keywords as given, duplicates (compared case-insensitively) removed,
    sorted.  Refuses \\Recent, unknown system flags and non-atom keywords."""
    if isinstance(flags, str | bytes):
        raise TypeError("flags are an iterable of str, not one str")
    if not hasattr(flags, "__iter__"):
        raise TypeError("flags are an iterable of str")
    seen: dict[str, str] = {}
    for flag in flags:
        if not isinstance(flag, str):
            raise TypeError("a flag is a str")
        folded = flag.casefold()
        if flag.startswith("\\"):
            canonical = _SYSTEM_BY_FOLD.get(folded)
            if canonical is None:
                raise InvalidName(f"not a storable system flag: {flag!r}")
            seen.setdefault(folded, canonical)
        elif _KEYWORD.fullmatch(flag):
            seen.setdefault(folded, flag)
        else:
            raise InvalidName(f"not a valid keyword: {flag!r}")
    if len(seen) > _MAX_FLAGS_PER_MESSAGE:
        raise InvalidName("too many flags on one message")
    return tuple(sorted(seen.values(), key=lambda f: (not f.startswith("\\"), f.casefold())))


class FlagMode(enum.Enum):
    """STORE FLAGS (replace), +FLAGS (add) and -FLAGS (remove)."""

    SET = "set"
    ADD = "add"
    REMOVE = "remove"


class ChangeKind(enum.Enum):
    """What a :class:`Change` reports (for IDLE and NOTIFY-like wakeups)."""

    EXISTS = "exists"  #: new messages (uids) in the mailbox
    EXPUNGE = "expunge"  #: messages (uids) left the mailbox
    FLAGS = "flags"  #: flags of messages (uids) changed
    MAILBOXES = "mailboxes"  #: a mailbox was created, renamed or deleted


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """One mail account.  Credentials are not part of it (see the store's
    ``verify_password`` and ``scram_credentials``)."""

    id: int
    address: str
    created: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxInfo:
    """A mailbox as LIST/STATUS see it."""

    id: int
    account_id: int
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool
    messages: int
    unseen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectInfo:
    """What SELECT/EXAMINE report (RFC 3501 6.3.1, RFC 7162 3.1.2).
    ``uids`` is the mailbox in sequence-number order."""

    mailbox: MailboxInfo
    uids: tuple[int, ...]
    flags: tuple[str, ...]
    first_unseen: int | None  #: the sequence number of the first unseen message


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageInfo:
    """One message as seen in one mailbox.  ``gm_msgid`` is X-GM-MSGID (also
    the message's identity across mailboxes), ``thread_id`` is X-GM-THRID,
    ``labels`` is X-GM-LABELS (the other mailboxes it is a member of)."""

    uid: int
    gm_msgid: int
    thread_id: int
    size: int
    internal_date: datetime
    flags: tuple[str, ...]
    modseq: int
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """A committed message: its X-GM-MSGID and its UID in the mailbox it went to."""

    gm_msgid: int
    mailbox_id: int
    uid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """A submitted message: its place in the sender's Sent, and the local
    recipients' deliveries (by address as given)."""

    sent: Delivered
    delivered: dict[str, Delivered]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreResult:
    """STORE's outcome: ``updated`` maps uid -> (flags, modseq) for every
    message matched (changed or not); ``modified`` lists the uids refused by
    UNCHANGEDSINCE (RFC 7162 3.1.3, the MODIFIED response code)."""

    updated: dict[int, tuple[tuple[str, ...], int]]
    modified: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyResult:
    """COPY/MOVE's outcome for COPYUID (RFC 4315): the destination's
    UIDVALIDITY and source uid -> destination uid, in ascending source order."""

    uidvalidity: int
    mapping: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PopEntry:
    """One message of a POP3 maildrop: unique-id (stable across sessions),
    exact size, and the message's X-GM-MSGID for reading it."""

    unique_id: str
    size: int
    gm_msgid: int


@dataclass(frozen=True, slots=True)
class UidRange:
    """``first:last`` of an IMAP uid set; ``last=None`` is ``*``, ``last``
    omitted is the single uid ``first``.  Reversed bounds are allowed (RFC
    3501: ``4:2`` is ``2:4``)."""

    first: int
    last: int | None = 0

    def __post_init__(self) -> None:
        if self.last == 0:
            object.__setattr__(self, "last", self.first)
        if not isinstance(self.first, int) or self.first < 1:
            raise ValueError("a uid is a positive int")
        if self.last is not None and (not isinstance(self.last, int) or self.last < 1):
            raise ValueError("a uid is a positive int")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchQuery:
    """The basic criteria, ANDed: ``uids`` (uid set), ``flags`` all present,
    ``not_flags`` all absent, internal date ``since`` (>=) and ``before``
    (<) as dates compared in the message's own zone, as RFC 3501 says,
    ``headers``: (field name, substring) pairs matched case-insensitively
    (an empty field name searches every header line), ``modseq``: at least
    this MODSEQ (RFC 7162)."""

    uids: tuple[UidRange, ...] | None = None
    flags: tuple[str, ...] = ()
    not_flags: tuple[str, ...] = ()
    since: date | None = None
    before: date | None = None
    headers: tuple[tuple[str, str], ...] = ()
    modseq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """A committed change, for IDLE: which account and mailbox, what kind,
    which uids, and the mailbox's HIGHESTMODSEQ after it."""

    account_id: int
    mailbox_id: int | None
    kind: ChangeKind
    uids: tuple[int, ...] = field(default=())
    modseq: int | None = None
