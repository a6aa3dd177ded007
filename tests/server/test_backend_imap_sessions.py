"""StoreIMAPBackend across sessions and time, over loopback on asyncio and
trio: IDLE woken by a delivery through the MX listener (StoreSMTPBackend on
the same AsyncStore), through AsyncStore.deliver and by a submission
(Store.submit group-committed, as the 587/465 roles do), another session's flag
change and expunge reported (at NOOP and during IDLE), a session
authenticated by a bearer token ended by "* BYE [EXPIRED]" when the token
expires, SCRAM and XOAUTH2 from the store (through open_imap), and the
XOAUTH2 error challenge for a bad token."""

from __future__ import annotations

import base64
import json
import time

import pytest

from protokit.imap import FetchBody
from protokit.net import TLSMode, open_imap
from protokit.server import Account, AsyncStore, Store, StorePOP3Backend
from tests.net.imap_wire import raw
from tests.server.conftest import Clock
from tests.server.helpers import deliver, writer_with
from tests.server.imap_helpers import ONE, TWO, client, imap_server, smtp_deliver

pytestmark = pytest.mark.usefixtures("alice", "bob")
NEW = b"Subject: new\r\n\r\njust arrived\r\n"


def xoauth2(user: str, token: str) -> bytes:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


async def test_idle_is_woken_by_mail_over_smtp(store: Store, alice: Account) -> None:
    deliver(store, "alice@example.com", ONE)
    async with imap_server(store) as running, client(running.port) as w:
        assert (await w.ask(b"a SELECT INBOX\r\n")).startswith(b"* FLAGS ")
        assert await w.ask(b"b IDLE\r\n", b"\r\n") == b"+ idling\r\n"
        await smtp_deliver(running.smtp.port("smtp"), "alice@example.com", NEW)
        assert await w.line() == b"* 2 EXISTS\r\n"
        # A delivery committed straight through the AsyncStore wakes it too.
        astore = running.astore
        await astore.deliver("alice@example.com", writer_with(store, [TWO]))
        assert await w.line() == b"* 3 EXISTS\r\n"
        # So does mail Bob submits (the submission role's store call).
        await astore.commit(
            store.submit, "bob@example.com", ["alice@example.com"], writer_with(store, [NEW])
        )
        assert await w.line() == b"* 4 EXISTS\r\n"
        assert await w.ask(b"DONE\r\n", b"\r\n") == b"b OK IDLE terminated\r\n"
        assert await w.ask(b"c UID FETCH 2:* (BODY.PEEK[])\r\n") == (
            b"* 2 FETCH (UID 2 BODY[] {30}\r\n" + NEW + b")\r\n"
            b"* 3 FETCH (UID 3 BODY[] {52}\r\n" + TWO + b")\r\n"
            b"* 4 FETCH (UID 4 BODY[] {30}\r\n" + NEW + b")\r\n"
            b"c OK UID FETCH completed\r\n"
        )
        # Bob's mail does not wake Alice.
        assert await w.ask(b"d IDLE\r\n", b"\r\n") == b"+ idling\r\n"
        await smtp_deliver(running.smtp.port("smtp"), "bob@example.com", NEW)
        await smtp_deliver(running.smtp.port("smtp"), "alice@example.com", ONE)
        assert await w.line() == b"* 5 EXISTS\r\n"
        assert await w.ask(b"DONE\r\n", b"\r\n") == b"d OK IDLE terminated\r\n"


async def test_another_sessions_changes(store: Store) -> None:
    deliver(store, "alice@example.com", ONE)
    deliver(store, "alice@example.com", TWO)
    async with imap_server(store) as running:
        async with client(running.port) as a, client(running.port) as b:
            assert await a.ask(b"a0 ENABLE CONDSTORE\r\n") == (
                b"* ENABLED CONDSTORE\r\na0 OK ENABLE completed\r\n"
            )
            await a.ask(b"a1 SELECT INBOX\r\n")
            await b.ask(b"b1 SELECT INBOX\r\n")
            assert await b.ask(b"b2 STORE 1 +FLAGS (\\Flagged)\r\n") == (
                b"* 1 FETCH (FLAGS (\\Flagged))\r\nb2 OK STORE completed\r\n"
            )
            assert await a.ask(b"a2 NOOP\r\n") == (
                b"* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (4))\r\na2 OK NOOP completed\r\n"
            )
            # Its own change is not reported back to b.
            assert await b.ask(b"b3 NOOP\r\n") == b"b3 OK NOOP completed\r\n"
            assert await a.ask(b"a4 IDLE\r\n", b"\r\n") == b"+ idling\r\n"
            await b.ask(b"b4 STORE 2 +FLAGS.SILENT (\\Seen \\Deleted)\r\n")
            assert await a.line() == b"* 2 FETCH (UID 2 FLAGS (\\Deleted \\Seen) MODSEQ (5))\r\n"
            assert await b.ask(b"b5 EXPUNGE\r\n") == b"* 2 EXPUNGE\r\nb5 OK EXPUNGE completed\r\n"
            assert await a.line() == b"* 2 EXPUNGE\r\n"
            assert await a.ask(b"DONE\r\n", b"\r\n") == b"a4 OK IDLE terminated\r\n"
            # A flag change seen after reconnecting.
        async with client(running.port) as c:
            await c.ask(b"c1 SELECT INBOX\r\n")
            assert await c.ask(b"c2 FETCH 1:* (FLAGS)\r\n") == (
                b"* 1 FETCH (FLAGS (\\Flagged))\r\nc2 OK FETCH completed\r\n"
            )


async def test_token_session_ends_when_the_token_expires(store: Store, clock: Clock) -> None:
    clock.now = time.time()  # the server ends the session at the real-time expiry
    token, expires = store.issue_token("alice@example.com", expires_in=1)
    async with imap_server(store) as running, raw(running.port) as w:
        await w.line()
        reply = await w.ask(
            b"a AUTHENTICATE XOAUTH2 " + xoauth2("alice@example.com", token.expose()) + b"\r\n"
        )
        assert reply == b"a OK Logged in\r\n"
        assert (await w.ask(b"b SELECT INBOX\r\n")).endswith(
            b"b OK [READ-WRITE] SELECT completed\r\n"
        )
        # IDLE does not keep it alive: the server says why and closes.
        assert await w.ask(b"c IDLE\r\n", b"\r\n") == b"+ idling\r\n"
        assert await w.eof() == b"* BYE [EXPIRED] The access token expired, log in again\r\n"
        assert time.time() >= expires.timestamp()


async def test_xoauth2_error_challenge_and_password_failures(store: Store) -> None:
    async with imap_server(store) as running, raw(running.port) as w:
        await w.line()
        reply = await w.ask(
            b"a AUTHENTICATE XOAUTH2 " + xoauth2("alice@example.com", "pk_nope") + b"\r\n",
            b"\r\n",
        )
        assert reply.startswith(b"+ ")
        assert json.loads(base64.b64decode(reply[2:])) == {
            "status": "401",
            "schemes": "bearer",
            "scope": "https://mail.google.com/",
        }
        assert await w.ask(b"\r\n", b"\r\n") == (
            b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
        )
        # Unknown user and wrong password: the same answer.
        assert await w.ask(b"b LOGIN alice@example.com wrong\r\n") == (
            b"b NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
        )
        assert await w.ask(b"c LOGIN nobody@example.com wrong\r\n") == (
            b"c NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
        )


async def test_open_imap_with_scram_and_a_token(store: Store, clock: Clock) -> None:
    clock.now = time.time()
    token, _ = store.issue_token("bob@example.com")
    store.submit("alice@example.com", ["bob@example.com"], writer_with(store, [TWO]))
    async with imap_server(store) as running:
        async with open_imap(
            "127.0.0.1", running.port, tls=TLSMode.PLAIN, allow_plaintext_auth=True
        ) as imap:
            assert await imap.auth("alice@example.com", password="alice-pw") == "SCRAM-SHA-256"
            state = await imap.select("Sent")
            assert state.exists == 1
            got = [m async for m in imap.fetch(1, ["FLAGS", FetchBody(peek=True)])]
            assert [(m.uid, m.flags, m.body) for m in got] == [(1, ("\\Seen",), TWO)]
        async with open_imap(
            "127.0.0.1", running.port, tls=TLSMode.PLAIN, allow_plaintext_auth=True
        ) as imap:
            assert (
                await imap.auth("bob@example.com", token=token.expose(), mechanisms=["XOAUTH2"])
                == "XOAUTH2"
            )
            status = await imap.status("INBOX", ["MESSAGES", "UNSEEN"])
            assert status == {"MESSAGES": 1, "UNSEEN": 1}


async def test_a_change_queue_overflow_re_reads_the_mailbox(store: Store, alice: Account) -> None:
    deliver(store, "alice@example.com", ONE)
    deliver(store, "alice@example.com", TWO)
    async with (
        imap_server(store, change_buffer=2) as running,
        client(running.port) as a,
        client(running.port) as b,
    ):
        await a.ask(b"a1 SELECT INBOX\r\n")
        await b.ask(b"b1 SELECT INBOX\r\n")
        # More changes than a's queue holds: flags, an expunge, deliveries.
        await b.ask(b"b2 STORE 1 +FLAGS (\\Deleted)\r\n")
        await b.ask(b"b3 STORE 2 +FLAGS (\\Flagged)\r\n")
        assert await b.ask(b"b4 EXPUNGE\r\n") == b"* 1 EXPUNGE\r\nb4 OK EXPUNGE completed\r\n"
        for _ in range(3):
            await running.astore.deliver("alice@example.com", writer_with(store, [NEW]))
        assert await a.ask(b"a2 NOOP\r\n") == (
            b"* 1 EXPUNGE\r\n"
            b"* 4 EXISTS\r\n"
            b"* 1 FETCH (UID 2 FLAGS (\\Flagged))\r\n"
            b"a2 OK NOOP completed\r\n"
        )
        assert await a.ask(b"a3 UID FETCH 1:* (FLAGS)\r\n") == (
            b"* 1 FETCH (UID 2 FLAGS (\\Flagged))\r\n"
            b"* 2 FETCH (UID 3 FLAGS ())\r\n"
            b"* 3 FETCH (UID 4 FLAGS ())\r\n"
            b"* 4 FETCH (UID 5 FLAGS ())\r\n"
            b"a3 OK UID FETCH completed\r\n"
        )
        # After the re-read, changes flow through the new queue again.
        assert await a.ask(b"a4 IDLE\r\n", b"\r\n") == b"+ idling\r\n"
        await running.astore.deliver("alice@example.com", writer_with(store, [NEW]))
        assert await a.line() == b"* 5 EXISTS\r\n"
        assert await a.ask(b"DONE\r\n", b"\r\n") == b"a4 OK IDLE terminated\r\n"


async def test_oauthbearer_error_challenge(store: Store) -> None:
    async with imap_server(store) as running, raw(running.port) as w:
        await w.line()
        bad = base64.b64encode(b"n,a=alice@example.com,\x01auth=Bearer pk_nope\x01\x01")
        reply = await w.ask(b"a AUTHENTICATE OAUTHBEARER " + bad + b"\r\n", b"\r\n")
        assert reply.startswith(b"+ ")
        assert json.loads(base64.b64decode(reply[2:]))["status"] == "invalid_token"
        assert await w.ask(b"AQ==\r\n", b"\r\n") == (
            b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
        )


async def test_a_mailbox_deleted_by_another_session(store: Store, alice: Account) -> None:
    work = store.create_mailbox(alice.id, "Work")
    store.append(work.id, writer_with(store, [ONE]))
    async with imap_server(store) as running, client(running.port) as a, client(running.port) as b:
        assert (await a.ask(b"a1 SELECT Work\r\n")).startswith(b"* FLAGS ")
        assert await b.ask(b"b1 DELETE Work\r\n") == b"b1 OK DELETE completed\r\n"
        assert await a.ask(b"a2 FETCH 1 (FLAGS)\r\n") == (
            b"a2 NO [NONEXISTENT] The mailbox no longer exists\r\n"
        )
        assert await a.ask(b"a3 STORE 1 +FLAGS (\\Seen)\r\n") == (
            b"a3 NO [NONEXISTENT] The mailbox no longer exists\r\n"
        )
        assert await a.ask(b"a4 NOOP\r\n") == b"a4 OK NOOP completed\r\n"
        assert (await a.ask(b"a5 SELECT INBOX\r\n")).endswith(
            b"a5 OK [READ-WRITE] SELECT completed\r\n"
        )
    # The message stays in All Mail (the label model).
    assert len(store.fetch(store.mailbox(alice.id, "All Mail").id)) == 1


async def test_a_non_ascii_authorization_identity_is_refused(store: Store) -> None:
    # PLAIN with authzid "bä@example.com": refused, not an internal error.
    plain = base64.b64encode("bä@example.com\0alice@example.com\0alice-pw".encode())
    async with imap_server(store) as running, raw(running.port) as w:
        await w.line()
        assert await w.ask(b"a AUTHENTICATE PLAIN " + plain + b"\r\n") == (
            b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
        )
        assert await w.ask(b"b LOGIN alice@example.com alice-pw\r\n") == b"b OK Logged in\r\n"
    pop3 = StorePOP3Backend(AsyncStore(store))
    assert await pop3.authorize("alice@example.com", "ä@example.com") is False
    assert await pop3.authorize("ALICE@example.com", "recent:alice@example.com") is True
