"""Message bodies: the client's reader of a multi-line RETR/TOP reply
(RFC 1939 section 3), and the server's TOP cutter.

The reader is like :class:`protokit.wire.DotUnstuffer` (same end rule: only CRLF "." CRLF
ends a body; same hold-back of bytes that could begin a terminator or a
stuffed dot), but it does not count bare CR/LF: a POP3 client delivers the
server's bytes as they are, and the three ``count`` passes that the counting
costs would halve the client's throughput.  Unstuffing is a ``find`` loop
over CRLF "." (rare in mail) and one join, so the per-byte work is a search
and a copy, both in C.
"""

from __future__ import annotations

from ..wire._buffer import ReceiveBuffer

__all__ = ["BodyReader", "TopCutter"]

_TERMINATOR = b"\r\n.\r\n"
_STUFFED = b"\r\n."


class BodyReader:
    """Reads one dot-stuffed body out of a :class:`ReceiveBuffer`."""

    __slots__ = ("_at_start", "done", "size")

    def __init__(self) -> None:
        self.done = False
        self.size = 0
        self._at_start = True

    def __repr__(self) -> str:
        return f"<BodyReader done={self.done} size={self.size}>"

    def read(self, buffer: ReceiveBuffer, max_chunk: int | None = None) -> bytes:
        """Consume what can be decided; return it unstuffed (maybe ``b""``)."""
        data = buffer.raw
        if self.done or not data:
            return b""
        if self._at_start:
            # The first line starts without a preceding CRLF.
            if data[0] == 0x2E:  # "."
                if len(data) < 3 and b".\r\n".startswith(data):
                    return b""  # "." or ".\r": undecided
                if data.startswith(b".\r\n"):
                    buffer.consume(3)
                    self.done = True
                    return b""
                buffer.consume(1)  # a stuffed dot
                data = buffer.raw
                if not data:
                    self._at_start = False
                    return b""
            self._at_start = False
        n = len(data)
        limit = n if max_chunk is None else min(n, max(max_chunk, 5))
        term = data.find(_TERMINATOR, 0, limit + 3)
        if term >= 0 and term + 2 <= limit:
            end = term + 2
            consumed = term + 5
            self.done = True
        else:
            # Hold back what could begin a terminator or a stuffed dot.
            last = data[limit - 1]
            if last == 0x0D:
                end = limit - (4 if data.endswith(b"\r\n.\r", 0, limit) else 1)
            elif last == 0x0A:
                end = limit - 2 if limit >= 2 and data[limit - 2] == 0x0D else limit
            elif last == 0x2E:
                end = limit - 3 if data.endswith(_STUFFED, 0, limit) else limit
            else:
                end = limit
            consumed = end
            if end <= 0:
                return b""
        i = data.find(_STUFFED, 0, end)
        if i < 0:
            chunk = bytes(data[:end])
        else:
            parts = []
            pos = 0
            while i >= 0:
                parts.append(data[pos : i + 2])
                pos = i + 3
                i = data.find(_STUFFED, pos, end)
            parts.append(data[pos:end])
            chunk = b"".join(parts)
        buffer.consume(consumed)
        self.size += len(chunk)
        return chunk


class TopCutter:
    """Cuts stuffed CRLF output after the header, the blank line and n lines."""

    __slots__ = ("done", "in_header", "line_len", "lines_left")

    def __init__(self, lines: int) -> None:
        self.lines_left = lines
        self.in_header = True
        self.line_len = 0
        self.done = False

    def feed(self, data: bytes) -> bytes:
        pos = 0
        while self.in_header:
            i = data.find(b"\r\n", pos)
            if i < 0:
                self.line_len += len(data) - pos
                return data
            if self.line_len == 0 and i == pos:
                self.in_header = False
            self.line_len = 0
            pos = i + 2
        while self.lines_left > 0:
            i = data.find(b"\r\n", pos)
            if i < 0:
                return data
            pos = i + 2
            self.lines_left -= 1
        self.done = True
        return data[:pos]
