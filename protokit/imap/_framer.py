"""The IMAP framer: cuts a byte stream into complete commands or responses.

Frame first, parse second.  The framer knows only lines and literals
(RFC 9051 section 4.3): a line that ends with a literal announcement
(``{n}``, ``{n+}``, ``~{n}``, ``~{n+}``) is followed by exactly ``n`` octets
and then by another line; a line without one ends the message.  It never
looks inside a line beyond its first token (the tag) and its last one (the
announcement), so the grammar stays in the parser.

Events, in the order they come:

- server role (framing commands): :class:`LiteralAnnounced` for each literal
  before its bytes; for a synchronizing ``{n}`` the framer then waits until
  the caller has sent "+" and calls :meth:`Framer.accept_literal`, or has
  sent ``tag NO``/``BAD`` and calls :meth:`Framer.reject_literal`;
- client role (framing responses): no LiteralAnnounced, since a server's
  literal bytes follow its announcement at once and there is nothing to
  decide;
- both: a literal longer than ``stream_threshold`` comes as
  :class:`LiteralStart`, :class:`LiteralChunk` events and
  :class:`LiteralEnd`, and the :class:`Message` holds a
  :class:`StreamedLiteral` in its place; then the :class:`Message`, or a
  :class:`BadMessage`.

What it guarantees:

- The per-byte work is done by C code (``bytes.find``, ``rfind`` and one
  anchored regex on a line's last 23 octets, slicing): a line trickling in
  one byte at a time is searched for its end once in total, and for a stray
  CR once when complete.  Bytes fed in large chunks are sliced straight out
  of the chunk the caller handed in; a chunk that is all literal is handed on
  without a copy, and a held literal that spans chunks is copied once, by one
  join.
- Limits are checked before anything is held: a line is refused as soon as it
  passes ``max_line`` (then skipped, keeping only its last 25 octets), a
  literal at its announcement when it exceeds ``max_literal`` or would push
  the message past ``max_message`` (or past ``max_literals`` literals).
  Literals above ``stream_threshold`` are never held.
- A bad message is reported once, as :class:`BadMessage` with the tag
  recovered from its first line (and, in the server role, the ``tag BAD``
  reply in ``error.reply``), as soon as it is known to be bad; the rest of it
  is then consumed silently.  The bytes of its literals are drained, counted
  but never held and never framed: a non-synchronizing literal always, and a
  synchronizing one in the client role (a server does not wait); in the
  server role a bad message ends at a ``{n}`` announcement, because the
  client waits for a "+" that never comes.  This holds for an over-long line
  too: its announcement is read from the end kept.  Then the next message is
  framed normally.

Literal announcements (RFC 9051 section 9, ``number64 = 1*DIGIT``): leading
zeros are accepted, as the grammar allows (``{01}`` announces one octet).  A
count of up to 20 digits is read (``{99999999999999999999}`` is a literal too
large); in the server role braces that are not an announcement (``{}``,
``{-1}``, ``{x}``, ``{5-}``, 21 digits) end a line only as a
:class:`MalformedLiteralError`, since no valid command token ends that way.
In the client role such a line goes to the parser unchanged, since a
response's text may end in braces.  A ``+`` line (a continuation request)
never announces a literal.

Deliberately not detected here: a client that sends the bytes of a ``{n}``
literal without waiting for "+", after the server refused it.  Per the RFC
those bytes are its next command, and that is how they are framed.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final

from .._sentinel import NEED_DATA, NeedData
from ..errors import BareLineEndingError, LineTooLongError, LocalProtocolError, RemoteProtocolError
from ._framer_events import (
    _SET_CHUNK_DATA,
    _SET_FRAGMENTS,
    _SET_START_BINARY,
    _SET_START_LENGTH,
    _SET_STREAMED_BINARY,
    _SET_STREAMED_LENGTH,
)
from ._framer_events import BadMessage as BadMessage
from ._framer_events import FramerEvent as FramerEvent
from ._framer_events import LiteralAnnounced as LiteralAnnounced
from ._framer_events import LiteralChunk as LiteralChunk
from ._framer_events import LiteralEnd as LiteralEnd
from ._framer_events import LiteralStart as LiteralStart
from ._framer_events import LiteralTooLargeError as LiteralTooLargeError
from ._framer_events import MalformedLiteralError as MalformedLiteralError
from ._framer_events import Message as Message
from ._framer_events import MessageTooLargeError as MessageTooLargeError
from ._framer_events import StreamedLiteral as StreamedLiteral

__all__ = [
    "BadMessage",
    "FramerEvent",
    "Framer",
    "LiteralAnnounced",
    "LiteralChunk",
    "LiteralEnd",
    "LiteralStart",
    "LiteralTooLargeError",
    "MalformedLiteralError",
    "Message",
    "MessageTooLargeError",
    "StreamedLiteral",
]

KIB: Final = 1024
MIB: Final = 1024 * 1024

#: Defaults from DESIGN.md's limits table.
SERVER_MAX_LINE: Final = 64 * KIB
CLIENT_MAX_LINE: Final = 1 * MIB
MAX_MESSAGE: Final = 64 * MIB
STREAM_THRESHOLD: Final = 64 * KIB
#: Literals in one message: bounds the per-fragment overhead of a message
#: made of many tiny literals (``{0+}`` lines), which max_message alone
#: would let grow to millions of objects.
MAX_LITERALS: Final = 100_000

# literal         = "{" number64 ["+"] "}" CRLF *CHAR8
# literal8        = "~{" number64 ["+"] "}" CRLF *OCTET   (RFC 3516, RFC 7888)
# number64        = 1*DIGIT
# Matched at the last "{" among a line's last 23 octets (the longest match),
# so a long line costs nothing more; a "~" just before it makes a literal8.
# 20 digits bound int() and exceed number64.
_ANNOUNCEMENT: Final = re.compile(rb"\{([0-9]{1,20})(\+?)\}\Z")
_ANNOUNCEMENT_SPAN: Final = 23
# What a client meant as an announcement but got wrong: from the line's last
# "{", no space, quote or brace up to the final "}".  (In a command no valid
# token ends that way: "{" is not an ATOM-CHAR and a quoted string ends with
# DQUOTE.)  Matched from that "{", so a long line costs one rfind.
_MALFORMED: Final = re.compile(rb"\{[^\s\"{}]{0,1048576}\}\Z")

# tag             = 1*<any ASTRING-CHAR except "+">
# ASTRING-CHAR    = ATOM-CHAR / resp-specials
# The first token of a line, followed by SP or the end; "*" and "+" (untagged
# and continuation responses) are not tag characters.  Tags longer than 256
# octets are not echoed back.
_TAG: Final = re.compile(rb"([!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,256})(?: |\Z)")
# The same, in the head of a line that was cut short (an over-long line):
# only a SP proves the token ended.
_TAG_IN_HEAD: Final = re.compile(rb"([!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,256}) ")
_TAG_SPAN: Final = 258

# Enough of an over-long line's end to read its announcement from.
_TAIL: Final = _ANNOUNCEMENT_SPAN + 2

_CR: Final = 0x0D


# -- the framer ---------------------------------------------------------------------

# States.  Plain ints: compared on every call.  Those below _START_OR_END
# read input; the others emit an event without reading.
_LINE: Final = 0  # reading a line
_LITERAL: Final = 1  # reading a literal held in memory
_STREAM: Final = 2  # reading a streamed literal
_DRAIN: Final = 3  # discarding a poisoned message's literal
_SKIP: Final = 4  # discarding the rest of an over-long line
_START_OR_END: Final = 5
_START: Final = 5  # about to emit LiteralStart
_END: Final = 6  # about to emit LiteralEnd
_DECIDE: Final = 7  # server: a synchronizing literal awaits accept/reject

# LiteralEnd has no fields: one instance serves.
_LITERAL_END: Final = LiteralEnd()

# Pieces of a held literal kept as separate objects before they are
# accumulated in one buffer.
_MAX_PARTS: Final = 64

_STATE_NAMES: Final = ("line", "literal", "stream", "drain", "skip", "start", "end", "decide")


def _tag_of(line: bytes, cut: bool = False) -> bytes | None:
    """The tag that starts ``line``; ``cut``: only the line's head is known."""
    m = (_TAG_IN_HEAD if cut else _TAG).match(line, 0, _TAG_SPAN)
    return bytes(m.group(1)) if m else None


class Framer:
    """Splits received bytes into :class:`Message` events, and the literal
    events around them.

    ``server=True`` frames commands (a client's ``{n}`` waits for "+");
    ``server=False`` frames responses (a server's literal bytes follow its
    announcement at once).  Feed bytes with :meth:`feed`; call
    :meth:`next_event` until it returns ``NEED_DATA``.

    Limits (octets): ``max_line`` per line without CRLF (default 64 KiB for a
    server, 1 MiB for a client); ``max_literal`` per literal and
    ``max_message`` per message, lines with CRLF and literals counted
    (64 MiB); ``stream_threshold``, the longest literal held in memory (64
    KiB); ``max_literals`` per message (100,000).  ``max_nonsync_literal``
    bounds ``{n+}`` literals in the server role: 4096 under LITERAL-
    (RFC 7888 section 4, reply ``BAD [TOOBIG]``), ``None`` under LITERAL+.
    """

    __slots__ = (
        "_acc",
        "_announced_at",
        "_data",
        "_drain",
        "_first",
        "_first_cut",
        "_fragments",
        "_line",
        "_literal_binary",
        "_literals",
        "_parts",
        "_pending",
        "_poisoned",
        "_pos",
        "_queue",
        "_remaining",
        "_size",
        "_state",
        "_tail",
        "max_line",
        "max_literal",
        "max_literals",
        "max_message",
        "max_nonsync_literal",
        "server",
        "stream_threshold",
    )

    def __init__(
        self,
        *,
        server: bool,
        max_line: int | None = None,
        max_literal: int = MAX_MESSAGE,
        max_message: int = MAX_MESSAGE,
        stream_threshold: int = STREAM_THRESHOLD,
        max_literals: int = MAX_LITERALS,
        max_nonsync_literal: int | None = None,
    ) -> None:
        if max_line is None:
            max_line = SERVER_MAX_LINE if server else CLIENT_MAX_LINE
        for name, value in (
            ("max_line", max_line),
            ("max_literal", max_literal),
            ("max_message", max_message),
            ("stream_threshold", stream_threshold),
            ("max_literals", max_literals),
            ("max_nonsync_literal", 0 if max_nonsync_literal is None else max_nonsync_literal),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
        self.server = server
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_message = max_message
        self.stream_threshold = stream_threshold
        self.max_literals = max_literals
        self.max_nonsync_literal = max_nonsync_literal
        # Input: the chunk being read and where; chunks fed after it.
        self._data = b""
        self._pos = 0
        self._queue: deque[bytes] = deque()
        # A line carried over from earlier chunks (never more than max_line + 1).
        self._line = bytearray()
        self._state = _LINE
        # The message being framed.
        self._fragments: list[bytes | StreamedLiteral] = []
        self._first: bytes = b""
        # Whether _first is only the head of an over-long line.
        self._first_cut = False
        self._size = 0
        self._literals = 0
        self._poisoned = False
        # The literal being read: octets still to come, parts read so far.
        self._remaining = 0
        self._parts: list[bytes | memoryview] = []
        # ... or, once there are many (input trickling in), accumulated here.
        self._acc: bytearray | None = None
        self._literal_binary = False
        # Octets of a poisoned message's literal still to drain.
        self._drain = 0
        # The last bytes of a line being skipped.
        self._tail = b""
        # The announcement awaiting accept/reject: (line, length, binary).
        self._pending: tuple[bytes, int, bool] | None = None
        # How many fragments precede the latest announced literal.
        self._announced_at = 0

    def __repr__(self) -> str:
        role = "server" if self.server else "client"
        return (
            f"<Framer {role} state={_STATE_NAMES[self._state]}"
            f" fragments={len(self._fragments)} poisoned={self._poisoned}>"
        )

    # -- input ------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes.  ``b""`` is ignored: end of stream is the
        connection's business (see :attr:`mid_message`)."""
        if not data:
            return
        chunk = data if type(data) is bytes else bytes(data)
        if self._pos >= len(self._data) and not self._queue:
            self._data = chunk
            self._pos = 0
        else:
            self._queue.append(chunk)

    @property
    def mid_message(self) -> bool:
        """Whether part of a message (or of a line) has been received: at end
        of stream, that message was cut short."""
        return bool(self._fragments or self._line or self._state != _LINE or self._poisoned)

    @property
    def first_line(self) -> bytes:
        """The first line of the message being framed (``b""`` between
        messages): lets a server tell which command a literal belongs to
        before the message is complete.  The head only, for an over-long line."""
        return self._first

    def announced_prefix(self) -> tuple[bytes | StreamedLiteral, ...]:
        """The message being framed up to and including the line that
        announced the latest literal: lets a server read an APPEND's mailbox,
        flags and date before the literal's bytes, and a proxy forward the
        lines before a streamed literal (client role, at LiteralStart)."""
        return tuple(self._fragments[: self._announced_at])

    def unread(self) -> bytes:
        """The bytes fed but not yet framed (a partial line included).

        A connection checks this at a hand-off (STARTTLS: bytes already
        received past the OK are an injection; COMPRESS: they are the first
        compressed bytes and must be decompressed before they are framed).
        """
        rest = [bytes(self._line), self._data[self._pos :]]
        rest.extend(self._queue)
        return b"".join(rest)

    def take_unread(self) -> bytes:
        """Return :meth:`unread` and forget those bytes."""
        rest = self.unread()
        self._line.clear()
        self._data = b""
        self._pos = 0
        self._queue.clear()
        return rest

    # -- the caller's answer to a synchronizing literal --------------------------

    def accept_literal(self) -> None:
        """The server sent "+": read the announced literal."""
        pending = self._pending
        if self._state != _DECIDE or pending is None:
            raise LocalProtocolError("no synchronizing literal awaits an answer")
        self._pending = None
        _, length, binary = pending
        self._begin_literal(length, binary)

    def reject_literal(self) -> None:
        """The server refused the literal (tagged NO or BAD): drop the partial
        command.  The client sends no literal bytes after a refusal."""
        if self._state != _DECIDE or self._pending is None:
            raise LocalProtocolError("no synchronizing literal awaits an answer")
        self._pending = None
        self._reset()

    # -- output -------------------------------------------------------------------

    def next_event(self) -> FramerEvent | NeedData:
        """Return the next event, or ``NEED_DATA``.

        Raises :class:`LocalProtocolError` if called while a synchronizing
        literal awaits :meth:`accept_literal` or :meth:`reject_literal`.
        """
        while True:
            state = self._state
            if state < _START_OR_END:
                data = self._data
                pos = self._pos
                if pos >= len(data):
                    # _advance, inlined: once per fed chunk
                    queue = self._queue
                    if not queue:
                        self._data = b""
                        self._pos = 0
                        return NEED_DATA
                    data = self._data = queue.popleft()
                    pos = self._pos = 0
            if state == _LINE:
                event = self._read_line()
                if event is not None:
                    return event
            elif state == _STREAM:
                # (before _LITERAL: a streamed literal comes in many events)
                remaining = self._remaining
                avail = len(data) - pos
                if remaining < avail:
                    chunk = data[pos : pos + remaining]
                    self._pos = pos + remaining
                    self._remaining = 0
                    self._state = _END
                else:
                    # A chunk that is all literal is handed on as it is.
                    chunk = data[pos:] if pos else data
                    self._pos = pos + avail
                    remaining -= avail
                    self._remaining = remaining
                    if not remaining:
                        self._state = _END
                chunk_event = LiteralChunk.__new__(LiteralChunk)
                _SET_CHUNK_DATA(chunk_event, chunk)
                return chunk_event
            elif state == _LITERAL:
                # A held literal: its pieces are views (or whole chunks), and
                # the join at its end is the only copy of its bytes.
                remaining = self._remaining
                end = pos + remaining
                size = len(data)
                acc = self._acc
                if end > size:
                    # the whole rest of this chunk is literal
                    part: bytes | memoryview = data if pos == 0 else memoryview(data)[pos:]
                    self._pos = size
                    self._remaining = end - size
                    if acc is not None:
                        acc += part
                    elif len(self._parts) < _MAX_PARTS:
                        self._parts.append(part)
                    else:
                        # Many small pieces: one growing buffer costs less
                        # than an object per piece (a copy more, amortised
                        # O(1) each).
                        acc = self._acc = bytearray().join(self._parts)
                        acc += part
                        self._parts = []
                    if self._queue:
                        continue
                    return NEED_DATA
                # The literal ends in this chunk.
                self._pos = end
                self._remaining = 0
                part = data if pos == 0 and end == size else memoryview(data)[pos:end]
                if acc is not None:
                    acc += part
                    literal = bytes(acc)
                    self._acc = None
                else:
                    parts = self._parts
                    parts.append(part)
                    literal = b"".join(parts)
                self._parts = []
                self._fragments.append(literal)
                self._state = _LINE
                # The line after it, straight away (no trip round the loop)
                event = self._read_line()
                if event is not None:
                    return event
            elif state == _END:
                self._state = _LINE
                return _LITERAL_END
            elif state == _START:
                self._state = _STREAM
                start = LiteralStart.__new__(LiteralStart)
                _SET_START_LENGTH(start, self._remaining)
                _SET_START_BINARY(start, self._literal_binary)
                return start
            elif state == _DRAIN:
                self._read_drain()
            elif state == _SKIP:
                self._read_skip()
            else:  # _DECIDE
                raise LocalProtocolError(
                    "a synchronizing literal awaits accept_literal() or reject_literal()"
                )

    # -- lines ----------------------------------------------------------------------

    def _read_line(self) -> FramerEvent | NeedData | None:
        data = self._data
        pos = self._pos
        carried = self._line
        if not carried and not self.server and not self._poisoned:
            # The client role's common case in one loop: a response's lines
            # and the literals they announce, within every limit, up to the
            # line that ends it.  Anything else (a line not in this chunk, a
            # bare CR, a limit reached, a streamed literal, a "+" line ...)
            # leaves the loop for the general path below, which starts from
            # the last line completed here.
            fragments = self._fragments
            room = self.max_line + 2
            while True:
                lf = data.find(b"\n", pos, pos + room)
                if lf <= pos or data[lf - 1] != _CR:
                    break
                line = data[pos : lf - 1]
                # (the "in" operator and rpartition below take no keyword
                # parsing, where each find/rfind call costs about as much as
                # the rest of a short line's work; "in" is given an int, which
                # goes straight to memchr, where a one-octet bytes would first
                # be tried as an int and raise a TypeError)
                if _CR in line:
                    break
                size = self._size + lf + 1 - pos
                if size > self.max_message:
                    break
                if data[lf - 2] != 0x7D:  # no "}": the line that ends the message
                    self._pos = lf + 1
                    event = Message.__new__(Message)
                    if not fragments:
                        _SET_FRAGMENTS(event, (line,))
                        return event
                    fragments.append(line)
                    _SET_FRAGMENTS(event, tuple(fragments))
                    self._fragments = []
                    self._first = b""
                    # (_first_cut is set only in a poisoned message)
                    self._size = 0
                    self._literals = 0
                    return event
                if not fragments and data[pos] == 0x2B:  # "+": no announcement
                    break
                # "{" 1*20DIGIT ["+"] "}", as _ANNOUNCEMENT reads it, without
                # a regex call
                head, brace, tail = line.rpartition(b"{")
                if not brace:
                    break
                digits = tail[:-2] if data[lf - 3] == 0x2B else tail[:-1]
                if len(digits) > 20 or not digits.isdigit():
                    break
                length = int(digits)
                if (
                    length > self.max_literal
                    or size + length > self.max_message
                    or self._literals >= self.max_literals
                ):
                    break
                if not fragments:
                    self._first = line
                fragments.append(line)
                self._size = size + length
                self._literals += 1
                if length > self.stream_threshold:
                    # LiteralStart at once, rather than by a trip round
                    # next_event's loop through the _START state
                    self._pos = lf + 1
                    binary = head[-1:] == b"~"
                    self._stream_literal(length, binary)
                    self._state = _STREAM
                    start_event = LiteralStart.__new__(LiteralStart)
                    _SET_START_LENGTH(start_event, length)
                    _SET_START_BINARY(start_event, binary)
                    return start_event
                pos = lf + 1
                end = pos + length
                if end > len(data):
                    # The literal runs past this chunk: held in pieces.
                    n = len(data)
                    if pos < n:
                        self._parts.append(memoryview(data)[pos:])
                    self._remaining = end - n
                    self._pos = n
                    self._state = _LITERAL
                    # (next_event's loop would find the chunk read and
                    # nothing queued: said here at once)
                    return None if self._queue else NEED_DATA
                fragments.append(data[pos:end])
                pos = self._pos = end
                if end == len(data):
                    return None
        # Search no further than the longest acceptable line (CR LF included):
        # whatever is carried holds no LF and at most max_line + 1 octets, so
        # no octet is searched twice.
        room = self.max_line + 2 - len(carried)
        lf = data.find(b"\n", pos, pos + room)
        if lf < 0:
            if len(data) - pos >= room:
                # max_line + 2 octets without a LF: too long, whatever follows.
                return self._line_too_long()
            carried += memoryview(data)[pos:]
            self._pos = len(data)
            return None
        self._pos = lf + 1
        if not carried:
            # The common case: the whole line is in the chunk being read.
            if lf > pos and data[lf - 1] == _CR and data.find(b"\r", pos, lf - 1) < 0:
                line = data[pos : lf - 1]
                if data[lf - 2] == 0x7D or self._poisoned:  # "}": a literal, perhaps
                    return self._line_done(line)
                # _line_done's last line of a healthy message, inlined: the
                # line that ends nearly every message
                fragments = self._fragments
                event = Message.__new__(Message)
                if not fragments:
                    if lf + 1 - pos > self.max_message:
                        return self._line_done(line)
                    _SET_FRAGMENTS(event, (line,))
                    return event
                if self._size + lf + 1 - pos > self.max_message:
                    return self._line_done(line)
                fragments.append(line)
                _SET_FRAGMENTS(event, tuple(fragments))
                self._fragments = []
                self._first = b""
                self._size = 0
                self._literals = 0
                return event
            raw: bytes | bytearray = data
            start, end = pos, lf + 1
        else:
            carried += memoryview(data)[pos : lf + 1]
            raw = carried
            start, end = 0, len(carried)
        # raw[start:end] is the line and its LF.
        if end - start >= 2 and raw[end - 2] == _CR:
            stop = end - 2
            if raw.find(b"\r", start, stop) < 0:
                line = bytes(raw[start:stop])
                carried.clear()
                return self._line_done(line)
            text = "line holds a bare CR"
        else:
            stop = end - 1
            text = "line ended with a bare LF"
        whole = bytes(raw[start:end])
        carried.clear()
        return self._bad_line(whole, whole[: stop - start], text)

    def _line_done(self, line: bytes) -> FramerEvent | None:
        """A complete, well-terminated line (without CRLF)."""
        if self._poisoned:
            self._poisoned_line_end(line)
            return None
        fragments = self._fragments
        if not fragments:
            self._first = line
        fragments.append(line)
        size = self._size + len(line) + 2
        self._size = size
        if size > self.max_message:
            return self._poison(
                MessageTooLargeError(
                    f"message larger than {self.max_message} octets",
                    limit=self.max_message,
                    reply=self._reply(b"[TOOBIG] Message too large"),
                ),
                line,
            )
        if line[-1:] == b"}":
            if self.server or self._first[:1] != b"+":
                brace = line.rfind(b"{", max(0, len(line) - _ANNOUNCEMENT_SPAN))
                m = _ANNOUNCEMENT.match(line, brace) if brace >= 0 else None
                if m is not None:
                    return self._announced(line, m, brace)
            if self.server and _MALFORMED.match(line, line.rfind(b"{")):
                return self._poison(
                    MalformedLiteralError(
                        "malformed literal announcement",
                        reply=self._reply(b"Malformed literal announcement"),
                    ),
                    line,
                )
        event = Message.__new__(Message)
        _SET_FRAGMENTS(event, tuple(fragments))
        self._fragments = []
        self._first = b""
        self._first_cut = False
        self._size = 0
        self._literals = 0
        return event

    def _announced(self, line: bytes, m: re.Match[bytes], brace: int) -> FramerEvent | None:
        length = int(m.group(1))
        if not self.server:
            # The client role within every limit (nearly always), in short:
            # a server's literal follows its announcement at once, and most
            # are in the chunk being read.
            literals = self._literals + 1
            size = self._size + length
            if (
                literals <= self.max_literals
                and length <= self.max_literal
                and size <= self.max_message
            ):
                self._literals = literals
                self._size = size
                if length <= self.stream_threshold:
                    data = self._data
                    pos = self._pos
                    end = pos + length
                    if end <= len(data):
                        self._fragments.append(data[pos:end])
                        self._pos = end
                        return None
                    # It runs past this chunk: held in pieces from here on.
                    size = len(data)
                    if pos < size:
                        self._parts.append(memoryview(data)[pos:])
                    self._remaining = end - size
                    self._pos = size
                    self._state = _LITERAL
                    return None
                self._begin_literal(length, line[brace - 1 : brace] == b"~")
                return None
        binary = line[brace - 1 : brace] == b"~"
        synchronizing = self.server and not m.group(2)
        self._literals += 1
        if self._literals > self.max_literals:
            return self._poison(
                MessageTooLargeError(
                    f"more than {self.max_literals} literals in one message",
                    limit=self.max_literals,
                    reply=self._reply(b"[TOOBIG] Too many literals"),
                ),
                line,
            )
        if length > self.max_literal:
            limit: int | None = self.max_literal
        elif self._size + length > self.max_message:
            limit = max(0, self.max_message - self._size)
        elif (
            self.max_nonsync_literal is not None
            and self.server
            and not synchronizing
            and length > self.max_nonsync_literal
        ):
            limit = self.max_nonsync_literal  # LITERAL-
        else:
            limit = None
        if limit is not None:
            return self._poison(
                LiteralTooLargeError(
                    f"literal of {length} octets exceeds the limit of {limit}",
                    length=length,
                    limit=limit,
                    synchronizing=synchronizing,
                    reply=self._reply(b"[TOOBIG] Literal too large"),
                ),
                line,
            )
        self._size += length
        if not self.server:
            # A server's literal follows its announcement at once; there is
            # nothing to decide, and LiteralStart announces a streamed one.
            self._begin_literal(length, binary)
            return None
        self._announced_at = len(self._fragments)
        if synchronizing:
            self._state = _DECIDE
            self._pending = (line, length, binary)
        else:
            self._begin_literal(length, binary)
        return LiteralAnnounced(
            tag=_tag_of(self._first, self._first_cut),
            length=length,
            synchronizing=synchronizing,
            binary=binary,
        )

    def _stream_literal(self, length: int, binary: bool) -> None:
        """A literal above the threshold begins: it is handed on in chunks and
        the message holds a StreamedLiteral in its place."""
        # (Set in the server role already; the client role's is for LiteralStart.)
        self._announced_at = len(self._fragments)
        self._remaining = length
        self._literal_binary = binary
        streamed = StreamedLiteral.__new__(StreamedLiteral)
        _SET_STREAMED_LENGTH(streamed, length)
        _SET_STREAMED_BINARY(streamed, binary)
        self._fragments.append(streamed)

    def _begin_literal(self, length: int, binary: bool) -> None:
        if length > self.stream_threshold:
            self._stream_literal(length, binary)
            self._state = _START
            return
        pos = self._pos
        end = pos + length
        if end <= len(self._data):
            # The common case: the literal is in the chunk being read.
            self._fragments.append(self._data[pos:end])
            self._pos = end
            self._state = _LINE
        else:
            self._remaining = length
            self._state = _LITERAL

    def _reset(self) -> None:
        """Start a new message."""
        self._fragments = []
        self._first = b""
        self._first_cut = False
        self._size = 0
        self._literals = 0
        self._poisoned = False
        self._state = _LINE

    # -- poisoned messages ----------------------------------------------------------

    def _reply(self, text: bytes) -> bytes | None:
        if not self.server:
            return None
        tag = _tag_of(self._first, self._first_cut) if self._first else None
        return (tag or b"*") + b" BAD " + text + b"\r\n"

    def _poison(self, error: RemoteProtocolError, line: bytes) -> BadMessage:
        """Report the message as bad; consume the rest of it after ``line``."""
        tag = _tag_of(self._first, self._first_cut) if self._first else None
        self._poisoned = True
        self._fragments = []
        self._parts = []
        self._acc = None
        self._poisoned_line_end(line)
        return BadMessage(tag=tag, error=error)

    def _bad_line(self, whole: bytes, line: bytes, text: str) -> BadMessage | None:
        """A line with a bare CR or LF: ``whole`` as received, ``line``
        without its line ending."""
        if self._poisoned:
            self._poisoned_line_end(line)
            return None
        if not self._fragments:
            self._first = line[:_TAG_SPAN]
        reply = self._reply(b"Lines end with CRLF and hold no bare CR")
        return self._poison(BareLineEndingError(text, line=whole, reply=reply), line)

    def _poisoned_line_end(self, line: bytes) -> None:
        """The end of a line of a poisoned message: consume its literal, if it
        announces one the sender will send; else the message is over."""
        if line[-1:] == b"}" and (self.server or self._first[:1] != b"+"):
            brace = line.rfind(b"{", max(0, len(line) - _ANNOUNCEMENT_SPAN))
            m = _ANNOUNCEMENT.match(line, brace) if brace >= 0 else None
            # A client waits for "+" before a synchronizing literal: none comes.
            if m is not None and not (self.server and not m.group(2)):
                self._drain = int(m.group(1))
                self._state = _DRAIN if self._drain else _LINE
                return
        self._reset()

    def _read_drain(self) -> None:
        take = min(self._drain, len(self._data) - self._pos)
        self._pos += take
        self._drain -= take
        if not self._drain:
            self._state = _LINE

    # -- over-long lines ------------------------------------------------------------

    def _line_too_long(self) -> BadMessage | None:
        """The line being read is past max_line: skip it (see _read_skip)."""
        carried = self._line
        if not self._fragments and not self._poisoned:
            # The same head however the line was fed: max_line + 2 octets are
            # known at this point, perhaps no more.
            span = min(self.max_line + 2, _TAG_SPAN)
            head = bytes(carried[:span])
            if len(head) < span:
                head += self._data[self._pos : self._pos + span - len(head)]
            self._first = head
            self._first_cut = True
        # Keep only the end, to read an announcement from once the line ends.
        self._tail = bytes(carried[-_TAIL:])
        carried.clear()
        self._state = _SKIP
        if self._poisoned:
            return None
        error = LineTooLongError(
            f"line longer than {self.max_line} octets",
            limit=self.max_line,
            complete=False,
            reply=self._reply(b"[TOOBIG] Line too long"),
        )
        tag = _tag_of(self._first, self._first_cut)
        self._poisoned = True
        self._fragments = []
        return BadMessage(tag=tag, error=error)

    def _read_skip(self) -> None:
        data = self._data
        pos = self._pos
        lf = data.find(b"\n", pos)
        if lf < 0:
            self._tail = (self._tail + data[max(pos, len(data) - _TAIL) :])[-_TAIL:]
            self._pos = len(data)
            return
        self._pos = lf + 1
        tail = (self._tail + data[max(pos, lf - _TAIL) : lf])[-_TAIL:]
        self._tail = b""
        self._state = _LINE
        if tail.endswith(b"\r"):
            tail = tail[:-1]
        self._poisoned_line_end(tail)
        return
