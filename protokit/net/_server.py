"""The listener framework every protocol server stands on.

:func:`serve_listeners` binds each :class:`Listener`, reports the bound
addresses through anyio's ``task_status`` (so a test can
``await tg.start(...)`` and learn the ports), accepts connections up to a
limit, reads an optional PROXY header, completes implicit TLS, and hands each
connection to the protocol's handler as a byte stream and a
:class:`ConnectionInfo`.  Cancelling the task shuts everything down.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from ._proxy_protocol import ProxyProtocolError, parse_proxy_header
from ._tls import TLSMode

__all__ = [
    "ConnectionInfo",
    "Handler",
    "Listener",
    "PrefixedStream",
    "ServerInfo",
    "ServerLimits",
    "serve_listeners",
]

log = logging.getLogger("protokit.net")


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """One address to listen on.

    ``tls`` is IMPLICIT for TLS from the first byte; otherwise
    ``ssl_context``, when given, is what STARTTLS/STLS upgrades with.
    """

    host: str = "127.0.0.1"
    port: int = 0
    tls: TLSMode = TLSMode.PLAIN
    ssl_context: ssl.SSLContext | None = None
    proxy_protocol: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if self.tls is not TLSMode.PLAIN and self.ssl_context is None:
            raise ValueError(
                f"listener {self.name or self.port}: {self.tls.value} needs ssl_context"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """Bounds that protect a server from many or slow clients."""

    max_connections: int = 1000
    #: implicit TLS handshake, and the PROXY header, must complete within this
    handshake_timeout: float = 30.0
    #: sent to a connection over the limit before it is closed (protocol's
    #: "too busy" reply, e.g. b"421 4.3.2 Too many connections\r\n")
    overload_reply: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionInfo:
    """Who is connected, and how."""

    listener: Listener
    peer: tuple[str, int]
    local: tuple[str, int]
    #: TLS from the first byte (implicit); STARTTLS is the protocol's to track
    tls: bool
    #: ``peer`` came from a PROXY header rather than the socket
    proxied: bool = False


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What :func:`serve_listeners` reports once every listener is bound."""

    addresses: dict[str, tuple[str, int]] = field(default_factory=dict)

    def port(self, name: str) -> int:
        return self.addresses[name][1]


Handler = Callable[[anyio.abc.ByteStream, ConnectionInfo], Awaitable[None]]


class PrefixedStream(anyio.abc.ByteStream):
    """A byte stream that first returns bytes already read from it."""

    def __init__(self, stream: anyio.abc.ByteStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:max_bytes], self._prefix[max_bytes:]
            return data
        return await self._stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self._stream.extra_attributes


def _address(value: Any) -> tuple[str, int]:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return str(value), 0


async def _read_proxy_header(stream: anyio.abc.ByteStream) -> tuple[Any, bytes]:
    data = b""
    while True:
        header = parse_proxy_header(data)
        if header is not None:
            return header, data[header.length :]
        chunk = await stream.receive(4096)
        data += chunk
        if len(data) > 4096 + 16:
            raise ProxyProtocolError("PROXY header too long")


async def serve_listeners(
    handler: Handler,
    listeners: list[Listener],
    *,
    limits: ServerLimits | None = None,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` on every listener until cancelled."""
    lim = limits or ServerLimits()
    active = 0
    bound: list[tuple[Listener, anyio.abc.Listener[anyio.abc.SocketStream]]] = []
    info = ServerInfo()
    try:
        for spec in listeners:
            sock_listener = await anyio.create_tcp_listener(
                local_host=spec.host, local_port=spec.port, reuse_port=False
            )
            bound.append((spec, sock_listener))
            port = sock_listener.extra(SocketAttribute.local_port)
            info.addresses[spec.name or f"{spec.host}:{spec.port}"] = (spec.host, port)

        async def handle(spec: Listener, stream: anyio.abc.SocketStream) -> None:
            nonlocal active
            peer = _address(stream.extra(SocketAttribute.remote_address))
            local = _address(stream.extra(SocketAttribute.local_address))
            if active >= lim.max_connections:
                log.warning("refusing a connection from %s: %d connections", peer[0], active)
                with anyio.move_on_after(1):
                    if lim.overload_reply:
                        try:
                            await stream.send(lim.overload_reply)
                        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                            pass
                await anyio.aclose_forcefully(stream)
                return
            active += 1
            conn: anyio.abc.ByteStream = stream
            try:
                proxied = False
                with anyio.move_on_after(lim.handshake_timeout) as scope:
                    if spec.proxy_protocol:
                        header, rest = await _read_proxy_header(stream)
                        if header.source is not None:
                            peer, proxied = header.source, True
                        if rest:
                            conn = PrefixedStream(stream, rest)
                    if spec.tls is TLSMode.IMPLICIT:
                        assert spec.ssl_context is not None
                        conn = await TLSStream.wrap(
                            conn,
                            server_side=True,
                            ssl_context=spec.ssl_context,
                            standard_compatible=False,
                        )
                if scope.cancelled_caught:
                    log.info("connection from %s: handshake timed out", peer[0])
                    return
                ci = ConnectionInfo(
                    listener=spec,
                    peer=peer,
                    local=local,
                    tls=spec.tls is TLSMode.IMPLICIT,
                    proxied=proxied,
                )
                await handler(conn, ci)
            except (
                ProxyProtocolError,
                ssl.SSLError,
                OSError,
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
            ) as exc:
                log.info("connection from %s ended: %s", peer[0], type(exc).__name__)
            except Exception:
                # A bug met by one connection ends that connection, never
                # the server and every other session with it.
                log.exception("connection from %s: internal error", peer[0])
            finally:
                active -= 1
                await anyio.aclose_forcefully(conn)

        async with anyio.create_task_group() as tg:
            for spec, listening in bound:

                async def serve_one(s: anyio.abc.SocketStream, spec: Listener = spec) -> None:
                    await handle(spec, s)

                tg.start_soon(listening.serve, serve_one)
            task_status.started(info)
    finally:
        with anyio.CancelScope(shield=True):
            for _, listening in bound:
                await listening.aclose()
