"""What the async IMAP client returns: errors and typed results (mailbox
state, listings, APPEND/COPY/MOVE UID mappings, STORE results)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from ..errors import RemoteProtocolError
from ..imap import Fetch, Flag, Mailbox, ResponseCode, SequenceSet, Status

__all__ = [
    "AppendUID",
    "CopyUID",
    "IMAPAuthenticationError",
    "IMAPError",
    "ListEntry",
    "MailboxState",
    "StoreChanges",
]

#: The most numbers one sequence set from the server may expand to (an
#: ESEARCH ALL or a COPYUID): bounds what a hostile "1:4294967295" costs.
MAX_EXPANSION: Final = 10_000_000


def expand(seq: SequenceSet, limit: int = MAX_EXPANSION) -> list[int]:
    """The numbers of a sequence set the server sent (no ``*``), in order."""
    out: list[int] = []
    for a, b in seq.ranges:
        if a is None or b is None:
            raise RemoteProtocolError("a '*' in a sequence set the server sent")
        lo, hi = (a, b) if a <= b else (b, a)
        if len(out) + hi - lo + 1 > limit:
            raise RemoteProtocolError(f"a sequence set of more than {limit} numbers")
        out.extend(range(lo, hi + 1))
    return out


class IMAPError(Exception):
    """The server answered a command with NO or BAD (or greeted with BYE).
    ``code`` is the response code's name (e.g. "TRYCREATE", "AUTHENTICATIONFAILED")."""

    def __init__(self, command: str, status: str, text: str, code: str | None = None) -> None:
        self.command = command
        self.status = status
        self.text = text
        self.code = code
        tag = f"[{code}] " if code else ""
        super().__init__(f"{command}: {status} {tag}{text}".rstrip())

    @classmethod
    def from_status(cls, command: str, r: Status) -> IMAPError:
        return cls(command, r.status, r.text, r.code.name if r.code is not None else None)


class IMAPAuthenticationError(IMAPError):
    """LOGIN or AUTHENTICATE was refused.  For XOAUTH2/OAUTHBEARER,
    ``sasl_error`` holds the server's JSON error, when it sent one."""

    def __init__(
        self,
        command: str,
        status: str,
        text: str,
        code: str | None = None,
        *,
        sasl_error: dict[str, object] | None = None,
    ) -> None:
        super().__init__(command, status, text, code)
        self.sasl_error = sasl_error


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxState:
    """What SELECT or EXAMINE reported (RFC 9051 6.3.1, RFC 7162).

    ``highest_modseq`` is ``None`` when the server sent NOMODSEQ or no
    CONDSTORE data.  With QRESYNC, ``vanished`` holds the UIDs expunged since
    the known state and ``changed`` the FETCH responses of changed messages.
    """

    name: Mailbox
    readonly: bool
    exists: int = 0
    recent: int | None = None
    uidvalidity: int | None = None
    uidnext: int | None = None
    unseen: int | None = None
    flags: tuple[Flag, ...] = ()
    permanent_flags: tuple[Flag, ...] = ()
    highest_modseq: int | None = None
    vanished: tuple[int, ...] = ()
    changed: tuple[Fetch, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListEntry:
    """One LIST reply: name, hierarchy delimiter, attributes (with
    SPECIAL-USE's \\Sent, \\Trash ...), and LIST-STATUS data if asked for."""

    name: Mailbox
    delimiter: str | None
    attributes: tuple[str, ...]
    status: dict[str, int] | None = None

    @property
    def special_use(self) -> str | None:
        """The RFC 6154 attribute (e.g. "\\Sent"), if any."""
        for a in self.attributes:
            if a.lower() in _SPECIAL_USE:
                return a
        return None

    @property
    def selectable(self) -> bool:
        return not any(a.lower() in ("\\noselect", "\\nonexistent") for a in self.attributes)


_SPECIAL_USE: Final = frozenset(
    {"\\all", "\\archive", "\\drafts", "\\flagged", "\\junk", "\\sent", "\\trash", "\\important"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendUID:
    """APPEND's outcome: the UIDPLUS APPENDUID data, when the server sent it."""

    uidvalidity: int | None = None
    uids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyUID:
    """COPY's or MOVE's outcome: the UIDPLUS COPYUID mapping (source UID to
    destination UID), when the server sent it."""

    uidvalidity: int | None = None
    mapping: dict[int, int] = field(default_factory=dict)
    #: MOVE: the sequence numbers expunged from the selected mailbox
    #: (or, under QRESYNC, the UIDs it reported VANISHED).
    expunged: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreChanges:
    """STORE's outcome: the FETCH responses it caused, and for CONDSTORE's
    UNCHANGEDSINCE the messages that were not stored (MODIFIED)."""

    fetches: tuple[Fetch, ...] = ()
    modified: tuple[int, ...] = ()

    def flags(self, uid: bool = True) -> dict[int, tuple[Flag, ...]]:
        """The new flags by UID (or by sequence number)."""
        out: dict[int, tuple[Flag, ...]] = {}
        for f in self.fetches:
            key = f.uid if uid else f.seq
            if key is not None and f.flags is not None:
                out[key] = f.flags
        return out


def code_of(statuses: Iterable[Status], name: str) -> ResponseCode | None:
    """The last response code called ``name`` among ``statuses``."""
    found = None
    for s in statuses:
        if s.code is not None and s.code.name == name:
            found = s.code
    return found
