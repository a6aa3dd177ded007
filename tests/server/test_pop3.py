"""POP3 maildrop state: normal mode (each message once: popped at QUIT after
RETR) and recent mode (the last 30 days, popped or not); sent mail is
pre-marked popped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protokit.server import Account, PopEntry, Store, UidRange

from .conftest import Clock
from .helpers import deliver, message, writer_with

DAY = 24 * 3600


def listing(store: Store, account_id: int, *, recent: bool = False) -> list[tuple[int, int]]:
    return [(e.gm_msgid, e.size) for e in store.pop3_maildrop(account_id, recent=recent)]


def test_normal_mode_lists_unpopped_in_delivery_order(
    store: Store, alice: Account, bob: Account
) -> None:
    a = deliver(store, "alice@example.com", message("a"))
    deliver(store, "bob@example.com", message("bob's"))
    b = deliver(store, "alice@example.com", message("bb"))
    assert store.pop3_maildrop(alice.id) == [
        PopEntry(unique_id=str(a.gm_msgid), size=len(message("a")), gm_msgid=a.gm_msgid),
        PopEntry(unique_id=str(b.gm_msgid), size=len(message("bb")), gm_msgid=b.gm_msgid),
    ]
    store.pop3_mark_popped(alice.id, [a.gm_msgid])
    assert [(e.gm_msgid, e.size) for e in store.pop3_maildrop(alice.id)] == [
        (b.gm_msgid, len(message("bb")))
    ]
    # idempotent, and another account's message cannot be marked
    store.pop3_mark_popped(alice.id, [a.gm_msgid, 2, 999])
    assert [e.gm_msgid for e in store.pop3_maildrop(bob.id)] == [2]


def test_popped_is_per_message_not_per_mailbox(store: Store, alice: Account) -> None:
    a = deliver(store, "alice@example.com", message("a"))
    store.pop3_mark_popped(alice.id, [a.gm_msgid])
    work = store.create_mailbox(alice.id, "Work")
    store.copy(1, [UidRange(1, None)], work.id)
    assert store.pop3_maildrop(alice.id) == []


def test_recent_mode_is_the_last_30_days_popped_or_not(
    store: Store, alice: Account, clock: Clock
) -> None:
    inbox = store.mailbox(alice.id, "INBOX").id
    now = datetime.fromtimestamp(clock.now, UTC)
    old = store.append(
        inbox, writer_with(store, [b"old"]), internal_date=now - timedelta(days=30, seconds=1)
    )
    edge = store.append(
        inbox, writer_with(store, [b"edge"]), internal_date=now - timedelta(days=30)
    )
    new = deliver(store, "alice@example.com", b"new")
    sent = store.store_sent("alice@example.com", writer_with(store, [b"sent"]))
    store.pop3_mark_popped(alice.id, [new.gm_msgid])
    assert listing(store, alice.id, recent=True) == [
        (edge.gm_msgid, 4),
        (new.gm_msgid, 3),
        (sent.gm_msgid, 4),
    ]
    assert listing(store, alice.id) == [(old.gm_msgid, 3), (edge.gm_msgid, 4)]
    clock.now += DAY
    assert [m for m, _ in listing(store, alice.id, recent=True)] == [
        new.gm_msgid,
        sent.gm_msgid,
    ]


def test_sent_mail_appears_in_recent_mode_only(store: Store, alice: Account) -> None:
    sent = store.store_sent("alice@example.com", writer_with(store, [message("s")]))
    assert store.pop3_maildrop(alice.id) == []
    assert [m for m, _ in listing(store, alice.id, recent=True)] == [sent.gm_msgid]


def test_expunged_messages_leave_the_maildrop(store: Store, alice: Account) -> None:
    from protokit.server import FlagMode, UidRange

    deliver(store, "alice@example.com", message("a"))
    all_mail = store.mailbox(alice.id, "All Mail").id
    store.store_flags(all_mail, [UidRange(1)], FlagMode.ADD, ["\\Deleted"])
    store.expunge(all_mail)
    assert store.pop3_maildrop(alice.id) == [] == store.pop3_maildrop(alice.id, recent=True)


def crlf(data: bytes) -> bytes:
    """What a POP3 server sends for ``data`` (the reference backend's rule)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def test_sizes_count_line_endings_as_crlf(store: Store, alice: Account) -> None:
    data = b"Subject: x\n\nbare lf\nbare cr\rcrlf\r\n\r\r\n\n\r"
    chunks = [data[i : i + 1] for i in range(len(data))]
    d = store.deliver("alice@example.com", writer_with(store, chunks))["alice@example.com"]
    [entry] = store.pop3_maildrop(alice.id)
    assert entry.size == len(crlf(data)) == len(data) + 7
    assert store.fetch(1)[0].size == len(data)  # IMAP's RFC822.SIZE is the stored octets
    assert d.gm_msgid == entry.gm_msgid
