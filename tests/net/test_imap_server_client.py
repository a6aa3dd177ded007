"""Our async IMAP client (protokit.net.open_imap) against serve_imap on the
in-memory backend: STARTTLS and implicit TLS, login, list, select, a 4 MB
APPEND streamed and FETCHed back streamed, search, store, move, expunge,
and IDLE woken by a second connection's APPEND."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from protokit.imap import Exists, FetchBody, ServerConfig
from protokit.net import IMAPAuthenticationError, TLSMode, open_imap
from protokit.net._imap_server import DEFAULT_CAPABILITIES  # not exported
from tests.interop.imap_server_peers import MSG1, OurServer, make_backend, our_imap_server

BIG = b"Subject: big\r\n\r\n" + (b"0123456789" * 7 + b"\r\n") * 55000  # about 4 MB


async def chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def client(srv: OurServer, mode: str):  # type: ignore[no-untyped-def]
    implicit = mode == "implicit"
    return open_imap(
        "127.0.0.1",
        srv.implicit if implicit else srv.plain,
        tls=TLSMode.IMPLICIT if implicit else TLSMode.STARTTLS,
        ssl_context=srv.client_context(),
    )


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_our_client_against_our_server(tmp_path: Path, mode: str) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend) as srv:
        with anyio.fail_after(30):
            async with client(srv, mode) as c:
                await c.login("alice", "alicepw")
                names = [e.name for e in await c.list()]
                assert names == ["INBOX", "Drafts", "Sent", "Trash", "Junk"]
                state = await c.select("INBOX")
                assert (state.exists, state.uidnext) == (2, 3)
                appended = await c.append("INBOX", chunks(BIG), size=len(BIG), flags=["\\Seen"])
                assert appended.uids == (3,)
                assert await c.search("SEEN") == [3]
                fetched = c.fetch([3, 1], ["UID", FetchBody(peek=True)])
                got = [(msg.uid, await msg.read()) async for msg in fetched]
                assert got == [(1, MSG1), (3, BIG)]
                await c.add_flags([2], ["\\Deleted"])
                assert await c.expunge() == [2]
                moved = await c.move([1], "Trash")
                assert moved.uidvalidity == backend.uidvalidity("alice", "Trash")
    assert [(u, d) for u, d, _ in backend.messages("alice")] == [(3, BIG)]
    assert [d for _, d, _ in backend.messages("alice", "Trash")] == [MSG1]


async def test_our_clients_idle_woken_by_another_append(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend) as srv:
        with anyio.fail_after(30):
            async with client(srv, "implicit") as watcher, client(srv, "implicit") as writer:
                await watcher.login("alice", "alicepw")
                await writer.login("alice", "alicepw")
                await watcher.select("INBOX")
                async with watcher.idle() as idle:
                    await writer.append("INBOX", b"Subject: new\r\n\r\nhi\r\n")
                    updates = await idle.check(10)
                assert Exists(count=3) in updates


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN", "XOAUTH2", "OAUTHBEARER"])
async def test_our_client_authenticates_with_each_mechanism(
    tmp_path: Path, mechanism: str
) -> None:
    config = ServerConfig(capabilities=DEFAULT_CAPABILITIES, mechanisms=(mechanism,))
    async with our_imap_server(tmp_path, make_backend("tok-alice"), config) as srv:
        with anyio.fail_after(30):
            async with client(srv, "implicit") as c:
                secret = {"password": "alicepw"} if "OAUTH" not in mechanism else {}
                token = {"token": "tok-alice"} if "OAUTH" in mechanism else {}
                assert await c.auth("alice", **secret, **token) == mechanism  # type: ignore[arg-type]
                assert (await c.select("INBOX")).exists == 2
            async with client(srv, "implicit") as c:
                wrong = {"password": "nope"} if "OAUTH" not in mechanism else {"token": "bad"}
                with pytest.raises(IMAPAuthenticationError):
                    await c.auth("alice", **wrong)  # type: ignore[arg-type]
