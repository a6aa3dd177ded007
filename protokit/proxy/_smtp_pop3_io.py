"""What the POP3 and SMTP sides of the proxy share: reading and writing a
stream with timeouts, reading both streams at once with bounded buffering,
and getting the upstream SASL mechanism with a fresh access token.

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
from collections.abc import Iterable
from typing import Final

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute

from ..net import TLSMode
from ..sasl import ClientMechanism
from ._config import AccountConfig
from ._session import AuthorizationNeeded, BearerToken, ProxyContext

__all__ = [
    "LOCAL",
    "READ_SIZE",
    "UPSTREAM",
    "Duplex",
    "PeerGone",
    "UpstreamAuthError",
    "aclose_quietly",
    "drain_tls",
    "receive",
    "send",
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
    """``first`` and the plaintext a TLS stream already holds decrypted-able:
    its receive returns one record (16 KiB at most) although one socket read
    may have brought several; taking them together relays them in one pass.
    Never reads the socket; a close_notify or an error is left for the next
    receive to report."""
    ssl_object: ssl.SSLObject | None = stream.extra(TLSAttribute.ssl_object, None)
    if ssl_object is None or not first:
        return first
    parts = [first]
    size = len(first)
    while size < READ_SIZE:
        try:
            chunk = ssl_object.read(READ_SIZE - size)
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
