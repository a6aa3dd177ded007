"""The server's message readers: DATA (RFC 5321 4.1.1.4, dot-stuffed, ending
only at CRLF.CRLF) and BDAT (RFC 3030, counted octets, drained when refused)."""

from __future__ import annotations

from .._sentinel import NEED_DATA, NeedData
from ..wire import BareLineEndingPolicy, DotUnstuffer
from . import _grammar as g
from ._events import Event, MessageData, MessageEnd, MessageRejected, MessageStart
from ._replies import (
    AUTH_REQUIRED,
    BAD_SEQUENCE,
    BARE_IN_DATA,
    NO_ARGS,
    NOT_IMPLEMENTED,
    TEXT_LINE_TOO_LONG,
    TLS_REQUIRED,
    TOO_BIG,
    r,
)
from ._server_base import ServerBase
from ._state import State, Verb, transition
from ._types import Body, Extension, Reply

__all__ = ["MessageMixin"]


class MessageMixin(ServerBase):
    """DATA and BDAT."""

    def _data(self, line: bytes, arg: bytes, new: State) -> Event:
        if arg:
            return self._bad(NO_ARGS)
        if self._mail is not None and self._mail.body is Body.BINARYMIME:
            # RFC 3030 3: BINARYMIME bodies go by BDAT only.
            return self._bad(r(503, "5.5.1", "BINARYMIME requires BDAT"))
        self.state = State.DATA
        self._unstuffer = DotUnstuffer(self.config.bare_line_ending)
        self._size = 0
        self._line_len = 0
        self._rejected = None
        self._emit(r(354, None, "End data with <CR><LF>.<CR><LF>"))
        return MessageStart(chunked=False)

    def _read_data(self) -> Event | NeedData:
        un = self._unstuffer
        assert un is not None
        chunk = un.read(self._buf, self.config.max_chunk)
        ev: Event | NeedData = NEED_DATA
        if chunk:
            self._size += len(chunk)
            if self._rejected is None:
                self._check_chunk(chunk)
            if self._rejected is None:
                ev = MessageData(data=chunk)
        if un.done:
            end = self._end_message(un.bare_cr + un.bare_lf)
            if ev is NEED_DATA:
                return end
            self._events.append(end)
        return ev

    def _check_chunk(self, chunk: bytes) -> None:
        cfg = self.config
        if self._size > cfg.max_message_size:
            self._rejected, self._reject_reason = TOO_BIG, "message too big"
            return
        if self._line_too_long(chunk):
            self._rejected, self._reject_reason = TEXT_LINE_TOO_LONG, "line too long"

    def _line_too_long(self, chunk: bytes) -> bool:
        """RFC 5321 4.5.3.1.6: a text line is at most ``max_text_line`` octets
        with its CRLF.  Checked a window at a time, not a line at a time: from
        a line start k, the last LF before k + limit is the next line start;
        no LF there means a line of at least ``limit`` octets before its LF."""
        limit = self.config.max_text_line
        first = chunk.find(b"\n")
        if first < 0:
            self._line_len += len(chunk)
            return self._line_len >= limit
        if self._line_len + first + 1 > limit:
            return True
        last = chunk.rfind(b"\n")
        self._line_len = len(chunk) - last - 1
        if self._line_len >= limit:
            return True
        rfind = chunk.rfind
        k = first + 1
        while k + limit <= last:
            lf = rfind(b"\n", k, k + limit)
            if lf < 0:
                return True
            k = lf + 1
        return False

    def _end_message(self, bare: int) -> Event:
        rejected = self._rejected
        if (
            rejected is None
            and bare
            and self.config.bare_line_ending is BareLineEndingPolicy.REJECT
        ):
            rejected, self._reject_reason = BARE_IN_DATA, "bare CR or LF"
        if rejected is not None:
            self._emit(rejected)
            reason = self._reject_reason
            self._reset_transaction()
            return MessageRejected(reply=rejected, reason=reason)
        recipients = tuple(self._recipients)
        ev = MessageEnd(size=self._size, recipients=recipients, bare_line_endings=bare)
        self.state = State.READY
        return self._ask(ev, len(recipients) if self.config.lmtp else 1)

    def _bdat(self, arg: bytes) -> Event | NeedData:
        cfg = self.config
        m = g.BDAT_ARGS.fullmatch(arg)
        if m is None:
            return self._bad(r(501, "5.5.4", "Syntax: BDAT size [LAST]"))
        size = int(m.group(1))
        last = m.group(2) is not None
        reply: Reply | None = None
        if Extension.CHUNKING not in cfg.extensions:
            reply = NOT_IMPLEMENTED
        elif cfg.require_tls and not self.tls_active:
            reply = TLS_REQUIRED
        elif cfg.auth_required and self.authenticated is None:
            reply = AUTH_REQUIRED
        elif transition(self.state, Verb.BDAT) is None:
            reply = BAD_SEQUENCE
        elif self._size + size > cfg.max_message_size:
            reply = TOO_BIG
        self._bdat_left = size
        self._bdat_last = last
        if reply is not None:
            # RFC 3030 2: the chunk is read and discarded, never taken as
            # commands; a failed chunk fails the transaction.
            started = self._bdat_started
            if self.state is State.CHUNKING or reply is TOO_BIG:
                self._reset_transaction()  # RFC 3030 2: the transaction failed
            self._after_drain = self.state
            self._bdat_drain = True
            self.state = State.BDAT
            ev = self._bad(reply)
            if started and reply is TOO_BIG:
                return MessageRejected(reply=reply, reason="message too big")
            return ev
        self._bdat_drain = False
        self.state = State.BDAT
        if not self._bdat_started:
            self._bdat_started = True
            self._size = 0
            return MessageStart(chunked=True)
        return self._read_bdat()

    def _read_bdat(self) -> Event | NeedData:
        buf = self._buf
        if self._bdat_drain:
            n = min(self._bdat_left, len(buf))
            buf.consume(n)
            self._bdat_left -= n
            if self._bdat_left:
                return NEED_DATA
            self._bdat_drain = False
            self.state = self._after_drain
            return NEED_DATA  # the state moved: next_event() reads on
        if self._bdat_left:
            chunk = buf.extract_at_most(min(self._bdat_left, self.config.max_chunk))
            if not chunk:
                return NEED_DATA
            self._bdat_left -= len(chunk)
            self._size += len(chunk)
            if not self._bdat_left:
                self._finish_chunk()
            return MessageData(data=chunk)
        self._finish_chunk()
        return NEED_DATA  # an event is queued or the state moved: next_event() reads on

    def _finish_chunk(self) -> None:
        if self._bdat_last:
            self._bdat_started = False
            self._events.append(self._end_message(0))
        else:
            self.state = State.CHUNKING
            self._emit(r(250, "2.0.0", f"{self._size} octets received"))
