"""Store.append_batch, the importer's store operation: many messages into
one mailbox in one transaction, each with its flags and internal date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from protokit.server import Account, Delivered, InvalidName, NoSuchMailbox, PopEntry, Store

from .helpers import message, read_all, writer_with


def test_append_batch_keeps_bytes_flags_and_dates(store: Store, alice: Account) -> None:
    inbox = store.mailbox(alice.id, "INBOX").id
    first = datetime(2001, 9, 9, 1, 46, 40, tzinfo=timezone(timedelta(hours=2)))
    data = [message("a"), message("b"), message("a")]
    out = store.append_batch(
        inbox,
        [
            (writer_with(store, [data[0]]), ["\\Seen", "\\Flagged"], first),
            (writer_with(store, [data[1][:5], data[1][5:]]), [], None),
            (writer_with(store, [data[2]]), ["\\answered"], first),
        ],
    )
    assert out == [
        Delivered(gm_msgid=1, mailbox_id=inbox, uid=1),
        Delivered(gm_msgid=2, mailbox_id=inbox, uid=2),
        Delivered(gm_msgid=3, mailbox_id=inbox, uid=3),
    ]
    infos = store.fetch(inbox)
    assert [i.flags for i in infos] == [("\\Flagged", "\\Seen"), (), ("\\Answered",)]
    assert infos[0].internal_date == first
    assert infos[0].internal_date.utcoffset() == timedelta(hours=2)
    assert infos[1].internal_date == datetime.fromtimestamp(1_790_000_000, UTC)
    assert [read_all(store, alice.id, i.gm_msgid) for i in infos] == data
    # Members of All Mail too, and not popped: POP3 normal mode lists them.
    assert [i.uid for i in store.fetch(store.mailbox(alice.id, "All Mail").id)] == [1, 2, 3]
    assert store.pop3_maildrop(alice.id) == [
        PopEntry(unique_id=str(n), size=len(data[n - 1]), gm_msgid=n) for n in (1, 2, 3)
    ]


def test_append_batch_is_all_or_nothing(store: Store, alice: Account) -> None:
    inbox = store.mailbox(alice.id, "INBOX").id
    good = writer_with(store, [message("ok")])
    naive = writer_with(store, [message("naive")])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append_batch(inbox, [(good, [], None), (naive, [], datetime(2020, 1, 1))])
    assert good.closed and naive.closed
    bad_flag = writer_with(store, [message("flag")])
    with pytest.raises(InvalidName):
        store.append_batch(inbox, [(bad_flag, ["\\Recent"], None)])
    assert bad_flag.closed
    lost = writer_with(store, [message("lost")])
    with pytest.raises(NoSuchMailbox):
        store.append_batch(999, [(lost, [], None)])
    assert lost.closed
    assert store.fetch(inbox) == []
    assert store.mailbox(alice.id, "INBOX").uidnext == 1
    assert store.append_batch(inbox, []) == []
