"""Dot-stuffing for SMTP DATA (RFC 5321 section 4.5.2) and POP3 multi-line
replies (RFC 1939 section 3), incremental and safe across chunk boundaries.

The reader ends a body only at CRLF "." CRLF (the SMTP smuggling class,
CVE-2023-51764/51765/51766: ``\\n.\\n``, ``\\n.\\r\\n``, ``\\r.\\r\\n`` and
friends are body bytes, never an end).  Bare CR and LF are reported always and
handled by policy.

Both directions do their per-byte work in C (``find``, ``count``,
``replace``); Python runs once per chunk, plus once per bare line ending.
"""

from __future__ import annotations

import enum
import re

from ._buffer import ReceiveBuffer

__all__ = ["BareLineEndingPolicy", "DotStuffer", "DotUnstuffer"]

_TERMINATOR = b"\r\n.\r\n"
_LINE_END_ANY = re.compile(rb"\r\n|\r|\n")


class BareLineEndingPolicy(enum.Enum):
    """What a body reader does with a CR or LF that is not part of CRLF."""

    #: Deliver the bytes unchanged and count them; the protocol refuses the
    #: message once it has ended (SMTP: 550 5.6.0 after the terminator).
    REJECT = "reject"
    #: Rewrite each bare CR and bare LF as CRLF, and count them.
    NORMALIZE = "normalize"
    #: Deliver the bytes unchanged and count them; the message is accepted.
    PRESERVE = "preserve"


def _count_bare(data: bytearray | bytes, start: int, end: int) -> tuple[int, int]:
    """Return (bare CR count, bare LF count) in data[start:end]."""
    crlf = data.count(b"\r\n", start, end)
    return data.count(b"\r", start, end) - crlf, data.count(b"\n", start, end) - crlf


class DotUnstuffer:
    """Reads one dot-stuffed body out of a :class:`ReceiveBuffer`.

    Call :meth:`read` each time data arrives: it consumes what it can decide
    on and returns the unstuffed bytes (possibly ``b""``); once it has consumed
    the terminating CRLF "." CRLF, :attr:`done` is true and whatever follows
    stays in the buffer for the next command or reply.  The body returned
    includes the CRLF that ends its last line.

    ``bare_cr`` and ``bare_lf`` count the bare line endings seen, whatever the
    policy; ``size`` counts the unstuffed bytes returned.  A client that hands
    a server's bytes on as they are (POP3 RETR) may pass ``count_bare=False``
    with PRESERVE to skip the counting, which is a third of the per-byte work.
    """

    __slots__ = ("_at_start", "_count", "bare_cr", "bare_lf", "done", "policy", "size")

    def __init__(
        self,
        policy: BareLineEndingPolicy = BareLineEndingPolicy.REJECT,
        *,
        count_bare: bool = True,
    ) -> None:
        if not count_bare and policy is not BareLineEndingPolicy.PRESERVE:
            raise ValueError("only PRESERVE may skip counting bare line endings")
        self.policy = policy
        self._count = count_bare
        self.done = False
        self.bare_cr = 0
        self.bare_lf = 0
        self.size = 0
        self._at_start = True

    def __repr__(self) -> str:
        return (
            f"<DotUnstuffer policy={self.policy.value} done={self.done} size={self.size}"
            f" bare_cr={self.bare_cr} bare_lf={self.bare_lf}>"
        )

    @property
    def saw_bare_line_ending(self) -> bool:
        return bool(self.bare_cr or self.bare_lf)

    def read(self, buffer: ReceiveBuffer, max_chunk: int | None = None) -> bytes:
        """Consume body bytes from ``buffer``; return them unstuffed.

        ``max_chunk`` bounds how many body bytes one call consumes (never
        below 5, the terminator's length, so that every call can progress),
        for callers that hand chunks on to an application.
        """
        data = buffer.raw
        if self.done or not data:
            return b""
        if self._at_start:
            # The body's first line starts without a preceding CRLF.
            if data[0] == 0x2E:  # "."
                if len(data) < 3 and b".\r\n".startswith(data):
                    return b""  # "." or ".\r": undecided
                if data.startswith(b".\r\n"):
                    buffer.consume(3)
                    self.done = True
                    return b""
                buffer.consume(1)  # a stuffed dot on the first line
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
            if last == 0x0D:  # ...CR, or ...CRLF.CR
                end = limit - (4 if data.endswith(b"\r\n.\r", 0, limit) else 1)
            elif last == 0x0A:
                end = limit - 2 if data[limit - 2] == 0x0D else limit
            elif last == 0x2E:
                end = limit - 3 if data.endswith(b"\r\n.", 0, limit) else limit
            else:
                end = limit
            consumed = end
            if end <= 0:
                return b""
        cr = lf = 0
        if self._count:
            lf = data.count(b"\n", 0, end)
            cr = data.count(b"\r", 0, end)
            if lf or cr:
                crlf = data.count(b"\r\n", 0, end) if lf and cr else 0
                cr -= crlf
                lf -= crlf
        # Stuffed dots are rare in mail: find each and join the pieces, one
        # pass, rather than replace()'s count-then-copy two.
        i = data.find(b"\r\n.", 0, end)
        if i < 0:
            chunk = bytes(data[:end])
        else:
            parts = []
            pos = 0
            while i >= 0:
                parts.append(data[pos : i + 2])
                pos = i + 3
                i = data.find(b"\r\n.", pos, end)
            parts.append(data[pos:end])
            chunk = b"".join(parts)
        buffer.consume(consumed)
        if cr or lf:
            self.bare_cr += cr
            self.bare_lf += lf
            if self.policy is BareLineEndingPolicy.NORMALIZE:
                chunk = _LINE_END_ANY.sub(b"\r\n", chunk)
        self.size += len(chunk)
        return chunk


class DotStuffer:
    """Writes a body dot-stuffed, chunk by chunk, and ends it.

    Line endings are normalised on the way out (a bare CR or LF becomes CRLF,
    so no peer can read one as a line end we did not mean), a "." at the start
    of any line is doubled, and :meth:`close` always finishes with
    CRLF "." CRLF, adding the CRLF the last line lacked.  ``size`` counts the
    normalised body bytes before stuffing (what SMTP SIZE and POP3 octet
    counts measure).
    """

    __slots__ = ("_at_line_start", "_held_cr", "closed", "size")

    def __init__(self) -> None:
        self._at_line_start = True
        self._held_cr = False
        self.closed = False
        self.size = 0

    def __repr__(self) -> str:
        return f"<DotStuffer size={self.size} closed={self.closed}>"

    def write(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Return the wire bytes for ``chunk``; a trailing CR waits for the next."""
        if self.closed:
            raise ValueError("write() after close()")
        data = bytes(chunk)
        if self._held_cr:
            data = b"\r" + data
            self._held_cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._held_cr = True
        if not data:
            return b""
        cr, lf = _count_bare(data, 0, len(data))
        if cr or lf:
            data = _LINE_END_ANY.sub(b"\r\n", data)
        self.size += len(data)
        stuffed = data.replace(b"\r\n.", b"\r\n..")
        if self._at_line_start and stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        self._at_line_start = stuffed.endswith(b"\r\n")
        return stuffed

    def close(self) -> bytes:
        """Return the bytes that end the body: any missing CRLF, then "." CRLF."""
        if self.closed:
            raise ValueError("close() called twice")
        self.closed = True
        if self._held_cr:
            self._held_cr = False
            self.size += 2
            return b"\r\n.\r\n"
        if self._at_line_start:
            return b".\r\n"
        self.size += 2
        return _TERMINATOR
