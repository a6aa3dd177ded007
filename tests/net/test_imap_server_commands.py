"""serve_imap's commands beyond the basic session, exactly on the wire:
mailbox management and SPECIAL-USE, SASL-IR, CONDSTORE after ENABLE,
Gmail's X-GM items, EXAMINE is read-only, CLOSE expunges silently, UID
EXPUNGE, and a backend failure answered NO [SERVERBUG]."""

from __future__ import annotations

import base64
from pathlib import Path

import anyio
import pytest

from protokit.net import IMAPBackend, InMemoryIMAPBackend, Listener, build_v1, serve_imap
from tests.interop.imap_server_peers import make_backend, our_imap_server
from tests.net.imap_wire import logged_in, raw
from tests.net.test_imap_server import LOOPBACK


async def test_mailbox_management(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        await logged_in(w)
        assert await w.ask(b"a CREATE Archive (USE (\\Archive))\r\n") == (
            b"a OK CREATE completed\r\n"
        )
        assert await w.ask(b"b CREATE Archive\r\n") == (
            b"b NO [ALREADYEXISTS] Mailbox already exists\r\n"
        )
        assert await w.ask(b"c CREATE Work/2024\r\n") == b"c OK CREATE completed\r\n"
        assert await w.ask(b'd LIST "" %/%\r\n') == (
            b'* LIST (\\HasNoChildren) "/" Work/2024\r\nd OK LIST completed\r\n'
        )
        assert await w.ask(b"e RENAME Work/2024 Work2024\r\n") == b"e OK RENAME completed\r\n"
        assert await w.ask(b"f DELETE Nope\r\n") == (
            b"f NO [NONEXISTENT] Mailbox does not exist\r\n"
        )
        assert await w.ask(b"g DELETE INBOX\r\n") == b"g NO [CANNOT] INBOX cannot be deleted\r\n"
        assert await w.ask(b"h UNSUBSCRIBE Junk\r\n") == b"h OK UNSUBSCRIBE completed\r\n"
        assert await w.ask(b'i LSUB "" J*\r\n') == b"i OK LSUB completed\r\n"
        assert await w.ask(b'j LIST (SPECIAL-USE) "" A*\r\n') == (
            b'* LIST (\\HasNoChildren \\Archive) "/" Archive\r\nj OK LIST completed\r\n'
        )
        assert await w.ask(b'k LIST "" ""\r\n') == (
            b'* LIST (\\Noselect) "/" ""\r\nk OK LIST completed\r\n'
        )
        assert await w.ask(b"l STATUS INBOX (MESSAGES UNSEEN SIZE)\r\n") == (
            b"* STATUS INBOX (MESSAGES 2 UNSEEN 2 SIZE 133)\r\nl OK STATUS completed\r\n"
        )
    assert backend.mailbox_names("alice") == [
        "INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive", "Work2024",
    ]  # fmt: skip


async def test_authenticate_plain_with_initial_response(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend(), LOOPBACK) as srv, raw(srv.plain) as w:
        await w.line()
        good = base64.b64encode(b"\0alice\0alicepw")
        assert await w.ask(b"a AUTHENTICATE PLAIN " + good + b"\r\n") == b"a OK Logged in\r\n"
        assert await w.ask(b"b SELECT INBOX\r\n", b"b OK")


async def test_wrong_sasl_password(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend(), LOOPBACK) as srv, raw(srv.plain) as w:
        await w.line()
        bad = base64.b64encode(b"\0alice\0nope")
        assert await w.ask(b"a AUTHENTICATE PLAIN " + bad + b"\r\n") == (
            b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
        )


async def test_condstore_and_gmail_items(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        await logged_in(w)
        assert await w.ask(b"a ENABLE CONDSTORE\r\n") == (
            b"* ENABLED CONDSTORE\r\na OK ENABLE completed\r\n"
        )
        await w.ask(b"b SELECT INBOX\r\n")
        assert await w.ask(b"c STORE 1 +X-GM-LABELS (Work)\r\n") == (
            b"* 1 FETCH (X-GM-LABELS (Work))\r\nc OK STORE completed\r\n"
        )
        assert await w.ask(b"d UID STORE 2 +FLAGS (\\Flagged)\r\n") == (
            b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (5))\r\nd OK UID STORE completed\r\n"
        )
        assert await w.ask(b"e FETCH 1:* (FLAGS) (CHANGEDSINCE 4)\r\n") == (
            b"* 2 FETCH (FLAGS (\\Flagged) MODSEQ (5))\r\ne OK FETCH completed\r\n"
        )
        assert await w.ask(b"f SEARCH X-GM-LABELS Work\r\n") == (
            b"* SEARCH 1\r\nf OK SEARCH completed\r\n"
        )
        assert await w.ask(b"g UID SEARCH X-GM-RAW second\r\n") == (
            b"* SEARCH 2\r\ng OK UID SEARCH completed\r\n"
        )


async def test_examine_is_read_only_and_close_expunges_silently(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        await logged_in(w)
        assert (await w.ask(b"a EXAMINE INBOX\r\n")).endswith(
            b"a OK [READ-ONLY] EXAMINE completed\r\n"
        )
        assert await w.ask(b"b STORE 1 +FLAGS (\\Deleted)\r\n") == (
            b"b NO [READ-ONLY] Mailbox is read-only\r\n"
        )
        # a non-PEEK fetch does not set \Seen in a read-only mailbox
        assert await w.ask(b"c FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])\r\n") == (
            b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n)\r\n"
            b"c OK FETCH completed\r\n"
        )
        assert (await w.ask(b"d SELECT INBOX\r\n")).startswith(
            b"* OK [CLOSED] Previous mailbox closed\r\n"
        )
        await w.ask(b"e STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n")
        assert await w.ask(b"f UID EXPUNGE 2\r\n") == (
            b"* 2 EXPUNGE\r\nf OK UID EXPUNGE completed\r\n"
        )
        assert await w.ask(b"g CLOSE\r\n") == b"g OK CLOSE completed\r\n"
        assert await w.ask(b"h NOOP\r\n") == b"h OK NOOP completed\r\n"
    assert backend.messages("alice") == []


class _BrokenBackend(InMemoryIMAPBackend):
    async def open_session(self, username: str):  # type: ignore[no-untyped-def]
        session = await super().open_session(username)

        async def status(name: str) -> object:
            raise OSError("disk on fire")

        session.status = status  # type: ignore[method-assign]
        return session


@pytest.mark.parametrize("command", [b"a STATUS INBOX (MESSAGES)\r\n"])
async def test_backend_failure_is_no_serverbug(tmp_path: Path, command: bytes) -> None:
    backend = _BrokenBackend()
    backend.add_user("alice", "alicepw")
    async with our_imap_server(tmp_path, backend, LOOPBACK) as srv, raw(srv.plain) as w:
        await logged_in(w)
        assert await w.ask(command) == b"a NO [SERVERBUG] Internal error\r\n"
        assert await w.ask(b"b NOOP\r\n") == b"b OK NOOP completed\r\n"


async def test_proxy_protocol_listener_logs_the_real_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="protokit.net.imap")
    listeners = [Listener(name="p", proxy_protocol=True)]
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_imap(
                make_backend(), listeners, config=LOOPBACK, task_status=task_status
            )
        )
        async with raw(info.port("p")) as w:
            header = build_v1(("203.0.113.7", 4000), ("127.0.0.1", 143))
            await w.stream.send(header + b"a LOGIN alice alicepw\r\n")
            assert (await w.line()).startswith(b"* OK [CAPABILITY IMAP4rev1 ")
            assert await w.line() == b"a OK Logged in\r\n"
        tg.cancel_scope.cancel()
    assert "connection from 203.0.113.7: alice logged in with LOGIN" in caplog.text
    assert "alicepw" not in caplog.text


def test_in_memory_backend_reprs_hold_no_secret() -> None:
    backend = make_backend("secret-token")
    assert isinstance(backend, IMAPBackend)
    assert repr(backend) == "<InMemoryIMAPBackend users=2>"
