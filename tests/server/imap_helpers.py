"""Helpers for the store-backed IMAP tests: serve_imap (and serve_smtp's MX
role, for deliveries) on one AsyncStore over loopback, and a raw client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from protokit.imap import ServerConfig
from protokit.net import Listener, ServerInfo, serve_imap, serve_smtp
from protokit.net._imap_server import DEFAULT_CAPABILITIES  # not exported
from protokit.server import AsyncStore, Store, StoreIMAPBackend, StoreSMTPBackend
from tests.net.imap_wire import Wire, login, raw

MECHANISMS = ("SCRAM-SHA-256", "PLAIN", "XOAUTH2", "OAUTHBEARER")
#: Loopback without TLS: LOGIN and PLAIN allowed (the serve tests cover TLS).
LOOPBACK = ServerConfig(
    capabilities=DEFAULT_CAPABILITIES, mechanisms=MECHANISMS, allow_plaintext=True
)
ONE = b"Subject: one\r\nFrom: Bob <bob@example.com>\r\nMessage-ID: <1@x>\r\n\r\nfirst\r\n"
TWO = b"Subject: two\r\nTo: alice@example.com\r\n\r\nsecond body\r\n"


@dataclass
class Running:
    astore: AsyncStore
    backend: StoreIMAPBackend
    imap: ServerInfo
    smtp: ServerInfo

    @property
    def port(self) -> int:
        return self.imap.port("imap")


@asynccontextmanager
async def imap_server(store: Store, *, change_buffer: int = 1000) -> AsyncIterator[Running]:
    astore = AsyncStore(store)
    backend = StoreIMAPBackend(astore, change_buffer=change_buffer)
    mx = StoreSMTPBackend(astore, "mx")
    async with anyio.create_task_group() as tg:
        imap = await tg.start(
            lambda task_status: serve_imap(
                backend, [Listener(name="imap")], config=LOOPBACK, task_status=task_status
            )
        )
        smtp = await tg.start(
            lambda task_status: serve_smtp(mx, [Listener(name="smtp")], task_status=task_status)
        )
        try:
            yield Running(astore, backend, imap, smtp)
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def client(
    port: int, user: bytes = b"alice@example.com", password: bytes = b"alice-pw"
) -> AsyncIterator[Wire]:
    """A raw connection, logged in."""
    async with raw(port) as w:
        assert (await w.line()).startswith(b"* OK [CAPABILITY IMAP4rev1 ")
        await login(w, user, password, tag=b"L")
        yield w


async def smtp_deliver(port: int, to: str, message: bytes) -> None:
    """One message through the MX listener, raw SMTP, every reply checked."""
    async with raw(port) as w:
        assert (await w.line()).startswith(b"220 ")
        assert (await w.ask(b"EHLO c.example\r\n", b"250 ")).startswith(b"250-")
        await w.line()
        assert (await w.ask(b"MAIL FROM:<x@y.example>\r\n", b"\r\n")).startswith(b"250")
        assert (await w.ask(f"RCPT TO:<{to}>\r\n".encode(), b"\r\n")).startswith(b"250")
        assert (await w.ask(b"DATA\r\n", b"\r\n")).startswith(b"354")
        reply = await w.ask(message + b".\r\n", b"\r\n")
        assert reply == b"250 2.0.0 Message accepted\r\n"
        await w.ask(b"QUIT\r\n", b"\r\n")
