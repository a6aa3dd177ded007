"""The pump over real loopback sockets, on asyncio and trio, with a toy
line protocol standing in for SMTP/POP3/IMAP."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import pytest
import trustme

from protokit import NEED_DATA, NeedData
from protokit.net import (
    ConnectError,
    ConnectionClosed,
    OperationTimeout,
    Pump,
    Timeouts,
    TLSError,
    TransportError,
)
from protokit.wire import ReceiveBuffer


class LineConn:
    """The smallest sans-IO connection: CRLF lines in, CRLF lines out."""

    def __init__(self) -> None:
        self.buf = ReceiveBuffer()
        self.out = bytearray()

    def receive_data(self, data: bytes) -> None:
        self.buf.feed(data)

    def next_event(self) -> bytes | NeedData:
        line = self.buf.extract_line(1000)
        return NEED_DATA if line is None else line

    def send(self, line: bytes) -> None:
        self.out += line + b"\r\n"

    def data_to_send(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data


Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]


async def serve(handler: Handler) -> AsyncIterator[int]:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def closing(s: anyio.abc.SocketStream) -> None:
            async with s:
                await handler(s)

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, closing)
            yield port
            tg.cancel_scope.cancel()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def test_pipelined_burst_gives_every_event_from_one_read() -> None:
    async def handler(s: anyio.abc.SocketStream) -> None:
        async with s:
            await s.send(b"one\r\ntwo\r\nthr")
            assert await s.receive() == b"ping\r\n"
            await s.send(b"ee\r\n")

    with anyio.fail_after(10):
        async for port in serve(handler):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            conn = LineConn()
            pump: Pump[bytes] = Pump(stream, conn)
            assert await pump.next_event() == b"one"
            assert await pump.next_event() == b"two"
            conn.send(b"ping")  # flushed before the pump waits for more
            assert await pump.next_event() == b"three"
            await pump.aclose()


async def test_eof_is_connection_closed() -> None:
    async def handler(s: anyio.abc.SocketStream) -> None:
        await s.send(b"bye\r\n")
        await s.aclose()

    with anyio.fail_after(10):
        async for port in serve(handler):
            pump: Pump[bytes] = Pump(await anyio.connect_tcp("127.0.0.1", port), LineConn())
            assert await pump.next_event() == b"bye"
            with pytest.raises(ConnectionClosed):
                await pump.next_event()
            await pump.aclose()


async def test_read_timeout() -> None:
    done = anyio.Event()

    async def handler(s: anyio.abc.SocketStream) -> None:
        await done.wait()

    with anyio.fail_after(10):
        async for port in serve(handler):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            pump: Pump[bytes] = Pump(stream, LineConn(), timeouts=Timeouts(read=0.05))
            with pytest.raises(OperationTimeout, match=r"no data from the peer within 0\.05 s"):
                await pump.next_event()
            done.set()
            await pump.aclose()


async def test_connect_refused_is_connect_error() -> None:
    from protokit.net import map_exceptions

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
    with pytest.raises(ConnectError), map_exceptions("connect"):
        await anyio.connect_tcp("127.0.0.1", port)


async def test_starttls_both_sides_and_peer_certificate(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handler(s: anyio.abc.SocketStream) -> None:
        conn = LineConn()
        pump: Pump[bytes] = Pump(s, conn)
        assert await pump.next_event() == b"STARTTLS"
        conn.send(b"go ahead")
        await pump.flush()
        await pump.start_tls(server_ctx, server_side=True, pending=conn.buf.extract_all())
        assert await pump.next_event() == b"secret"
        conn.send(b"ok")
        await pump.flush()
        await pump.aclose()

    with anyio.fail_after(10):
        async for port in serve(handler):
            conn = LineConn()
            pump: Pump[bytes] = Pump(await anyio.connect_tcp("127.0.0.1", port), conn)
            conn.send(b"STARTTLS")
            assert await pump.next_event() == b"go ahead"
            assert not pump.tls_active
            await pump.start_tls(client_ctx, server_hostname="localhost")
            assert pump.tls_active
            der = pump.peer_certificate_der()
            assert der is not None
            assert der == ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
            conn.send(b"secret")
            assert await pump.next_event() == b"ok"
            await pump.aclose()


async def test_plaintext_after_starttls_is_refused() -> None:
    async def handler(s: anyio.abc.SocketStream) -> None:
        await s.send(b"go ahead\r\ninjected\r\n")
        await anyio.sleep_forever()

    with anyio.fail_after(10):
        async for port in serve(handler):
            conn = LineConn()
            pump: Pump[bytes] = Pump(await anyio.connect_tcp("127.0.0.1", port), conn)
            assert await pump.next_event() == b"go ahead"
            with pytest.raises(TLSError, match="plaintext data followed the TLS upgrade"):
                await pump.start_tls(ssl.create_default_context(), pending=conn.buf.extract_all())
            await pump.aclose()


async def test_tls_against_a_plaintext_server_is_a_tls_error(ca: trustme.CA) -> None:
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handler(s: anyio.abc.SocketStream) -> None:
        await s.send(b"220 plaintext greeting\r\n")
        await anyio.sleep_forever()

    with anyio.fail_after(10):
        async for port in serve(handler):
            pump: Pump[bytes] = Pump(await anyio.connect_tcp("127.0.0.1", port), LineConn())
            with pytest.raises(TLSError, match="TLS failed"):
                await pump.start_tls(client_ctx, server_hostname="localhost")
            with pytest.raises(TransportError, match="unusable"):
                await pump.next_event()
            await pump.aclose()


async def test_wrong_host_name_is_refused(ca: trustme.CA) -> None:
    cert = ca.issue_cert("mail.example")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handler(s: anyio.abc.SocketStream) -> None:
        pump: Pump[bytes] = Pump(s, LineConn())
        with pytest.raises(TransportError):
            await pump.start_tls(server_ctx, server_side=True)
        await pump.aclose()

    with anyio.fail_after(10):
        async for port in serve(handler):
            pump: Pump[bytes] = Pump(await anyio.connect_tcp("127.0.0.1", port), LineConn())
            with pytest.raises(TLSError, match="CERTIFICATE_VERIFY_FAILED"):
                await pump.start_tls(client_ctx, server_hostname="localhost")
            await pump.aclose()


class _OneChunk(anyio.abc.ByteStream):
    """A byte stream that yields one chunk, then end of stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data, self.data = self.data, b""
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        pass

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def test_buffered_events_cost_no_trip_through_the_event_loop() -> None:
    # A server answering a pipelined burst calls next_event() once per event:
    # events already parsed must not wait for the scheduler (an uncontended
    # lock is taken without yielding).
    pump: Pump[bytes] = Pump(_OneChunk(b"one\r\ntwo\r\nthree\r\n"), LineConn())
    assert await pump.next_event() == b"one"
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)  # runs at this task's next yield
        assert await pump.next_event() == b"two"
        assert await pump.next_event() == b"three"
        await pump.flush()
        assert ran == []
