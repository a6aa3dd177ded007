"""What the POP3 and SMTP sides of the proxy share: reading and writing a
stream with timeouts, reading both streams at once with bounded buffering,
getting the upstream SASL mechanism with a fresh access token, and how a
session ends (:func:`serve_session`).  The IMAP relay takes the TLS
records already decrypted-able with the same :func:`drain_ssl`.

Before login a handler reads one stream at a time (so that no task is
reading while a stream is wrapped in TLS).  After login the SMTP side, which
answers one command at a time yet must hear an upstream that ends the
session while the client is idle, reads both through a :class:`Duplex`: each
stream has one reader task that hands over one chunk and then waits until
that chunk has been taken, so at most one unread chunk per direction is
held, and a client that pipelines while the upstream is slow is held back by
TCP rather than by memory.  (The POP3 side runs one task per direction.)
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Protocol

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute

from ..errors import ProtocolError
from ..net import ConnectionInfo, TLSMode, TransportError
from ..sasl import ClientMechanism
from ._config import AccountConfig
from ._session import AuthorizationNeeded, BearerToken, ProxyContext

__all__ = [
    "LOCAL",
    "READ_SIZE",
    "UPSTREAM",
    "Duplex",
    "PeerGone",
    "RelaySession",
    "UpstreamAuthError",
    "aclose_quietly",
    "drain_ssl",
    "drain_tls",
    "receive",
    "send",
    "serve_session",
    "upstream_mechanism",
    "upstream_plaintext_ok",
]

#: Largest chunk read from either stream at once.
READ_SIZE: Final = 65536
LOCAL: Final = 0
UPSTREAM: Final = 1

_STREAM_ERRORS: Final = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
    ssl.SSLError,
)


class PeerGone(Exception):
    """Writing to a stream failed: that side has gone."""


class UpstreamAuthError(Exception):
    """The upstream refused the proxy's token, or authentication could not
    start; ``text`` is what the local client is told (never a secret)."""

    def __init__(self, text: str, *, authorize: bool = False) -> None:
        super().__init__(text)
        self.text = text
        #: The grant is gone: the user must run ``protokit proxy authorize``.
        self.authorize = authorize


async def receive(stream: anyio.abc.ByteStream, timeout: float) -> bytes:
    """The next chunk from ``stream``; ``b""`` when the peer closed or the
    stream failed.  Raises TimeoutError after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        try:
            return drain_tls(stream, await stream.receive(READ_SIZE))
        except _STREAM_ERRORS:
            return b""


def drain_tls(stream: anyio.abc.ByteStream, first: bytes) -> bytes:
    """``first`` and the plaintext a TLS stream already holds decrypted-able
    (see :func:`drain_ssl`), up to READ_SIZE in all."""
    ssl_object: ssl.SSLObject | None = stream.extra(TLSAttribute.ssl_object, None)
    if ssl_object is None or not first:
        return first
    return drain_ssl(ssl_object, first, READ_SIZE)


def drain_ssl(ssl_object: ssl.SSLObject, first: bytes, limit: int) -> bytes:
    """``first`` and the plaintext ``ssl_object`` already holds, up to
    ``limit`` octets in all: a TLS stream's receive returns one record (16 KiB
    at most) although one socket read may have brought several; taking them
    together relays them in one pass.  Never reads the socket; a
    close_notify or an error is left for the next receive to report."""
    parts = [first]
    size = len(first)
    while size < limit:
        try:
            chunk = ssl_object.read(limit - size)
        except ssl.SSLError:  # SSLWantReadError: nothing more buffered
            break
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return first if len(parts) == 1 else b"".join(parts)


async def send(stream: anyio.abc.ByteStream, data: bytes, timeout: float) -> None:
    """Write ``data`` whole, within ``timeout``; PeerGone if the peer went away."""
    if not data:
        return
    try:
        with anyio.fail_after(timeout):
            await stream.send(data)
    except TimeoutError:
        raise PeerGone("writing timed out") from None
    except _STREAM_ERRORS as exc:
        raise PeerGone(f"writing failed: {type(exc).__name__}") from None


async def aclose_quietly(stream: anyio.abc.ByteStream) -> None:
    """Close ``stream`` (a TLS close_notify briefly attempted), never raising."""
    with anyio.CancelScope(shield=True):
        with anyio.move_on_after(1):
            try:
                await stream.aclose()
            except _STREAM_ERRORS:
                pass
        try:
            await anyio.aclose_forcefully(stream)
        except _STREAM_ERRORS:
            pass


class Duplex:
    """Reads the local and the upstream stream at once after login.

    Start it with ``await tg.start(duplex.run)``; :meth:`next` returns
    ``(LOCAL or UPSTREAM, chunk)`` from the sides asked for, ``b""`` meaning
    that side closed.  A chunk from a side not asked for is held (one at
    most: its reader waits until the chunk is taken).
    """

    def __init__(self, local: anyio.abc.ByteStream, upstream: anyio.abc.ByteStream) -> None:
        self._streams = (local, upstream)
        self._tx, self._rx = anyio.create_memory_object_stream[tuple[int, bytes]](2)
        self._go = [anyio.Event(), anyio.Event()]
        self._held: list[bytes | None] = [None, None]
        self._closed = [False, False]

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with self._tx, self._rx:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._reader, LOCAL)
                tg.start_soon(self._reader, UPSTREAM)
                task_status.started()

    async def _reader(self, side: int) -> None:
        stream = self._streams[side]
        while True:
            try:
                data = drain_tls(stream, await stream.receive(READ_SIZE))
            except _STREAM_ERRORS:
                data = b""
            await self._tx.send((side, data))
            if not data:
                return
            await self._go[side].wait()
            self._go[side] = anyio.Event()

    def closed(self, side: int) -> bool:
        """Whether ``side`` has reported its end."""
        return self._closed[side]

    async def next(self, sides: tuple[int, ...], timeout: float) -> tuple[int, bytes]:
        """The next chunk from one of ``sides`` (TimeoutError after ``timeout``)."""
        for side in sides:
            held = self._held[side]
            if held is not None:
                self._held[side] = None
                return self._take(side, held)
        with anyio.fail_after(timeout):
            while True:
                side, data = await self._rx.receive()
                if side in sides:
                    return self._take(side, data)
                self._held[side] = data

    def _take(self, side: int, data: bytes) -> tuple[int, bytes]:
        if data:
            self._go[side].set()
        else:
            self._closed[side] = True
        return side, data


async def upstream_mechanism(
    ctx: ProxyContext, offered: Iterable[str]
) -> tuple[ClientMechanism, BearerToken]:
    """The upstream SASL client: the account's preferred mechanism among those
    offered, with a live access token (returned too, for
    :meth:`ProxyContext.token_rejected`).  UpstreamAuthError (logged) when
    none is offered, the grant is gone, or the provider does not answer in
    time."""
    name = ctx.choose_mechanism(offered)
    if name is None:
        wanted = " or ".join(ctx.account.mechanisms)
        ctx.log.warning("the upstream server offers no %s", wanted)
        raise UpstreamAuthError(f"the upstream server does not offer {wanted}")
    try:
        with anyio.fail_after(ctx.limits.upstream_timeout):
            token = await ctx.access_token()
    except AuthorizationNeeded as exc:
        ctx.log_authorization_needed(exc)
        raise UpstreamAuthError(ctx.authorization_needed_text(), authorize=True) from None
    except TimeoutError:
        ctx.log.warning(
            "no access token from the provider within %g s", ctx.limits.upstream_timeout
        )
        raise UpstreamAuthError("the OAuth provider did not answer in time") from None
    return ctx.sasl_client(name, token), token


def upstream_plaintext_ok(account: AccountConfig) -> bool:
    """Bearer tokens go over plain TCP only to a loopback upstream (the
    configuration refuses anything else)."""
    return account.upstream_tls is TLSMode.PLAIN


class RelaySession(Protocol):
    """What :func:`serve_session` needs of a POP3 or SMTP session."""

    @property
    def local(self) -> anyio.abc.ByteStream: ...

    @property
    def upstream(self) -> anyio.abc.ByteStream | None: ...

    async def to_local(self, data: bytes) -> None: ...

    async def open_upstream(self) -> str | None:
        """Connect (and greet) upstream: None, or why it failed."""
        ...


async def serve_session(
    session: RelaySession,
    info: ConnectionInfo,
    ctx: ProxyContext,
    body: Callable[[], Awaitable[None]],
    *,
    unavailable: Callable[[str], bytes],
    timed_out: Callable[[], bytes],
) -> None:
    """Open the upstream (the client gets ``unavailable(why)`` when that
    fails), run ``body`` (the rest of the local client's session), log how it
    ended when a side went, broke the protocol or failed TLS, send the client
    ``timed_out()`` when a side was silent too long, and close both streams."""
    try:
        problem = await session.open_upstream()
        if problem is not None:
            await session.to_local(unavailable(problem))
            return
        await body()
    except (PeerGone, TransportError) as exc:
        ctx.log.info("connection from %s ended: %s", info.peer[0], exc)
    except ProtocolError as exc:
        # Plaintext injected around a TLS upgrade, and the like: logged (the
        # message never holds a secret) and the connection closed.
        ctx.log.info("connection from %s: protocol violation: %s", info.peer[0], exc)
    except (ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        ctx.log.info("connection from %s: TLS failed: %s", info.peer[0], type(exc).__name__)
    except TimeoutError:
        ctx.log.info("connection from %s timed out", info.peer[0])
        try:
            await session.to_local(timed_out())
        except PeerGone:
            pass
    finally:
        if session.upstream is not None:
            await aclose_quietly(session.upstream)
        await aclose_quietly(session.local)
