"""Helpers of the IMAP server interop tests: our IMAP server running in a
test's task group (a trustme certificate for 127.0.0.1), the real clients'
set-ups (a fetchmail run control file, curl runs) and a raw line client
for what no client library does (IDLE, STARTTLS injection)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.abc
import trustme

from protokit.imap import ServerConfig
from protokit.net import InMemoryIMAPBackend, Listener, ServerInfo, TLSMode, serve_imap

T = TypeVar("T")

MSG1 = b"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nSubject: one\r\n\r\nfirst\r\n"
MSG2 = b"From: cat@example.org\r\nSubject: two\r\n\r\nsecond body\r\nline 2\r\n"


def make_backend(token: str | None = None) -> InMemoryIMAPBackend:
    """alice/alicepw with MSG1 and MSG2 in INBOX (UIDs 1 and 2); ``token``
    a bearer token for alice."""
    b = InMemoryIMAPBackend()
    b.add_user("alice", "alicepw")
    b.add_user("bob", "bobpw")
    b.deliver("alice", MSG1)
    b.deliver("alice", MSG2)
    if token is not None:
        b.add_token(token, "alice")
    return b


async def in_thread(fn: Callable[[], T], timeout: float = 30) -> T:
    with anyio.fail_after(timeout):
        return await anyio.to_thread.run_sync(fn)


@dataclass
class OurServer:
    """Our IMAP server in a test: its backend, ports and the CA to trust."""

    backend: InMemoryIMAPBackend
    info: ServerInfo
    ca: trustme.CA
    cafile: Path

    @property
    def plain(self) -> int:
        return self.info.port("plain")

    @property
    def implicit(self) -> int:
        return self.info.port("implicit")

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@asynccontextmanager
async def our_imap_server(
    directory: Path,
    backend: InMemoryIMAPBackend,
    config: ServerConfig | None = None,
    idle_timeout: float = 60.0,
) -> AsyncIterator[OurServer]:
    """serve_imap on 127.0.0.1: "plain" (with STARTTLS) and "implicit"
    listeners, a trustme certificate for localhost and 127.0.0.1."""
    ca = trustme.CA()
    cafile = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", common_name="localhost").configure_cert(server_ctx)
    listeners = [
        Listener(name="plain", ssl_context=server_ctx),
        Listener(name="implicit", tls=TLSMode.IMPLICIT, ssl_context=server_ctx),
    ]
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_imap(
                backend,
                listeners,
                config=config,
                idle_timeout=idle_timeout,
                task_status=task_status,
            )
        )
        try:
            yield OurServer(backend, info, ca, cafile)
        finally:
            tg.cancel_scope.cancel()


class LineClient:
    """A raw IMAP client over an anyio socket: send lines, read lines, each
    wait bounded (for IDLE and the injection test)."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    @asynccontextmanager
    async def connect(cls, port: int) -> AsyncIterator[LineClient]:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            yield cls(stream)

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def line(self, timeout: float = 10) -> bytes:
        """The next line, CRLF included; b"" at end of stream."""
        with anyio.fail_after(timeout):
            while b"\r\n" not in self.buffer:
                try:
                    data = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    rest, self.buffer = self.buffer, b""
                    return rest
                self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"

    async def until(self, prefix: bytes, timeout: float = 10) -> list[bytes]:
        """Lines up to and including the first that starts with ``prefix``."""
        out = []
        with anyio.fail_after(timeout):
            while True:
                line = await self.line(timeout)
                out.append(line)
                if line.startswith(prefix) or not line:
                    return out


def fetchmailrc(
    path: Path,
    *,
    port: int,
    user: str,
    password: str,
    mode: str,
    mda: str,
    cafile: Path,
    keep: bool,
) -> Path:
    """A fetchmail run control file (mode 0600) polling 127.0.0.1 with IMAP:
    ``mode`` "plain", "starttls" or "ssl"."""
    tls = {
        "plain": "sslproto ''",
        "starttls": f"sslproto TLS1.2+ sslcertck sslcertfile {cafile} sslcommonname localhost",
        "ssl": f"ssl sslcertck sslcertfile {cafile} sslcommonname localhost",
    }[mode]
    path.write_text(
        "set no bouncemail\n"
        "set no syslog\n"
        "set invisible\n"
        f"poll 127.0.0.1 service {port} protocol IMAP auth password timeout 20\n"
        f'  user "{user}" there with password "{password}" is "root" here\n'
        f"  {tls}\n"
        f"  {'keep' if keep else 'no keep'} fetchall no stripcr\n"
        f'  mda "{mda}"\n'
    )
    path.chmod(0o600)
    return path


def free_socket_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
