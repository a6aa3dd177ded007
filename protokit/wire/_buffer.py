"""The receive buffer every protocol parses from.

A ``bytearray`` consumed from the front with ``del buf[:n]`` (O(1) in CPython:
the array's start moves), that remembers where its last search for a line end
stopped, so a line trickling in one byte at a time is scanned once in total.
"""

from __future__ import annotations

from ..errors import BareLineEndingError, LineTooLongError

__all__ = ["ReceiveBuffer"]

_CR = 0x0D


class ReceiveBuffer:
    """Bytes received and not yet parsed.

    Lines are strict: only CRLF ends one.  A line ending in a bare LF, or
    holding a bare CR, is consumed and reported with
    :class:`~protokit.errors.BareLineEndingError` (carrying the line, so a
    lenient caller can still use it).  A line longer than the caller's limit is
    reported with :class:`~protokit.errors.LineTooLongError` as soon as the
    limit is passed, without buffering further into it.
    """

    __slots__ = ("_data", "_searched", "_start")

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytearray(data)
        # Bytes before _start are consumed but not yet deleted: lines are
        # handed out by moving _start, and the array is compacted once per
        # feed, not once per line.
        self._start = 0
        # Absolute offset up to which self._data is known to hold no LF.
        self._searched = 0

    def __len__(self) -> int:
        return len(self._data) - self._start

    def __bool__(self) -> bool:
        return len(self._data) > self._start

    def __repr__(self) -> str:
        # The contents may be an AUTH line: show only the size.
        return f"<ReceiveBuffer {len(self)} bytes>"

    def _compact(self) -> None:
        if self._start:
            del self._data[: self._start]
            self._searched = max(0, self._searched - self._start)
            self._start = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        self._compact()
        self._data += data

    @property
    def raw(self) -> bytearray:
        """The buffered bytes themselves, for readers that scan in place.

        Whoever consumes through this must call :meth:`consume`.
        """
        self._compact()
        return self._data

    def consume(self, n: int) -> None:
        """Drop the first ``n`` buffered bytes."""
        self._compact()
        del self._data[:n]
        self._searched = max(0, self._searched - n)

    def _take(self, n: int) -> bytes:
        start = self._start
        out = bytes(self._data[start : start + n])
        self._start = start + n
        if self._searched < self._start:
            self._searched = self._start
        return out

    def extract_line(self, max_length: int) -> bytes | None:
        """Remove and return one CRLF-terminated line, without its CRLF.

        Returns ``None`` while no complete line is buffered.  ``max_length``
        counts the line's bytes without the terminator.
        """
        data = self._data
        start = self._start
        searched = self._searched
        lf = data.find(b"\n", searched if searched > start else start, start + max_length + 2)
        if lf < 0:
            self._searched = len(data)
            if len(data) - start > max_length + 1:
                # No line end within the limit: report before holding more.
                raise LineTooLongError(
                    f"line longer than {max_length} bytes", limit=max_length, complete=False
                )
            return None
        if lf == start or data[lf - 1] != _CR:
            raise BareLineEndingError("line ended with a bare LF", line=self._take(lf + 1 - start))
        if data.find(b"\r", start, lf - 1) >= 0:
            raise BareLineEndingError("line holds a bare CR", line=self._take(lf + 1 - start))
        line = bytes(data[start : lf - 1])
        self._start = self._searched = lf + 1
        return line

    def skip_line(self) -> bool:
        """Discard through the next LF; return whether one was found.

        Used after an incomplete :class:`LineTooLongError`: call it as data
        arrives until it returns ``True``.  Never buffers the skipped bytes.
        """
        data = self._data
        lf = data.find(b"\n", self._start)
        if lf < 0:
            data.clear()
            self._start = self._searched = 0
            return False
        self._start = self._searched = lf + 1
        return True

    def extract_exactly(self, n: int) -> bytes | None:
        """Remove and return exactly ``n`` bytes, or ``None`` if fewer are buffered."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if len(self) < n:
            return None
        return self._take(n)

    def extract_at_most(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes (``b""`` if none are buffered).

        The streaming read: a literal or BDAT chunk handed on as it arrives.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        return self._take(min(n, len(self)))

    def extract_all(self) -> bytes:
        """Remove and return everything buffered."""
        return self._take(len(self))

    def startswith(self, prefix: bytes) -> bool:
        return self._data.startswith(prefix, self._start)
