"""IMAP commands as typed values: RFC 9051 and RFC 3501, with ENABLE, IDLE,
ID, NAMESPACE, UNSELECT, MOVE, UIDPLUS, CONDSTORE/QRESYNC, LIST-EXTENDED,
LIST-STATUS, SPECIAL-USE, ESEARCH, SORT/THREAD, QUOTA, COMPRESS, BINARY,
APPENDLIMIT, MULTIAPPEND and Gmail's X-GM-EXT-1.

Every command is a frozen, slotted, keyword-only dataclass with a ``tag``.
Commands whose ``uid`` field is True are the ``UID`` forms.  Secrets (LOGIN's
password, AUTHENTICATE's initial response) are :class:`protokit.Secret`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, TypeVar

from ..wire._secret import Secret
from ._responses import Section
from ._search import SearchKey
from ._types import Flag, Mailbox, SequenceSet, Tag

_WHOLE = Section()  # BODY[]: the whole message

__all__ = [
    "Append",
    "AppendMessage",
    "Authenticate",
    "CapabilityCommand",
    "Check",
    "Close",
    "Command",
    "Compress",
    "Copy",
    "Create",
    "Delete",
    "Done",
    "Enable",
    "Examine",
    "ExpungeCommand",
    "FetchCommand",
    "FetchAttr",
    "FetchBody",
    "GenericCommand",
    "GetQuota",
    "GetQuotaRoot",
    "IdCommand",
    "Idle",
    "List",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "NamespaceCommand",
    "Noop",
    "Rename",
    "SearchCommand",
    "Select",
    "SetQuota",
    "SortCommand",
    "StartTLS",
    "StatusCommand",
    "Store",
    "Subscribe",
    "ThreadCommand",
    "Unselect",
    "Unsubscribe",
]


_C = TypeVar("_C")


def _checked(cls: type[_C]) -> type[_C]:
    """Give a command or response a ``__post_init__`` that validates it by
    writing it (without producing bytes): a value a user builds is valid by
    construction.  The parser builds values through ``parsed()``, which
    skips this."""

    def __post_init__(self: object) -> None:
        from ._write_command import check_command

        check_command(self)  # type: ignore[arg-type]

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return cls


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class CapabilityCommand:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Noop:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Logout:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class StartTLS:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Authenticate:
    """AUTHENTICATE mechanism [SP initial-response] (SASL-IR): ``None`` when
    absent, ``Secret(b"")`` for "=" (empty)."""

    tag: Tag
    mechanism: str
    initial_response: Secret[bytes] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Login:
    tag: Tag
    username: bytes
    password: Secret[bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Enable:
    tag: Tag
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class IdCommand:
    tag: Tag
    params: tuple[tuple[bytes, bytes | None], ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Compress:
    tag: Tag
    mechanism: str = "DEFLATE"


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Select:
    """SELECT with optional parameters: CONDSTORE as ``("CONDSTORE", None)``,
    QRESYNC as ``("QRESYNC", (uidvalidity, modseq, ...))`` (generic)."""

    tag: Tag
    mailbox: Mailbox
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Examine:
    tag: Tag
    mailbox: Mailbox
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Create:
    """CREATE with optional parameters (SPECIAL-USE: ``("USE", ("\\Drafts",))``)."""

    tag: Tag
    mailbox: Mailbox
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Delete:
    tag: Tag
    mailbox: Mailbox


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Rename:
    tag: Tag
    mailbox: Mailbox
    new_name: Mailbox


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Subscribe:
    tag: Tag
    mailbox: Mailbox


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Unsubscribe:
    tag: Tag
    mailbox: Mailbox


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class List:
    """LIST [selection options] reference patterns [RETURN (options)].

    ``reference`` and ``patterns`` are Unicode (encoded like mailbox names,
    wildcards kept); ``return_options`` items are ``(name, generic)``, e.g.
    ``("STATUS", ("MESSAGES", "UNSEEN"))`` for LIST-STATUS or
    ``("SPECIAL-USE", None)``."""

    tag: Tag
    reference: Mailbox
    patterns: tuple[Mailbox, ...]
    selection: tuple[str, ...] = ()
    return_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Lsub:
    tag: Tag
    reference: Mailbox
    pattern: Mailbox


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class NamespaceCommand:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class StatusCommand:
    tag: Tag
    mailbox: Mailbox
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendMessage:
    """One message of APPEND (several with MULTIAPPEND): flags, internal
    date, and the octets (``binary``: sent as literal8, RFC 3516 BINARY)."""

    flags: tuple[Flag, ...] | None = None
    date: _dt.datetime | None = None
    data: Any = b""
    binary: bool = False

    def __repr__(self) -> str:
        size = len(self.data) if isinstance(self.data, bytes) else self.data
        return (
            f"AppendMessage(flags={self.flags!r}, date={self.date!r}, data=<{size} octets>,"
            f" binary={self.binary})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Append:
    tag: Tag
    mailbox: Mailbox
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Idle:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Done:
    """The untagged ``DONE`` line that ends IDLE."""


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Check:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Close:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Unselect:
    tag: Tag


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class ExpungeCommand:
    """EXPUNGE, or UID EXPUNGE uid-set (UIDPLUS) when ``uids`` is set."""

    tag: Tag
    uids: SequenceSet | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class SearchCommand:
    """[UID] SEARCH [RETURN (options)] [CHARSET charset] keys."""

    tag: Tag
    keys: tuple[SearchKey, ...]
    charset: bytes | None = None
    return_options: tuple[str, ...] | None = None
    uid: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchBody:
    """BODY[section]<origin.length>, BODY.PEEK, BINARY[part], BINARY.PEEK,
    BINARY.SIZE[part] (``size``)."""

    section: Section = _WHOLE
    peek: bool = False
    partial: tuple[int, int] | None = None
    binary: bool = False
    size: bool = False


FetchAttr = str | FetchBody


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class FetchCommand:
    """[UID] FETCH set items [modifiers].  ``items`` is a macro (ALL, FAST,
    FULL) as a one-element tuple or a list of attributes; ``modifiers`` e.g.
    ``(("CHANGEDSINCE", 12345), ("VANISHED", None))``."""

    tag: Tag
    sequence_set: SequenceSet
    items: tuple[FetchAttr, ...]
    modifiers: tuple[tuple[str, Any], ...] = ()
    uid: bool = False
    macro: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Store:
    """[UID] STORE set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] flags; for
    X-GM-LABELS, ``labels`` replaces ``flags``."""

    tag: Tag
    sequence_set: SequenceSet
    mode: str = ""
    silent: bool = False
    flags: tuple[Flag, ...] = ()
    unchangedsince: int | None = None
    gm_labels: tuple[bytes, ...] | None = None
    uid: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Copy:
    tag: Tag
    sequence_set: SequenceSet
    mailbox: Mailbox
    uid: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Move:
    tag: Tag
    sequence_set: SequenceSet
    mailbox: Mailbox
    uid: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class SortCommand:
    """[UID] SORT (criteria) charset keys (RFC 5256)."""

    tag: Tag
    criteria: tuple[str, ...]
    charset: bytes
    keys: tuple[SearchKey, ...]
    uid: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class ThreadCommand:
    tag: Tag
    algorithm: str
    charset: bytes
    keys: tuple[SearchKey, ...]
    uid: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class GetQuota:
    tag: Tag
    root: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class GetQuotaRoot:
    tag: Tag
    mailbox: Mailbox


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class SetQuota:
    tag: Tag
    root: bytes
    limits: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class GenericCommand:
    """A command this parser does not know: its name and generic values."""

    tag: Tag
    name: str
    values: tuple[Any, ...] = ()


Command = (
    CapabilityCommand
    | Noop
    | Logout
    | StartTLS
    | Authenticate
    | Login
    | Enable
    | IdCommand
    | Compress
    | Select
    | Examine
    | Create
    | Delete
    | Rename
    | Subscribe
    | Unsubscribe
    | List
    | Lsub
    | NamespaceCommand
    | StatusCommand
    | Append
    | Idle
    | Done
    | Check
    | Close
    | Unselect
    | ExpungeCommand
    | SearchCommand
    | FetchCommand
    | Store
    | Copy
    | Move
    | SortCommand
    | ThreadCommand
    | GetQuota
    | GetQuotaRoot
    | SetQuota
    | GenericCommand
)
