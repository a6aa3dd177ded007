"""Store operations on messages, exactly: UIDs, UIDVALIDITY, MODSEQ,
flags, copy/move mappings, expunge, labels, threads, search, bodies."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from protokit.server import (
    Account,
    CopyResult,
    Delivered,
    FlagMode,
    InvalidName,
    MessageInfo,
    MessageTooLarge,
    NoSuchAccount,
    NoSuchMailbox,
    SearchQuery,
    Store,
    StoreError,
    UidRange,
)

from .conftest import Clock
from .helpers import deliver, message, read_all, writer_with

ALL = [UidRange(1, None)]


def box(store: Store, account: Account, name: str) -> int:
    return store.mailbox(account.id, name).id


def uids(store: Store, mailbox_id: int) -> list[int]:
    return [m.uid for m in store.fetch(mailbox_id)]


def test_deliver_to_inbox_and_all_mail(store: Store, alice: Account, clock: Clock) -> None:
    data = message("one", msgid="1@x")
    assert deliver(store, "alice@example.com", data) == Delivered(gm_msgid=1, mailbox_id=1, uid=1)
    inbox = store.mailbox(alice.id, "INBOX")
    assert (inbox.uidnext, inbox.highestmodseq, inbox.messages, inbox.unseen) == (2, 2, 1, 1)
    [info] = store.fetch(inbox.id)
    assert info == MessageInfo(
        uid=1,
        gm_msgid=1,
        thread_id=1,
        size=len(data),
        internal_date=datetime.fromtimestamp(clock.now, UTC),
        flags=(),
        modseq=2,
        labels=("\\Inbox",),
    )
    [in_all] = store.fetch(box(store, alice, "All Mail"))
    assert (in_all.uid, in_all.gm_msgid, in_all.labels) == (1, 1, ("\\Inbox",))
    assert read_all(store, alice.id, 1) == data


def test_uids_strictly_ascending_and_never_reused(store: Store, alice: Account) -> None:
    inbox = box(store, alice, "INBOX")
    got = [deliver(store, "alice@example.com", message(str(i))).uid for i in range(5)]
    assert got == [1, 2, 3, 4, 5]
    store.store_flags(inbox, [UidRange(4, 5)], FlagMode.ADD, ["\\Deleted"])
    assert store.expunge(inbox) == (4, 5)
    assert deliver(store, "alice@example.com", message("6")).uid == 6
    assert uids(store, inbox) == [1, 2, 3, 6]
    assert store.select(inbox).uids == (1, 2, 3, 6)


def test_uidvalidity_stable_across_reopen_and_fresh_on_recreate(
    store: Store, alice: Account, clock: Clock
) -> None:
    before = {b.name: b.uidvalidity for b in store.mailboxes(alice.id)}
    created = store.create_mailbox(alice.id, "Work")
    store.delete_mailbox(alice.id, "Work")
    recreated = store.create_mailbox(alice.id, "Work")
    assert recreated.uidvalidity > created.uidvalidity
    path = store.path
    store.close()
    with Store(path, clock=clock) as again:
        after = {b.name: b.uidvalidity for b in again.mailboxes(alice.id)}
    assert after == {**before, "Work": recreated.uidvalidity}


def test_deliver_to_many_stores_the_body_once(store: Store, alice: Account, bob: Account) -> None:
    data = message("shared")
    w = writer_with(store, [data])
    got = store.deliver(["alice@example.com", "bob@example.com", "ALICE@example.com"], w)
    assert got == {
        "alice@example.com": Delivered(gm_msgid=1, mailbox_id=1, uid=1),
        "bob@example.com": Delivered(gm_msgid=2, mailbox_id=7, uid=1),
        "ALICE@example.com": Delivered(gm_msgid=1, mailbox_id=1, uid=1),
    }
    db = store._db.db
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 1
    assert db.execute("SELECT sha256 FROM bodies").fetchone()[0] == hashlib.sha256(data).digest()
    assert w.closed
    # the same bytes again: still one body
    deliver(store, "alice@example.com", data)
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 1
    assert read_all(store, bob.id, 2) == data


def test_deliver_to_unknown_account_stores_nothing(store: Store, alice: Account) -> None:
    w = writer_with(store, [message("x")])
    with pytest.raises(NoSuchAccount, match=r"no account nobody@example\.com"):
        store.deliver(["alice@example.com", "nobody@example.com"], w)
    assert w.closed
    db = store._db.db
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 0
    assert store.mailbox(alice.id, "INBOX").uidnext == 1


def test_writer_is_committed_at_most_once(store: Store, alice: Account) -> None:
    w = writer_with(store, [message("x")])
    store.deliver("alice@example.com", w)
    with pytest.raises(StoreError, match="closed"):
        store.deliver("alice@example.com", w)
    with pytest.raises(StoreError, match="closed"):
        w.write(b"more")


def test_writer_size_limit(store: Store) -> None:
    w = store.new_message(max_size=10)
    w.write(b"0123456789")
    with pytest.raises(MessageTooLarge, match="exceeds 10 octets"):
        w.write(b"x")
    assert w.closed and w.size == 10


def test_large_message_streams_in_chunks(store: Store, alice: Account) -> None:
    data = message("big") + bytes(range(256)) * 12_000  # ~3 MB: spooled to a file
    w = store.new_message()
    for i in range(0, len(data), 7001):
        w.write(data[i : i + 7001])
    d = store.deliver("alice@example.com", w)["alice@example.com"]
    chunks = list(store.read_message(alice.id, d.gm_msgid, 65536))
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks[:-1]] == [65536] * (len(chunks) - 1)
    assert store.body_chunk(alice.id, d.gm_msgid, len(data) - 3, 10) == data[-3:]
    assert store.body_chunk(alice.id, d.gm_msgid, len(data), 10) == b""


def test_empty_message(store: Store, alice: Account) -> None:
    d = store.deliver("alice@example.com", store.new_message())["alice@example.com"]
    assert read_all(store, alice.id, d.gm_msgid) == b""
    assert store.header(alice.id, d.gm_msgid) == b""


def test_message_of_another_account_is_not_readable(
    store: Store, alice: Account, bob: Account
) -> None:
    d = deliver(store, "alice@example.com", message("private"))
    with pytest.raises(StoreError, match="no such message"):
        store.body_chunk(bob.id, d.gm_msgid, 0, 10)
    with pytest.raises(StoreError, match="no such message"):
        store.header(bob.id, d.gm_msgid)


def test_store_sent_is_seen_and_popped(store: Store, alice: Account) -> None:
    d = store.store_sent("alice@example.com", writer_with(store, [message("sent")]))
    sent = store.mailbox(alice.id, "Sent")
    assert d == Delivered(gm_msgid=1, mailbox_id=sent.id, uid=1)
    [info] = store.fetch(sent.id)
    assert (info.flags, info.labels) == (("\\Seen",), ("\\Sent",))
    assert store.mailbox(alice.id, "INBOX").messages == 0
    assert uids(store, box(store, alice, "All Mail")) == [1]
    assert store.pop3_maildrop(alice.id) == []
    assert [(e.gm_msgid, e.size) for e in store.pop3_maildrop(alice.id, recent=True)] == [
        (1, info.size)
    ]


def test_append_with_flags_and_internal_date(store: Store, alice: Account) -> None:
    drafts = box(store, alice, "Drafts")
    when = datetime(2024, 2, 29, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    d = store.append(
        drafts,
        writer_with(store, [message("d")]),
        flags=["\\draft", "$Label1", "\\Seen", "$label1"],
        internal_date=when,
    )
    [info] = store.fetch(drafts)
    assert d.uid == 1 and info.flags == ("\\Draft", "\\Seen", "$Label1")
    assert info.internal_date == when and info.internal_date.utcoffset() == timedelta(hours=-5)
    assert info.labels == ("\\Draft",)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append(drafts, writer_with(store, [b"x"]), internal_date=datetime(2024, 1, 1))
    with pytest.raises(InvalidName, match="storable system flag"):
        store.append(drafts, writer_with(store, [b"x"]), flags=["\\Recent"])
    with pytest.raises(NoSuchMailbox):
        store.append(999, writer_with(store, [b"x"]))
    assert uids(store, drafts) == [1]


@pytest.mark.parametrize(
    "flag", ["a b", "a(b", "a)", "{x", "%", "*", '"q"', "a]", "a\\b", "", "ü", "x" * 256]
)
def test_invalid_keywords(store: Store, alice: Account, flag: str) -> None:
    deliver(store, "alice@example.com", message("x"))
    with pytest.raises(InvalidName):
        store.store_flags(1, ALL, FlagMode.ADD, [flag])


def test_fetch_uid_ranges(store: Store, alice: Account) -> None:
    inbox = box(store, alice, "INBOX")
    for i in range(5):
        deliver(store, "alice@example.com", message(str(i)))

    def f(*r: UidRange) -> list[int]:
        return [m.uid for m in store.fetch(inbox, list(r))]

    assert f(UidRange(2, 3)) == [2, 3]
    assert f(UidRange(3, 2)) == [2, 3]
    assert f(UidRange(4, None)) == [4, 5]
    assert f(UidRange(9, None)) == [5]  # RFC 3501: 9:* includes the largest uid
    assert f(UidRange(9, 12)) == []
    assert f(UidRange(5), UidRange(1), UidRange(1, 2)) == [1, 2, 5]
    assert f() == []
    empty = box(store, alice, "Trash")
    assert store.fetch(empty, [UidRange(1, None)]) == []
    with pytest.raises(NoSuchMailbox):
        store.fetch(999)
    with pytest.raises(ValueError, match="positive"):
        UidRange(0)


def test_store_flags_modseq_monotonic(store: Store, alice: Account) -> None:
    inbox = box(store, alice, "INBOX")
    for i in range(3):
        deliver(store, "alice@example.com", message(str(i)))
    assert store.mailbox_by_id(inbox).highestmodseq == 4
    r = store.store_flags(inbox, [UidRange(1, 2)], FlagMode.ADD, ["\\Seen"])
    assert r.updated == {1: (("\\Seen",), 5), 2: (("\\Seen",), 5)} and r.modified == ()
    # no change: no new modseq
    r = store.store_flags(inbox, [UidRange(1)], FlagMode.ADD, ["\\seen"])
    assert r.updated == {1: (("\\Seen",), 5)}
    assert store.mailbox_by_id(inbox).highestmodseq == 5
    r = store.store_flags(inbox, ALL, FlagMode.SET, ["\\Flagged", "Work"])
    assert r.updated == dict.fromkeys((1, 2, 3), (("\\Flagged", "Work"), 6))
    r = store.store_flags(inbox, [UidRange(2)], FlagMode.REMOVE, ["work", "\\Seen"])
    assert r.updated == {2: (("\\Flagged",), 7)}
    assert [(m.uid, m.flags, m.modseq) for m in store.fetch(inbox)] == [
        (1, ("\\Flagged", "Work"), 6),
        (2, ("\\Flagged",), 7),
        (3, ("\\Flagged", "Work"), 6),
    ]
    assert store.mailbox_by_id(inbox).highestmodseq == 7
    assert [m.uid for m in store.fetch(inbox, changed_since=6)] == [2]
    sel = store.select(inbox)
    assert sel.flags == ("\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen", "Work")
    assert sel.first_unseen == 1 and sel.mailbox.unseen == 3


def test_store_unchangedsince(store: Store, alice: Account) -> None:
    inbox = box(store, alice, "INBOX")
    for i in range(3):
        deliver(store, "alice@example.com", message(str(i)))  # modseqs 2, 3, 4
    r = store.store_flags(inbox, ALL, FlagMode.ADD, ["\\Seen"], unchanged_since=3)
    assert r.modified == (3,)
    assert r.updated == {1: (("\\Seen",), 5), 2: (("\\Seen",), 5)}
    assert [m.flags for m in store.fetch(inbox)] == [("\\Seen",), ("\\Seen",), ()]
    r = store.store_flags(inbox, ALL, FlagMode.ADD, ["\\Seen"], unchanged_since=0)
    assert r.modified == (1, 2, 3) and r.updated == {}


def test_flags_are_per_mailbox(store: Store, alice: Account) -> None:
    deliver(store, "alice@example.com", message("x"))
    store.store_flags(box(store, alice, "INBOX"), ALL, FlagMode.ADD, ["\\Seen"])
    assert store.fetch(box(store, alice, "All Mail"))[0].flags == ()


def test_copy_maps_uids_and_keeps_flags(store: Store, alice: Account) -> None:
    inbox, work = box(store, alice, "INBOX"), store.create_mailbox(alice.id, "Work")
    for i in range(4):
        deliver(store, "alice@example.com", message(str(i)))
    store.store_flags(inbox, [UidRange(3)], FlagMode.ADD, ["\\Flagged"])
    r = store.copy(inbox, [UidRange(3, 4), UidRange(1)], work.id)
    assert r == CopyResult(uidvalidity=work.uidvalidity, mapping=((1, 1), (3, 2), (4, 3)))
    info = store.fetch(work.id)
    assert [(m.uid, m.gm_msgid, m.flags) for m in info] == [
        (1, 1, ()),
        (2, 3, ("\\Flagged",)),
        (3, 4, ()),
    ]
    assert info[0].labels == ("Work", "\\Inbox")
    # copying again maps to the existing uids (Gmail labels: one membership per mailbox)
    r = store.copy(inbox, [UidRange(1, 4)], work.id)
    assert r.mapping == ((1, 1), (2, 4), (3, 2), (4, 3))
    assert uids(store, inbox) == [1, 2, 3, 4]
    other = store.add_account("eve@example.com", "pw")
    with pytest.raises(NoSuchMailbox, match="another account"):
        store.copy(inbox, ALL, box(store, other, "INBOX"))


def test_move_removes_from_source(store: Store, alice: Account) -> None:
    inbox, trash = box(store, alice, "INBOX"), box(store, alice, "Trash")
    for i in range(3):
        deliver(store, "alice@example.com", message(str(i)))
    hm = store.mailbox_by_id(inbox).highestmodseq
    r = store.move(inbox, [UidRange(2, 3)], trash)
    assert r.mapping == ((2, 1), (3, 2))
    assert uids(store, inbox) == [1] and uids(store, trash) == [1, 2]
    assert store.mailbox_by_id(inbox).highestmodseq == hm + 1
    assert store.fetch(trash)[0].labels == ("\\Trash",)
    assert uids(store, box(store, alice, "All Mail")) == [1, 2, 3]


def test_move_out_of_all_mail_only_adds_the_label(store: Store, alice: Account) -> None:
    all_mail = box(store, alice, "All Mail")
    deliver(store, "alice@example.com", message("x"))
    r = store.move(all_mail, ALL, box(store, alice, "Junk"))
    assert r.mapping == ((1, 1),)
    assert uids(store, all_mail) == [1]


def test_expunge_label_only_vs_permanent(store: Store, alice: Account) -> None:
    inbox, trash, all_mail = (box(store, alice, n) for n in ("INBOX", "Trash", "All Mail"))
    for i in range(3):
        deliver(store, "alice@example.com", message(str(i)))
    assert store.expunge(inbox) == ()  # nothing \Deleted
    store.store_flags(inbox, [UidRange(1)], FlagMode.ADD, ["\\Deleted"])
    assert store.expunge(inbox) == (1,)
    assert uids(store, inbox) == [2, 3] and uids(store, all_mail) == [1, 2, 3]  # archived
    store.move(inbox, [UidRange(2)], trash)
    store.store_flags(trash, ALL, FlagMode.ADD, ["\\Deleted"])
    assert store.expunge(trash) == (1,)
    # gone everywhere, body included
    assert uids(store, all_mail) == [1, 3] and uids(store, trash) == []
    db = store._db.db
    assert db.execute("SELECT id FROM messages ORDER BY id").fetchall() == [(1,), (3,)]
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 2


def test_uid_expunge_limits_to_the_set(store: Store, alice: Account) -> None:
    inbox = box(store, alice, "INBOX")
    for i in range(3):
        deliver(store, "alice@example.com", message(str(i)))
    store.store_flags(inbox, ALL, FlagMode.ADD, ["\\Deleted"])
    assert store.expunge(inbox, [UidRange(2)]) == (2,)
    assert uids(store, inbox) == [1, 3]


def test_shared_body_survives_until_the_last_message(
    store: Store, alice: Account, bob: Account
) -> None:
    data = message("same")
    store.deliver(["alice@example.com", "bob@example.com"], writer_with(store, [data]))
    all_a = box(store, alice, "All Mail")
    store.store_flags(all_a, ALL, FlagMode.ADD, ["\\Deleted"])
    assert store.expunge(all_a) == (1,)
    assert read_all(store, bob.id, 2) == data


def test_threads_follow_references(store: Store, alice: Account) -> None:
    a = deliver(store, "alice@example.com", message("a", msgid="a@x"))
    b = deliver(store, "alice@example.com", message("b", msgid="b@x", refs="<a@x>"))
    c = deliver(store, "alice@example.com", message("c", msgid="c@x", refs="<zz@x> <b@x>"))
    d = deliver(store, "alice@example.com", message("d", msgid="d@x", refs="<unknown@x>"))
    threads = {m.gm_msgid: m.thread_id for m in store.fetch(1)}
    assert threads == {a.gm_msgid: 1, b.gm_msgid: 1, c.gm_msgid: 1, d.gm_msgid: 4}


@pytest.mark.parametrize("way", ["whole", "bytewise", "trailing"])
def test_header_capture_any_chunking(store: Store, alice: Account, way: str) -> None:
    data = b"Subject: x\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n\r\nmore"
    chunks = {
        "whole": [data],
        "bytewise": [data[i : i + 1] for i in range(len(data))],
        "trailing": [data[:20], data[20:]],
    }[way]
    d = store.deliver("alice@example.com", writer_with(store, chunks))["alice@example.com"]
    assert store.header(alice.id, d.gm_msgid) == b"Subject: x\r\nMessage-ID: <m@x>\r\n\r\n"
    assert store._db.db.execute("SELECT message_id_header FROM messages").fetchone()[0] == "<m@x>"


def test_header_capture_is_bounded(store: Store, alice: Account) -> None:
    data = b"X: " + b"a" * 100_000 + b"\r\n\r\nbody"
    d = deliver(store, "alice@example.com", data)
    assert store.header(alice.id, d.gm_msgid) == data[: 64 * 1024]
    lf = deliver(store, "alice@example.com", b"Subject: lf\n\nbody")
    assert store.header(alice.id, lf.gm_msgid) == b"Subject: lf\n\n"


def test_search(store: Store, alice: Account, clock: Clock) -> None:
    inbox = box(store, alice, "INBOX")
    day = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    for i, subject in enumerate(["Hello world", "Re: hello", "Invoice", "folded"]):
        data = message(subject)
        if subject == "folded":
            data = b"Subject: long\r\n  Hello folded\r\nX-Tag: ok\r\n\r\nb"
        store.append(inbox, writer_with(store, [data]), internal_date=day + timedelta(days=i))
    store.store_flags(inbox, [UidRange(2, 3)], FlagMode.ADD, ["\\Seen"])

    def s(**kw: Any) -> tuple[int, ...]:
        return store.search(inbox, SearchQuery(**kw))

    assert s() == (1, 2, 3, 4)
    assert s(headers=(("subject", "HELLO"),)) == (1, 2, 4)
    assert s(headers=(("Subject", "hello"), ("subject", "re:"))) == (2,)
    assert s(headers=(("", "x-tag: ok"),)) == ()  # a substring of values, not lines
    assert s(headers=(("", "ok"),)) == (4,)
    assert s(flags=("\\seen",)) == (2, 3)
    assert s(not_flags=("\\Seen",)) == (1, 4)
    assert s(since=date(2026, 3, 11)) == (2, 3, 4)
    assert s(before=date(2026, 3, 12)) == (1, 2)
    assert s(since=date(2026, 3, 11), before=date(2026, 3, 12), flags=("\\Seen",)) == (2,)
    assert s(uids=(UidRange(3, None),)) == (3, 4)
    assert s(modseq=6) == (2, 3)
    # the date is the message's own: 23:00 UTC on the 10th is the 11th at +02:00
    store.append(
        inbox,
        writer_with(store, [b"x"]),
        internal_date=datetime(2026, 3, 10, 23, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    assert s(since=date(2026, 3, 10), before=date(2026, 3, 11)) == (1, 5)
    with pytest.raises(InvalidName):
        s(headers=(("bad name:", "x"),))


def test_mailbox_management(store: Store, alice: Account) -> None:
    work = store.create_mailbox(alice.id, "Work")
    store.create_mailbox(alice.id, "Work/2026")
    store.create_mailbox(alice.id, "inbox/child")
    assert store.mailbox(alice.id, "INBOX/child").name == "INBOX/child"
    assert store.mailbox(alice.id, "inBox").name == "INBOX"
    renamed = store.rename_mailbox(alice.id, "Work", "Jobs")
    assert (renamed.id, renamed.uidvalidity) == (work.id, work.uidvalidity)
    assert store.mailbox(alice.id, "Jobs/2026").name == "Jobs/2026"
    with pytest.raises(NoSuchMailbox):
        store.mailbox(alice.id, "Work")
    store.subscribe(alice.id, "Jobs", False)
    assert not store.mailbox(alice.id, "Jobs").subscribed
    for bad in ("", "a//b", "/a", "a/", "a\r\nb", "a*", "a%", "a\x00"):
        with pytest.raises(InvalidName):
            store.create_mailbox(alice.id, bad)
    from protokit.server import MailboxExists

    with pytest.raises(MailboxExists):
        store.create_mailbox(alice.id, "Jobs")
    with pytest.raises(MailboxExists):
        store.rename_mailbox(alice.id, "Jobs/2026", "Sent")
    for fixed in ("INBOX", "All Mail"):
        with pytest.raises(InvalidName, match="cannot be"):
            store.delete_mailbox(alice.id, fixed)
        with pytest.raises(InvalidName, match="cannot be"):
            store.rename_mailbox(alice.id, fixed, "Other")
    with pytest.raises(InvalidName, match="into itself"):
        store.rename_mailbox(alice.id, "Jobs", "Jobs/sub")
    with pytest.raises(InvalidName, match="special-use"):
        store.create_mailbox(alice.id, "X", special_use="\\All")
    assert store.special_mailbox(alice.id, "\\Sent").name == "Sent"


def test_deleting_a_mailbox_keeps_messages_in_all_mail(store: Store, alice: Account) -> None:
    work = store.create_mailbox(alice.id, "Work")
    deliver(store, "alice@example.com", message("x"))
    store.copy(box(store, alice, "INBOX"), ALL, work.id)
    store.delete_mailbox(alice.id, "Work")
    assert store.fetch(box(store, alice, "All Mail"))[0].labels == ("\\Inbox",)


def test_body_chunk_slices_across_row_boundaries(store: Store, alice: Account) -> None:
    from protokit.server._schema import BODY_CHUNK

    data = bytes(i % 253 for i in range(3 * BODY_CHUNK + 17))
    d = deliver(store, "alice@example.com", data)
    rows = store._db.db.execute(
        "SELECT seq, length(data) FROM body_chunks ORDER BY seq"
    ).fetchall()
    assert rows == [(0, BODY_CHUNK), (1, BODY_CHUNK), (2, BODY_CHUNK), (3, 17)]
    for offset, size in [
        (0, 1),
        (BODY_CHUNK - 1, 2),
        (BODY_CHUNK, BODY_CHUNK),
        (BODY_CHUNK - 5, 2 * BODY_CHUNK + 10),
        (3 * BODY_CHUNK + 16, 100),
        (0, len(data) + 1),
        (5, 0),
    ]:
        assert store.body_chunk(alice.id, d.gm_msgid, offset, size) == data[offset : offset + size]
    for chunk_size in (1000, BODY_CHUNK, BODY_CHUNK + 1, 10 * BODY_CHUNK):
        assert read_all(store, alice.id, d.gm_msgid, chunk_size) == data


def test_store_labels(store: Store, alice: Account) -> None:
    inbox, all_mail = box(store, alice, "INBOX"), box(store, alice, "All Mail")
    for i in range(2):
        deliver(store, "alice@example.com", message(str(i)))
    hm = store.mailbox_by_id(all_mail).highestmodseq
    got = store.store_labels(all_mail, [UidRange(1)], FlagMode.ADD, ["Work", "\\spam"])
    assert got == {1: ("Work", "\\Inbox", "\\Spam")}
    assert store.mailbox(alice.id, "Work").special_use is None  # created on first use
    assert uids(store, box(store, alice, "Junk")) == [1]
    [one] = store.fetch(all_mail, [UidRange(1)])
    assert one.modseq == hm + 1 == store.mailbox_by_id(all_mail).highestmodseq
    assert store.store_labels(all_mail, [UidRange(1)], FlagMode.ADD, ["Work"]) == {1: one.labels}
    assert store.mailbox_by_id(all_mail).highestmodseq == hm + 1  # nothing changed
    got = store.store_labels(all_mail, [UidRange(1, 2)], FlagMode.REMOVE, ["\\Inbox", "\\Spam"])
    assert got == {1: ("Work",), 2: ()}
    assert uids(store, inbox) == [] and uids(store, box(store, alice, "Junk")) == []
    got = store.store_labels(all_mail, [UidRange(2)], FlagMode.SET, ["\\Sent", "\\Inbox"])
    assert got == {2: ("\\Inbox", "\\Sent")}
    assert uids(store, inbox) == [3]  # back in INBOX under a new uid
    # removing the selected mailbox's own label: the message leaves it
    assert store.store_labels(inbox, [UidRange(3)], FlagMode.REMOVE, ["\\Inbox"]) == {}
    assert uids(store, inbox) == [] and uids(store, all_mail) == [1, 2]
    # All Mail is not a label: setting labels never removes it
    assert store.store_labels(all_mail, [UidRange(2)], FlagMode.SET, []) == {2: ()}
    assert uids(store, all_mail) == [1, 2]
    with pytest.raises(NoSuchMailbox, match="no mailbox for the label"):
        store.store_labels(all_mail, [UidRange(1)], FlagMode.ADD, ["\\Starred"])
    with pytest.raises(InvalidName, match="unsupported system label"):
        store.store_labels(all_mail, [UidRange(1)], FlagMode.ADD, ["\\Important"])
    with pytest.raises(InvalidName):
        store.store_labels(all_mail, [UidRange(1)], FlagMode.ADD, ["bad\r\nname"])


def test_submit_to_sent_and_local_recipients(store: Store, alice: Account, bob: Account) -> None:
    from protokit.server import Submitted

    data = message("to bob and me")
    got = store.submit(
        "alice@example.com", ["bob@example.com", "ALICE@example.com"], writer_with(store, [data])
    )
    sent_box, inbox_a = box(store, alice, "Sent"), box(store, alice, "INBOX")
    assert got == Submitted(
        sent=Delivered(gm_msgid=1, mailbox_id=sent_box, uid=1),
        delivered={
            "bob@example.com": Delivered(gm_msgid=2, mailbox_id=box(store, bob, "INBOX"), uid=1),
            "ALICE@example.com": Delivered(gm_msgid=1, mailbox_id=inbox_a, uid=1),
        },
    )
    # alice: one message, labelled Sent and INBOX, seen in Sent, popped
    assert [(m.gm_msgid, m.flags, m.labels) for m in store.fetch(sent_box)] == [
        (1, ("\\Seen",), ("\\Inbox", "\\Sent"))
    ]
    assert store.pop3_maildrop(alice.id) == []
    # bob: an ordinary unseen, unpopped delivery of the same body
    assert [e.gm_msgid for e in store.pop3_maildrop(bob.id)] == [2]
    assert store.fetch(box(store, bob, "INBOX"))[0].flags == ()
    assert store._db.db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 1
    assert read_all(store, bob.id, 2) == data


def test_submit_unknown_parties_store_nothing(store: Store, alice: Account) -> None:
    for sender, rcpts in (("nobody@example.com", []), ("alice@example.com", ["x@example.com"])):
        w = writer_with(store, [b"x"])
        with pytest.raises(NoSuchAccount):
            store.submit(sender, rcpts, w)
        assert w.closed
    assert store._db.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert store.mailbox(alice.id, "Sent").uidnext == 1
