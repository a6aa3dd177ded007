"""The async IMAP client against scripted servers over loopback, on asyncio
and trio: the exact bytes it sends, STARTTLS stripping (missing capability,
NO, PREAUTH) and response injection failing before any credential, pre-TLS
alerts dropped and capabilities re-read, literals (NO before "+", LITERAL+),
ESEARCH, Gmail's X-GM items, XOAUTH2's error challenge, IDLE re-issued."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSStream

from protokit import LocalProtocolError, RemoteProtocolError
from protokit.imap import Exists, FetchBody, SearchKey
from protokit.net import (
    ConnectionClosed,
    CopyUID,
    IMAPAuthenticationError,
    IMAPClient,
    IMAPError,
    OperationTimeout,
    Timeouts,
    TLSError,
    TLSMode,
    connect_imap,
)
from tests.net.scripted import Peer, scripted

GREETING = b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"
PLAIN_GREETING = b"* OK [CAPABILITY IMAP4rev1 IDLE ESEARCH UIDPLUS MOVE X-GM-EXT-1] hi\r\n"


async def plain(port: int, **kw: object) -> IMAPClient:
    return await connect_imap(
        "127.0.0.1",
        port,
        tls=TLSMode.PLAIN,
        allow_plaintext_auth=True,
        **kw,  # type: ignore[arg-type]
    )


# -- STARTTLS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "replies", "message"),
    [
        (
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] no tls\r\n",
            [],
            "the server does not offer STARTTLS",
        ),
        (GREETING, [(b"A1 STARTTLS\r\n", b"A1 NO not today\r\n")], "refused STARTTLS"),
        (b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] come in\r\n", [], "PREAUTH"),
        (
            b"* OK ready\r\n",
            [(b"A1 CAPABILITY\r\n", b"* CAPABILITY IMAP4rev1\r\nA1 OK\r\n")],
            "does not offer",
        ),
    ],
)
async def test_starttls_stripping_fails_before_credentials(
    greeting: bytes, replies: list[tuple[bytes, bytes]], message: str
) -> None:
    async def script(p: Peer) -> None:
        await p.send(greeting)
        for command, reply in replies:
            await p.expect(command, reply)
        assert await p.rest() == b""

    async with scripted(script) as (port, peers):
        with pytest.raises(TLSError, match=message):
            await connect_imap("127.0.0.1", port, tls=TLSMode.STARTTLS)
    assert peers[0].received == b"".join(c for c, _ in replies)


@pytest.mark.parametrize(
    "injected",
    [
        b"A1 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
        b"A1 OK begin TLS\r\nA2 OK",
    ],
)
async def test_starttls_response_injection_is_refused(injected: bytes) -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        assert await p.line() == b"A1 STARTTLS\r\n"
        await p.send(injected)
        assert await p.rest() == b""

    async with scripted(script) as (port, peers):
        with pytest.raises(RemoteProtocolError, match="response injection"):
            await connect_imap("127.0.0.1", port, tls=TLSMode.STARTTLS)
    assert peers[0].received == b"A1 STARTTLS\r\n"


async def test_starttls_drops_pre_tls_alerts_and_rereads_capabilities() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    after: list[bytes] = []

    async def script(p: Peer) -> None:
        await p.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n")
        await p.send(b"* OK [ALERT] pre-TLS alert\r\n")
        await p.expect(b"A1 STARTTLS\r\n", b"A1 OK begin TLS\r\n")
        tls = await TLSStream.wrap(p.stream, server_side=True, ssl_context=server_ctx)
        q = Peer(tls)
        await q.expect(
            b"A2 CAPABILITY\r\n",
            b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n* OK [ALERT] real alert\r\nA2 OK\r\n",
        )
        await q.expect(b"A3 LOGIN alice secret\r\n", b"A3 OK [CAPABILITY IMAP4rev1 IDLE] in\r\n")
        await q.expect(b"A4 LOGOUT\r\n", b"* BYE bye\r\nA4 OK done\r\n")
        after.append(q.received)

    async with scripted(script) as (port, _):
        c = await connect_imap(
            "127.0.0.1", port, ssl_context=client_ctx, server_hostname="localhost"
        )
        assert c.tls_active
        assert c.capabilities == {"IMAP4REV1", "AUTH=PLAIN"}
        assert list(c.alerts) == ["real alert"]
        await c.login("alice", "secret")
        assert c.capabilities == {"IMAP4REV1", "IDLE"}
        await c.logout()
    assert after == [b"A2 CAPABILITY\r\nA3 LOGIN alice secret\r\nA4 LOGOUT\r\n"]


async def test_bye_greeting_is_an_error() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* BYE [UNAVAILABLE] too busy\r\n")

    async with scripted(script) as (port, _):
        with pytest.raises(IMAPError) as info:
            await plain(port)
    assert str(info.value) == "greeting: BYE [UNAVAILABLE] too busy"


# -- commands ---------------------------------------------------------------------


async def test_commands_exactly() -> None:
    async def script(p: Peer) -> None:
        await p.send(PLAIN_GREETING)
        await p.expect(
            b"A1 LOGIN alice pw\r\n",
            b"A1 OK [CAPABILITY IMAP4rev1 IDLE ESEARCH UIDPLUS MOVE X-GM-EXT-1] in\r\n",
        )
        await p.expect(
            b"A2 SELECT INBOX\r\n",
            b"* 3 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n"
            b"* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] ok\r\n"
            b"* OK [UIDVALIDITY 77] ok\r\n* OK [UIDNEXT 9] ok\r\n"
            b"A2 OK [READ-WRITE] selected\r\n",
        )
        await p.expect(
            b"A3 UID SEARCH RETURN (ALL) UNSEEN FROM x@y\r\n",
            b'* ESEARCH (TAG "A3") UID ALL 4:6,8\r\nA3 OK\r\n',
        )
        await p.expect(
            b"A4 UID FETCH 4:5 (UID X-GM-MSGID X-GM-THRID X-GM-LABELS BODY.PEEK[HEADER])\r\n",
            b"* 1 FETCH (UID 4 X-GM-MSGID 1278455344230334865 X-GM-THRID 1266894439832287888"
            b' X-GM-LABELS (\\Inbox "Friends & Family") BODY[HEADER] {12}\r\nSubject: a\r\n)\r\n'
            b"* 3 EXISTS\r\nA4 OK\r\n",
        )
        await p.expect(
            b'A5 UID STORE 4 +X-GM-LABELS (Work "a b")\r\n',
            b'* 1 FETCH (UID 4 X-GM-LABELS (Work "a b"))\r\nA5 OK\r\n',
        )
        await p.expect(
            b"A6 UID MOVE 4:5 Archive\r\n",
            b"* OK [COPYUID 99 4:5 10:11] moved\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nA6 OK done\r\n",
        )
        await p.expect(b"A7 UID EXPUNGE 6\r\n", b"* 1 EXPUNGE\r\nA7 OK\r\n")
        await p.expect(b"A8 APPEND INBOX {2}\r\n", b"A8 NO [OVERQUOTA] full\r\n")
        await p.expect(b"A9 LOGOUT\r\n", b"* BYE bye\r\nA9 OK\r\n")

    async with scripted(script) as (port, peers):
        c = await plain(port)
        await c.login("alice", "pw")
        state = await c.select()
        assert (state.exists, state.uidvalidity, state.uidnext) == (3, 77, 9)
        assert state.permanent_flags == ("\\Seen", "\\Deleted", "\\*")
        key = SearchKey(name="FROM", value=b"x@y")
        assert await c.search("UNSEEN", key) == [4, 5, 6, 8]
        items = [
            "UID",
            "X-GM-MSGID",
            "X-GM-THRID",
            "X-GM-LABELS",
            FetchBody(peek=True, section=_header()),
        ]
        got = [m async for m in c.fetch((4, 5), items)]
        assert [(m.uid, m.gm_msgid, m.gm_thrid, m.gm_labels, m.body) for m in got] == [
            (4, 1278455344230334865, 1266894439832287888, (b"\\Inbox", b"Friends & Family"),
             b"Subject: a\r\n"),
        ]  # fmt: skip
        stored = await c.store(4, gm_labels=["Work", "a b"])
        assert stored.fetches[0].gm_labels == (b"Work", b"a b")
        moved = await c.move("4:5", "Archive")
        assert (moved.uidvalidity, moved.mapping, moved.expunged) == (99, {4: 10, 5: 11}, (1, 1))
        assert c.mailbox is not None and c.mailbox.exists == 1
        assert await c.uid_expunge([6]) == [1]

        async def body() -> AsyncIterator[bytes]:
            yield b"never sent"
            raise AssertionError("the refused literal was read")

        with pytest.raises(IMAPError, match=r"APPEND: NO \[OVERQUOTA\] full"):
            await c.append("INBOX", body(), size=2)
        await c.logout()
    assert b"never" not in peers[0].received


def _header():  # type: ignore[no-untyped-def]
    from protokit.imap import Section

    return Section(text="HEADER")


async def test_literal_plus_append_goes_at_once() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] hi\r\n")
        assert await p.line() == b"A1 APPEND Drafts (\\Draft) {5+}\r\n"
        assert await p.line() == b"hello\r\n"
        await p.send(b"A1 OK [APPENDUID 5 42] ok\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, _):
        c = await plain(port)

        async def body() -> AsyncIterator[bytes]:
            yield b"hel"
            yield b"lo"

        result = await c.append("Drafts", body(), size=5, flags=["\\Draft"])
        assert (result.uidvalidity, result.uids) == (5, (42,))
        await c.aclose()


async def test_xoauth2_error_challenge_and_no_secret_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "ya29.secret-token"
    challenge = b"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0="

    async def script(p: Peer) -> None:
        await p.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=PLAIN] hi\r\n")
        line = await p.line()
        assert line == (
            b"A1 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB5YTI5LnNlY3JldC10b2tlbgEB\r\n"
        )
        await p.send(b"+ " + challenge + b"\r\n")
        await p.expect(b"\r\n", b"A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        await p.expect(
            b"A2 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n", b"A2 OK [CAPABILITY IMAP4rev1] in\r\n"
        )
        assert await p.rest() == b""

    caplog.set_level(logging.DEBUG, logger="protokit")
    async with scripted(script) as (port, _):
        c = await plain(port)
        with pytest.raises(IMAPAuthenticationError) as info:
            await c.auth("alice", token=lambda: token, password="pw")
        assert str(info.value) == (
            "AUTHENTICATE XOAUTH2: NO [AUTHENTICATIONFAILED] Authentication failed."
        )
        assert info.value.sasl_error == {"status": "401", "schemes": "bearer", "scope": "mail"}
        assert await c.auth("alice", password="pw") == "PLAIN"
        await c.aclose()
    assert "secret-token" not in caplog.text and "AGFsaWNlAHB3" not in caplog.text
    assert "logged in with PLAIN" in caplog.text


async def test_idle_yields_updates_and_is_reissued() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n")
        await p.expect(b"A1 SELECT INBOX\r\n", b"* 1 EXISTS\r\nA1 OK\r\n")
        await p.expect(b"A2 IDLE\r\n", b"+ idling\r\n")
        # Nothing for longer than the renew period: DONE, then IDLE again.
        await p.expect(b"DONE\r\n", b"* 2 EXISTS\r\nA2 OK IDLE done\r\n")
        await p.expect(b"A3 IDLE\r\n", b"+ idling\r\n* 3 EXISTS\r\n")
        await p.expect(b"DONE\r\n", b"A3 OK IDLE done\r\n")
        await p.expect(b"A4 NOOP\r\n", b"A4 OK\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, _):
        c = await plain(port, idle_renew=0.1)
        await c.select()
        got = []
        with anyio.fail_after(5):
            async with c.idle() as idle:
                async for update in idle:
                    got.append(update)
                    if len(got) == 2:
                        break
        assert got == [Exists(count=2), Exists(count=3)]
        assert c.mailbox is not None and c.mailbox.exists == 3
        assert await c.noop() == []
        await c.aclose()


async def test_qresync_select_exactly() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC ENABLE] hi\r\n")
        await p.expect(b"A1 ENABLE QRESYNC\r\n", b"* ENABLED QRESYNC\r\nA1 OK\r\n")
        await p.expect(
            b"A2 SELECT INBOX (QRESYNC (67890007 20050715194045000 41:211,214:541))\r\n",
            b"* 314 EXISTS\r\n* OK [UIDVALIDITY 67890007] ok\r\n"
            b"* OK [HIGHESTMODSEQ 20050715194045319] ok\r\n"
            b"* VANISHED (EARLIER) 41,43:45\r\n"
            b"* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))\r\n"
            b"A2 OK [READ-WRITE] done\r\n",
        )
        await p.expect(b"A3 NOOP\r\n", b"* VANISHED 49\r\nA3 OK\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, _):
        c = await plain(port)
        known = [*range(41, 212), *range(214, 542)]
        state = await c.select(qresync=(67890007, 20050715194045000, known))
        assert (state.exists, state.highest_modseq, state.vanished) == (
            314,
            20050715194045319,
            (41, 43, 44, 45),
        )
        assert [(f.seq, f.uid, f.flags, f.modseq) for f in state.changed] == [
            (49, 117, ("\\Seen", "\\Answered"), 90060115194045001)
        ]
        await c.noop()
        assert c.mailbox is not None and c.mailbox.exists == 313
        await c.aclose()


async def test_a_hostile_esearch_range_is_refused() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1 ESEARCH] hi\r\n")
        await p.expect(b"A1 SELECT INBOX\r\n", b"A1 OK\r\n")
        await p.expect(
            b"A2 UID SEARCH RETURN (ALL) ALL\r\n",
            b'* ESEARCH (TAG "A2") UID ALL 1:4294967295\r\nA2 OK\r\n',
        )
        await p.rest()

    async with scripted(script) as (port, _):
        c = await plain(port)
        await c.select()
        with pytest.raises(RemoteProtocolError, match="more than 10000000 numbers"):
            await c.search()
        await c.aclose()


async def test_no_greeting_names_the_implicit_tls_mode() -> None:
    async def script(p: Peer) -> None:
        await p.rest()

    async with scripted(script) as (port, _):
        with pytest.raises(OperationTimeout, match=r"connect with tls=TLSMode\.IMPLICIT"):
            await connect_imap("127.0.0.1", port, timeouts=Timeouts(read=0.2))


async def test_the_server_closing_mid_command_is_connection_closed() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
        assert await p.line() == b"A1 SELECT INBOX\r\n"
        await p.send(b"* 3 EXISTS\r\n")

    async with scripted(script) as (port, _):
        c = await plain(port)
        with pytest.raises(ConnectionClosed):
            await c.select()
        with pytest.raises(ConnectionClosed, match="session is over"):
            await c.noop()
        await c.aclose()


async def test_a_plain_imap4rev1_server_without_extensions() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
        await p.expect(
            b'A1 LIST "" *\r\n',
            b'* LIST (\\HasNoChildren) "/" INBOX\r\n* LIST (\\Noselect) "/" Archive\r\n'
            b'* LIST () "/" "Archive/2024"\r\nA1 OK\r\n',
        )
        await p.expect(
            b"A2 STATUS INBOX (MESSAGES UNSEEN)\r\n",
            b"* STATUS INBOX (MESSAGES 3 UNSEEN 1)\r\nA2 OK\r\n",
        )
        await p.expect(
            b"A3 STATUS Archive/2024 (MESSAGES UNSEEN)\r\n",
            b'* STATUS "Archive/2024" (MESSAGES 0 UNSEEN 0)\r\nA3 OK\r\n',
        )
        await p.expect(
            b"A4 EXAMINE INBOX\r\n",
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [NOMODSEQ] no modseq\r\n"
            b"A4 OK [READ-ONLY] examined\r\n",
        )
        await p.expect(b"A5 SEARCH UNDELETED\r\n", b"* SEARCH 3 2\r\n* SEARCH\r\nA5 OK\r\n")
        await p.expect(b"A6 UID COPY 7 Trash\r\n", b"A6 OK copied\r\n")
        await p.expect(b"A7 CLOSE\r\n", b"A7 OK\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, _):
        c = await plain(port)
        entries = await c.list(status=["MESSAGES", "UNSEEN"], special_use=True)
        assert [(e.name, e.selectable, e.status) for e in entries] == [
            ("INBOX", True, {"MESSAGES": 3, "UNSEEN": 1}),
            ("Archive", False, None),
            ("Archive/2024", True, {"MESSAGES": 0, "UNSEEN": 0}),
        ]
        state = await c.examine()
        assert (state.readonly, state.exists, state.uidvalidity, state.highest_modseq) == (
            True,
            3,
            5,
            None,
        )
        assert await c.search("undeleted", uid=False) == [2, 3]
        assert await c.copy(7, "Trash") == CopyUID()
        with pytest.raises(LocalProtocolError, match="does not offer MOVE"):
            await c.move(7, "Trash")
        with pytest.raises(LocalProtocolError, match="does not offer IDLE"):
            c.idle()
        await c.close_mailbox()
        assert c.mailbox is None
        await c.aclose()


async def test_a_stream_giving_the_wrong_size_closes_the_connection() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n")
        assert await p.line() == b"A1 APPEND INBOX {5+}\r\n"
        assert await p.rest() == b"abc"

    async with scripted(script) as (port, _):
        c = await plain(port)

        async def short() -> AsyncIterator[bytes]:
            yield b"abc"

        with pytest.raises(LocalProtocolError, match="2 announced octets not given"):
            await c.append("INBOX", short(), size=5)
        with pytest.raises(ConnectionClosed, match="session is over"):
            await c.noop()
