"""A raw-bytes test client for the server tests (tests/net, tests/server):
send bytes, read the exact replies, every wait bounded.  The IMAP one
(tests/net/imap_wire.py) reads up to a command's tagged reply.  And
:func:`stoppable`, a server a test stops while its clients are connected."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import ClassVar, TypeVar

import anyio
import anyio.abc

W = TypeVar("W", bound="LineWire")
S = TypeVar("S")


class LineWire:
    """A raw client: send bytes, read exact replies."""

    #: How long any one read may take, in seconds.
    timeout: ClassVar[float] = 5

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buf = b""

    async def read_until(self, end: bytes) -> bytes:
        with anyio.fail_after(self.timeout):
            while end not in self.buf:
                self.buf += await self.stream.receive()
        i = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    async def line(self) -> bytes:
        return await self.read_until(b"\r\n")

    async def ask(self, command: bytes, end: bytes = b"\r\n") -> bytes:
        """Send ``command``; read up to ``end`` (a line by default)."""
        await self.stream.send(command)
        return await self.read_until(end)

    async def eof(self) -> bytes:
        """Everything until the server closes."""
        with anyio.fail_after(self.timeout):
            while True:
                try:
                    chunk = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    break
                self.buf += chunk
        out, self.buf = self.buf, b""
        return out


async def connected(port: int, wire: Callable[[anyio.abc.ByteStream], W]) -> AsyncIterator[W]:
    """One ``wire`` on a connection to 127.0.0.1:``port`` (``async for``),
    the greeting not yet read; closed after."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with stream:
        yield wire(stream)


@asynccontextmanager
async def stoppable(
    server: AbstractAsyncContextManager[S],
) -> AsyncIterator[tuple[S, anyio.CancelScope]]:
    """``server`` entered in a task of its own; yields what it gives and the
    scope that stops it (cancel it to shut the server down).  Leaving waits
    for the server to have stopped."""
    scope = anyio.CancelScope()
    ready = anyio.Event()
    holder: list[S] = []

    async def run_server() -> None:
        with scope:
            async with server as srv:
                holder.append(srv)
                ready.set()
                await anyio.sleep_forever()

    async with anyio.create_task_group() as outer:
        outer.start_soon(run_server)
        await ready.wait()
        yield holder[0], scope
