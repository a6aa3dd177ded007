"""The server's TOP cutter (RFC 1939 section 7): the header, the blank line
and then n lines of the body.  (The client reads bodies with
:class:`protokit.wire.DotUnstuffer`.)"""

from __future__ import annotations

__all__ = ["TopCutter"]


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
