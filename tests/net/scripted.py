"""Scripted one-connection servers for the client tests (tests/net): a
:class:`Peer` is the server side, reading the client's lines and recording
every byte it sent; :func:`scripted` runs a script against one connection
and fails the test if the script did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc


class Peer:
    """The server side of one scripted connection; records what it read."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buf = b""
        self.received = b""

    async def line(self) -> bytes:
        with anyio.fail_after(5):
            while b"\r\n" not in self.buf:
                chunk = await self.stream.receive()
                self.buf += chunk
                self.received += chunk
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def expect(self, command: bytes, reply: bytes) -> None:
        assert await self.line() == command
        await self.send(reply)

    async def rest(self) -> bytes:
        """Whatever the client sends until it closes."""
        with anyio.fail_after(5):
            while True:
                try:
                    chunk = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    break
                self.buf += chunk
                self.received += chunk
        out, self.buf = self.buf, b""
        return out


Script = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[tuple[int, list[Peer]]]:
    """A one-connection server running ``script``; yields its port and the
    peers (to inspect what the client sent after the fact)."""
    peers: list[Peer] = []
    done = anyio.Event()
    failures: list[BaseException] = []
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def handle(stream: anyio.abc.SocketStream) -> None:
            peer = Peer(stream)
            peers.append(peer)
            try:
                async with stream:
                    await script(peer)
            except BaseException as exc:
                failures.append(exc)
                raise
            finally:
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            yield port, peers
            with anyio.fail_after(5):
                await done.wait()
            tg.cancel_scope.cancel()
    assert not failures
