"""IMAP core values, valid by construction.

A value a user builds is validated by its constructor; a value the parser
builds went through the same rule already and is created through the private
``_make`` path, which skips the check (the parser's hot path).  String-like
values (:class:`Tag`, :class:`Atom`, :class:`Flag`, :class:`Mailbox`) are
``str`` subclasses, so they compare and hash as the text they hold.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from ..errors import LocalProtocolError
from ._grammar import ATOM, DATE, DATE_TIME, FLAG, SEQUENCE_SET, TAG

__all__ = [
    "STAR",
    "Atom",
    "Flag",
    "Literal",
    "Mailbox",
    "SequenceSet",
    "Tag",
    "format_date",
    "format_datetime",
    "parse_date",
    "parse_datetime",
]

_S = TypeVar("_S", bound=str)


_T = TypeVar("_T")


def is_nz_number(n: object) -> bool:
    """nz-number: an int from 1 to 2^32 - 1 (message sequence numbers, UIDs,
    section parts); a bool is no number."""
    return isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**32


def parsed(cls: type[_T], **fields: Any) -> _T:
    """Build a dataclass value without validation: the parser's path, for
    values whose every field it has already checked."""
    obj = object.__new__(cls)
    set_ = object.__setattr__
    for name, value in fields.items():
        set_(obj, name, value)
    for name, f in cls.__dataclass_fields__.items():  # type: ignore[attr-defined]
        if name not in fields:
            set_(obj, name, f.default)
    return obj


def _make(cls: type[_S], text: str) -> _S:
    """Build a str-subclass value without validation (the parser's path)."""
    return str.__new__(cls, text)


def _ascii(value: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be str, not {type(value).__name__}")
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} must be ASCII: {value!r}") from None


class Tag(str):
    """A command tag: 1 to 256 ASTRING-CHARs other than "+"."""

    __slots__ = ()

    def __new__(cls, value: str) -> Tag:
        if TAG.match(_ascii(value, "tag")) is None:
            raise LocalProtocolError(f"invalid tag: {value!r}")
        return str.__new__(cls, value)


class Atom(str):
    """An IMAP atom: 1 to 4096 ATOM-CHARs."""

    __slots__ = ()

    def __new__(cls, value: str) -> Atom:
        if ATOM.match(_ascii(value, "atom")) is None:
            raise LocalProtocolError(f"invalid atom: {value!r}")
        return str.__new__(cls, value)


class Flag(str):
    """A flag: a system or extension flag ("\\Seen"), a keyword ("$Junk"), or
    "\\*" (in PERMANENTFLAGS)."""

    __slots__ = ()

    def __new__(cls, value: str) -> Flag:
        if FLAG.match(_ascii(value, "flag")) is None:
            raise LocalProtocolError(f"invalid flag: {value!r}")
        return str.__new__(cls, value)

    SEEN: ClassVar[Flag]
    ANSWERED: ClassVar[Flag]
    FLAGGED: ClassVar[Flag]
    DELETED: ClassVar[Flag]
    DRAFT: ClassVar[Flag]
    RECENT: ClassVar[Flag]


Flag.SEEN = _make(Flag, "\\Seen")
Flag.ANSWERED = _make(Flag, "\\Answered")
Flag.FLAGGED = _make(Flag, "\\Flagged")
Flag.DELETED = _make(Flag, "\\Deleted")
Flag.DRAFT = _make(Flag, "\\Draft")
Flag.RECENT = _make(Flag, "\\Recent")


class Mailbox(str):
    """A mailbox name as Unicode text.

    The writer encodes it in modified UTF-7, or as UTF-8 when UTF8=ACCEPT is
    enabled or under IMAP4rev2.  "INBOX" is case-insensitive and normalised
    to upper case.  CR, LF and NUL are refused (no server accepts them and
    they are the raw material of injection).
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Mailbox:
        if not isinstance(value, str):
            raise LocalProtocolError(f"mailbox must be str, not {type(value).__name__}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise LocalProtocolError("CR, LF or NUL in a mailbox name")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError("unpaired surrogate in a mailbox name") from None
        if len(value) == 5 and value.upper() == "INBOX":
            value = "INBOX"
        return str.__new__(cls, value)


def _mailbox_from_wire(text: str) -> Mailbox:
    if len(text) == 5 and text.upper() == "INBOX":
        text = "INBOX"
    return str.__new__(Mailbox, text)


STAR: Final = None
"""``*`` in a sequence set: the largest number in use."""

SeqNumber = int | None


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A sequence set: ranges of message numbers or UIDs, ``None`` standing
    for ``*``; or ``$`` (the saved search result, RFC 5182) when ``saved``.

    ``ranges`` holds ``(first, last)`` pairs; a single number is ``(n, n)``.
    """

    ranges: tuple[tuple[SeqNumber, SeqNumber], ...] = ()
    saved: bool = False

    def __post_init__(self) -> None:
        if self.saved:
            if self.ranges:
                raise LocalProtocolError("a saved-result sequence set ($) has no ranges")
            return
        if not self.ranges:
            raise LocalProtocolError("empty sequence set")
        for pair in self.ranges:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise LocalProtocolError(f"sequence range must be a pair: {pair!r}")
            for n in pair:
                if n is not None and not is_nz_number(n):
                    raise LocalProtocolError(f"sequence number out of range: {n!r}")

    @classmethod
    def of(cls, *items: int | tuple[SeqNumber, SeqNumber] | str | None) -> SequenceSet:
        """Build from numbers, ``(first, last)`` pairs and ``"*"``/``None``."""
        ranges: list[tuple[SeqNumber, SeqNumber]] = []
        for item in items:
            if isinstance(item, tuple):
                ranges.append(item)
            else:
                n = None if item == "*" or item is None else item
                if isinstance(n, str):
                    raise LocalProtocolError(f"not a sequence number: {n!r}")
                ranges.append((n, n))
        return cls(tuple(ranges))

    @classmethod
    def parse(cls, text: str | bytes) -> SequenceSet:
        """Parse the wire form; ``ValueError`` if it is not a sequence set."""
        raw = text.encode("ascii", "replace") if isinstance(text, str) else text
        seq = _parse_sequence_set(raw)
        if seq is None:
            raise ValueError(f"not a sequence set: {text!r}")
        return seq

    def __str__(self) -> str:
        return self.to_bytes().decode("ascii")

    def to_bytes(self) -> bytes:
        """The wire form, e.g. ``b"1:3,5,7:*"``."""
        if self.saved:
            return b"$"
        out = []
        for a, b in self.ranges:
            sa = b"*" if a is None else b"%d" % a
            out.append(sa if a == b else sa + b":" + (b"*" if b is None else b"%d" % b))
        return b",".join(out)


def _seq(part: bytes) -> SeqNumber:
    return None if part == b"*" else int(part)


def _parse_sequence_set(raw: bytes) -> SequenceSet | None:
    if SEQUENCE_SET.match(raw) is None:
        return None
    if raw == b"$":
        return _SAVED
    ranges: list[tuple[SeqNumber, SeqNumber]] = []
    for item in raw.split(b","):
        a, sep, b = item.partition(b":")
        na = _seq(a)
        if na is not None and na >= 2**32:
            return None
        nb = _seq(b) if sep else na
        if nb is not None and nb >= 2**32:
            return None
        ranges.append((na, nb))
    seq = object.__new__(SequenceSet)
    object.__setattr__(seq, "ranges", tuple(ranges))
    object.__setattr__(seq, "saved", False)
    return seq


_SAVED: Final = SequenceSet(saved=True)


@dataclass(frozen=True, slots=True)
class Literal:
    """A string the writer must send as a literal (``binary``: as ``~{n}``,
    which may hold NUL; only where BINARY allows it)."""

    data: bytes
    binary: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise LocalProtocolError("literal data must be bytes")
        if not self.binary and b"\x00" in self.data:
            raise LocalProtocolError("NUL in a non-binary literal")

    def __repr__(self) -> str:
        kind = "binary " if self.binary else ""
        return f"<{kind}literal of {len(self.data)} octets>"


_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun")
_MONTHS2: Final = ("Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS: Final = _MONTHS + _MONTHS2
_MONTH_NUMBER: Final = {m.upper().encode(): i + 1 for i, m in enumerate(MONTHS)}


_ZONES: dict[bytes, _dt.timezone] = {}


def parse_datetime(raw: bytes) -> _dt.datetime | None:
    """Parse date-time (without its quotes); ``None`` if invalid."""
    m = DATE_TIME.match(raw)
    if m is None:
        return None
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = _MONTH_NUMBER.get(mon.upper())
    if month is None:
        return None
    tz = _ZONES.get(sign + zh + zm)
    if tz is None:
        offset = _dt.timedelta(hours=int(zh), minutes=int(zm))
        if offset >= _dt.timedelta(hours=24):
            return None
        tz = _dt.timezone(-offset if sign == b"-" else offset)
        _ZONES[sign + zh + zm] = tz  # at most 2 * 24 * 100 entries
    try:
        return _dt.datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except ValueError:
        return None


def format_datetime(value: _dt.datetime) -> bytes:
    """date-time without quotes, e.g. ``b"17-Jul-1996 02:44:25 -0700"``."""
    if not isinstance(value, _dt.datetime):
        raise LocalProtocolError("date-time must be a datetime")
    offset = value.utcoffset()
    if offset is None:
        raise LocalProtocolError("date-time must be timezone-aware")
    if offset.seconds % 60 or value.microsecond or not 1 <= value.year <= 9999:
        raise LocalProtocolError("date-time not representable in IMAP")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{value.day:02d}-{MONTHS[value.month - 1]}-{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    ).encode("ascii")


def parse_date(raw: bytes) -> _dt.date | None:
    """Parse date-text (search dates); ``None`` if invalid."""
    m = DATE.match(raw)
    if m is None:
        return None
    month = _MONTH_NUMBER.get(m.group(2).upper())
    if month is None:
        return None
    try:
        return _dt.date(int(m.group(3)), month, int(m.group(1)))
    except ValueError:
        return None


def format_date(value: _dt.date) -> bytes:
    """date-text, e.g. ``b"1-Feb-1994"``."""
    if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
        raise LocalProtocolError("search date must be a date")
    return f"{value.day}-{MONTHS[value.month - 1]}-{value.year:04d}".encode("ascii")
