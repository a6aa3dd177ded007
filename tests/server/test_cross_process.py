"""Commits by another connection to the same file (another process, such as
``protokit import`` while ``protokit serve`` runs) reach this store's
listeners and AsyncStore subscribers as ordinary changes, exactly once;
this connection's own commits are never reported a second time; the
watcher thread ends with the store.

Two :class:`Store` objects on one file stand for the two processes (each
has its own SQLite connection, so ``PRAGMA data_version`` behaves as
across processes).  Most tests poll by hand (``watch(None)`` then
``poll_external()``); the thread's tests wait on a queue with a timeout."""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protokit.server import (
    Account,
    AsyncStore,
    Change,
    ChangeKind,
    FlagMode,
    Store,
    UidRange,
)

from .helpers import deliver, message, writer_with

WAIT = 10.0
WATCHER = "protokit-store-watcher"


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """A second connection to the store's file: "the other process"."""
    with Store(store.path, password_iterations=1000, scram_iterations=64) as s:
        yield s


def exists(account: Account, mailbox_id: int, uids: tuple[int, ...], modseq: int) -> Change:
    return Change(
        account_id=account.id,
        mailbox_id=mailbox_id,
        kind=ChangeKind.EXISTS,
        uids=uids,
        modseq=modseq,
    )


def ids(store: Store, account: Account) -> tuple[int, int]:
    """INBOX's and All Mail's ids."""
    return store.mailbox(account.id, "INBOX").id, store.mailbox(account.id, "All Mail").id


def collect(store: Store) -> list[Change]:
    got: list[Change] = []
    store.add_listener(got.append)
    return got


def watchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WATCHER]


# -- what another connection's commit is reported as ---------------------------------


def test_a_delivery_by_another_connection_is_exists(
    store: Store, other: Store, alice: Account
) -> None:
    store.watch(None)
    got = collect(store)
    inbox, all_mail = ids(store, alice)
    deliver(other, "alice@example.com", message("one"))
    deliver(other, "alice@example.com", message("two"))
    expected = [exists(alice, inbox, (1, 2), 3), exists(alice, all_mail, (1, 2), 3)]
    assert store.poll_external() == expected
    assert got == expected
    # Reported once: nothing new since.
    assert store.poll_external() == []
    assert got == expected


def test_flags_and_expunge_by_another_connection(
    store: Store, other: Store, alice: Account
) -> None:
    inbox, all_mail = ids(store, alice)
    for subject in ("a", "b", "c"):
        deliver(store, "alice@example.com", message(subject))
    store.watch(None)
    other.store_flags(inbox, [UidRange(2)], FlagMode.ADD, ["\\Seen"])
    assert store.poll_external() == [
        Change(account_id=alice.id, mailbox_id=inbox, kind=ChangeKind.FLAGS, uids=(2,), modseq=5)
    ]
    other.store_flags(inbox, [UidRange(1), UidRange(3)], FlagMode.ADD, ["\\Deleted"])
    assert other.expunge(inbox) == (1, 3)
    # The flag change of uids that are gone is not reported; the expunge is.
    assert store.poll_external() == [
        Change(
            account_id=alice.id,
            mailbox_id=inbox,
            kind=ChangeKind.EXPUNGE,
            uids=(1, 3),
            modseq=7,
        )
    ]
    # All Mail keeps them (label semantics): expunged there, they leave the account.
    other.store_flags(all_mail, [UidRange(1)], FlagMode.ADD, ["\\Deleted"])
    assert other.expunge(all_mail) == (1,)
    assert store.poll_external() == [
        Change(
            account_id=alice.id,
            mailbox_id=all_mail,
            kind=ChangeKind.EXPUNGE,
            uids=(1,),
            modseq=6,
        )
    ]


def test_mailbox_changes_by_another_connection(
    store: Store, other: Store, alice: Account, bob: Account
) -> None:
    store.watch(None)
    mailboxes = Change(account_id=alice.id, mailbox_id=None, kind=ChangeKind.MAILBOXES)
    created = other.create_mailbox(alice.id, "Projects")
    assert store.poll_external() == [mailboxes]
    other.rename_mailbox(alice.id, "Projects", "Archive")
    assert store.poll_external() == [mailboxes]
    other.delete_mailbox(alice.id, "Archive")
    assert store.poll_external() == [mailboxes]
    # A new mailbox that already holds mail: MAILBOXES, then its messages.
    box = other.create_mailbox(bob.id, "Imported")
    other.append(box.id, writer_with(other, [message("x")]))
    _, bob_all = ids(store, bob)
    assert store.poll_external() == [
        Change(account_id=bob.id, mailbox_id=None, kind=ChangeKind.MAILBOXES),
        exists(bob, bob_all, (1,), 2),
        exists(bob, box.id, (1,), 2),
    ]
    assert created.id != box.id


# -- our own commits, and theirs in between ------------------------------------------


def test_own_commits_are_reported_once(store: Store, other: Store, alice: Account) -> None:
    store.watch(None)
    got = collect(store)
    inbox, all_mail = ids(store, alice)
    deliver(store, "alice@example.com", message("mine"))
    own = [exists(alice, inbox, (1,), 2), exists(alice, all_mail, (1,), 2)]
    assert got == own
    assert store.poll_external() == []
    # Another connection commits: only its change is reported, not ours again.
    deliver(other, "alice@example.com", message("theirs"))
    theirs = [exists(alice, inbox, (2,), 3), exists(alice, all_mail, (2,), 3)]
    assert store.poll_external() == theirs
    assert got == own + theirs


def test_their_commit_before_ours_is_reported_as_theirs(
    store: Store, other: Store, alice: Account
) -> None:
    inbox, all_mail = ids(store, alice)
    deliver(store, "alice@example.com", message("first"))
    store.watch(None)
    got = collect(store)
    # They flag uid 1, then we deliver before any poll: our write reports
    # their change first (our MODSEQ is above theirs, so a later comparison
    # could no longer tell their flag change apart).
    other.store_flags(inbox, [UidRange(1)], FlagMode.ADD, ["\\Flagged"])
    deliver(store, "alice@example.com", message("second"))
    assert got == [
        Change(account_id=alice.id, mailbox_id=inbox, kind=ChangeKind.FLAGS, uids=(1,), modseq=3),
        exists(alice, inbox, (2,), 4),
        exists(alice, all_mail, (2,), 3),
    ]
    assert store.poll_external() == []


def test_a_failed_write_still_reports_their_commit(
    store: Store, other: Store, alice: Account
) -> None:
    inbox, all_mail = ids(store, alice)
    store.watch(None)
    got = collect(store)
    deliver(other, "alice@example.com", message("theirs"))
    with pytest.raises(RuntimeError, match="rolled back"), store._db.transaction():
        raise RuntimeError("rolled back")
    assert got == [exists(alice, inbox, (1,), 2), exists(alice, all_mail, (1,), 2)]
    assert store.poll_external() == []


def test_not_watching_reports_nothing(store: Store, other: Store, alice: Account) -> None:
    got = collect(store)
    deliver(other, "alice@example.com", message("theirs"))
    assert store.poll_external() == []
    store.watch(None)
    store.stop_watching()
    deliver(other, "alice@example.com", message("theirs"))
    assert store.poll_external() == []
    assert got == []


def test_the_interval_is_positive(store: Store) -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            store.watch(bad)
    assert not watchers()


# -- the watcher thread ----------------------------------------------------------------


def test_the_watcher_thread_delivers_and_ends_with_the_store(
    tmp_path: Path, alice: Account, store: Store, other: Store
) -> None:
    inbox, all_mail = ids(store, alice)
    got: queue.Queue[Change] = queue.Queue()
    store.add_listener(got.put, external_only=True)
    store.watch(0.01)
    assert len(watchers()) == 1
    deliver(other, "alice@example.com", message("theirs"))
    assert got.get(timeout=WAIT) == exists(alice, inbox, (1,), 2)
    assert got.get(timeout=WAIT) == exists(alice, all_mail, (1,), 2)
    # A new interval keeps the one thread.
    store.watch(0.02)
    assert len(watchers()) == 1
    deliver(other, "alice@example.com", message("again"))
    assert got.get(timeout=WAIT) == exists(alice, inbox, (2,), 3)
    assert got.get(timeout=WAIT) == exists(alice, all_mail, (2,), 3)
    # Own commits never reach an external_only listener.
    deliver(store, "alice@example.com", message("mine"))
    store.close()
    assert watchers() == []
    assert got.empty()


def test_stop_watching_ends_the_thread(store: Store) -> None:
    store.watch(0.01)
    assert len(watchers()) == 1
    store.stop_watching()
    assert watchers() == []
    store.stop_watching()


# -- AsyncStore subscribers ------------------------------------------------------------


async def test_subscribers_hear_another_connections_commit_once(
    store: Store, other: Store, alice: Account
) -> None:
    astore = AsyncStore(store, watch_interval=0.01)
    inbox, all_mail = ids(store, alice)
    with astore.subscribe(alice.id) as sub:
        # Our own delivery, through the AsyncStore: reported once...
        await astore.deliver("alice@example.com", writer_with(store, [message("mine")]))
        assert sub.receive_nowait() == exists(alice, inbox, (1,), 2)
        assert sub.receive_nowait() == exists(alice, all_mail, (1,), 2)
        assert sub.receive_nowait() is None
        # ...and the next change heard is theirs, not ours again.
        await anyio.to_thread.run_sync(deliver, other, "alice@example.com", message("theirs"))
        with anyio.fail_after(WAIT):
            assert await sub.receive() == exists(alice, inbox, (2,), 3)
            assert await sub.receive() == exists(alice, all_mail, (2,), 3)
        assert await anyio.to_thread.run_sync(store.poll_external) == []
        assert sub.receive_nowait() is None


async def test_no_watching_when_asked(store: Store, other: Store, alice: Account) -> None:
    AsyncStore(store, watch_interval=None)
    assert not store._db.watching
    assert watchers() == []


# -- any interleaving: what the listener heard rebuilds the mailboxes -----------------

BOXES = ["INBOX", "Work", "Trash", "All Mail"]
WHO = st.sampled_from(["own", "other"])
SOME_UIDS = st.lists(
    st.builds(UidRange, st.integers(1, 6), st.one_of(st.none(), st.integers(1, 6))),
    min_size=1,
    max_size=2,
)
STEPS = st.one_of(
    st.tuples(st.just("deliver"), WHO),
    st.tuples(
        st.just("store"),
        WHO,
        st.sampled_from(BOXES),
        SOME_UIDS,
        st.sampled_from(list(FlagMode)),
        st.lists(st.sampled_from(["\\Seen", "\\Deleted", "$Work"]), max_size=2),
    ),
    st.tuples(st.just("expunge"), WHO, st.sampled_from(BOXES)),
    st.tuples(st.just("move"), WHO, st.sampled_from(BOXES), SOME_UIDS, st.sampled_from(BOXES)),
    st.tuples(st.just("copy"), WHO, st.sampled_from(BOXES), SOME_UIDS, st.sampled_from(BOXES)),
    st.tuples(
        st.just("labels"),
        WHO,
        st.sampled_from(BOXES),
        SOME_UIDS,
        st.sampled_from(list(FlagMode)),
        st.lists(st.sampled_from(["Work", "New", "\\Trash"]), max_size=2),
    ),
    st.tuples(st.just("poll"), WHO),
)


def run_step(store: Store, account: Account, step: tuple[object, ...]) -> None:
    kind = step[0]
    ids = {mb.name: mb.id for mb in store.mailboxes(account.id)}
    if kind == "deliver":
        deliver(store, "a@example.com", message("m"))
    elif kind == "store":
        _, _, name, ranges, mode, flags = step
        store.store_flags(ids[name], ranges, mode, flags)  # type: ignore[index, arg-type]
    elif kind == "expunge":
        store.expunge(ids[step[2]])  # type: ignore[index]
    elif kind in ("move", "copy"):
        _, _, src, ranges, dst = step
        fn = store.move if kind == "move" else store.copy
        fn(ids[src], ranges, ids[dst])  # type: ignore[index, arg-type]
    elif kind == "labels":
        _, _, name, ranges, mode, labels = step
        store.store_labels(ids[name], ranges, mode, labels)  # type: ignore[index, arg-type]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEPS, max_size=20))
def test_the_changes_heard_rebuild_every_mailbox(steps: list[tuple[object, ...]]) -> None:
    """Whoever commits, in any order, with polls anywhere: every uid is
    announced once (EXISTS) and withdrawn once (EXPUNGE), and every message's
    MODSEQ was announced (EXISTS or FLAGS at or above it)."""
    with (
        tempfile.TemporaryDirectory() as d,
        Store(Path(d) / "s.sqlite3", password_iterations=1000, scram_iterations=16) as own,
        Store(own.path) as other,
    ):
        account = own.add_account("a@example.com", "pw")
        own.create_mailbox(account.id, "Work")
        own.watch(None)
        uids: dict[int, set[int]] = {mb.id: set() for mb in own.mailboxes(account.id)}
        heard: dict[tuple[int, int], int] = {}

        def listen(change: Change) -> None:
            if change.mailbox_id is None:
                assert change.kind is ChangeKind.MAILBOXES
                for mb in own.mailboxes(account.id):
                    uids.setdefault(mb.id, set())
                return
            assert change.modseq is not None
            known = uids.setdefault(change.mailbox_id, set())
            if change.kind is ChangeKind.EXISTS:
                assert not known & set(change.uids), "announced twice"
                known.update(change.uids)
            elif change.kind is ChangeKind.EXPUNGE:
                assert set(change.uids) <= known, "withdrawn unannounced"
                known.difference_update(change.uids)
            else:
                assert set(change.uids) <= known
            for uid in change.uids:
                key = (change.mailbox_id, uid)
                heard[key] = max(heard.get(key, 0), change.modseq)

        own.add_listener(listen)
        for step in steps:
            store = own if step[1] == "own" else other
            if step[0] == "poll":
                own.poll_external()
            else:
                run_step(store, account, step)
        own.poll_external()
        for mb in own.mailboxes(account.id):
            members = own.fetch(mb.id)
            assert uids[mb.id] == {m.uid for m in members}, mb.name
            for m in members:
                assert heard[(mb.id, m.uid)] >= m.modseq, (mb.name, m.uid)
