"""Small loopback servers for the transport tests: a raw server that answers
with scripted bytes (and can dribble them), and an HTTP CONNECT proxy."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener

Handler = Callable[[anyio.abc.ByteStream], Awaitable[None]]


async def read_head(stream: anyio.abc.ByteStream, limit: int = 65536) -> bytes:
    """Read up to the end of an HTTP head (the body, if any, is left)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive(1)
        data += chunk
        if len(data) > limit:
            raise RuntimeError("head too long")
    return data


async def read_request(stream: anyio.abc.ByteStream) -> tuple[bytes, bytes]:
    """An HTTP request's head and its Content-Length body."""
    head = await read_head(stream)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = b""
    while len(body) < length:
        body += await stream.receive(length - len(body))
    return head, body


@dataclass
class RawServer:
    port: int
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)


@asynccontextmanager
async def raw_server(
    answer: Callable[[anyio.abc.ByteStream, RawServer], Awaitable[None]],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[RawServer]:
    """Serve on 127.0.0.1: read one request per connection (recorded), then
    run ``answer(stream, server)``, then close."""
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener: anyio.abc.Listener[anyio.abc.ByteStream] = tcp
    if ssl_context is not None:
        listener = TLSListener(tcp, ssl_context, standard_compatible=False)
    server = RawServer(port=tcp.extra(anyio.abc.SocketAttribute.local_port))

    async def handle(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            try:
                server.requests.append(await read_request(stream))
                await answer(stream, server)
            except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                pass

    async def handle_or_ignore(stream: anyio.abc.ByteStream) -> None:
        try:
            await handle(stream)
        except Exception:  # a TLS handshake the client aborted
            pass

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle_or_ignore)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


def fixed(response: bytes) -> Callable[[anyio.abc.ByteStream, RawServer], Awaitable[None]]:
    async def answer(stream: anyio.abc.ByteStream, server: RawServer) -> None:
        await stream.send(response)

    return answer


@dataclass
class ConnectProxy:
    port: int
    targets: list[str] = field(default_factory=list)


@asynccontextmanager
async def connect_proxy(*, refuse: int | None = None) -> AsyncIterator[ConnectProxy]:
    """An HTTP CONNECT proxy on 127.0.0.1 that records each target; with
    ``refuse`` it answers that status instead of tunnelling."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    proxy = ConnectProxy(port=listener.extra(anyio.abc.SocketAttribute.local_port))

    async def pipe(src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream) -> None:
        try:
            async for chunk in src:
                await dst.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await dst.aclose()

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            try:
                head = await read_head(client)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            method, target, _ = head.split(b"\r\n")[0].split(b" ", 2)
            proxy.targets.append(target.decode())
            if method != b"CONNECT" or refuse is not None:
                status = refuse or 405
                await client.send(f"HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n".encode())
                return
            host, _, port = target.decode().rpartition(":")
            upstream = await anyio.connect_tcp(host.strip("[]"), int(port))
            await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            async with upstream, anyio.create_task_group() as tg:
                tg.start_soon(pipe, client, upstream)
                tg.start_soon(pipe, upstream, client)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield proxy
        finally:
            tg.cancel_scope.cancel()
