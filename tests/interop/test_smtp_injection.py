"""STARTTLS command injection (CVE-2011-0411 class) against our running SMTP
server over a real socket: "STARTTLS\\r\\nNOOP\\r\\n" in one segment, and the
same bytes split at every offset into two writes.  The NOOP is never
answered; the connection is closed."""

from __future__ import annotations

import socket

import anyio
import pytest

from protokit.smtp import ServerConfig
from tests.interop.smtp_peers import make_backend, our_smtp_server

BURST = b"STARTTLS\r\nNOOP\r\n"
CLOSING = b"421 4.7.0 mx.test Commands pipelined after STARTTLS, closing connection\r\n"


def exchange(port: int, first: bytes, second: bytes) -> bytes:
    """Greet, EHLO, send ``first`` then ``second``; everything the server
    sends after the EHLO reply until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"EHLO c\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        s.sendall(first)
        if second:
            try:
                s.sendall(second)
            except OSError:
                pass  # already closed: fine
        out = b""
        while True:
            try:
                chunk = f.read1(4096)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            out += chunk
        return out


async def test_injection_in_one_segment() -> None:
    async with our_smtp_server(make_backend(), ServerConfig(hostname="mx.test")) as srv:
        out = await anyio.to_thread.run_sync(exchange, srv.plain, BURST, b"")
    assert out == CLOSING


@pytest.mark.parametrize("offset", range(1, len(BURST)))
async def test_injection_split_at_every_offset(offset: int) -> None:
    async with our_smtp_server(make_backend(), ServerConfig(hostname="mx.test")) as srv:
        out = await anyio.to_thread.run_sync(exchange, srv.plain, BURST[:offset], BURST[offset:])
    assert b"250" not in out  # the NOOP never answered
    if offset < len(b"STARTTLS\r\n"):
        # Both lines were in the server's buffer when STARTTLS was read.
        assert out == CLOSING
    else:
        # STARTTLS was answered alone; the NOOP arrived as plaintext where a
        # TLS hello belongs: the handshake fails and the server closes, or
        # the NOOP was already buffered when STARTTLS was read.
        assert out in (b"220 2.0.0 Ready to start TLS\r\n", CLOSING)


async def test_the_upgrade_still_works_without_injection() -> None:
    async with our_smtp_server(make_backend(), ServerConfig(hostname="mx.test")) as srv:

        def upgrade() -> bytes:
            with socket.create_connection(("127.0.0.1", srv.plain), timeout=5) as s:
                f = s.makefile("rb")
                f.readline()
                s.sendall(b"EHLO c\r\nSTARTTLS\r\n")
                while not f.readline().startswith(b"250 "):
                    pass
                assert f.readline() == b"220 2.0.0 Ready to start TLS\r\n"
                with srv.client_context().wrap_socket(s, server_hostname="localhost") as tls:
                    tls.sendall(b"NOOP\r\n")
                    return tls.recv(100)

        assert await anyio.to_thread.run_sync(upgrade) == b"250 2.0.0 OK\r\n"
