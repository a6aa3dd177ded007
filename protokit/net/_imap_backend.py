"""What :func:`~protokit.net.serve_imap` asks of the application: a typed
backend (credentials, a per-user :class:`IMAPSession` of mailboxes, a
:class:`SelectedMailbox` per SELECT), and the value types they exchange.

The interface is storage-agnostic and async: the server keeps the
session's view (which UID each message number names, RFC 9051 2.3.1.2) and
turns what the backend reports into responses; the backend keeps messages,
flags, UIDs and MODSEQs, and reports what other sessions changed through
:meth:`SelectedMailbox.changes` / :meth:`SelectedMailbox.wait_for_changes`.
:class:`~protokit.net.InMemoryIMAPBackend` (``_imap_backend_memory``) is
the reference implementation and test double.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..imap import SearchKey
from ..sasl import Request, TokenResult
from ..wire._secret import Secret

__all__ = [
    "AppendResult",
    "CopyResult",
    "IMAPBackend",
    "IMAPSession",
    "MailboxChanges",
    "MailboxError",
    "MailboxInfo",
    "MailboxStatus",
    "MessageInfo",
    "SelectedMailbox",
    "StoreResult",
]


class MailboxError(Exception):
    """A mailbox operation refused: answered ``NO [code] text`` (``code``
    e.g. "TRYCREATE", "NONEXISTENT", "ALREADYEXISTS", "OVERQUOTA",
    "LIMIT", "CANNOT")."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxInfo:
    """One mailbox for LIST: its name (``delimiter``-separated), attributes
    such as ``\\HasNoChildren`` or a SPECIAL-USE ``\\Sent``, and whether it
    is subscribed."""

    name: str
    attributes: tuple[str, ...] = ()
    subscribed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxStatus:
    """STATUS items (RFC 9051 6.3.11, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE)."""

    messages: int
    recent: int
    uidnext: int
    uidvalidity: int
    unseen: int
    highestmodseq: int
    size: int
    deleted: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageInfo:
    """What FETCH reports of a message besides its content; ``size`` in
    octets as stored (RFC822.SIZE, and the BODY[] literal's length)."""

    uid: int
    flags: tuple[str, ...]
    internaldate: _dt.datetime
    size: int
    modseq: int
    gm_msgid: int | None = None
    gm_thrid: int | None = None
    gm_labels: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxChanges:
    """What changed in a selected mailbox since the last call, made by other
    sessions (or by APPEND/COPY/MOVE into it from this one): new UIDs in
    ascending order, expunged UIDs, and messages whose flags changed."""

    added: tuple[int, ...] = ()
    expunged: tuple[int, ...] = ()
    flags: tuple[MessageInfo, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.expunged or self.flags)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreResult:
    """STORE: the messages as they are after it (``changed``), and those not
    changed because their MODSEQ exceeded UNCHANGEDSINCE (``modified``,
    RFC 7162 3.1.3)."""

    changed: tuple[MessageInfo, ...] = ()
    modified: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendResult:
    """APPEND into a mailbox: UIDPLUS's APPENDUID (RFC 4315)."""

    uidvalidity: int
    uid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyResult:
    """COPY/MOVE: UIDPLUS's COPYUID, source and destination UIDs in pairs."""

    uidvalidity: int
    source: tuple[int, ...]
    destination: tuple[int, ...]


@runtime_checkable
class SelectedMailbox(Protocol):
    """A mailbox opened by SELECT or EXAMINE for one session."""

    @property
    def name(self) -> str: ...

    @property
    def uidvalidity(self) -> int: ...

    @property
    def uidnext(self) -> int: ...

    @property
    def highest_modseq(self) -> int: ...

    @property
    def readonly(self) -> bool: ...

    @property
    def flags(self) -> tuple[str, ...]:
        """The flags defined in the mailbox (the FLAGS response)."""
        ...

    @property
    def permanent_flags(self) -> tuple[str, ...]:
        """Flags that can be stored (``\\*``: new keywords too)."""
        ...

    def uids(self) -> Sequence[int]:
        """The UIDs in the mailbox when selected, ascending; the server
        numbers them from 1 and follows :meth:`changes` from there."""
        ...

    async def fetch(self, uids: Sequence[int]) -> Sequence[MessageInfo]:
        """The messages of ``uids`` that still exist, in the same order."""
        ...

    def body(self, uid: int) -> AsyncIterator[bytes]:
        """The message's octets in chunks, exactly ``MessageInfo.size`` of them."""
        ...

    async def store(
        self,
        uids: Sequence[int],
        mode: str,
        flags: Sequence[str],
        *,
        unchangedsince: int | None = None,
        gm_labels: Sequence[bytes] | None = None,
    ) -> StoreResult:
        """Set (``mode`` ""), add ("+") or remove ("-") ``flags`` (or Gmail
        labels when ``gm_labels`` is given); bump the MODSEQ of what changed."""
        ...

    async def search(self, keys: Sequence[SearchKey], view: Sequence[int]) -> Sequence[int]:
        """The UIDs matching every key (ascending); ``view`` is the session's
        UIDs in message-number order, for keys that name message numbers.
        :func:`~protokit.net.search_matches` evaluates a key over a message."""
        ...

    async def copy(self, uids: Sequence[int], destination: str) -> CopyResult:
        """Copy to ``destination`` (MailboxError "TRYCREATE" if it does not exist)."""
        ...

    async def move(self, uids: Sequence[int], destination: str) -> CopyResult:
        """Move (RFC 6851): copy, then expunge here; the server reports the
        expunges of ``CopyResult.source`` itself."""
        ...

    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        """Remove the messages flagged \\Deleted (only those in ``uids`` when
        given, UID EXPUNGE); returns their UIDs."""
        ...

    def changes(self) -> MailboxChanges:
        """What other sessions changed since the last call (and forget it)."""
        ...

    async def wait_for_changes(self) -> None:
        """Return once :meth:`changes` has something (IDLE waits on this)."""
        ...

    async def close(self) -> None:
        """The session unselected the mailbox, selected another or ended."""
        ...


@runtime_checkable
class IMAPSession(Protocol):
    """One authenticated user's mailboxes, for one connection."""

    @property
    def delimiter(self) -> str: ...

    async def list(self) -> Sequence[MailboxInfo]:
        """Every mailbox (the server matches LIST patterns itself)."""
        ...

    async def status(self, name: str) -> MailboxStatus:
        """STATUS and LIST-STATUS; MailboxError "NONEXISTENT" if absent."""
        ...

    async def create(self, name: str, special_use: str | None = None) -> None: ...

    async def delete(self, name: str) -> None: ...

    async def rename(self, old: str, new: str) -> None: ...

    async def subscribe(self, name: str, subscribed: bool) -> None: ...

    async def check_append(self, name: str, size: int) -> None:
        """Before an APPEND's octets are read: raise MailboxError to refuse
        ("TRYCREATE" for a missing mailbox, "OVERQUOTA", "TOOBIG")."""
        ...

    async def append(
        self,
        name: str,
        flags: Sequence[str],
        date: _dt.datetime | None,
        data: AsyncIterator[bytes],
    ) -> AppendResult:
        """Store a message whose octets arrive in chunks."""
        ...

    async def select(self, name: str, *, readonly: bool) -> SelectedMailbox:
        """Open a mailbox; MailboxError "NONEXISTENT" if absent."""
        ...

    async def close(self) -> None:
        """The connection ended."""
        ...


@runtime_checkable
class IMAPBackend(Protocol):
    """Credentials and mailboxes for :func:`~protokit.net.serve_imap`.

    An unknown user and a wrong password take the same path and get the
    same answer; compare secrets in constant time.
    """

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        """LOGIN, and the PLAIN and LOGIN mechanisms."""
        ...

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        """XOAUTH2 and OAUTHBEARER bearer tokens."""
        ...

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        """Any other SASL question (CRAM-MD5, SCRAM credentials, EXTERNAL)."""
        ...

    async def authorize(self, authcid: str, authzid: str) -> bool:
        """May ``authcid`` act as ``authzid``?"""
        ...

    async def open_session(self, username: str) -> IMAPSession:
        """The authenticated user's mailboxes, for this connection."""
        ...
