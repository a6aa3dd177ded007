"""StorePOP3Backend under serve_pop3 over loopback, against a real store in a
temporary directory: normal mode (not yet popped; popped at QUIT after RETR
or DELE, never removed from the store), recent mode (the last 30 days,
Sent included, popped state untouched), [IN-USE], SCRAM and XOAUTH2 from the
store, and the XOAUTH2 error challenge."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.streams.tls import TLSStream

from protokit.net import Listener, ServerInfo, TLSMode, open_pop3, serve_pop3
from protokit.pop3 import ServerConfig
from protokit.sasl import ScramSHA256Client
from protokit.server import Account, AsyncStore, Store
from protokit.server._backend_pop3 import StorePOP3Backend, split_recent
from tests.interop.smtp_peers import LocalCA, certificate_authority
from tests.net.test_pop3_server import Wire
from tests.server.conftest import Clock
from tests.server.helpers import deliver, writer_with

ONE = b"Subject: one\r\n\r\nfirst\r\n"
TWO = b"Subject: two\r\n\r\n.second\r\n"
SENT = b"Subject: sent\r\n\r\nby alice\r\n"
CONFIG = ServerConfig(
    allow_plaintext_auth=True,
    sasl_mechanisms=("SCRAM-SHA-256", "PLAIN", "XOAUTH2"),
)


@asynccontextmanager
async def pop3_server(store: Store) -> AsyncIterator[tuple[ServerInfo, LocalCA, StorePOP3Backend]]:
    backend = StorePOP3Backend(AsyncStore(store))
    with certificate_authority() as ca:
        listeners = [
            Listener(name="pop3"),
            Listener(name="pop3s", tls=TLSMode.IMPLICIT, ssl_context=ca.server_context()),
        ]
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                lambda task_status: serve_pop3(
                    backend, listeners, config=CONFIG, task_status=task_status
                )
            )
            try:
                yield info, ca, backend
            finally:
                tg.cancel_scope.cancel()


@asynccontextmanager
async def wire(port: int) -> AsyncIterator[Wire]:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with stream:
        w = Wire(stream)
        assert await w.line() == b"+OK POP3 server ready\r\n"
        yield w


async def login(w: Wire, user: bytes, password: bytes = b"alice-pw") -> bytes:
    assert await w.ask(b"USER " + user + b"\r\n") == b"+OK send PASS\r\n"
    return await w.ask(b"PASS " + password + b"\r\n")


def fill(store: Store, alice: Account, bob: Account) -> tuple[int, int, int]:
    one = deliver(store, "alice@example.com", ONE).gm_msgid
    sent = store.submit("alice@example.com", ["bob@example.com"], writer_with(store, [SENT]))
    two = deliver(store, "alice@example.com", TWO).gm_msgid
    return one, sent.sent.gm_msgid, two


def test_split_recent() -> None:
    assert split_recent("recent:a@x.example") == ("a@x.example", True)
    assert split_recent("RECENT:a@x.example") == ("a@x.example", True)
    assert split_recent("a@x.example") == ("a@x.example", False)


async def test_normal_mode_pops_at_quit_and_recent_mode_sees_everything(
    store: Store, alice: Account, bob: Account
) -> None:
    one, sent, two = fill(store, alice, bob)
    async with pop3_server(store) as (info, _, backend):
        async with wire(info.port("pop3")) as w:
            assert await login(w, b"alice@example.com") == (
                b"+OK alice@example.com's maildrop has 2 messages (48 octets)\r\n"
            )
            assert await w.ask(b"UIDL\r\n", b"\r\n.\r\n") == (
                f"+OK\r\n1 {one}\r\n2 {two}\r\n.\r\n".encode()
            )
            assert await w.ask(b"RETR 2\r\n", b"\r\n.\r\n") == (
                b"+OK 25 octets\r\nSubject: two\r\n\r\n..second\r\n.\r\n"
            )
            assert await w.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (2 messages left)\r\n"
            )
        async with wire(info.port("pop3")) as w:
            assert await login(w, b"alice@example.com") == (
                b"+OK alice@example.com's maildrop has 1 message (23 octets)\r\n"
            )
            # Closed without QUIT after RETR: nothing is popped.
            assert (await w.ask(b"RETR 1\r\n", b"\r\n.\r\n")).endswith(b"first\r\n.\r\n")
        with anyio.fail_after(5):
            while backend.locked(alice.id):
                await anyio.sleep(0.01)
        async with wire(info.port("pop3")) as w:
            reply = await login(w, b"recent:alice@example.com")
            assert (
                reply == b"+OK recent:alice@example.com's maildrop has 3 messages (75 octets)\r\n"
            )
            assert await w.ask(b"UIDL\r\n", b"\r\n.\r\n") == (
                f"+OK\r\n1 {one}\r\n2 {sent}\r\n3 {two}\r\n.\r\n".encode()
            )
            assert (await w.ask(b"RETR 1\r\n", b"\r\n.\r\n")).endswith(b"first\r\n.\r\n")
            assert await w.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (3 messages left)\r\n"
            )
    # The recent-mode RETR popped nothing; normal mode still offers ONE.
    assert [e.gm_msgid for e in store.pop3_maildrop(alice.id)] == [one]
    # Nothing left the store: IMAP still has all of it.
    assert len(store.fetch(store.mailbox(alice.id, "INBOX").id, None)) == 2


async def test_dele_pops_and_keeps_the_message(store: Store, alice: Account, bob: Account) -> None:
    _, _, two = fill(store, alice, bob)
    async with pop3_server(store) as (info, _, _), wire(info.port("pop3")) as w:
        await login(w, b"alice@example.com")
        assert await w.ask(b"DELE 1\r\n") == b"+OK message 1 deleted\r\n"
        assert await w.ask(b"QUIT\r\n") == (
            b"+OK localhost POP3 server signing off (1 message left)\r\n"
        )
    assert [e.gm_msgid for e in store.pop3_maildrop(alice.id)] == [two]
    assert len(store.fetch(store.mailbox(alice.id, "INBOX").id, None)) == 2


async def test_recent_mode_is_the_last_30_days(
    store: Store, alice: Account, bob: Account, clock: Clock
) -> None:
    deliver(store, "alice@example.com", ONE)
    clock.now += 31 * 24 * 3600
    two = deliver(store, "alice@example.com", TWO).gm_msgid
    async with pop3_server(store) as (info, _, _), wire(info.port("pop3")) as w:
        assert await login(w, b"recent:alice@example.com") == (
            b"+OK recent:alice@example.com's maildrop has 1 message (25 octets)\r\n"
        )
        assert await w.ask(b"UIDL\r\n", b"\r\n.\r\n") == f"+OK\r\n1 {two}\r\n.\r\n".encode()


async def test_second_session_is_in_use_and_bad_logins_look_alike(
    store: Store, alice: Account, bob: Account
) -> None:
    async with pop3_server(store) as (info, _, backend):
        async with wire(info.port("pop3")) as first:
            assert (await login(first, b"alice@example.com")).startswith(b"+OK ")
            assert backend.locked(alice.id)
            async with wire(info.port("pop3")) as second:
                assert await login(second, b"recent:alice@example.com") == (
                    b"-ERR [IN-USE] maildrop already locked\r\n"
                )
                wrong = await login(second, b"alice@example.com", b"nope")
                unknown = await login(second, b"nobody@example.com", b"nope")
                assert wrong == unknown == b"-ERR [AUTH] authentication failed\r\n"
                # Another account is not locked.
                assert (await login(second, b"bob@example.com", b"bob-pw")).startswith(b"+OK ")
            assert await first.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (maildrop empty)\r\n"
            )
        with anyio.fail_after(5):
            while backend.locked(alice.id):
                await anyio.sleep(0.01)


async def test_scram_and_xoauth2_from_the_store(
    store: Store, alice: Account, bob: Account, clock: Clock
) -> None:
    clock.now = time.time()  # the server ends the session at the real-time expiry
    one, sent, two = fill(store, alice, bob)
    token, _ = store.issue_token("alice@example.com", 600)
    async with pop3_server(store) as (info, ca, _):
        async with open_pop3(
            "127.0.0.1",
            info.port("pop3s"),
            tls=TLSMode.IMPLICIT,
            ssl_context=ca.client_context(),
        ) as client:
            await client.authenticate(ScramSHA256Client("recent:alice@example.com", "alice-pw"))
            assert await client.uidl() == {1: str(one), 2: str(sent), 3: str(two)}
        stream = await anyio.connect_tcp("127.0.0.1", info.port("pop3s"))
        tls = await TLSStream.wrap(
            stream,
            hostname="localhost",
            ssl_context=ca.client_context(),
            standard_compatible=False,
        )
        async with tls:
            w = Wire(tls)
            assert await w.line() == b"+OK POP3 server ready\r\n"
            bad = base64.b64encode(b"user=alice@example.com\x01auth=Bearer pk_nope\x01\x01")
            reply = await w.ask(b"AUTH XOAUTH2 " + bad + b"\r\n")
            assert reply.startswith(b"+ ")
            assert json.loads(base64.b64decode(reply[2:-2]))["status"] == "401"
            assert await w.ask(b"\r\n") == b"-ERR [AUTH] authentication failed\r\n"
            good = base64.b64encode(
                f"user=alice@example.com\x01auth=Bearer {token.expose()}\x01\x01".encode()
            )
            assert await w.ask(b"AUTH XOAUTH2 " + good + b"\r\n") == (
                b"+OK alice@example.com's maildrop has 2 messages (48 octets)\r\n"
            )
            assert await w.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (2 messages left)\r\n"
            )


async def test_a_token_session_ends_when_the_token_expires(tmp_path: Path) -> None:
    # A store on the real clock: the server ends the session at the expiry.
    with Store.open(tmp_path / "rt", password_iterations=1000, scram_iterations=64) as store:
        store.add_account("alice@example.com", "alice-pw")
        # 2 s: the store counts whole seconds, so 1 to 2 s are left.
        token, expires = store.issue_token("alice@example.com", 2)
        async with pop3_server(store) as (info, ca, _):
            stream = await anyio.connect_tcp("127.0.0.1", info.port("pop3s"))
            tls = await TLSStream.wrap(
                stream,
                hostname="localhost",
                ssl_context=ca.client_context(),
                standard_compatible=False,
            )
            async with tls:
                w = Wire(tls)
                await w.line()
                good = base64.b64encode(
                    f"user=alice@example.com\x01auth=Bearer {token.expose()}\x01\x01".encode()
                )
                assert (await w.ask(b"AUTH XOAUTH2 " + good + b"\r\n")).startswith(b"+OK ")
                assert await w.ask(b"NOOP\r\n") == b"+OK\r\n"
                assert await w.eof() == b"-ERR [AUTH] the access token expired: log in again\r\n"
                assert time.time() >= expires.timestamp()
