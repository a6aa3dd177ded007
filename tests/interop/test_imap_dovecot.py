"""Our IMAP client against a private Dovecot on loopback, on asyncio and
trio: plain, STARTTLS and implicit TLS, each with LOGIN, AUTHENTICATE PLAIN
and AUTHENTICATE XOAUTH2 (a JWT Dovecot validates itself); the XOAUTH2
failure path; list, select, append (bytes and a stream), search, fetch,
store, move, expunge; a 20 MB message streamed in bounded memory; IDLE
woken by a second connection's APPEND; CONDSTORE/QRESYNC resync."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator

import anyio
import pytest

from protokit.imap import Exists, FetchBody, SearchKey, SequenceSet
from protokit.net import IMAPAuthenticationError, IMAPClient, IMAPError, TLSMode
from tests.interop.imap_peers import login, session
from tests.interop.oauth import make_hs256_key, make_jwt
from tests.interop.peers import dovecot
from tests.interop.pop3_peers import deliver_maildir

MESSAGES = [
    b"From: a@example.test\r\nSubject: one\r\n\r\nfirst body\r\n",
    b"From: b@example.test\r\nSubject: two\r\n\r\nsecond body\r\n",
    b"From: c@example.test\r\nSubject: three\r\n\r\nthird\r\n",
]
WHOLE = FetchBody(peek=True)


async def bodies(c: IMAPClient, uids: list[int]) -> dict[int, bytes]:
    out = {}
    async for msg in c.fetch(uids, ["UID", "FLAGS", WHOLE]):
        data = await msg.read()
        assert msg.uid is not None
        out[msg.uid] = data
    return out


async def exercise(c: IMAPClient) -> None:
    """One session's worth of commands in a fresh INBOX of three messages."""
    entries = await c.list(status=["MESSAGES"], special_use=True)
    assert {(e.name, e.special_use) for e in entries} == {
        ("INBOX", None),
        ("Sent", "\\Sent"),
        ("Trash", "\\Trash"),
    }
    assert [e.status for e in entries if e.name == "INBOX"] == [{"MESSAGES": 3}]
    state = await c.select("INBOX")
    assert state.exists == 3 and state.uidnext == 4 and state.uidvalidity
    assert "\\Seen" in state.permanent_flags and not state.readonly
    appended = await c.append("INBOX", b"Subject: four\r\n\r\nfourth\r\n", flags=["\\Seen"])
    assert appended.uidvalidity == state.uidvalidity and appended.uids == (4,)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"Subject: five\r\n", b"\r\n", b"fifth " * 1000, b"\r\n"):
            yield part

    size = len(b"Subject: five\r\n\r\n" + b"fifth " * 1000 + b"\r\n")
    assert (await c.append("INBOX", chunks(), size=size)).uids == (5,)
    assert c.mailbox is not None and c.mailbox.exists == 5
    assert await c.search() == [1, 2, 3, 4, 5]
    assert await c.search("UNSEEN") == [1, 2, 3, 5]
    assert await c.search(SearchKey(name="SUBJECT", value=b"two")) == [2]
    assert await c.search(SearchKey(name="SUBJECT", value=b"two"), uid=False) == [2]
    got = await bodies(c, [1, 2, 3, 4])
    assert got == {i + 1: m for i, m in enumerate(MESSAGES)} | {
        4: b"Subject: four\r\n\r\nfourth\r\n"
    }
    stored = await c.add_flags([1, 2], ["\\Flagged"])
    assert {uid: "\\Flagged" in flags for uid, flags in stored.flags().items()} == {
        1: True,
        2: True,
    }
    assert await c.search("FLAGGED") == [1, 2]
    moved = await c.move([2], "Trash")
    assert moved.mapping == {2: 1} and moved.expunged == (2,)
    assert c.mailbox.exists == 4
    await c.add_flags([3], ["\\Deleted"])
    assert await c.expunge() == [2]  # UID 3 was the second message left
    assert await c.search() == [1, 4, 5]
    assert await c.status("Trash", ["MESSAGES"]) == {"MESSAGES": 1}


USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}


@pytest.mark.parametrize("mode", [TLSMode.PLAIN, TLSMode.STARTTLS, TLSMode.IMPLICIT])
async def test_every_command_with_each_login(mode: TLSMode) -> None:
    key = make_hs256_key()
    with dovecot(USERS, oauth_key=key) as d:
        for user, how in [("alice", "LOGIN"), ("bob", "PLAIN"), ("carol", "XOAUTH2")]:
            deliver_maildir(d, user, MESSAGES)
            async with session(d, mode) as c:
                assert c.tls_active is (mode is not TLSMode.PLAIN)
                assert ("STARTTLS" in c.capabilities) is (mode is TLSMode.PLAIN)
                assert {"AUTH=PLAIN", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"} <= c.capabilities
                await login(c, how, key, user, USERS[user])
                assert "MOVE" in c.capabilities  # re-read after login
                await exercise(c)


async def test_xoauth2_bad_tokens_are_refused() -> None:
    key = make_hs256_key()
    with dovecot(oauth_key=key) as d:
        async with session(d, TLSMode.IMPLICIT) as c:
            for token in (
                make_jwt(make_hs256_key(), "alice"),  # signed with another key
                make_jwt(key, "alice", ttl=-600),  # expired
            ):
                with pytest.raises(IMAPAuthenticationError) as info:
                    await c.auth("alice", token=token, mechanisms=["XOAUTH2"])
                assert str(info.value) == (
                    "AUTHENTICATE XOAUTH2: NO [AUTHENTICATIONFAILED] Authentication failed."
                )
                assert info.value.sasl_error == {
                    "status": "401",
                    "schemes": "bearer",
                    "scope": "mail",
                }
                assert token not in str(info.value)

            # The session goes on: a good token (from an async callable) works.
            async def fresh() -> str:
                return make_jwt(key, "alice")

            assert await c.auth("alice", token=fresh) == "OAUTHBEARER"
            assert (await c.select()).exists == 0


async def test_twenty_megabytes_streamed_in_bounded_memory() -> None:
    line = b"0123456789" * 7 + b"abcdef\r\n"
    message = b"Subject: big\r\n\r\n" + line * (20 * 1024 * 1024 // len(line))
    digest = hashlib.sha256(message).hexdigest()
    size = len(message)
    with dovecot() as d:
        deliver_maildir(d, "alice", [message])
        del message
        async with session(d, TLSMode.PLAIN) as c:
            await c.login("alice", "alicepw")
            await c.select()
            h = hashlib.sha256()
            largest = 0
            tracemalloc.start()
            try:
                async for msg in c.fetch([1], ["UID", WHOLE]):
                    assert msg.seq == 1 and msg.stream is not None and msg.response is None
                    assert msg.uid == 1  # sent before the body: known at once
                    assert msg.stream.length == size
                    async for chunk in msg.chunks():
                        h.update(chunk)
                        largest = max(largest, len(chunk))
                    fetched = await msg.complete()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert fetched.uid == 1 and msg.uid == 1
            assert h.hexdigest() == digest
            assert largest <= 64 * 1024
            assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while streaming"


async def test_idle_woken_renewed_and_an_unfinished_fetch_wound_up() -> None:
    with dovecot() as d:
        deliver_maildir(d, "alice", MESSAGES[:1])
        async with session(d, TLSMode.PLAIN) as watcher, session(d, TLSMode.PLAIN) as writer:
            await watcher.login("alice", "alicepw")
            await writer.login("alice", "alicepw")
            assert (await watcher.select()).exists == 1
            # Woken by the other connection's APPEND (no sleep: the first
            # update is awaited with a deadline).
            async with watcher.idle() as idle:
                await writer.append("INBOX", b"Subject: new\r\n\r\nhi\r\n")
                got = []
                with anyio.fail_after(10):
                    async for update in idle:
                        got.append(update)
                        break
                assert got == [Exists(count=2)]
            assert watcher.mailbox is not None and watcher.mailbox.exists == 2
            assert await watcher.search() == [1, 2]  # usable after DONE

            # Nothing happens for longer than the renew period: IDLE is
            # ended and issued again, and the session stays in IDLE.
            renewing = watcher.idle(renew=0.2)
            assert await renewing.check(0.7) == []
            assert renewing.active
            await writer.append("INBOX", b"Subject: x\r\n\r\ny\r\n")
            with anyio.fail_after(10):
                updates = await renewing.check(10)
            assert Exists(count=3) in updates
            # A3 SEARCH, then IDLE A4 and at least one IDLE more.
            assert int(watcher.connection.next_tag()[1:]) >= 7

            # A FETCH iteration left after one message (and the IDLE still
            # running) are wound up by the next command.
            results = watcher.fetch(SequenceSet.of((1, None)), ["UID", WHOLE])
            async for first in results:
                assert first.uid == 1 and await first.read() == MESSAGES[0]
                break
            assert not renewing.active
            assert await watcher.search() == [1, 2, 3]
            assert results.done
            with pytest.raises(IMAPError) as info:
                await watcher.select("Nonexistent")
            assert (info.value.command, info.value.status, info.value.code) == (
                "SELECT",
                "NO",
                None,
            )
            assert info.value.text.startswith("Mailbox doesn't exist: Nonexistent")
            assert watcher.mailbox is None


async def test_condstore_and_qresync_resynchronize() -> None:
    with dovecot() as d:
        deliver_maildir(d, "alice", MESSAGES)
        async with session(d, TLSMode.PLAIN) as c:
            await c.login("alice", "alicepw")
            state = await c.select(condstore=True)
            assert state.highest_modseq is not None
            known = (state.uidvalidity, state.highest_modseq)
            stored = await c.store([1], ["\\Seen"], unchangedsince=state.highest_modseq)
            assert stored.modified == () and stored.fetches[0].modseq is not None
            # A stale UNCHANGEDSINCE: not stored, reported MODIFIED.
            refused = await c.store([1], ["\\Answered"], unchangedsince=1)
            assert refused.modified == (1,)
            await c.add_flags([3], ["\\Deleted"], silent=True)
            await c.expunge()
            changed = [m async for m in c.fetch("1:*", ["FLAGS"], changedsince=known[1])]
            assert [m.uid for m in changed] == [1]
            await c.unselect()
        async with session(d, TLSMode.PLAIN) as c:
            await c.login("alice", "alicepw")
            assert known[0] is not None
            state = await c.select(qresync=(known[0], known[1], "1:3"))
            assert "QRESYNC" in c.connection.enabled
            assert state.vanished == (3,)
            assert [(f.uid, f.flags) for f in state.changed] == [(1, ("\\Seen",))]
            assert state.exists == 2
