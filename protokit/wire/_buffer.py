"""The receive buffer every protocol parses from.

A ``bytearray`` consumed from the front with ``del buf[:n]`` (O(1) in CPython:
the array's start moves), that remembers where its last search for a line end
stopped, so a line trickling in one byte at a time is scanned once in total.
"""

from __future__ import annotations

from ..errors import BareLineEndingError, LineTooLongError

__all__ = ["ReceiveBuffer"]

_LF = 0x0A
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

    __slots__ = ("_data", "_searched")

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytearray(data)
        # Offset up to which self._data is known to hold no LF.
        self._searched = 0

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __repr__(self) -> str:
        # The contents may be an AUTH line: show only the size.
        return f"<ReceiveBuffer {len(self._data)} bytes>"

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        self._data += data

    @property
    def raw(self) -> bytearray:
        """The buffered bytes themselves, for readers that scan in place.

        Whoever consumes through this must call :meth:`consume`.
        """
        return self._data

    def consume(self, n: int) -> None:
        """Drop the first ``n`` buffered bytes."""
        del self._data[:n]
        self._searched = max(0, self._searched - n)

    def _take(self, n: int) -> bytes:
        out = bytes(self._data[:n])
        del self._data[:n]
        self._searched = max(0, self._searched - n)
        return out

    def extract_line(self, max_length: int) -> bytes | None:
        """Remove and return one CRLF-terminated line, without its CRLF.

        Returns ``None`` while no complete line is buffered.  ``max_length``
        counts the line's bytes without the terminator.
        """
        data = self._data
        lf = data.find(b"\n", self._searched, max_length + 2)
        if lf < 0:
            self._searched = len(data)
            if len(data) > max_length + 1:
                # No line end within the limit: report before holding more.
                raise LineTooLongError(
                    f"line longer than {max_length} bytes", limit=max_length, complete=False
                )
            return None
        self._searched = 0
        if lf == 0 or data[lf - 1] != _CR:
            line = self._take(lf + 1)
            raise BareLineEndingError("line ended with a bare LF", line=line)
        if data.find(b"\r", 0, lf - 1) >= 0:
            line = self._take(lf + 1)
            raise BareLineEndingError("line holds a bare CR", line=line)
        line = bytes(data[: lf - 1])
        del data[: lf + 1]
        return line

    def skip_line(self) -> bool:
        """Discard through the next LF; return whether one was found.

        Used after an incomplete :class:`LineTooLongError`: call it as data
        arrives until it returns ``True``.  Never buffers the skipped bytes.
        """
        data = self._data
        lf = data.find(b"\n")
        if lf < 0:
            data.clear()
            self._searched = 0
            return False
        self.consume(lf + 1)
        self._searched = 0
        return True

    def extract_exactly(self, n: int) -> bytes | None:
        """Remove and return exactly ``n`` bytes, or ``None`` if fewer are buffered."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if len(self._data) < n:
            return None
        return self._take(n)

    def extract_at_most(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes (``b""`` if none are buffered).

        The streaming read: a literal or BDAT chunk handed on as it arrives.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        return self._take(min(n, len(self._data)))

    def extract_all(self) -> bytes:
        """Remove and return everything buffered."""
        return self._take(len(self._data))

    def startswith(self, prefix: bytes) -> bool:
        return self._data.startswith(prefix)
