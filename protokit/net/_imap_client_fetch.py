"""FETCH and IDLE for the async IMAP client: results as an async iterator,
with large bodies streamed (never held whole), and an IDLE session that
re-issues IDLE before servers time it out."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import LocalProtocolError
from ..imap import (
    BodyChunk,
    BodyEnd,
    BodyStart,
    CommandHandle,
    Completed,
    Fetch,
    FetchCommand,
    IdleStarted,
    Response,
    Untagged,
)
from ._errors import OperationTimeout
from ._imap_client_types import IMAPError

if TYPE_CHECKING:
    from ._imap_client_base import IMAPClientBase as IMAPClient

__all__ = ["BodyStream", "FetchMessage", "FetchResults", "IdleSession"]


class BodyStream:
    """One streamed body literal of a FETCH response: an async iterator of
    chunks (each at most one read, 64 KiB by default).  ``length`` is the
    size the server announced; ``size`` counts what was delivered."""

    def __init__(self, run: FetchResults, length: int, binary: bool) -> None:
        self._run = run
        self.length = length
        self.binary = binary
        self.size = 0
        self.done = False

    def __repr__(self) -> str:
        return f"<BodyStream {self.size}/{self.length} octets done={self.done}>"

    def __aiter__(self) -> BodyStream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._run._chunk(self)
        if chunk is None:
            raise StopAsyncIteration
        self.size += len(chunk)
        return chunk

    async def read(self) -> bytes:
        """The rest of the body as one bytes object."""
        return b"".join([c async for c in self])


class FetchMessage:
    """One message of a FETCH: its typed :class:`~protokit.imap.Fetch`
    response, or, while a large body is being streamed, its sequence number,
    :attr:`stream`, and the items the server sent before the body (UID and
    FLAGS, as Dovecot and Gmail order them); the whole response follows the
    body (:meth:`complete` reads up to it).  Bodies under the streaming
    threshold are in :attr:`body` as bytes."""

    def __init__(
        self, run: FetchResults, seq: int, response: Fetch | None = None, head: Fetch | None = None
    ) -> None:
        self._run = run
        self.seq = seq
        #: The whole FETCH response, once received.
        self.response = response
        #: The items before a streamed body, until the response is complete.
        self.head = head
        #: The body literal being streamed, if any.
        self.stream: BodyStream | None = None

    def __repr__(self) -> str:
        state = "complete" if self.response is not None else "streaming"
        return f"<FetchMessage seq={self.seq} uid={self.uid} {state}>"

    def _get(self, name: str) -> Any:
        source = self.response if self.response is not None else self.head
        return getattr(source, name) if source is not None else None

    @property
    def uid(self) -> int | None:
        return self._get("uid")  # type: ignore[no-any-return]

    @property
    def flags(self) -> tuple[str, ...] | None:
        return self._get("flags")  # type: ignore[no-any-return]

    @property
    def modseq(self) -> int | None:
        return self._get("modseq")  # type: ignore[no-any-return]

    @property
    def gm_msgid(self) -> int | None:
        return self._get("gm_msgid")  # type: ignore[no-any-return]

    @property
    def gm_thrid(self) -> int | None:
        return self._get("gm_thrid")  # type: ignore[no-any-return]

    @property
    def gm_labels(self) -> tuple[bytes, ...] | None:
        return self._get("gm_labels")  # type: ignore[no-any-return]

    @property
    def body(self) -> bytes | None:
        """The first body section (BODY[...], BINARY[...] or RFC822) held in
        memory; ``None`` when it was streamed or not fetched."""
        r = self.response
        if r is None:
            return None
        for s in r.sections:
            return s.data if isinstance(s.data, bytes) else None
        return r.rfc822

    async def chunks(self) -> AsyncIterator[bytes]:
        """The first body, streamed or held, as chunks."""
        if self.stream is not None:
            async for chunk in self.stream:
                yield chunk
        else:
            body = self.body
            if body:
                yield body

    async def read(self) -> bytes:
        """The first body, whole."""
        return b"".join([c async for c in self.chunks()])

    async def next_stream(self) -> BodyStream | None:
        """The next streamed body of this response (when several large
        sections were fetched), or ``None`` once the response is complete."""
        return await self._run._next_stream(self)

    async def complete(self) -> Fetch:
        """Read (discarding unread streamed bytes) up to the whole response."""
        while self.response is None:
            await self._run._next_stream(self)
        return self.response


class FetchResults:
    """The messages of one FETCH, as an async iterator of
    :class:`FetchMessage` (and an async context manager that reads what is
    left on exit).  The command goes out on first use; NO/BAD raises
    :class:`IMAPError` at the end."""

    def __init__(self, client: IMAPClient, command: dict[str, Any]) -> None:
        self._client = client
        self._command = command
        self._handle: CommandHandle | None = None
        self._current: FetchMessage | None = None
        self._stream: BodyStream | None = None
        self.done = False

    def __repr__(self) -> str:
        return f"<FetchResults {self._handle} done={self.done}>"

    async def _start(self) -> None:
        if self._handle is not None:
            return
        client = self._client
        await client._settle()
        conn = client._conn
        self._handle = conn.send(FetchCommand(tag=conn.next_tag(), **self._command))
        client._active = self

    def __aiter__(self) -> FetchResults:
        return self

    async def __anext__(self) -> FetchMessage:
        await self._start()
        msg = await self._advance()
        if msg is None:
            raise StopAsyncIteration
        return msg

    async def __aenter__(self) -> FetchResults:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.aclose()

    async def aclose(self) -> None:
        """Read and discard the rest of the results."""
        if self._handle is not None:
            while await self._advance() is not None:
                pass

    async def _event(self) -> Any:
        return await self._client._event()

    def _finish(self, ev: Completed) -> None:
        self.done = True
        self._current = None
        self._stream = None
        if self._client._active is self:
            self._client._active = None
        if not ev.ok:
            raise IMAPError.from_status("FETCH", ev.response)

    async def _handle_event(self, ev: Any) -> FetchMessage | BodyStream | None:
        """Route one event; a new message or stream when one begins."""
        if isinstance(ev, Untagged):
            r = ev.response
            self._client._note(r)
            if isinstance(r, Fetch):
                cur = self._current
                if cur is not None and cur.response is None and cur.seq == r.seq:
                    cur.response = r
                    return None
                self._current = FetchMessage(self, r.seq, r)
                return self._current
            return None
        if isinstance(ev, BodyStart):
            stream = BodyStream(self, ev.length, ev.binary)
            self._stream = stream
            cur = self._current
            if cur is not None and cur.response is None and cur.seq == ev.seq:
                cur.stream = stream
                return stream
            self._current = FetchMessage(self, ev.seq or 0, head=ev.head)
            self._current.stream = stream
            return self._current
        if isinstance(ev, BodyChunk | BodyEnd):
            return None  # of a stream nobody reads: discarded
        if isinstance(ev, Completed):
            if ev.handle is self._handle:
                self._finish(ev)
            return None
        return None

    async def _advance(self) -> FetchMessage | None:
        while not self.done:
            result = await self._handle_event(await self._event())
            if isinstance(result, FetchMessage):
                return result
        return None

    async def _chunk(self, stream: BodyStream) -> bytes | None:
        if stream.done:
            return None
        if self._stream is not stream:
            raise LocalProtocolError("this body stream was abandoned by a later read")
        ev = await self._event()
        if isinstance(ev, BodyChunk):
            return ev.data
        if isinstance(ev, BodyEnd):
            stream.done = True
            self._stream = None
            return None
        raise LocalProtocolError(f"unexpected {type(ev).__name__} inside a body literal")

    async def _next_stream(self, msg: FetchMessage) -> BodyStream | None:
        if self._current is not msg:
            return None
        if msg.stream is not None and not msg.stream.done:
            async for _ in msg.stream:
                pass
        while msg.response is None and not self.done:
            result = await self._handle_event(await self._event())
            if isinstance(result, BodyStream):
                return result
            if isinstance(result, FetchMessage):
                # A new message began before this one's response: a broken
                # server; hand the new one out next.
                raise LocalProtocolError("FETCH response missing after a streamed body")
        return None


class IdleSession:
    """IDLE (RFC 2177): an async context manager (entered once the server
    accepted IDLE; DONE on exit) and an async iterator of the untagged
    responses the server sends.  IDLE is ended and issued again every
    ``renew`` seconds (29 minutes by default, under the 30 of RFC 2177)."""

    def __init__(self, client: IMAPClient, renew: float) -> None:
        self._client = client
        self.renew = renew
        self._handle: CommandHandle | None = None
        self._buffer: deque[Response] = deque()
        self._deadline = math.inf
        self.active = False

    def __repr__(self) -> str:
        return f"<IdleSession active={self.active} renew={self.renew:g}>"

    async def start(self) -> None:
        """Issue IDLE and wait for the server's "+"."""
        if self.active:
            return
        client = self._client
        await client._settle()
        self._handle = client._conn.idle()
        client._active = self
        self.active = True
        while True:
            ev = await client._event()
            if isinstance(ev, IdleStarted):
                break
            if isinstance(ev, Untagged):
                client._note(ev.response)
                self._buffer.append(ev.response)
            elif isinstance(ev, Completed) and ev.handle is self._handle:
                self.active = False
                client._active = None
                raise IMAPError.from_status("IDLE", ev.response)
        self._deadline = time.monotonic() + self.renew

    async def done(self) -> list[Response]:
        """Send DONE, wait for IDLE's completion; the updates not yet taken."""
        if self.active:
            client = self._client
            client._conn.done()
            while True:
                ev = await client._event()
                if isinstance(ev, Untagged):
                    client._note(ev.response)
                    self._buffer.append(ev.response)
                elif isinstance(ev, Completed) and ev.handle is self._handle:
                    self.active = False
                    if client._active is self:
                        client._active = None
                    if not ev.ok:
                        raise IMAPError.from_status("IDLE", ev.response)
                    break
        out = list(self._buffer)
        self._buffer.clear()
        return out

    async def _renew(self) -> None:
        await self.done_keep()
        await self.start()

    async def done_keep(self) -> None:
        """End IDLE, keeping the updates for the iterator."""
        kept = await self.done()
        self._buffer.extend(kept)

    async def _next(self, timeout: float) -> Response | None:
        """The next update within ``timeout`` seconds, else ``None``."""
        if self._buffer:
            return self._buffer.popleft()
        if not self.active:
            await self.start()
            if self._buffer:
                return self._buffer.popleft()
        client = self._client
        end = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now >= self._deadline:
                await self._renew()
                if self._buffer:
                    return self._buffer.popleft()
                continue
            if now >= end:
                return None
            wait = min(self._deadline, end) - now
            try:
                ev = await client._pump.next_event(timeout=wait)
            except OperationTimeout:
                continue
            ev = client._checked(ev)
            if isinstance(ev, Untagged):
                client._note(ev.response)
                return ev.response
            if isinstance(ev, Completed) and ev.handle is self._handle:
                # The server ended IDLE itself: go on idling.
                self.active = False
                client._active = None
                if not ev.ok:
                    raise IMAPError.from_status("IDLE", ev.response)
                await self.start()
                if self._buffer:
                    return self._buffer.popleft()

    async def check(self, timeout: float) -> list[Response]:
        """imapclient's ``idle_check``: the updates that arrive within
        ``timeout`` seconds (returning as soon as there is one); ``[]`` if
        none did.  The session stays usable either way."""
        first = await self._next(timeout)
        if first is None:
            return []
        out = [first]
        out.extend(self._buffer)
        self._buffer.clear()
        return out

    def __aiter__(self) -> IdleSession:
        return self

    async def __anext__(self) -> Response:
        update = await self._next(math.inf)
        assert update is not None
        return update

    async def __aenter__(self) -> IdleSession:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.done()
