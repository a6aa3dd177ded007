"""StoreSMTPBackend under serve_smtp over loopback, against a real store in a
temporary directory: the MX role (local delivery, unknown users refused, no
AUTH), the submission role (AUTH required, plaintext mechanisms only after
STARTTLS, SCRAM from the stored keys, XOAUTH2 with the store's tokens and the
error challenge, Sent pre-marked popped plus the local recipients' INBOX, no
relaying), the size limit, and a 250 only once the message is committed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from anyio.streams.tls import TLSStream

from protokit.net import (
    Listener,
    ServerInfo,
    SMTPAuthenticationError,
    TLSMode,
    open_smtp,
    serve_smtp,
)
from protokit.sasl import ScramSHA256Client
from protokit.server import Account, AsyncStore, Store
from protokit.server._backend_smtp import StoreSMTPBackend
from protokit.smtp import ServerConfig
from tests.interop.smtp_peers import LocalCA, certificate_authority
from tests.net.test_smtp_server import Wire
from tests.server.conftest import Clock
from tests.server.helpers import read_all

MSG = b"Subject: hi\r\nFrom: alice@example.com\r\n\r\nhello\r\n"
MX_EHLO = (
    b"250-mx.test Hello c.example\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n"
    b"250 ENHANCEDSTATUSCODES\r\n"
)
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER")


@dataclass
class Servers:
    info: ServerInfo
    ca: LocalCA
    astore: AsyncStore

    def port(self, name: str) -> int:
        return self.info.port(name)


@asynccontextmanager
async def servers(
    store: Store, *, max_message_size: int = 64 * 1024 * 1024
) -> AsyncIterator[Servers]:
    astore = AsyncStore(store)
    mx = StoreSMTPBackend(astore, "mx", max_message_size=max_message_size)
    sub = StoreSMTPBackend(astore, "submission", max_message_size=max_message_size)
    with certificate_authority() as ca:
        ctx = ca.server_context()
        async with anyio.create_task_group() as tg:
            mx_info = await tg.start(
                lambda task_status: serve_smtp(
                    mx,
                    [Listener(name="mx")],
                    config=ServerConfig(hostname="mx.test"),
                    task_status=task_status,
                )
            )
            sub_info = await tg.start(
                lambda task_status: serve_smtp(
                    sub,
                    [
                        Listener(name="submission", ssl_context=ctx),
                        Listener(name="submissions", tls=TLSMode.IMPLICIT, ssl_context=ctx),
                    ],
                    config=ServerConfig(
                        hostname="mx.test", auth_mechanisms=MECHANISMS, auth_required=True
                    ),
                    task_status=task_status,
                )
            )
            info = ServerInfo({**mx_info.addresses, **sub_info.addresses})
            try:
                yield Servers(info, ca, astore)
            finally:
                tg.cancel_scope.cancel()


@asynccontextmanager
async def wire(port: int) -> AsyncIterator[Wire]:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with stream:
        w = Wire(stream)
        assert await w.line() == b"220 mx.test ESMTP protokit ready\r\n"
        yield w


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def inbox_messages(store: Store, account: Account, mailbox: str = "INBOX") -> list[bytes]:
    mb = store.mailbox(account.id, mailbox)
    return [read_all(store, account.id, m.gm_msgid) for m in store.fetch(mb.id, None)]


async def test_mx_delivers_to_local_accounts_and_refuses_unknown(
    store: Store, alice: Account, bob: Account
) -> None:
    async with servers(store) as srv, wire(srv.port("mx")) as w:
        assert await w.ehlo() == MX_EHLO
        assert await w.ask(b"AUTH PLAIN " + b64("\0alice@example.com\0alice-pw") + b"\r\n") == (
            b"502 5.5.1 Command not implemented\r\n"
        )
        assert await w.ask(b"MAIL FROM:<x@remote.example>\r\n") == b"250 2.1.0 Sender OK\r\n"
        assert await w.ask(b"RCPT TO:<nobody@example.com>\r\n") == (
            b"550 5.1.1 No such user here\r\n"
        )
        assert await w.ask(b"RCPT TO:<alice@example.com>\r\n") == b"250 2.1.5 Recipient OK\r\n"
        assert await w.ask(b"RCPT TO:<BOB@example.com>\r\n") == b"250 2.1.5 Recipient OK\r\n"
        assert await w.ask(b"DATA\r\n") == b"354 End data with <CR><LF>.<CR><LF>\r\n"
        await w.stream.send(MSG)
        assert await w.ask(b".\r\n") == b"250 2.0.0 Message accepted\r\n"
        # The 250 came after the commit: another connection sees it at once.
        assert inbox_messages(store, alice) == [MSG]
        assert inbox_messages(store, bob) == [MSG]
        assert inbox_messages(store, alice, "Sent") == []
        assert await w.ask(b"QUIT\r\n") == b"221 2.0.0 mx.test closing connection\r\n"


async def test_submission_needs_auth_and_tls_for_plain(store: Store, alice: Account) -> None:
    async with servers(store) as srv, wire(srv.port("submission")) as w:
        ehlo = await w.ehlo()
        assert b"250-STARTTLS\r\n" in ehlo
        # Bearer tokens are plaintext credentials too: after STARTTLS only.
        assert ehlo.endswith(b"250 AUTH SCRAM-SHA-256 SCRAM-SHA-1\r\n")
        assert await w.ask(b"MAIL FROM:<alice@example.com>\r\n") == (
            b"530 5.7.0 Authentication required\r\n"
        )
        plain = b"AUTH PLAIN " + b64("\0alice@example.com\0alice-pw") + b"\r\n"
        assert await w.ask(plain) == (
            b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
        )
        assert await w.ask(b"STARTTLS\r\n") == b"220 2.0.0 Ready to start TLS\r\n"
        w.stream = await TLSStream.wrap(
            w.stream, hostname="localhost", ssl_context=srv.ca.client_context()
        )
        assert (await w.ehlo()).endswith(
            b"250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n"
        )
        bad = b"AUTH PLAIN " + b64("\0alice@example.com\0wrong") + b"\r\n"
        assert await w.ask(bad) == b"535 5.7.8 Authentication credentials invalid\r\n"
        assert await w.ask(plain) == b"235 2.7.0 Authentication successful\r\n"
        assert await w.ask(b"MAIL FROM:<alice@example.com>\r\n") == b"250 2.1.0 Sender OK\r\n"
        assert await w.ask(b"RCPT TO:<far@remote.example>\r\n") == (
            b"550 5.7.1 Not a local account: this development server does not relay\r\n"
        )


async def test_submission_stores_sent_popped_and_delivers_locally(
    store: Store, alice: Account, bob: Account
) -> None:
    async with (
        servers(store) as srv,
        open_smtp(
            "127.0.0.1",
            srv.port("submission"),
            ssl_context=srv.ca.client_context(),
            login=("alice@example.com", "alice-pw"),
        ) as client,
    ):
        result = await client.send_message(
            MSG, sender="alice@example.com", recipients=["bob@example.com"]
        )
        assert result.accepted == ["bob@example.com"]
        assert inbox_messages(store, alice, "Sent") == [MSG]
        assert inbox_messages(store, bob) == [MSG]
        assert inbox_messages(store, alice) == []
        [sent] = store.fetch(store.mailbox(alice.id, "Sent").id, None)
        assert "\\Seen" in sent.flags
        assert store.pop3_maildrop(alice.id) == []
        assert [e.gm_msgid for e in store.pop3_maildrop(alice.id, recent=True)] == [sent.gm_msgid]
        assert [e.size for e in store.pop3_maildrop(bob.id)] == [len(MSG)]


async def test_scram_from_stored_keys_over_implicit_tls(store: Store, alice: Account) -> None:
    async with servers(store) as srv:
        async with open_smtp(
            "127.0.0.1",
            srv.port("submissions"),
            tls=TLSMode.IMPLICIT,
            ssl_context=srv.ca.client_context(),
            login=ScramSHA256Client("alice@example.com", "alice-pw"),
        ) as client:
            assert client.authenticated
            await client.send_message(
                MSG, sender="alice@example.com", recipients=["alice@example.com"]
            )
        # To herself: Sent and INBOX share the one message.
        assert inbox_messages(store, alice) == [MSG]
        assert inbox_messages(store, alice, "Sent") == [MSG]
        with pytest.raises(SMTPAuthenticationError) as info:
            async with open_smtp(
                "127.0.0.1",
                srv.port("submissions"),
                tls=TLSMode.IMPLICIT,
                ssl_context=srv.ca.client_context(),
                login=ScramSHA256Client("alice@example.com", "wrong"),
            ):
                pass
        assert info.value.reply.code == 535


async def test_xoauth2_with_a_store_token_and_the_error_challenge(
    store: Store, alice: Account, clock: Clock
) -> None:
    clock.now = time.time()  # the server ends the session at the real-time expiry
    token, _ = store.issue_token("alice@example.com", 600)
    async with servers(store) as srv:
        stream = await anyio.connect_tcp("127.0.0.1", srv.port("submissions"))
        tls = await TLSStream.wrap(
            stream,
            hostname="localhost",
            ssl_context=srv.ca.client_context(),
            standard_compatible=False,
        )
        async with tls:
            w = Wire(tls)
            assert await w.line() == b"220 mx.test ESMTP protokit ready\r\n"
            await w.ehlo()
            bad = b64("user=alice@example.com\x01auth=Bearer pk_nope\x01\x01")
            reply = await w.ask(b"AUTH XOAUTH2 " + bad + b"\r\n")
            assert reply.startswith(b"334 ")
            challenge = json.loads(base64.b64decode(reply[4:-2]))
            assert challenge["status"] == "401"
            assert await w.ask(b"\r\n") == b"535 5.7.8 Authentication credentials invalid\r\n"
            good = b64(f"user=alice@example.com\x01auth=Bearer {token.expose()}\x01\x01")
            assert await w.ask(b"AUTH XOAUTH2 " + good + b"\r\n") == (
                b"235 2.7.0 Authentication successful\r\n"
            )
            assert await w.ask(b"MAIL FROM:<alice@example.com>\r\n") == b"250 2.1.0 Sender OK\r\n"
            assert await w.ask(b"QUIT\r\n") == b"221 2.0.0 mx.test closing connection\r\n"


async def test_a_token_for_another_user_is_refused(
    store: Store, alice: Account, bob: Account
) -> None:
    token, _ = store.issue_token("bob@example.com", 600)
    async with servers(store) as srv:
        with pytest.raises(SMTPAuthenticationError) as info:
            async with open_smtp(
                "127.0.0.1",
                srv.port("submissions"),
                tls=TLSMode.IMPLICIT,
                ssl_context=srv.ca.client_context(),
                login=("alice@example.com", token.expose()),
            ):
                pass
        assert info.value.reply.code == 535


async def test_too_large_is_refused_and_nothing_is_stored(store: Store, alice: Account) -> None:
    async with servers(store, max_message_size=100) as srv, wire(srv.port("mx")) as w:
        await w.ehlo()
        assert await w.ask(b"MAIL FROM:<x@remote.example> SIZE=101\r\n") == (
            b"552 5.3.4 Message too big\r\n"
        )
        assert await w.ask(b"MAIL FROM:<x@remote.example>\r\n") == b"250 2.1.0 Sender OK\r\n"
        assert await w.ask(b"RCPT TO:<alice@example.com>\r\n") == b"250 2.1.5 Recipient OK\r\n"
        assert await w.ask(b"DATA\r\n") == b"354 End data with <CR><LF>.<CR><LF>\r\n"
        await w.stream.send(b"Subject: big\r\n\r\n" + b"x" * 200 + b"\r\n")
        assert await w.ask(b".\r\n") == b"552 5.3.4 Message too big\r\n"
        assert inbox_messages(store, alice) == []


async def test_a_token_session_ends_when_the_token_expires(tmp_path: Path) -> None:
    # A store on the real clock: the server ends the session at the expiry.
    with Store.open(tmp_path / "rt", password_iterations=1000, scram_iterations=64) as store:
        store.add_account("alice@example.com", "alice-pw")
        # 2 s: the store counts whole seconds, so 1 to 2 s are left.
        token, expires = store.issue_token("alice@example.com", 2)
        async with servers(store) as srv:
            stream = await anyio.connect_tcp("127.0.0.1", srv.port("submissions"))
            tls = await TLSStream.wrap(
                stream,
                hostname="localhost",
                ssl_context=srv.ca.client_context(),
                standard_compatible=False,
            )
            async with tls:
                w = Wire(tls)
                await w.line()
                await w.ehlo()
                good = b64(f"user=alice@example.com\x01auth=Bearer {token.expose()}\x01\x01")
                assert await w.ask(b"AUTH XOAUTH2 " + good + b"\r\n") == (
                    b"235 2.7.0 Authentication successful\r\n"
                )
                assert await w.ask(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"
                assert await w.eof() == (
                    b"421 4.7.0 The access token expired, authenticate again\r\n"
                )
                assert time.time() >= expires.timestamp()
