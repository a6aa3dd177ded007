"""The async POP3 client (RFC 1939, 2449, 2595, 5034), layered as STYLE.md
item 11 asks: :func:`open_pop3` (an async context manager) over
:func:`connect_pop3` over :func:`wrap_pop3_stream`.

Deletions are applied only by an explicit QUIT (RFC 1939 section 6): call
:meth:`POP3Client.quit`, or pass ``commit=True`` to :func:`open_pop3` so that a
block that ends without an exception sends QUIT.  Otherwise the connection is
closed without QUIT and the server forgets every DELE of the session.

A client is for one task at a time.  A message stream that is left unread is
drained (and discarded) before the next command.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Final, overload

import anyio.abc

from ..errors import LocalProtocolError
from ..pop3 import (
    Capabilities,
    ClientConfig,
    ClientConnection,
    ClientEvent,
    Err,
    Greeting,
    ListResult,
    MechanismList,
    MessageData,
    MessageEnd,
    MessageStart,
    Ok,
    StartTLS,
    StatResult,
    UidlResult,
)
from ..pop3 import ConnectionClosed as ClosedEvent
from ..sasl import (
    ClientMechanism,
    TokenSource,
    choose_mechanism,
)
from ..wire._secret import Secret
from ._client_common import ChannelBinding, ClosedOnError, dial, sasl_client
from ._errors import ConnectionClosed, TLSError
from ._pump import Pump, Timeouts
from ._tls import TLSMode, client_ssl_context

__all__ = [
    "MessageStream",
    "POP3AuthenticationError",
    "POP3Client",
    "POP3Error",
    "connect_pop3",
    "open_pop3",
    "wrap_pop3_stream",
]

log = logging.getLogger("protokit.net.pop3")

#: RETR commands kept in flight by :meth:`POP3Client.retr_many` under PIPELINING.
PIPELINE_WINDOW: Final = 32

# Events that complete the reply to one command.
_REPLY_END: Final = (
    Ok,
    Err,
    StatResult,
    ListResult,
    UidlResult,
    Capabilities,
    MechanismList,
    MessageEnd,
    StartTLS,
)


class POP3Error(Exception):
    """The server answered "-ERR".  ``code`` is the RFC 2449 response code
    (e.g. "IN-USE", "AUTH", "SYS/TEMP"), if the server sent one."""

    def __init__(self, command: str, text: str, code: str | None = None) -> None:
        self.command = command
        self.text = text
        self.code = code
        where = f"{command}: " if command else "greeting: "
        tag = f"[{code}] " if code else ""
        super().__init__(f"{where}-ERR {tag}{text}".rstrip())


class POP3AuthenticationError(POP3Error):
    """A login (USER/PASS, APOP or AUTH) was refused.  For the bearer-token
    mechanisms ``sasl_error`` holds the server's JSON error, when it sent one."""

    def __init__(
        self,
        command: str,
        text: str,
        code: str | None = None,
        *,
        sasl_error: dict[str, object] | None = None,
    ) -> None:
        super().__init__(command, text, code)
        self.sasl_error = sasl_error


class MessageStream:
    """The body of one RETR or TOP: an async iterator of dot-unstuffed chunks
    (CRLF line endings as the server sent them), and an async context manager.

    The command is sent when the stream is entered or first iterated; a
    "-ERR" raises :class:`POP3Error` there.  ``async with`` drains what is
    left on exit; a stream left half read is drained before the client's
    next command, after which iterating it raises ``LocalProtocolError``.
    """

    def __init__(self, client: POP3Client, command: str, number: int, lines: int = 0) -> None:
        self._client = client
        self.command = command
        self.number = number
        self._lines = lines
        #: The "+OK" text, once the reply started.
        self.text: str | None = None
        #: Octets delivered so far (the total once the stream ended).
        self.size = 0
        self._opened = False
        self.done = False

    def __repr__(self) -> str:
        return f"<MessageStream {self.command} {self.number} done={self.done}>"

    async def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        client = self._client
        await client._settle()
        if self.command == "RETR":
            client._conn.retr(self.number)
        else:
            client._conn.top(self.number, self._lines)
        client._queued()
        client._stream = self
        # Read up to the "+OK" so that "-ERR" raises here.
        ev = await client._event()
        if isinstance(ev, MessageStart):
            self.text = ev.text
            return
        self.done = True
        client._stream = None
        raise client._unexpected(ev)

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> bytes:
        await self._open()
        if self.done:
            raise StopAsyncIteration
        client = self._client
        if client._stream is not self:
            raise LocalProtocolError("this message stream was abandoned by a later command")
        while True:
            ev = await client._event()
            if isinstance(ev, MessageData):
                self.size += len(ev.data)
                return ev.data
            self.done = True
            client._stream = None
            if isinstance(ev, MessageEnd):
                raise StopAsyncIteration
            raise client._unexpected(ev)

    async def read(self) -> bytes:
        """The rest of the message as one bytes object."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        """Read and discard the rest of the message."""
        if self._opened and self._client._stream is self:
            async for _ in self:
                pass

    async def __aenter__(self) -> MessageStream:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.aclose()


class POP3Client(ChannelBinding[ClientEvent]):
    """A POP3 session over an anyio byte stream, past its greeting.

    Build it with :func:`open_pop3`, :func:`connect_pop3` or
    :func:`wrap_pop3_stream`.  Every "-ERR" raises :class:`POP3Error` (or
    :class:`POP3AuthenticationError` for a refused login); transport failures
    raise :class:`~protokit.net.TransportError` subclasses.
    """

    def __init__(
        self,
        pump: Pump[ClientEvent],
        conn: ClientConnection,
        greeting: Greeting,
        *,
        server_hostname: str | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._pump = pump
        self._conn = conn
        #: The server's greeting (its text and APOP timestamp).
        self.greeting = greeting
        self._server_hostname = server_hostname
        self._ssl_context = ssl_context
        self._unread = 0
        self._stream: MessageStream | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<POP3Client {self._server_hostname} state={self._conn.state.value}>"

    # -- properties -----------------------------------------------------------------

    @property
    def connection(self) -> ClientConnection:
        """The sans-IO connection underneath (for its state and config)."""
        return self._conn

    @property
    def capabilities(self) -> Capabilities | None:
        """The last CAPA reply (``None`` before one, and right after STLS)."""
        return self._conn.capabilities

    @property
    def tls_active(self) -> bool:
        return self._pump.tls_active

    # -- plumbing -------------------------------------------------------------------

    async def _event(self) -> ClientEvent:
        ev = await self._pump.next_event()
        if isinstance(ev, ClosedEvent):
            self._closed = True
            raise ConnectionClosed("the POP3 server closed the connection")
        if isinstance(ev, _REPLY_END):
            self._unread -= 1
        return ev

    async def _settle(self) -> None:
        """Read and discard the replies nobody is waiting for any more."""
        if self._closed:
            raise ConnectionClosed("the POP3 session is over")
        self._stream = None
        while self._unread > 0:
            await self._event()

    def _queued(self, count: int = 1) -> None:
        self._unread += count

    @staticmethod
    def _unexpected(ev: ClientEvent) -> Exception:
        if isinstance(ev, Err):
            return POP3Error(ev.command, ev.text, ev.code)
        return LocalProtocolError(f"unexpected reply event {type(ev).__name__}")

    async def _simple(self, keyword: str) -> ClientEvent:
        """The one event that ends the reply just queued; -ERR raises."""
        self._queued()
        ev = await self._event()
        if isinstance(ev, Err):
            raise POP3Error(ev.command or keyword, ev.text, ev.code)
        return ev

    # -- AUTHORIZATION ----------------------------------------------------------------

    async def capa(self) -> Capabilities:
        """CAPA (RFC 2449): the server's capabilities now."""
        await self._settle()
        self._conn.capa()
        ev = await self._simple("CAPA")
        if not isinstance(ev, Capabilities):
            raise self._unexpected(ev)
        return ev

    async def starttls(
        self, ssl_context: ssl.SSLContext | None = None, *, server_hostname: str | None = None
    ) -> None:
        """STLS (RFC 2595): upgrade to TLS, then read the capabilities again.

        A server that does not list STLS, or answers it with "-ERR", gets no
        further command: :class:`~protokit.net.TLSError` is raised before any
        credential is sent.  Bytes sent by the server after its "+OK" and
        before the handshake are an injection: ``RemoteProtocolError``.
        """
        await self._settle()
        if self._pump.tls_active:
            raise LocalProtocolError("TLS is already active")
        caps = self.capabilities
        if caps is None:
            try:
                caps = await self.capa()
            except POP3Error:
                caps = None
        if caps is None or "STLS" not in caps:
            raise TLSError("the server does not offer STLS: refusing to continue without TLS")
        self._conn.stls()
        self._queued()
        ev = await self._event()
        if isinstance(ev, Err):
            raise TLSError(
                f"the server refused STLS ({ev.text}): refusing to continue without TLS"
            )
        if not isinstance(ev, StartTLS):
            raise self._unexpected(ev)
        ctx = ssl_context or self._ssl_context or client_ssl_context()
        await self._pump.start_tls(ctx, server_hostname=server_hostname or self._server_hostname)
        self._conn.tls_established()
        # RFC 2595 4: what was said before TLS is discarded; ask again.
        try:
            await self.capa()
        except POP3Error:
            pass

    async def login(self, user: str, password: str | Secret[str]) -> str:
        """USER and PASS (RFC 1939 section 7); returns the "+OK" text."""
        await self._settle()
        self._conn.user(user)
        self._queued()
        ev = await self._event()
        if isinstance(ev, Err):
            raise POP3AuthenticationError("USER", ev.text, ev.code)
        self._conn.pass_(password)
        return await self._login_reply("PASS")

    async def apop(self, user: str, password: str | Secret[str]) -> str:
        """APOP (RFC 1939 section 7) with the greeting's timestamp."""
        await self._settle()
        self._conn.apop(user, password)
        return await self._login_reply("APOP")

    async def authenticate(self, mechanism: ClientMechanism) -> str:
        """AUTH (RFC 5034) with a ready ``protokit.sasl`` client mechanism."""
        await self._settle()
        self._conn.auth(mechanism)
        try:
            return await self._login_reply("AUTH")
        except POP3AuthenticationError as exc:
            error = getattr(mechanism, "error", None)
            if error is not None:
                exc.sasl_error = dict(error)
            raise

    async def auth(
        self,
        user: str,
        *,
        password: str | Secret[str] | None = None,
        token: TokenSource | None = None,
        authzid: str | None = None,
        mechanisms: Iterable[str] | None = None,
    ) -> str:
        """AUTH with the strongest mechanism both sides can use, given a
        password, a bearer token (or a callable returning one), or both.

        ``mechanisms`` overrides what the server offered (default: CAPA's
        SASL list).  Returns the mechanism's name.
        """
        if mechanisms is None:
            caps = self.capabilities or await self.capa()
            offered: Sequence[str] = caps.sasl_mechanisms
        else:
            offered = [m.upper() for m in mechanisms]
        cb = self.channel_binding
        name = choose_mechanism(
            offered,
            have_password=password is not None,
            have_token=token is not None,
            tls=self._conn.tls_active,
            channel_binding_available=cb is not None,
            allow_plaintext=self._conn.config.allow_plaintext_auth,
        )
        if name is None:
            raise LocalProtocolError(
                f"no usable SASL mechanism among {', '.join(offered) or 'none offered'}"
            )
        mech = sasl_client(
            name, user, password=password, token=token, authzid=authzid, channel_binding=cb
        )
        await self.authenticate(mech)
        return name

    async def _login_reply(self, keyword: str) -> str:
        self._queued()
        ev = await self._event()
        if isinstance(ev, Err):
            raise POP3AuthenticationError(keyword, ev.text, ev.code)
        if not isinstance(ev, Ok):
            raise self._unexpected(ev)
        log.info("logged in with %s", keyword)
        return ev.text

    # -- TRANSACTION --------------------------------------------------------------------

    async def stat(self) -> StatResult:
        """STAT: the number of messages and their total size in octets."""
        await self._settle()
        self._conn.stat()
        ev = await self._simple("STAT")
        if not isinstance(ev, StatResult):
            raise self._unexpected(ev)
        return ev

    @overload
    async def list(self) -> dict[int, int]: ...

    @overload
    async def list(self, msg: int) -> int: ...

    async def list(self, msg: int | None = None) -> dict[int, int] | int:
        """LIST: {number: size} of every message, or one message's size."""
        await self._settle()
        self._conn.list_(msg)
        ev = await self._simple("LIST")
        if not isinstance(ev, ListResult):
            raise self._unexpected(ev)
        if msg is not None:
            return ev.entries[0][1]
        return dict(ev.entries)

    @overload
    async def uidl(self) -> dict[int, str]: ...

    @overload
    async def uidl(self, msg: int) -> str: ...

    async def uidl(self, msg: int | None = None) -> dict[int, str] | str:
        """UIDL: {number: unique-id} of every message, or one message's."""
        await self._settle()
        self._conn.uidl(msg)
        ev = await self._simple("UIDL")
        if not isinstance(ev, UidlResult):
            raise self._unexpected(ev)
        if msg is not None:
            return ev.entries[0][1]
        return dict(ev.entries)

    def retr(self, msg: int) -> MessageStream:
        """RETR, streamed: ``async with client.retr(n) as body: async for
        chunk in body`` (or ``await client.retr(n).read()``)."""
        return MessageStream(self, "RETR", msg)

    def top(self, msg: int, lines: int) -> MessageStream:
        """TOP: the headers and the first ``lines`` body lines, streamed."""
        return MessageStream(self, "TOP", msg, lines)

    async def retr_bytes(self, msg: int) -> bytes:
        """RETR, the whole message as bytes."""
        return await self.retr(msg).read()

    async def top_bytes(self, msg: int, lines: int) -> bytes:
        """TOP, as bytes."""
        return await self.top(msg, lines).read()

    async def retr_many(self, numbers: Iterable[int]) -> AsyncIterator[tuple[int, bytes]]:
        """RETR each message, pipelined when the server offers PIPELINING
        (up to 32 commands in flight), yielding (number, bytes) in order."""
        await self._settle()
        todo = list(numbers)
        sent = 0
        for _ in range(min(len(todo), PIPELINE_WINDOW)):
            self._conn.retr(todo[sent])
            sent += 1
        self._queued(sent)
        for number in todo:
            parts: list[bytes] = []
            while True:
                ev = await self._event()
                if isinstance(ev, MessageData):
                    parts.append(ev.data)
                elif isinstance(ev, MessageStart):
                    continue
                elif isinstance(ev, MessageEnd):
                    break
                else:
                    raise self._unexpected(ev)
            # Refill the window by halves: one write carries many commands.
            if sent < len(todo) and self._unread <= PIPELINE_WINDOW // 2:
                more = min(len(todo) - sent, PIPELINE_WINDOW - self._unread)
                for n in todo[sent : sent + more]:
                    self._conn.retr(n)
                sent += more
                self._queued(more)
            yield number, b"".join(parts)

    async def dele(self, msg: int) -> str:
        """DELE: mark a message deleted (applied only at QUIT)."""
        await self._settle()
        self._conn.dele(msg)
        return str(getattr(await self._simple("DELE"), "text", ""))

    async def rset(self) -> str:
        """RSET: unmark every message marked deleted in this session."""
        await self._settle()
        self._conn.rset()
        return str(getattr(await self._simple("RSET"), "text", ""))

    async def noop(self) -> str:
        await self._settle()
        self._conn.noop()
        return str(getattr(await self._simple("NOOP"), "text", ""))

    async def quit(self) -> str:
        """QUIT: commit the deletions (RFC 1939 section 6) and close.

        Raises :class:`POP3Error` when the server reports that some deletions
        could not be applied; the connection is closed either way.
        """
        try:
            await self._settle()
            self._conn.quit()
            ev = await self._simple("QUIT")
            return str(getattr(ev, "text", ""))
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection without QUIT: deletions are not applied."""
        self._closed = True
        await self._pump.aclose()


async def wrap_pop3_stream(
    stream: anyio.abc.ByteStream,
    *,
    server_hostname: str | None = None,
    tls_active: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    config: ClientConfig | None = None,
    timeouts: Timeouts | None = None,
) -> POP3Client:
    """Start a POP3 session on a connected stream: read the greeting.

    ``tls_active`` says the stream is already TLS (the 995 role).  The stream
    is closed if the greeting does not arrive or is "-ERR".
    """
    cfg = config or ClientConfig(tls_active=tls_active)
    conn = ClientConnection(cfg)
    pump: Pump[ClientEvent] = Pump(stream, conn, timeouts=timeouts)
    try:
        ev = await pump.next_event()
        if isinstance(ev, Err):
            raise POP3Error("", ev.text, ev.code)
        if not isinstance(ev, Greeting):
            raise ConnectionClosed("the POP3 server closed the connection before its greeting")
    except BaseException:
        await pump.aclose()
        raise
    return POP3Client(pump, conn, ev, server_hostname=server_hostname, ssl_context=ssl_context)


async def connect_pop3(
    host: str,
    port: int | None = None,
    *,
    tls: TLSMode = TLSMode.STARTTLS,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    allow_plaintext_auth: bool = False,
    timeouts: Timeouts | None = None,
    config: ClientConfig | None = None,
) -> POP3Client:
    """Connect, read the greeting and, for STARTTLS (the default), upgrade
    with STLS before returning: TLS is then required, so a server that strips
    or refuses STLS raises :class:`~protokit.net.TLSError` before any
    credential leaves.  ``port`` defaults to 995 for IMPLICIT, else 110.

    ``allow_plaintext_auth`` lets USER/PASS and PLAIN go out without TLS
    (``tls=TLSMode.PLAIN`` only; for loopback and tests).
    """
    if port is None:
        port = 995 if tls is TLSMode.IMPLICIT else 110
    if config is None:
        config = ClientConfig(
            allow_plaintext_auth=allow_plaintext_auth and tls is TLSMode.PLAIN,
            require_tls=tls is not TLSMode.PLAIN,
            tls_active=tls is TLSMode.IMPLICIT,
        )
    d = await dial(
        host,
        port,
        tls=tls,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        timeouts=timeouts,
    )
    client = await d.greeted(
        wrap_pop3_stream(
            d.stream,
            server_hostname=d.hostname,
            tls_active=tls is TLSMode.IMPLICIT,
            ssl_context=d.ssl_context,
            config=config,
            timeouts=d.timeouts,
        )
    )
    if tls is TLSMode.STARTTLS:
        async with ClosedOnError(client):
            await client.starttls(d.ssl_context, server_hostname=d.hostname)
    return client


@asynccontextmanager
async def open_pop3(
    host: str,
    port: int | None = None,
    *,
    tls: TLSMode = TLSMode.STARTTLS,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    allow_plaintext_auth: bool = False,
    timeouts: Timeouts | None = None,
    config: ClientConfig | None = None,
    commit: bool = False,
) -> AsyncIterator[POP3Client]:
    """:func:`connect_pop3` as an async context manager.

    On exit, ``commit=True`` sends QUIT (applying the session's deletions)
    when the block ended without an exception; otherwise, or after an
    exception, the connection is closed without QUIT and the server applies
    nothing.  An explicit ``await client.quit()`` inside the block always
    commits.
    """
    client = await connect_pop3(
        host,
        port,
        tls=tls,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        allow_plaintext_auth=allow_plaintext_auth,
        timeouts=timeouts,
        config=config,
    )
    try:
        yield client
    except BaseException:
        await client.aclose()
        raise
    if commit and not client._closed:
        await client.quit()
    else:
        await client.aclose()
