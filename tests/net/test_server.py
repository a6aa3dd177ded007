"""The listener framework over loopback on asyncio and trio: ports reported
through task_status, connection limits, PROXY headers, implicit TLS."""

from __future__ import annotations

import ssl

import anyio
import anyio.abc
import pytest
import trustme

from protokit.net import (
    ConnectionInfo,
    Listener,
    OperationTimeout,
    ServerInfo,
    ServerLimits,
    Timeouts,
    TLSError,
    TLSMode,
    build_v1,
    build_v2,
    client_ssl_context,
    greeting_timeout,
    open_stream,
    serve_listeners,
)


async def echo_info(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
    line = f"{info.listener.name} {info.peer[0]} {info.tls} {info.proxied}\r\n".encode()
    await stream.send(line)
    data = await stream.receive()
    await stream.send(b"got " + data)


async def read_until(stream: anyio.abc.ByteStream, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        data += await stream.receive()
    return data


@pytest.fixture
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = client_ssl_context()
    ca.configure_trust(client)
    return server, client


async def test_ports_are_reported_and_connections_served(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls_pair
    listeners = [
        Listener(name="plain"),
        Listener(name="tls", tls=TLSMode.IMPLICIT, ssl_context=server_ctx),
    ]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info: ServerInfo = await tg.start(serve_listeners, echo_info, listeners)
            assert set(info.addresses) == {"plain", "tls"}
            plain = await open_stream("127.0.0.1", info.port("plain"), tls=TLSMode.PLAIN)
            async with plain:
                assert await read_until(plain, b"\r\n") == b"plain 127.0.0.1 False False\r\n"
                await plain.send(b"x\r\n")
                assert await read_until(plain, b"x\r\n") == b"got x\r\n"
            secure = await open_stream(
                "127.0.0.1",
                info.port("tls"),
                tls=TLSMode.IMPLICIT,
                ssl_context=client_ctx,
                server_hostname="localhost",
            )
            async with secure:
                assert await read_until(secure, b"\r\n") == b"tls 127.0.0.1 True False\r\n"
            tg.cancel_scope.cancel()


async def test_implicit_tls_against_a_plaintext_port_names_the_mode() -> None:
    async def greeter(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        await stream.send(b"220 hello\r\n")
        await anyio.sleep(5)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info = await tg.start(serve_listeners, greeter, [Listener(name="p")])
            with pytest.raises(TLSError, match=r"answered in plaintext.*TLSMode\.STARTTLS"):
                await open_stream(
                    "127.0.0.1", info.port("p"), tls=TLSMode.IMPLICIT, server_hostname="localhost"
                )
            tg.cancel_scope.cancel()


def test_greeting_timeout_hint() -> None:
    err = greeting_timeout("127.0.0.1", 3993, 5, TLSMode.STARTTLS)
    assert isinstance(err, OperationTimeout)
    assert str(err) == (
        "127.0.0.1:3993 sent no greeting within 5 s: if this is an implicit-TLS port"
        " (465, 993, 995), connect with tls=TLSMode.IMPLICIT"
    )
    assert "TLSMode" not in str(greeting_timeout("h", 1, 5, TLSMode.IMPLICIT))


@pytest.mark.parametrize("build", [build_v1, build_v2])
async def test_proxy_header_sets_the_peer_and_keeps_following_bytes(build: object) -> None:
    assert callable(build)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                serve_listeners, echo_info, [Listener(name="lb", proxy_protocol=True)]
            )
            s = await anyio.connect_tcp("127.0.0.1", info.port("lb"))
            async with s:
                await s.send(build(("192.0.2.9", 1234), ("127.0.0.1", 25)) + b"hello")
                # The bytes after the header reach the handler as the first read.
                assert await read_until(s, b"got hello") == (
                    b"lb 192.0.2.9 False True\r\ngot hello"
                )
            tg.cancel_scope.cancel()


async def test_missing_proxy_header_closes_the_connection() -> None:
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                serve_listeners, echo_info, [Listener(name="lb", proxy_protocol=True)]
            )
            s = await anyio.connect_tcp("127.0.0.1", info.port("lb"))
            async with s:
                await s.send(b"GET / HTTP/1.1\r\n\r\n")
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await s.receive()
            tg.cancel_scope.cancel()


async def test_connections_over_the_limit_get_the_overload_reply() -> None:
    release = anyio.Event()

    async def hold(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        await stream.send(b"welcome\r\n")
        await release.wait()

    limits = ServerLimits(max_connections=1, overload_reply=b"421 busy\r\n")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                lambda task_status: serve_listeners(
                    hold, [Listener(name="x")], limits=limits, task_status=task_status
                )
            )
            first = await anyio.connect_tcp("127.0.0.1", info.port("x"))
            assert await read_until(first, b"\r\n") == b"welcome\r\n"
            second = await anyio.connect_tcp("127.0.0.1", info.port("x"))
            assert await read_until(second, b"\r\n") == b"421 busy\r\n"
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await second.receive()
            await second.aclose()
            release.set()
            await first.aclose()
            tg.cancel_scope.cancel()


async def test_slow_tls_handshake_is_dropped(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, _ = tls_pair
    limits = ServerLimits(handshake_timeout=0.2)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                lambda task_status: serve_listeners(
                    echo_info,
                    [Listener(name="t", tls=TLSMode.IMPLICIT, ssl_context=server_ctx)],
                    limits=limits,
                    task_status=task_status,
                )
            )
            s = await anyio.connect_tcp("127.0.0.1", info.port("t"))
            async with s:
                # Say nothing: the server gives up on the handshake and closes.
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await s.receive()
            tg.cancel_scope.cancel()


def test_listener_needs_a_context_for_tls() -> None:
    with pytest.raises(ValueError, match="implicit needs ssl_context"):
        Listener(name="bad", tls=TLSMode.IMPLICIT)


async def test_connect_timeout_and_refused() -> None:
    from protokit.net import ConnectError

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as lst:
        port = lst.extra(anyio.abc.SocketAttribute.local_port)
    with pytest.raises(ConnectError, match=f"connecting to 127.0.0.1:{port}"):
        await open_stream("127.0.0.1", port, tls=TLSMode.PLAIN, timeouts=Timeouts(connect=5))


async def test_a_handler_error_ends_only_its_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def fragile(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        data = await stream.receive()
        if data == b"boom\r\n":
            raise TypeError("a bug met by this connection only")
        await stream.send(b"ok\r\n")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            info = await tg.start(serve_listeners, fragile, [Listener(name="p")])
            first = await open_stream("127.0.0.1", info.port("p"), tls=TLSMode.PLAIN)
            async with first:
                await first.send(b"boom\r\n")
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await first.receive()
            second = await open_stream("127.0.0.1", info.port("p"), tls=TLSMode.PLAIN)
            async with second:
                await second.send(b"hi\r\n")
                assert await read_until(second, b"\r\n") == b"ok\r\n"
            tg.cancel_scope.cancel()
    assert "connection from 127.0.0.1: internal error" in caplog.text
