"""Import an mbox file or a Maildir into an account (``protokit import``).

Both readers stream: a message goes from the file into a
:class:`~protokit.server.MessageWriter` (in memory up to 1 MiB, then a
temporary file) a block at a time, and messages are committed in batches
(:meth:`Store.append_batch`: one transaction each, so an interrupted import
leaves whole messages only, every batch before the interruption durable).
Memory stays bounded by the batch size, whatever the file's size.

Message bytes are kept as they are, except for two changes every mail
store makes: bare LF line endings become CRLF (mbox files and Maildirs keep
mail with LF endings; IMAP and POP3 serve CRLF), and in an mbox the
``>From `` quoting is undone (mboxrd: one ``>`` is removed from a line
matching ``>+From ``; for mboxo files this undoes the only quoting they do).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Final, Literal

from ..imap import decode_mutf7
from ._mailboxes import DELIMITER
from ._store import Store
from ._types import MessageTooLarge, NoSuchAccount, NoSuchMailbox
from ._writer import MessageWriter

__all__ = ["ImportFormatError", "ImportResult", "MailFormat", "detect_format", "import_mail"]

MailFormat = Literal["mbox", "maildir"]
#: ``progress(messages_done, units_done)``: units are bytes of an mbox file,
#: files of a Maildir (see :attr:`ImportResult.total`).
Progress = Callable[[int, int], None]

#: A batch is committed when it holds this many messages or bytes.
BATCH_MESSAGES: Final = 500
BATCH_BYTES: Final = 2 * 1024 * 1024
#: An mbox file is read in blocks of this many bytes (a line longer than a
#: block is passed on in pieces); a Maildir file likewise.
_MBOX_BLOCK: Final = 256 * 1024
_READ_BLOCK: Final = 64 * 1024
#: The first From_ line is read up to this many bytes (the rest is skipped).
_FROM_LINE_MAX: Final = 4096
#: Header bytes scanned for mbox flags (Status:, X-Status:).
_MAX_HEAD_SCAN: Final = 64 * 1024

# mboxrd: a quoted From_ line in a body, ">From " or ">>From "...; one '>' goes.
_QUOTED_FROM: Final = re.compile(rb"^>(>*From )", re.MULTILINE)
# The date of a From_ line, asctime style ("From sender Thu Nov 26 17:59:27 2026"),
# optionally with a numeric zone before or after the year (as some writers add).
_FROM_DATE: Final = re.compile(
    rb"From \S*[ \t]+(?:[A-Za-z]{3}[ \t]+)?([A-Za-z]{3})[ \t]+(\d{1,2})[ \t]+"
    rb"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[ \t]+([+-]\d{4}))?[ \t]+(\d{4})(?:[ \t]+([+-]\d{4}))?"
)
_MONTHS: Final = {
    m.encode(): i
    for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)
}
# mbox flag headers (as written by mutt, Pine, Dovecot): Status R = seen;
# X-Status A = answered, F = flagged, T = draft, D = deleted.
_STATUS_FLAGS: Final = {"R": "\\Seen"}
_X_STATUS_FLAGS: Final = {"A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}
# Maildir info "2," flags (cr.yp.to/proto/maildir.html): P passed has no IMAP flag;
# lowercase letters are keywords whose names live outside the message.
_MAILDIR_FLAGS: Final = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}


class ImportFormatError(ValueError):
    """The path is not an mbox file or a Maildir (the message says why)."""


@dataclass(slots=True)
class ImportResult:
    """What an import did: messages imported (into each mailbox), their bytes
    as stored, and what was skipped with the reason."""

    imported: int = 0
    stored_bytes: int = 0
    #: Units of work: bytes of an mbox file, message files of a Maildir.
    total: int = 0
    mailboxes: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Parsed:
    writer: MessageWriter
    flags: tuple[str, ...]
    internal_date: datetime | None
    mailbox: str
    units: int  # progress units done after this message


@dataclass(slots=True)
class _Skipped:
    reason: str
    units: int


class _CRLF:
    """Turns bare LF line endings into CRLF across blocks fed in any pieces."""

    __slots__ = ("_last_cr",)

    def __init__(self) -> None:
        self._last_cr = False

    def feed(self, block: bytes) -> bytes:
        if not block:
            return block
        # CRLF stays CRLF, a bare LF becomes CRLF, a bare CR stays.
        out = block.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if self._last_cr and block[0] == 0x0A:
            out = out[1:]  # this LF ends the previous block's CR: CRLF already
        self._last_cr = block[-1] == 0x0D
        return out


def detect_format(path: Path) -> MailFormat:
    """``maildir`` for a directory with ``cur/`` or ``new/``, ``mbox`` for a
    regular file; otherwise :class:`ImportFormatError`."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            return "maildir"
        raise ImportFormatError(f"{path} is a directory without cur/ or new/: not a Maildir")
    if path.is_file():
        return "mbox"
    raise ImportFormatError(f"{path} is neither a file nor a directory")


def _from_line_date(line: bytes) -> datetime | None:
    """The delivery date a From_ line carries (UTC unless it names a zone)."""
    m = _FROM_DATE.match(line)
    if m is None:
        return None
    month = _MONTHS.get(m.group(1).lower())
    if month is None:
        return None
    zone = m.group(6) or m.group(8)
    tz = UTC
    if zone is not None:
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        if minutes >= 24 * 60:
            return None
        tz = timezone(timedelta(minutes=-minutes if zone[:1] == b"-" else minutes))
    try:
        return datetime(
            int(m.group(7)),
            month,
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5) or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None


def _mbox_flags(head: bytes) -> tuple[str, ...]:
    flags: set[str] = set()
    for line in head.split(b"\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip().lower()
        table = {b"status": _STATUS_FLAGS, b"x-status": _X_STATUS_FLAGS}.get(key)
        if table is not None:
            text = value.decode("ascii", "replace")
            flags.update(table[c] for c in text if c in table)
    return tuple(sorted(flags))


class _MboxMessage:
    """The message being read from an mbox: its writer, line-ending state,
    and its first bytes (scanned for the flag headers at the end)."""

    __slots__ = ("crlf", "date", "head", "offset", "too_large", "writer")

    def __init__(self, writer: MessageWriter, date: datetime | None, offset: int) -> None:
        self.writer = writer
        self.date = date
        self.offset = offset
        self.crlf = _CRLF()
        self.head = bytearray()
        self.too_large = ""

    def add(self, segment: bytes, line_start: bool) -> None:
        """Message bytes as they are in the file (quoted, LF endings)."""
        if not segment:
            return
        if b"From " in segment:
            if line_start:
                segment = _QUOTED_FROM.sub(rb"\1", segment)
            else:  # the first line continues one begun in the previous block
                nl = segment.find(b"\n") + 1
                if nl:
                    segment = segment[:nl] + _QUOTED_FROM.sub(rb"\1", segment[nl:])
        if len(self.head) < _MAX_HEAD_SCAN:
            self.head += segment[: _MAX_HEAD_SCAN - len(self.head)]
        if not self.too_large:
            try:
                self.writer.write(self.crlf.feed(segment))
            except MessageTooLarge as exc:
                self.too_large = str(exc)

    def flags(self) -> tuple[str, ...]:
        head = bytes(self.head)
        ends = [i for i in (head.find(b"\n\n"), head.find(b"\n\r\n")) if i >= 0]
        return _mbox_flags(head[: min(ends)] if ends else head)


def _separators(region: bytes, line_start: bool) -> Iterator[tuple[int, int]]:
    """RFC 4155: a From_ line after an empty line starts the next message.
    Yields (where the empty line starts, where "From " starts) for each in
    ``region``, which starts at a line start if ``line_start``."""
    i = region.find(b"\nFrom ")
    while i >= 0:
        empty = i - 1 if i > 0 and region[i - 1] == 0x0D else i  # "\r\n" or "\n"
        if (empty == 0 and line_start) or (empty > 0 and region[empty - 1] == 0x0A):
            yield empty, i + 1
        i = region.find(b"\nFrom ", i + 1)


def _strip_final_empty_line(region: bytes) -> bytes:
    if region.endswith(b"\n\n"):
        return region[:-1]
    if region.endswith(b"\n\r\n"):
        return region[:-2]
    return region


def read_mbox(
    fp: IO[bytes], new_writer: Callable[[], MessageWriter], mailbox: str
) -> Iterator[_Parsed | _Skipped]:
    """The messages of an mbox file, one at a time (RFC 4155: each starts
    with a From_ line at the start of the file or after an empty line; the
    empty line before a From_ line separates, it is not message content).
    The file is read in blocks; progress units are bytes of the file."""
    first = fp.readline(_FROM_LINE_MAX)
    if not first:
        return
    if not first.startswith(b"From "):
        raise ImportFormatError("not an mbox file: it does not start with a 'From ' line")
    done = len(first)
    current: _MboxMessage | None = _MboxMessage(new_writer(), _from_line_date(first), 0)
    skip_line = not first.endswith(b"\n")  # the rest of an overlong From_ line
    carry = b""
    line_start = True  # the next region starts at a line start
    try:
        while True:
            block = fp.read(_MBOX_BLOCK)
            data = carry + block if carry else block
            carry = b""
            if skip_line:
                nl = data.find(b"\n") + 1
                done += nl if nl else len(data)
                data = data[nl:] if nl else b""
                skip_line = not nl
            if not block:
                # The end: an empty line last is the final separator, not content.
                region = b"" if line_start and data in (b"\n", b"\r\n") else data
                region = _strip_final_empty_line(region)
            else:
                end = data.rfind(b"\n") + 1
                if not end and len(data) < _MBOX_BLOCK:  # wait for the line's end
                    region, carry = b"", data
                elif not end:  # a line longer than a block: pass it on in pieces
                    region = data
                else:
                    region, carry = data[:end], data[end:]
                    # An empty line last may separate this message from the
                    # next: hold it back until the next block shows.
                    kept = _strip_final_empty_line(region)
                    if kept is region and line_start and region in (b"\n", b"\r\n"):
                        kept = b""
                    carry = region[len(kept) :] + carry
                    region = kept
            assert current is not None
            pos = 0
            for empty, start in _separators(region, line_start):
                current.add(region[pos:empty], line_start or pos > 0)
                finished, current = current, None
                yield _finish_mbox(finished, mailbox, done + empty)
                nl = region.find(b"\n", start) + 1
                date = _from_line_date(region[start : nl or len(region)])
                current = _MboxMessage(new_writer(), date, done + start)
                if not nl:
                    skip_line = True
                    pos = len(region)
                    break
                pos = nl
            current.add(region[pos:], line_start or pos > 0)
            done += len(region)
            if region:
                line_start = region.endswith(b"\n")
            if not block:
                break
        finished, current = current, None
        yield _finish_mbox(finished, mailbox, done)
    finally:
        if current is not None:
            current.writer.abort()


def _finish_mbox(message: _MboxMessage, mailbox: str, units: int) -> _Parsed | _Skipped:
    if message.writer.size == 0 and not message.too_large:
        message.writer.abort()
        return _Skipped(f"an empty message at byte {message.offset}", units)
    if message.too_large:
        message.writer.abort()
        return _Skipped(f"a message from byte {message.offset}: {message.too_large}", units)
    return _Parsed(message.writer, message.flags(), message.date, mailbox, units)


# -- Maildir -------------------------------------------------------------------------


@dataclass(slots=True)
class _MaildirFile:
    path: Path
    mailbox: str
    flags: tuple[str, ...]
    mtime: float
    size: int


def _maildir_flags(name: str) -> tuple[str, ...]:
    # "unique:2,FLAGS" (some systems write '!' or ';' for ':', which their
    # file systems refuse).
    for sep in (":2,", "!2,", ";2,"):
        _, found, letters = name.rpartition(sep)
        if found:
            return tuple(sorted({_MAILDIR_FLAGS[c] for c in letters if c in _MAILDIR_FLAGS}))
    return ()


def _folder_name(raw: str) -> str | None:
    """A Maildir++ folder (".Sent", ".Work.2024") as a mailbox name
    ("Sent", "Work/2024"); names are modified UTF-7 (RFC 3501 5.1.3) when
    they decode as such, else taken as they are."""
    parts = raw.split(".")
    if any(not part for part in parts):
        return None
    names = []
    for part in parts:
        try:
            names.append(decode_mutf7(os.fsencode(part)))
        except ValueError:
            names.append(part)
    return DELIMITER.join(names)


def _maildir_files(root: Path, mailbox: str, skipped: list[str]) -> list[_MaildirFile]:
    """Every message file of the Maildir (and of its Maildir++ folders),
    oldest first in each folder.  Names starting with '.' are not messages
    (the Maildir convention); other entries that are not regular files, and
    empty files, are reported in ``skipped``."""
    folders = [(root, mailbox)]
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith(".") and entry.name not in (".", "..") and entry.is_dir():
            path = Path(entry.path)
            if not ((path / "cur").is_dir() or (path / "new").is_dir()):
                continue
            name = _folder_name(entry.name[1:])
            if name is None:
                skipped.append(f"{entry.name}: not a Maildir++ folder name")
                continue
            folders.append((path, name))
    files: list[_MaildirFile] = []
    for folder, name in folders:
        found: list[_MaildirFile] = []
        for sub in ("new", "cur"):
            directory = folder / sub
            if not directory.is_dir():
                continue
            for entry in os.scandir(directory):
                if entry.name.startswith("."):
                    continue
                shown = os.path.relpath(entry.path, root)
                try:
                    st = entry.stat(follow_symlinks=True)
                except OSError as exc:  # a dangling symbolic link, say
                    skipped.append(f"{shown}: {exc.strerror}")
                    continue
                if not stat.S_ISREG(st.st_mode):
                    skipped.append(f"{shown}: not a regular file")
                    continue
                if st.st_size == 0:
                    skipped.append(f"{shown}: an empty file")
                    continue
                flags = _maildir_flags(entry.name) if sub == "cur" else ()
                found.append(_MaildirFile(Path(entry.path), name, flags, st.st_mtime, st.st_size))
        found.sort(key=lambda f: (f.mtime, f.path.name))
        files.extend(found)
    return files


def read_maildir(
    files: list[_MaildirFile], root: Path, new_writer: Callable[[], MessageWriter]
) -> Iterator[_Parsed | _Skipped]:
    """The Maildir's messages, one at a time; INTERNALDATE is the file's
    modification time (the delivery time: Dovecot sets it so).  Progress
    units are files."""
    for done, item in enumerate(files, 1):
        writer = new_writer()
        crlf = _CRLF()
        try:
            with item.path.open("rb") as fp:
                while block := fp.read(_READ_BLOCK):
                    writer.write(crlf.feed(block))
        except MessageTooLarge as exc:
            yield _Skipped(f"{os.path.relpath(item.path, root)}: {exc}", done)
            continue
        except OSError as exc:
            writer.abort()
            yield _Skipped(f"{os.path.relpath(item.path, root)}: {exc.strerror}", done)
            continue
        except BaseException:
            writer.abort()
            raise
        when = datetime.fromtimestamp(int(item.mtime), UTC)
        yield _Parsed(writer, item.flags, when, item.mailbox, done)


# -- the import ------------------------------------------------------------------------


def import_mail(
    store: Store,
    address: str,
    path: str | os.PathLike[str],
    *,
    mailbox: str = "INBOX",
    mail_format: MailFormat | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    batch_messages: int = BATCH_MESSAGES,
    batch_bytes: int = BATCH_BYTES,
    max_message_size: int | None = None,
) -> ImportResult:
    """Import the mbox file or Maildir at ``path`` into ``address``'s
    ``mailbox`` (created if missing; a Maildir++ folder ``.Name`` goes into
    the mailbox ``Name``).  ``mail_format`` None: detected.  Messages are
    committed in batches of ``batch_messages`` or ``batch_bytes``;
    ``on_total(total)`` is called once the amount of work is known and
    ``progress(messages, units)`` after each message.  A message larger
    than ``max_message_size`` (default: the store's limit) is skipped and
    named in :attr:`ImportResult.skipped`.  Raises
    :class:`NoSuchAccount`, :class:`ImportFormatError`, ``OSError``."""
    account = store.account(address)
    if account is None:
        raise NoSuchAccount(f"no account {address}")
    source = Path(path)

    def new_writer() -> MessageWriter:
        return store.new_message(max_size=max_message_size)

    kind = detect_format(source) if mail_format is None else mail_format
    result = ImportResult()
    if kind == "maildir":
        if not source.is_dir():
            raise ImportFormatError(f"{source} is not a directory: not a Maildir")
        files = _maildir_files(source, mailbox, result.skipped)
        result.total = len(files)
        if on_total is not None:
            on_total(result.total)
        _run(
            store,
            account.id,
            read_maildir(files, source, new_writer),
            result,
            progress,
            batch_messages,
            batch_bytes,
        )
        return result
    if source.is_dir():
        raise ImportFormatError(f"{source} is a directory: not an mbox file")
    with source.open("rb") as fp:
        result.total = os.fstat(fp.fileno()).st_size
        if on_total is not None:
            on_total(result.total)
        _run(
            store,
            account.id,
            read_mbox(fp, new_writer, mailbox),
            result,
            progress,
            batch_messages,
            batch_bytes,
        )
    return result


def _run(
    store: Store,
    account_id: int,
    items: Iterator[_Parsed | _Skipped],
    result: ImportResult,
    progress: Progress | None,
    batch_messages: int,
    batch_bytes: int,
) -> None:
    mailbox_ids: dict[str, int] = {}
    batch: list[_Parsed] = []
    batch_size = 0
    seen = 0

    def commit() -> None:
        nonlocal batch_size
        if not batch:
            return
        name = batch[0].mailbox
        if name not in mailbox_ids:
            try:
                mailbox_ids[name] = store.mailbox(account_id, name).id
            except NoSuchMailbox:
                mailbox_ids[name] = store.create_mailbox(account_id, name).id
        sizes = [p.writer.size for p in batch]
        store.append_batch(
            mailbox_ids[name], [(p.writer, p.flags, p.internal_date) for p in batch]
        )
        result.imported += len(batch)
        result.stored_bytes += sum(sizes)
        result.mailboxes[name] = result.mailboxes.get(name, 0) + len(batch)
        batch.clear()
        batch_size = 0

    try:
        for item in items:
            if isinstance(item, _Skipped):
                result.skipped.append(item.reason)
            else:
                if batch and batch[0].mailbox != item.mailbox:
                    commit()
                batch.append(item)
                batch_size += item.writer.size
                seen += 1
                if len(batch) >= batch_messages or batch_size >= batch_bytes:
                    commit()
            if progress is not None:
                progress(seen, item.units)
        commit()
    finally:
        for pending in batch:
            pending.writer.abort()
        close = getattr(items, "close", None)
        if close is not None:
            close()
