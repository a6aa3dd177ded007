"""serve_imap over loopback, on asyncio and trio: exact replies on the wire,
APPEND refused before its literal, streamed APPEND and FETCH, other
sessions' changes at NOOP and during IDLE (woken by a second connection's
APPEND), STARTTLS command injection, autologout, overload and shutdown."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from protokit.imap import ServerConfig
from protokit.net import InMemoryIMAPBackend, Listener, ServerLimits, serve_imap
from protokit.net._imap_server import DEFAULT_CAPABILITIES, DEFAULT_MECHANISMS  # not exported
from tests.interop.imap_server_peers import MSG1, MSG2, make_backend, our_imap_server
from tests.net.imap_wire import Wire as Wire  # also imported from here
from tests.net.imap_wire import logged_in, raw
from tests.net.wire import stoppable

LOOPBACK = ServerConfig(
    capabilities=DEFAULT_CAPABILITIES, mechanisms=DEFAULT_MECHANISMS, allow_plaintext=True
)


GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE ENABLE ID UNSELECT NAMESPACE UIDPLUS MOVE"
    b" CONDSTORE SPECIAL-USE LIST-STATUS ESEARCH X-GM-EXT-1 STARTTLS AUTH=PLAIN AUTH=OAUTHBEARER"
    b" AUTH=XOAUTH2] protokit IMAP server ready\r\n"
)


async def test_exact_session(tmp_path: Path) -> None:
    backend = make_backend()
    v = backend.uidvalidity("alice")
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        assert await w.line() == GREETING
        assert await w.ask(b"a LOGIN alice alicepw\r\n") == b"a OK Logged in\r\n"
        assert await w.ask(b"b SELECT INBOX\r\n") == (
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            b"* 2 EXISTS\r\n"
            b"* 0 RECENT\r\n"
            b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
            b"* OK [UIDNEXT 3] Predicted next UID\r\n"
            b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
            b" Limited\r\n"
            b"* OK [HIGHESTMODSEQ 3] Highest\r\n"
            b"b OK [READ-WRITE] SELECT completed\r\n" % v
        )
        assert await w.ask(b"c UID FETCH 2 (FLAGS BODY.PEEK[TEXT] X-GM-MSGID)\r\n") == (
            b"* 2 FETCH (UID 2 FLAGS () BODY[TEXT] {21}\r\n"
            b"second body\r\nline 2\r\n X-GM-MSGID %d)\r\n"
            b"c OK UID FETCH completed\r\n" % backend_msgid(backend, 2)
        )
        assert await w.ask(b"d UID STORE 1 +FLAGS.SILENT (\\Seen)\r\n") == (
            b"d OK UID STORE completed\r\n"
        )
        assert await w.ask(b"e UID SEARCH RETURN (MIN COUNT) SEEN\r\n") == (
            b'* ESEARCH (TAG "e") UID MIN 1 COUNT 1\r\ne OK UID SEARCH completed\r\n'
        )
        assert await w.ask(b"f STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)\r\n") == (
            b"f OK [MODIFIED 1] Conditional STORE failed for some\r\n"
        )
        assert await w.ask(b"g MOVE 1 Trash\r\n") == (
            b"* OK [COPYUID %d 1 1] Moved\r\n* 1 EXPUNGE\r\ng OK MOVE completed\r\n"
            % backend.uidvalidity("alice", "Trash")
        )
        assert await w.ask(b'h LIST (SPECIAL-USE) "" * RETURN (STATUS (MESSAGES))\r\n') == (
            b'* LIST (\\HasNoChildren \\Drafts) "/" Drafts\r\n'
            b"* STATUS Drafts (MESSAGES 0)\r\n"
            b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
            b"* STATUS Sent (MESSAGES 0)\r\n"
            b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n'
            b"* STATUS Trash (MESSAGES 1)\r\n"
            b'* LIST (\\HasNoChildren \\Junk) "/" Junk\r\n'
            b"* STATUS Junk (MESSAGES 0)\r\n"
            b"h OK LIST completed\r\n"
        )
        assert await w.ask(b"i NAMESPACE\r\n") == (
            b'* NAMESPACE (("" "/")) NIL NIL\r\ni OK NAMESPACE completed\r\n'
        )
        assert await w.ask(b"j ID NIL\r\n") == (
            b'* ID ("name" "protokit")\r\nj OK ID completed\r\n'
        )
        assert await w.ask(b"k LOGOUT\r\n") == (b"* BYE Logging out\r\nk OK LOGOUT completed\r\n")
        assert await w.eof() == b""
    assert [u for u, _, _ in backend.messages("alice")] == [2]


def backend_msgid(backend: InMemoryIMAPBackend, uid: int) -> int:
    user = backend._users["alice"]
    return user.mailbox("INBOX").messages[uid].gm_msgid


async def test_append_refused_before_its_literal(tmp_path: Path) -> None:
    backend = InMemoryIMAPBackend(max_message_size=100)
    backend.add_user("alice", "alicepw")
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        await logged_in(w)
        # no "+": the client never sends the octets
        assert await w.ask(b"a APPEND Nope {5}\r\n") == (
            b"a NO [TRYCREATE] Mailbox does not exist\r\n"
        )
        assert await w.ask(b"b APPEND INBOX {101}\r\n") == b"b NO [TOOBIG] Message too large\r\n"
        # a non-synchronizing literal is read, then refused
        assert await w.ask(b"c APPEND Nope {3+}\r\nabc\r\n") == (
            b"c NO [TRYCREATE] Mailbox does not exist\r\n"
        )
        assert await w.ask(b"d APPEND INBOX {3}\r\n", b"\r\n") == b"+ Ready for literal data\r\n"
        assert await w.ask(b"abc\r\n", b"d OK") == b"d OK"
        assert await w.line() == b" [APPENDUID %d 1] APPEND completed\r\n" % (
            backend.uidvalidity("alice")
        )
    assert backend.messages("alice") == [(1, b"abc", set())]


async def test_large_append_and_fetch_are_streamed_byte_identical(tmp_path: Path) -> None:
    backend = InMemoryIMAPBackend(chunk_size=7919)
    backend.add_user("alice", "alicepw")
    body = b"Subject: big\r\n\r\n" + bytes(range(256)) * 4096  # 1 MiB
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        await logged_in(w)
        await w.stream.send(b"a APPEND INBOX (\\Seen) {%d+}\r\n" % len(body) + body + b"\r\n")
        assert (await w.line()).startswith(b"a OK [APPENDUID ")
        await w.ask(b"b SELECT INBOX\r\n")
        await w.stream.send(b"c FETCH 1 BODY.PEEK[]\r\n")
        head = await w.line()
        assert head == b"* 1 FETCH (BODY[] {%d}\r\n" % len(body)
        got = await w.read_until(b")\r\nc OK FETCH completed\r\n")
        assert got[: len(body)] == body
        assert got[len(body) :] == b")\r\nc OK FETCH completed\r\n"
    assert backend.messages("alice") == [(1, body, {"\\Seen"})]


async def test_other_sessions_changes_arrive_at_noop(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as a:
        await logged_in(a)
        await a.ask(b"s SELECT INBOX\r\n")
        async with raw(srv.plain) as b:
            await logged_in(b)
            await b.ask(b"s SELECT INBOX\r\n")
            assert await b.ask(b"x STORE 1 +FLAGS (\\Deleted)\r\n") == (
                b"* 1 FETCH (FLAGS (\\Deleted))\r\nx OK STORE completed\r\n"
            )
            # FETCH, STORE and SEARCH never carry another session's EXPUNGE
            assert await b.ask(b"y EXPUNGE\r\n") == b"* 1 EXPUNGE\r\ny OK EXPUNGE completed\r\n"
        assert await a.ask(b"f FETCH 2 (UID)\r\n") == (
            b"* 2 FETCH (UID 2)\r\nf OK FETCH completed\r\n"
        )
        backend.deliver("alice", b"Subject: new\r\n\r\nx\r\n")
        assert await a.ask(b"n NOOP\r\n") == (
            b"* 1 EXPUNGE\r\n* 2 EXISTS\r\nn OK NOOP completed\r\n"
        )


async def test_idle_woken_by_a_second_connections_append(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as a:
        await logged_in(a)
        await a.ask(b"s SELECT INBOX\r\n")
        assert await a.ask(b"i IDLE\r\n", b"\r\n") == b"+ idling\r\n"
        async with raw(srv.plain) as b:
            await logged_in(b)
            await b.stream.send(b"p APPEND INBOX {4+}\r\nnew!\r\n")
            assert (await b.line()).startswith(b"p OK [APPENDUID ")
            assert await a.line() == b"* 3 EXISTS\r\n"
            await b.ask(b"s SELECT INBOX\r\n")
            await b.ask(b"x STORE 3 +FLAGS (\\Deleted)\r\n")
            assert await a.line() == b"* 3 FETCH (UID 3 FLAGS (\\Deleted))\r\n"
            await b.ask(b"y EXPUNGE\r\n")
            assert await a.line() == b"* 3 EXPUNGE\r\n"
        assert await a.ask(b"DONE\r\n", b"\r\n") == b"i OK IDLE terminated\r\n"
        assert await a.ask(b"n NOOP\r\n") == b"n OK NOOP completed\r\n"


@pytest.mark.parametrize(
    "data", [b"a STARTTLS\r\nb LOGIN x y\r\n", b"a STARTTLS\r\nb LOGIN x y\r\nc CAPABILITY\r\n"]
)
async def test_starttls_command_injection_closes(tmp_path: Path, data: bytes) -> None:
    async with our_imap_server(tmp_path, make_backend()) as srv, raw(srv.plain) as w:
        await w.line()
        await w.stream.send(data)  # one segment
        # no OK to STARTTLS, LOGIN never answered: BYE and close
        assert await w.eof() == b"* BYE Command injection after STARTTLS\r\n"


async def test_autologout(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend, LOOPBACK, idle_timeout=0.3) as srv:
        w: Wire
        async with raw(srv.plain) as w:
            await w.line()
            await w.stream.send(b"a NOO")  # a command trickling in does not reset the timer
            assert await w.eof() == b"* BYE Autologout: no command within the time limit\r\n"


async def test_connections_over_the_limit_get_bye() -> None:
    limits = ServerLimits(max_connections=1)
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_imap(
                make_backend(), [Listener(name="p")], limits=limits, task_status=task_status
            )
        )
        async with raw(info.port("p")) as first:
            assert (await first.line()).startswith(b"* OK [CAPABILITY ")
            async with raw(info.port("p")) as second:
                assert await second.eof() == (
                    b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
                )
        tg.cancel_scope.cancel()


async def test_shutdown_says_bye(tmp_path: Path) -> None:
    backend = make_backend()
    with anyio.fail_after(10):
        server = our_imap_server(tmp_path, backend, LOOPBACK)
        async with stoppable(server) as (srv, srv_scope), raw(srv.plain) as w:
            await logged_in(w)
            await w.ask(b"s SELECT INBOX\r\n")
            srv_scope.cancel()
            assert await w.eof() == b"* BYE [UNAVAILABLE] Server shutting down\r\n"
    assert [d for _, d, _ in backend.messages("alice")] == [MSG1, MSG2]
