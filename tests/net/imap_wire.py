"""A raw-bytes IMAP test client, shared by the serve_imap tests (tests/net)
and the store-backed backend's (tests/server): send bytes, read the exact
replies, every wait bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from tests.net.wire import LineWire


class Wire(LineWire):
    """A raw client: send bytes, read exact replies, every wait bounded."""

    timeout = 10

    async def ask(self, command: bytes, end: bytes | None = None) -> bytes:
        """Send ``command``; read up to its tagged reply's line (or ``end``)."""
        await self.stream.send(command)
        if end is None:
            tag = command.split(b" ", 1)[0]
            reply = b""
            while True:
                line = await self.line()
                reply += line
                if line.startswith(tag + b" "):
                    return reply
        return await self.read_until(end)


@asynccontextmanager
async def raw(port: int, **connect: Any) -> AsyncIterator[Wire]:
    """A connection to 127.0.0.1:``port`` (``connect``: anyio.connect_tcp's
    TLS options), the greeting not yet read."""
    stream = await anyio.connect_tcp("127.0.0.1", port, **connect)
    async with stream:
        yield Wire(stream)


async def login(w: Wire, user: bytes, password: bytes, tag: bytes = b"L1") -> None:
    """LOGIN, which must succeed."""
    reply = await w.ask(tag + b" LOGIN " + user + b" " + password + b"\r\n")
    assert reply == tag + b" OK Logged in\r\n"


async def logged_in(w: Wire, user: bytes = b"alice", password: bytes = b"alicepw") -> None:
    """Past the greeting (unchecked) and logged in."""
    await w.line()
    await login(w, user, password)
