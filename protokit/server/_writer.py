"""Collect a message's bytes as they arrive (SMTP DATA/BDAT, IMAP APPEND),
so that the store can commit the whole message in one transaction."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from ._types import MessageTooLarge, StoreError

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "LineEndingCounter", "MessageWriter", "parse_header_fields"]

#: DESIGN.md's IMAP APPEND and SMTP SIZE limit.
DEFAULT_MAX_MESSAGE_SIZE: Final = 64 * 1024 * 1024
#: Bytes of a message kept in memory before spooling to a temporary file.
_SPOOL_IN_MEMORY: Final = 1024 * 1024
#: The header block kept for search and threading (longer headers are cut).
MAX_HEADER: Final = 64 * 1024
_COPY_CHUNK: Final = 64 * 1024


class LineEndingCounter:
    """Counts the bare CRs and bare LFs in a stream fed in any chunks, so
    that ``size + bare`` is the size with CRLF line endings (what POP3
    reports, RFC 1939 section 11, when every bare CR or LF is sent as CRLF)."""

    __slots__ = ("_last_cr", "bare")

    def __init__(self) -> None:
        self.bare = 0
        self._last_cr = False

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        crlf = chunk.count(b"\r\n")
        self.bare += chunk.count(b"\r") - crlf + chunk.count(b"\n") - crlf
        if self._last_cr and chunk[0] == 0x0A:
            # the previous chunk's final CR and this LF are one CRLF, not two bare endings
            self.bare -= 2
        self._last_cr = chunk[-1] == 0x0D


class MessageWriter:
    """A message being received: chunks are spooled (in memory up to 1 MiB,
    then in a temporary file in the data directory) and hashed.  Nothing
    reaches the database until a store operation commits the writer; a
    writer is committed at most once, and :meth:`abort` discards it."""

    __slots__ = (
        "_closed",
        "_endings",
        "_hash",
        "_head",
        "_head_done",
        "_max_size",
        "_scan",
        "_size",
        "_spool",
    )

    def __init__(
        self, *, max_size: int = DEFAULT_MAX_MESSAGE_SIZE, spool_dir: Path | None = None
    ) -> None:
        if max_size < 0:
            raise ValueError("max_size is not negative")
        self._max_size = max_size
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=_SPOOL_IN_MEMORY, dir=None if spool_dir is None else str(spool_dir)
        )
        self._hash = hashlib.sha256()
        self._endings = LineEndingCounter()
        self._size = 0
        self._head = bytearray()
        self._head_done = False
        self._scan = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<MessageWriter {state} size={self._size}>"

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def spills(self, extra: int) -> bool:
        """Would writing ``extra`` more bytes touch the disk (the spool's
        in-memory part is full)?"""
        return self._size + extra > _SPOOL_IN_MEMORY

    @property
    def crlf_size(self) -> int:
        """The size with every bare CR or LF counted as CRLF."""
        return self._size + self._endings.bare

    @property
    def closed(self) -> bool:
        """True once committed or aborted."""
        return self._closed

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``.  Raises :class:`MessageTooLarge` (and aborts the
        writer) past ``max_size``."""
        if self._closed:
            raise StoreError("the message writer is closed")
        if not chunk:
            return
        if self._size + len(chunk) > self._max_size:
            self.abort()
            raise MessageTooLarge(f"the message exceeds {self._max_size} octets")
        self._spool.write(chunk)
        self._hash.update(chunk)
        self._endings.feed(chunk)
        self._size += len(chunk)
        if not self._head_done:
            self._collect_head(chunk)

    def _collect_head(self, chunk: bytes) -> None:
        head = self._head
        head += chunk[: MAX_HEADER + 4 - len(head)]
        # RFC 5322 section 2.1: the header ends at the first empty line.  The
        # search resumes where it stopped, so a trickle of bytes is scanned once.
        start = max(0, self._scan - 3)
        crlf = head.find(b"\r\n\r\n", start)
        lf = head.find(b"\n\n", start)
        ends = [e for e in (crlf + 4 if crlf >= 0 else -1, lf + 2 if lf >= 0 else -1) if e >= 0]
        if ends:
            del head[min(ends) :]
            self._head_done = True
        elif len(head) >= MAX_HEADER:
            del head[MAX_HEADER:]
            self._head_done = True
        else:
            self._scan = len(head)

    def abort(self) -> None:
        """Discard the message (idempotent)."""
        if not self._closed:
            self._closed = True
            self._spool.close()

    # -- used by the store, under its transaction ---------------------------

    def _finish(self) -> tuple[bytes, int, bytes]:
        """(sha256, size, header block) of the complete message."""
        if self._closed:
            raise StoreError("the message writer is closed")
        return self._hash.digest(), self._size, bytes(self._head)

    def _chunks(self) -> Iterator[bytes]:
        self._spool.seek(0)
        while chunk := self._spool.read(_COPY_CHUNK):
            yield chunk

    def _close(self) -> None:
        self._closed = True
        self._spool.close()


# RFC 5322 section 3.6.4 msg-id, loosely: "<" id-left "@" id-right ">",
# bounded; leniently any non-space, non-angle characters inside the brackets.
_MSG_ID: Final = re.compile(rb"<[^<>\s]{1,996}>")
_FIELD: Final = re.compile(rb"([!-9;-~]{1,200})[ \t]*:(.*)", re.DOTALL)


def parse_header_fields(head: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) for each header field, decoded as UTF-8 with
    replacement (RFC 6532 allows UTF-8; anything else is shown, not refused)."""
    fields: list[tuple[str, str]] = []
    current: list[bytes] = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and current:
            current.append(line)
            continue
        if current:
            _add_field(fields, b"".join(current))
        current = [line] if line else []
    if current:
        _add_field(fields, b"".join(current))
    return fields


def _add_field(fields: list[tuple[str, str]], raw: bytes) -> None:
    m = _FIELD.fullmatch(raw)
    if m is not None:
        fields.append(
            (
                m.group(1).decode("ascii"),
                m.group(2).strip().decode("utf-8", "replace"),
            )
        )


def message_ids(value: str) -> list[str]:
    """The msg-ids in a Message-ID, In-Reply-To or References value."""
    return [m.decode("utf-8") for m in _MSG_ID.findall(value.encode("utf-8"))]
