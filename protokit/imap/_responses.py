"""IMAP responses as typed values (RFC 9051 section 7, RFC 3501 section 7).

Every response is a frozen, slotted, keyword-only dataclass.  A response the
parser does not know is kept as :class:`GenericResponse`; an unknown response
code as a :class:`ResponseCode` with its raw text; an unknown FETCH item in
:attr:`Fetch.other`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import LocalProtocolError
from ._body import BodyStructure, Envelope
from ._grammar import HEADER_FIELD
from ._types import Flag, Mailbox, SequenceSet, Tag, is_nz_number

_SECTION_TEXTS = (None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")

__all__ = [
    "BodySection",
    "Capability",
    "ContinuationRequest",
    "Enabled",
    "ESearch",
    "Exists",
    "Expunge",
    "Fetch",
    "Flags",
    "GenericResponse",
    "Id",
    "ListResponse",
    "Namespace",
    "NamespaceEntry",
    "Quota",
    "QuotaResource",
    "QuotaRoot",
    "Recent",
    "Response",
    "ResponseCode",
    "Search",
    "Section",
    "Sort",
    "Status",
    "StatusResponse",
    "Thread",
    "Vanished",
]


_C = TypeVar("_C")


def _checked(cls: type[_C]) -> type[_C]:
    """Give a command or response a ``__post_init__`` that validates it by
    writing it (without producing bytes): a value a user builds is valid by
    construction.  The parser builds values through ``parsed()``, which
    skips this."""

    def __post_init__(self: object) -> None:
        from ._write_response import check_response

        check_response(self)  # type: ignore[arg-type]

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return cls


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCode:
    """resp-text-code.  ``value`` by ``name``:

    * ALERT, PARSE, READ-ONLY, READ-WRITE, TRYCREATE, NOMODSEQ, CLOSED,
      UIDNOTSTICKY, and RFC 5530's codes (UNAVAILABLE, ...): ``None``
    * CAPABILITY: ``tuple[str, ...]``; PERMANENTFLAGS: ``tuple[Flag, ...]``
    * UIDNEXT, UIDVALIDITY, UNSEEN, HIGHESTMODSEQ, APPENDLIMIT: ``int``
    * BADCHARSET: ``tuple[bytes, ...]`` (charsets, possibly empty)
    * APPENDUID: ``(uidvalidity, SequenceSet)``
    * COPYUID: ``(uidvalidity, SequenceSet, SequenceSet)``
    * MODIFIED: ``SequenceSet``
    * anything else: the raw text after the name, ``bytes`` or ``None``
    """

    name: str
    value: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Status:
    """A status response: tagged (``tag`` set) OK/NO/BAD, or untagged
    OK/NO/BAD/PREAUTH/BYE."""

    tag: Tag | None
    status: str
    code: ResponseCode | None = None
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class ContinuationRequest:
    """``+ text`` (or ``+ base64`` during AUTHENTICATE): ``data`` is what
    follows "+ " (empty for the bare "+" some servers send)."""

    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Capability:
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Enabled:
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class ListResponse:
    """LIST or LSUB (``kind``): mbx-list-flags, delimiter (None for NIL),
    name, and LIST-EXTENDED's mbox-list-extended items as
    ``(tag, generic value)`` pairs (CHILDINFO, OLDNAME ...)."""

    kind: str
    attributes: tuple[str, ...]
    delimiter: str | None
    mailbox: Mailbox
    extended: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class StatusResponse:
    """``* STATUS mailbox (MESSAGES 3 UIDNEXT 4 ...)``"""

    mailbox: Mailbox
    items: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Search:
    """``* SEARCH 2 3 6`` with CONDSTORE's optional ``(MODSEQ n)``."""

    ids: tuple[int, ...]
    modseq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Sort:
    ids: tuple[int, ...]
    modseq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Thread:
    """RFC 5256 THREAD: each thread a tuple of ints and nested tuples."""

    threads: tuple[Any, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class ESearch:
    """RFC 4731/9051 ESEARCH: ``(TAG "a1") UID MIN 1 ALL 1:3`` as ``tag``,
    ``uid`` and ``items``: MIN/MAX/COUNT/MODSEQ ``int``, ALL ``SequenceSet``,
    others a generic value."""

    tag: str | None = None
    uid: bool = False
    items: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Flags:
    flags: tuple[Flag, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Exists:
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Recent:
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Expunge:
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Vanished:
    """QRESYNC ``* VANISHED [(EARLIER)] uid-set``"""

    uids: SequenceSet
    earlier: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """section-spec: ``part`` numbers, then HEADER, HEADER.FIELDS,
    HEADER.FIELDS.NOT, TEXT or MIME (``text``), with header ``fields``."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for p in self.part:
            if not is_nz_number(p):
                raise LocalProtocolError(f"invalid section part: {p!r}")
        if self.text not in _SECTION_TEXTS:
            raise LocalProtocolError(f"invalid section text: {self.text!r}")
        if self.text == "MIME" and not self.part:
            raise LocalProtocolError("MIME section needs a part number")
        if (self.text or "").startswith("HEADER.FIELDS"):
            if not self.fields:
                raise LocalProtocolError("HEADER.FIELDS needs field names")
            for f in self.fields:
                if not isinstance(f, bytes) or HEADER_FIELD.match(f) is None:
                    raise LocalProtocolError(f"invalid header field name: {f!r}")
        elif self.fields:
            raise LocalProtocolError("header field names only with HEADER.FIELDS")


@dataclass(frozen=True, slots=True, kw_only=True)
class BodySection:
    """A fetched ``BODY[section]<origin>`` (or ``BINARY[...]`` when
    ``binary``): ``data`` is bytes, None for NIL, or the framer's streamed
    literal stand-in."""

    section: Section
    origin: int | None = None
    data: Any = None
    binary: bool = False

    def __repr__(self) -> str:
        shown = f"<{len(self.data)} octets>" if isinstance(self.data, bytes) else repr(self.data)
        return (
            f"BodySection(section={self.section!r}, origin={self.origin!r}, data={shown},"
            f" binary={self.binary})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Fetch:
    """``* n FETCH (...)``: the items sent, ``None`` for those not sent.

    ``sections`` holds BODY[...] and BINARY[...] items; ``binary_sizes``
    BINARY.SIZE[part] as ``(part, size)``; ``other`` every item this parser
    does not know, as ``(name, generic value)``, and an RFC822,
    RFC822.HEADER or RFC822.TEXT sent as NIL, as ``(name, None)`` (its
    field's None means "not sent").
    """

    seq: int
    uid: int | None = None
    flags: tuple[Flag, ...] | None = None
    internaldate: _dt.datetime | None = None
    rfc822_size: int | None = None
    envelope: Envelope | None = None
    bodystructure: BodyStructure | None = None
    body: BodyStructure | None = None
    sections: tuple[BodySection, ...] = ()
    rfc822: bytes | None = None
    rfc822_header: bytes | None = None
    rfc822_text: bytes | None = None
    binary_sizes: tuple[tuple[tuple[int, ...], int], ...] = ()
    modseq: int | None = None
    gm_msgid: int | None = None
    gm_thrid: int | None = None
    gm_labels: tuple[bytes, ...] | None = None
    other: tuple[tuple[str, Any], ...] = ()


class Deferred(tuple[Any, ...]):
    """A FETCH item the parser has read and checked but not built yet: the
    FETCH fast path (``_fastfetch``) leaves ENVELOPE, BODYSTRUCTURE and BODY
    like this, and the value is built on first access (then kept), so a
    caller pays for the objects it reads.  Every check that can reject the
    item is made at parse time; building cannot fail.  A tuple of what the
    build needs (one C call to make)."""

    __slots__ = ()

    #: Builds the value; each subclass defines it.
    build: Callable[[], Any]


class _DeferredSlot:
    """Fetch's descriptor for an item that may hold a :class:`Deferred`:
    wraps the slot, and builds and stores the value on first access.
    Equality, hashing, repr, pickling, ``dataclasses.replace`` and the writer
    all read fields through it, so none of them ever sees a Deferred."""

    __slots__ = ("_get", "_member", "_set")

    def __init__(self, member: Any) -> None:
        self._member = member
        self._get = member.__get__
        self._set = member.__set__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self._get(obj, owner)
        if isinstance(value, Deferred):
            value = value.build()
            self._set(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self._set(obj, value)

    def __delete__(self, obj: Any) -> None:
        self._member.__delete__(obj)


for _name in ("envelope", "bodystructure", "body"):
    setattr(Fetch, _name, _DeferredSlot(Fetch.__dict__[_name]))
del _name


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceEntry:
    prefix: bytes
    delimiter: str | None
    extensions: tuple[tuple[bytes, tuple[bytes, ...]], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Namespace:
    personal: tuple[NamespaceEntry, ...] | None = None
    other: tuple[NamespaceEntry, ...] | None = None
    shared: tuple[NamespaceEntry, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Id:
    """RFC 2971: field/value pairs, or ``None`` for NIL."""

    params: tuple[tuple[bytes, bytes | None], ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaResource:
    name: str
    usage: int
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class Quota:
    root: bytes
    resources: tuple[QuotaResource, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class QuotaRoot:
    mailbox: Mailbox
    roots: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
@_checked
class GenericResponse:
    """An untagged response this parser does not know: ``* [number] NAME
    values``, the values as generic values (str word, bytes string, None,
    tuple)."""

    name: str
    number: int | None = None
    values: tuple[Any, ...] = ()


Response = (
    Status
    | ContinuationRequest
    | Capability
    | Enabled
    | ListResponse
    | StatusResponse
    | Search
    | Sort
    | Thread
    | ESearch
    | Flags
    | Exists
    | Recent
    | Expunge
    | Vanished
    | Fetch
    | Namespace
    | Id
    | Quota
    | QuotaRoot
    | GenericResponse
)
