"""StoreIMAPBackend under serve_imap over loopback, against a real store in a
temporary directory, on asyncio and trio, exact responses on the wire:
LIST with special-use attributes, STATUS, CREATE/DELETE/RENAME/SUBSCRIBE,
SELECT/EXAMINE, FETCH (metadata, ENVELOPE, BODYSTRUCTURE, sections and
partials, X-GM-*), APPEND durable with APPENDUID, STORE with keywords and
CONDSTORE, COPY/MOVE with COPYUID, EXPUNGE and UID EXPUNGE, SEARCH."""

from __future__ import annotations

from typing import Any

import pytest

from protokit.server import Account, FlagMode, NoSuchMailbox, Store, UidRange
from tests.server.helpers import deliver, read_all
from tests.server.imap_helpers import ONE, TWO, client, imap_server

pytestmark = pytest.mark.usefixtures("alice", "bob")


def fill(store: Store) -> None:
    deliver(store, "alice@example.com", ONE)
    deliver(store, "alice@example.com", TWO)


async def test_list_status_and_special_use(store: Store) -> None:
    fill(store)
    async with imap_server(store) as running, client(running.port) as w:
        assert await w.ask(b'a LIST "" "*"\r\n') == (
            b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
            b'* LIST (\\HasNoChildren \\All) "/" "All Mail"\r\n'
            b'* LIST (\\HasNoChildren \\Drafts) "/" Drafts\r\n'
            b'* LIST (\\HasNoChildren \\Junk) "/" Junk\r\n'
            b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
            b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n'
            b"a OK LIST completed\r\n"
        )
        assert await w.ask(b'b LIST (SPECIAL-USE) "" "S*"\r\n') == (
            b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\nb OK LIST completed\r\n'
        )
        assert await w.ask(
            b"c STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED)\r\n"
        ) == (
            b"* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 1790000000 UNSEEN 2"
            b" HIGHESTMODSEQ 3 SIZE 123 DELETED 0)\r\n"
            b"c OK STATUS completed\r\n"
        )
        assert await w.ask(b'd LIST "" "Sent" RETURN (STATUS (MESSAGES UNSEEN))\r\n') == (
            b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
            b"* STATUS Sent (MESSAGES 0 UNSEEN 0)\r\n"
            b"d OK LIST completed\r\n"
        )
        assert await w.ask(b"e STATUS Nowhere (MESSAGES)\r\n") == (
            b"e NO [NONEXISTENT] Mailbox does not exist\r\n"
        )


async def test_create_rename_delete_subscribe(store: Store, alice: Account) -> None:
    async with imap_server(store) as running, client(running.port) as w:
        assert await w.ask(b"a CREATE Work/Projects\r\n") == b"a OK CREATE completed\r\n"
        assert await w.ask(b"b CREATE Work/Projects\r\n") == (
            b"b NO [ALREADYEXISTS] Mailbox already exists\r\n"
        )
        assert await w.ask(b"c CREATE Archive (USE (\\Archive))\r\n") == (
            b"c OK CREATE completed\r\n"
        )
        assert await w.ask(b"d CREATE Everything (USE (\\All))\r\n") == (
            b"d NO [USEATTR] Unsupported special-use attribute\r\n"
        )
        assert await w.ask(b"e RENAME Work/Projects Work/Done\r\n") == (
            b"e OK RENAME completed\r\n"
        )
        assert await w.ask(b"f UNSUBSCRIBE Work/Done\r\n") == b"f OK UNSUBSCRIBE completed\r\n"
        assert await w.ask(b'g LSUB "" "Work/*"\r\n') == b"g OK LSUB completed\r\n"
        assert await w.ask(b"h SUBSCRIBE Work/Done\r\n") == b"h OK SUBSCRIBE completed\r\n"
        assert await w.ask(b'i LSUB "" "Work/*"\r\n') == (
            b'* LSUB (\\HasNoChildren) "/" Work/Done\r\ni OK LSUB completed\r\n'
        )
        assert await w.ask(b'j LIST "" "A*"\r\n') == (
            b'* LIST (\\HasNoChildren \\All) "/" "All Mail"\r\n'
            b'* LIST (\\HasNoChildren \\Archive) "/" Archive\r\n'
            b"j OK LIST completed\r\n"
        )
        assert await w.ask(b"k DELETE INBOX\r\n") == (
            b"k NO [CANNOT] Cannot delete: INBOX cannot be deleted\r\n"
        )
        assert await w.ask(b'l DELETE "All Mail"\r\n') == (
            b"l NO [CANNOT] Cannot delete: All Mail cannot be deleted\r\n"
        )
        assert await w.ask(b"m DELETE Work/Done\r\n") == b"m OK DELETE completed\r\n"
        assert await w.ask(b"n DELETE Work/Done\r\n") == (
            b"n NO [NONEXISTENT] Mailbox does not exist\r\n"
        )
    assert [m.name for m in store.mailboxes(alice.id)] == [
        "INBOX", "All Mail", "Archive", "Drafts", "Junk", "Sent", "Trash", "Work",
    ]  # fmt: skip


async def test_select_examine_and_fetch(store: Store) -> None:
    fill(store)
    async with imap_server(store) as running, client(running.port) as w:
        assert await w.ask(b"a EXAMINE INBOX\r\n") == (
            b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)\r\n"
            b"* 2 EXISTS\r\n"
            b"* 0 RECENT\r\n"
            b"* OK [UIDVALIDITY 1790000000] UIDs valid\r\n"
            b"* OK [UIDNEXT 3] Predicted next UID\r\n"
            b"* OK [PERMANENTFLAGS ()] Limited\r\n"
            b"* OK [HIGHESTMODSEQ 3] Highest\r\n"
            b"a OK [READ-ONLY] EXAMINE completed\r\n"
        )
        # EXAMINE: BODY[] does not set \Seen.
        assert await w.ask(b"b FETCH 2 (BODY[])\r\n") == (
            b"* 2 FETCH (BODY[] {52}\r\n" + TWO + b")\r\nb OK FETCH completed\r\n"
        )
        assert await w.ask(b"c SELECT INBOX\r\n") == (
            b"* OK [CLOSED] Previous mailbox closed\r\n"
            b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)\r\n"
            b"* 2 EXISTS\r\n"
            b"* 0 RECENT\r\n"
            b"* OK [UIDVALIDITY 1790000000] UIDs valid\r\n"
            b"* OK [UIDNEXT 3] Predicted next UID\r\n"
            b"* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen \\*)]"
            b" Limited\r\n"
            b"* OK [HIGHESTMODSEQ 3] Highest\r\n"
            b"c OK [READ-WRITE] SELECT completed\r\n"
        )
        assert await w.ask(
            b"d FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE X-GM-MSGID"
            b" X-GM-THRID X-GM-LABELS)\r\n"
        ) == (
            b'* 1 FETCH (UID 1 FLAGS () INTERNALDATE "21-Sep-2026 14:13:20 +0000"'
            b' RFC822.SIZE 71 ENVELOPE (NIL "one" (("Bob" NIL "bob" "example.com"))'
            b' (("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com"))'
            b' NIL NIL NIL NIL "<1@x>") X-GM-MSGID 1 X-GM-THRID 1 X-GM-LABELS (\\Inbox))\r\n'
            b'* 2 FETCH (UID 2 FLAGS () INTERNALDATE "21-Sep-2026 14:13:20 +0000"'
            b' RFC822.SIZE 52 ENVELOPE (NIL "two" NIL NIL NIL'
            b' ((NIL NIL "alice" "example.com")) NIL NIL NIL NIL) X-GM-MSGID 2'
            b" X-GM-THRID 2 X-GM-LABELS (\\Inbox))\r\n"
            b"d OK FETCH completed\r\n"
        )
        assert await w.ask(
            b"e UID FETCH 1 (BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)]"
            b" BODY.PEEK[TEXT]<1.3>)\r\n"
        ) == (
            b'* 1 FETCH (UID 1 BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL'
            b' "7BIT" 7 1) BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n'
            b' BODY[TEXT]<1> "irs")\r\n'
            b"e OK UID FETCH completed\r\n"
        )
        # Not PEEK: \Seen is set and reported.
        assert await w.ask(b"f FETCH 1 (BODY[TEXT])\r\n") == (
            b"* 1 FETCH (FLAGS (\\Seen) BODY[TEXT] {7}\r\nfirst\r\n)\r\nf OK FETCH completed\r\n"
        )
        assert await w.ask(b"g FETCH 1 (FLAGS)\r\n") == (
            b"* 1 FETCH (FLAGS (\\Seen))\r\ng OK FETCH completed\r\n"
        )
        assert await w.ask(b"h FETCH 3 (FLAGS)\r\n") == (
            b"h BAD Invalid message sequence number\r\n"
        )


async def test_append_is_durable_with_appenduid(store: Store, alice: Account) -> None:
    data = b"Subject: appended\r\n\r\nhello\r\n"
    async with imap_server(store) as running, client(running.port) as w:
        assert (await w.ask(b"a SELECT Drafts\r\n")).endswith(
            b"a OK [READ-WRITE] SELECT completed\r\n"
        )
        reply = await w.ask(
            b'b APPEND Drafts (\\Draft $Todo) "01-Feb-2026 10:00:00 +0100" {28+}\r\n'
            + data
            + b"\r\n"
        )
        uidvalidity = store.mailbox(alice.id, "Drafts").uidvalidity
        assert reply == (
            f"* 1 EXISTS\r\nb OK [APPENDUID {uidvalidity} 1] APPEND completed\r\n".encode()
        )
        # On disk before the OK: read straight from the store.
        (info,) = store.fetch(store.mailbox(alice.id, "Drafts").id)
        assert info.flags == ("\\Draft", "$Todo")
        assert info.internal_date.isoformat() == "2026-02-01T10:00:00+01:00"
        assert read_all(store, alice.id, info.gm_msgid) == data
        assert await w.ask(b"c FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])\r\n") == (
            b'* 1 FETCH (FLAGS (\\Draft $Todo) INTERNALDATE "01-Feb-2026 10:00:00 +0100"'
            b" BODY[] {28}\r\n" + data + b")\r\nc OK FETCH completed\r\n"
        )
        assert await w.ask(b"d APPEND Nowhere {5+}\r\nhello\r\n") == (
            b"d NO [TRYCREATE] Mailbox does not exist\r\n"
        )
        # A synchronizing literal is refused before its octets are sent.
        assert await w.ask(b"e APPEND Nowhere {5}\r\n") == (
            b"e NO [TRYCREATE] Mailbox does not exist\r\n"
        )
    # All Mail has it too (the label model).
    assert [m.labels for m in store.fetch(store.mailbox(alice.id, "All Mail").id)] == [
        ("\\Draft",)
    ]


async def test_store_keywords_and_condstore(store: Store) -> None:
    fill(store)
    async with imap_server(store) as running, client(running.port) as w:
        assert (await w.ask(b"a SELECT INBOX (CONDSTORE)\r\n")).endswith(
            b"a OK [READ-WRITE] SELECT completed\r\n"
        )
        assert await w.ask(b"b STORE 1 +FLAGS (\\Flagged $Work)\r\n") == (
            b"* 1 FETCH (FLAGS (\\Flagged $Work) MODSEQ (4))\r\nb OK STORE completed\r\n"
        )
        assert await w.ask(b"c UID STORE 1:2 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Seen)\r\n") == (
            b"* 2 FETCH (UID 2 MODSEQ (5))\r\n"
            b"c OK [MODIFIED 1] Conditional STORE failed for some\r\n"
        )
        assert await w.ask(b"d FETCH 1:* (FLAGS) (CHANGEDSINCE 4)\r\n") == (
            b"* 2 FETCH (FLAGS (\\Seen) MODSEQ (5))\r\nd OK FETCH completed\r\n"
        )
        assert await w.ask(b"e STORE 1 -FLAGS ($Work)\r\n") == (
            b"* 1 FETCH (FLAGS (\\Flagged) MODSEQ (6))\r\ne OK STORE completed\r\n"
        )
        assert await w.ask(b"f STORE 2 FLAGS (\\Answered)\r\n") == (
            b"* 2 FETCH (FLAGS (\\Answered) MODSEQ (7))\r\nf OK STORE completed\r\n"
        )
        assert await w.ask(b"g STORE 1 +FLAGS (\\Bogus)\r\n") == (
            b"g NO [CANNOT] Not a flag or keyword this mailbox can store\r\n"
        )
        assert await w.ask(b"h STATUS INBOX (HIGHESTMODSEQ UNSEEN)\r\n") == (
            b"* STATUS INBOX (HIGHESTMODSEQ 7 UNSEEN 2)\r\nh OK STATUS completed\r\n"
        )


async def test_copy_move_expunge(store: Store, alice: Account) -> None:
    fill(store)
    trash = store.mailbox(alice.id, "Trash").uidvalidity
    sent = store.mailbox(alice.id, "Sent").uidvalidity
    async with imap_server(store) as running, client(running.port) as w:
        await w.ask(b"a SELECT INBOX\r\n")
        assert await w.ask(b"b COPY 1:2 Sent\r\n") == (
            f"b OK [COPYUID {sent} 1,2 1,2] COPY completed\r\n".encode()
        )
        assert await w.ask(b"c COPY 1 Nowhere\r\n") == (
            b"c NO [TRYCREATE] Mailbox does not exist\r\n"
        )
        assert await w.ask(b"d FETCH 1 (X-GM-LABELS)\r\n") == (
            b"* 1 FETCH (X-GM-LABELS (\\Inbox \\Sent))\r\nd OK FETCH completed\r\n"
        )
        assert (
            await w.ask(b"e UID MOVE 1 Trash\r\n")
            == (
                f"* OK [COPYUID {trash} 1 1] Moved\r\n* 1 EXPUNGE\r\ne OK UID MOVE completed\r\n"
            ).encode()
        )
        assert await w.ask(b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n") == (
            b"f OK STORE completed\r\n"
        )
        assert await w.ask(b"g UID EXPUNGE 1\r\n") == b"g OK UID EXPUNGE completed\r\n"
        assert await w.ask(b"h UID EXPUNGE 2\r\n") == (
            b"* 1 EXPUNGE\r\nh OK UID EXPUNGE completed\r\n"
        )
        assert (await w.ask(b"i SELECT Trash\r\n")).endswith(
            b"i OK [READ-WRITE] SELECT completed\r\n"
        )
        assert await w.ask(b"j UID FETCH 1:* (UID X-GM-LABELS)\r\n") == (
            b"* 1 FETCH (UID 1 X-GM-LABELS (\\Sent \\Trash))\r\nj OK UID FETCH completed\r\n"
        )
        # Expunged from Trash: gone from every mailbox (Sent too).
        await w.ask(b"k STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
        assert await w.ask(b"l EXPUNGE\r\n") == b"* 1 EXPUNGE\r\nl OK EXPUNGE completed\r\n"
        assert (await w.ask(b'm SELECT "All Mail"\r\n')).endswith(
            b"m OK [READ-WRITE] SELECT completed\r\n"
        )
        assert await w.ask(b"n UID MOVE 2 Junk\r\n") == (
            b"n NO [CANNOT] Messages stay in All Mail: COPY adds a label\r\n"
        )
    assert [m.uid for m in store.fetch(store.mailbox(alice.id, "Sent").id)] == [2]
    assert store.fetch(store.mailbox(alice.id, "INBOX").id) == []


async def test_gm_labels_store(store: Store, alice: Account) -> None:
    fill(store)
    async with imap_server(store) as running, client(running.port) as w:
        await w.ask(b"a SELECT INBOX\r\n")
        assert await w.ask(b"b STORE 2 +X-GM-LABELS (Receipts \\Starred)\r\n") == (
            b"b NO [CANNOT] Not a label this mailbox can store\r\n"
        )
        assert await w.ask(b"c STORE 2 +X-GM-LABELS (Receipts \\Sent)\r\n") == (
            b"* 2 FETCH (X-GM-LABELS (Receipts \\Inbox \\Sent))\r\nc OK STORE completed\r\n"
        )
        assert await w.ask(b"d UID SEARCH X-GM-LABELS Receipts\r\n") == (
            b"* SEARCH 2\r\nd OK UID SEARCH completed\r\n"
        )
        # The message leaves INBOX: no EXPUNGE during STORE (RFC 9051
        # 7.5.1), but at the next command that allows one.
        assert await w.ask(b"e STORE 2 -X-GM-LABELS (\\Inbox)\r\n") == b"e OK STORE completed\r\n"
        assert await w.ask(b"f NOOP\r\n") == b"* 2 EXPUNGE\r\nf OK NOOP completed\r\n"
    receipts = store.mailbox(alice.id, "Receipts")
    assert receipts.messages == 1


async def test_search(store: Store) -> None:
    fill(store)
    deliver(store, "alice@example.com", b"Subject: big\r\nDate: 1 Jan 2020 00:00 +0000\r\n\r\n"
            + b"x" * 70000 + b"needle\r\n")  # fmt: skip
    async with imap_server(store) as running, client(running.port) as w:
        await w.ask(b"a SELECT INBOX\r\n")
        await w.ask(b"b STORE 2 +FLAGS.SILENT (\\Seen $Work)\r\n")
        cases = {
            b"ALL": b"1 2 3",
            b"SEEN": b"2",
            b"UNSEEN": b"1 3",
            b"KEYWORD $work": b"2",
            b"UNKEYWORD $Work": b"1 3",
            b"FROM bob": b"1",
            b"TO alice": b"2",
            b"SUBJECT TW": b"2",
            b'HEADER Message-ID "<1@x>"': b"1",
            b"BODY needle": b"3",
            b"TEXT NEEDLE": b"3",
            b"BODY Subject": b"",
            b"LARGER 1000": b"3",
            b"SMALLER 60": b"2",
            b"SENTBEFORE 2-Jan-2020": b"3",
            b"SINCE 21-Sep-2026": b"1 2 3",
            b"ON 21-Sep-2026 BEFORE 21-Sep-2026": b"",
            b"OR SEEN FROM bob": b"1 2",
            b"NOT (SEEN)": b"1 3",
            b"2:3 UNSEEN": b"3",
            b"UID 2:*": b"2 3",
            b"MODSEQ 5": b"2",
            b"X-GM-MSGID 3": b"3",
        }
        for n, (criteria, expected) in enumerate(cases.items()):
            tag = f"s{n}".encode()
            line = b"* SEARCH" + (b" " + expected if expected else b"") + b"\r\n"
            assert await w.ask(tag + b" SEARCH " + criteria + b"\r\n") == (
                line + tag + b" OK SEARCH completed\r\n"
            ), criteria
        assert await w.ask(b"t UID SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n") == (
            b'* ESEARCH (TAG "t") UID MIN 1 MAX 3 COUNT 2\r\nt OK UID SEARCH completed\r\n'
        )


def test_store_mailbox_totals(store: Store, alice: Account) -> None:
    inbox = store.mailbox(alice.id, "INBOX").id
    assert store.mailbox_totals(inbox) == (0, 0)
    fill(store)
    store.store_flags(inbox, [UidRange(2)], FlagMode.ADD, ["\\Deleted"])
    assert store.mailbox_totals(inbox) == (len(ONE) + len(TWO), 1)
    with pytest.raises(NoSuchMailbox):
        store.mailbox_totals(9999)


async def test_envelope_and_header_sections_read_only_the_header(
    store: Store, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b"Subject: big\r\nFrom: a@example.com\r\n\r\n" + b"x" * 998 + b"\r\n"
    big += (b"y" * 998 + b"\r\n") * 1000
    deliver(store, "alice@example.com", big)
    read: list[int] = []
    body_chunk = store.body_chunk

    def counting(account_id: int, gm_msgid: int, offset: int, size: int) -> bytes:
        chunk = body_chunk(account_id, gm_msgid, offset, size)
        read.append(len(chunk))
        return chunk

    monkeypatch.setattr(store, "body_chunk", counting)
    async with imap_server(store) as running, client(running.port) as w:
        await w.ask(b"a EXAMINE INBOX\r\n")
        assert await w.ask(b"b FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n") == (
            b'* 1 FETCH (ENVELOPE (NIL "big" ((NIL NIL "a" "example.com"))'
            b' ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)'
            b" BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: big\r\n\r\n)\r\n"
            b"b OK FETCH completed\r\n"
        )
        assert sum(read) == 64 * 1024  # one chunk of the 1 MB message
        read.clear()
        reply = await w.ask(b"c FETCH 1 (ENVELOPE BODY.PEEK[])\r\n")
        assert reply.endswith(big + b")\r\nc OK FETCH completed\r\n")
        assert sum(read) == len(big)


async def test_namespace_id_unselect_close_and_threads(store: Store, alice: Account) -> None:
    fill(store)
    reply = b"Subject: Re: one\r\nIn-Reply-To: <1@x>\r\nReferences: <1@x>\r\n\r\nreply\r\n"
    deliver(store, "alice@example.com", reply)
    async with imap_server(store) as running, client(running.port) as w:
        assert await w.ask(b"a NAMESPACE\r\n") == (
            b'* NAMESPACE (("" "/")) NIL NIL\r\na OK NAMESPACE completed\r\n'
        )
        assert await w.ask(b'b ID ("name" "test")\r\n') == (
            b'* ID ("name" "protokit")\r\nb OK ID completed\r\n'
        )
        await w.ask(b"c SELECT INBOX\r\n")
        # Gmail's threads: the reply shares the first message's X-GM-THRID.
        assert await w.ask(b"d FETCH 1:* (X-GM-MSGID X-GM-THRID)\r\n") == (
            b"* 1 FETCH (X-GM-MSGID 1 X-GM-THRID 1)\r\n"
            b"* 2 FETCH (X-GM-MSGID 2 X-GM-THRID 2)\r\n"
            b"* 3 FETCH (X-GM-MSGID 3 X-GM-THRID 1)\r\n"
            b"d OK FETCH completed\r\n"
        )
        assert await w.ask(b"e UID SEARCH X-GM-THRID 1\r\n") == (
            b"* SEARCH 1 3\r\ne OK UID SEARCH completed\r\n"
        )
        assert await w.ask(b'f UID SEARCH X-GM-RAW "second body"\r\n') == (
            b"* SEARCH 2\r\nf OK UID SEARCH completed\r\n"
        )
        await w.ask(b"g STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
        # UNSELECT leaves \Deleted messages alone; CLOSE expunges them silently.
        assert await w.ask(b"h UNSELECT\r\n") == b"h OK UNSELECT completed\r\n"
        await w.ask(b"i SELECT INBOX\r\n")
        assert await w.ask(b"j CLOSE\r\n") == b"j OK CLOSE completed\r\n"
        assert await w.ask(b"k STATUS INBOX (MESSAGES)\r\n") == (
            b"* STATUS INBOX (MESSAGES 2)\r\nk OK STATUS completed\r\n"
        )
    inbox = store.mailbox(alice.id, "INBOX").id
    assert [m.uid for m in store.fetch(inbox)] == [2, 3]


async def test_small_bodies_are_read_ahead_in_one_store_call(store: Store) -> None:
    small = [f"Subject: s{n}\r\n\r\nbody {n}\r\n".encode() for n in range(3)]
    large = b"Subject: large\r\n\r\n" + b"z" * 100_000 + b"\r\n"
    for data in (small[0], small[1], large, small[2]):
        deliver(store, "alice@example.com", data)
    async with imap_server(store) as running, client(running.port) as w:
        await w.ask(b"a EXAMINE INBOX\r\n")
        calls: list[str] = []
        call = running.astore.call

        async def recording(fn: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(fn.__name__)
            return await call(fn, *args, **kwargs)

        running.astore.call = recording  # type: ignore[method-assign]
        assert await w.ask(b"b FETCH 1:* (BODY.PEEK[])\r\n") == (
            b"".join(
                b"* %d FETCH (BODY[] {%d}\r\n%s)\r\n" % (n, len(data), data)
                for n, data in enumerate((small[0], small[1], large, small[2]), 1)
            )
            + b"b OK FETCH completed\r\n"
        )
    # Messages 1 and 2 in one store call; the large one in 64 KiB chunks; then 4.
    assert calls == ["fetch", "_read_bodies", "body_chunk", "body_chunk", "_read_bodies"]
