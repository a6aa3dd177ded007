"""AsyncStore on asyncio and trio: calls run on a worker thread, bodies
stream, and committed changes reach subscribers (IDLE's wake-up)."""

from __future__ import annotations

import functools
import threading
from datetime import datetime

import anyio
import pytest

from protokit.server import (
    Account,
    AsyncStore,
    Change,
    ChangeKind,
    Delivered,
    FlagMode,
    MessageWriter,
    Store,
    UidRange,
)

from .helpers import message, writer_with


async def test_call_runs_on_a_worker_thread(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    threads: list[int] = []

    def where() -> int:
        threads.append(threading.get_ident())
        return 42

    assert await astore.call(where) == 42
    assert threads[0] != threading.get_ident()
    assert await astore.call(store.account, "alice@example.com") == alice


async def test_subscription_sees_committed_changes(
    store: Store, alice: Account, bob: Account
) -> None:
    astore = AsyncStore(store)
    inbox = store.mailbox(alice.id, "INBOX").id
    all_mail = store.mailbox(alice.id, "All Mail").id
    with astore.subscribe(alice.id) as sub:
        await astore.call(store.deliver, "bob@example.com", writer_with(store, [b"x"]))
        assert sub.receive_nowait() is None  # bob's mail is not alice's business
        await astore.call(store.deliver, "alice@example.com", writer_with(store, [message("a")]))
        assert await sub.receive() == Change(
            account_id=alice.id, mailbox_id=inbox, kind=ChangeKind.EXISTS, uids=(1,), modseq=2
        )
        assert await sub.receive() == Change(
            account_id=alice.id, mailbox_id=all_mail, kind=ChangeKind.EXISTS, uids=(1,), modseq=2
        )
        await astore.call(store.store_flags, inbox, [UidRange(1)], FlagMode.ADD, ["\\Seen"])
        change = await sub.receive()
        assert (change.kind, change.uids, change.modseq) == (ChangeKind.FLAGS, (1,), 3)
        assert sub.receive_nowait() is None


async def test_rolled_back_changes_are_not_delivered(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    with astore.subscribe(alice.id) as sub:
        w = writer_with(store, [b"x"])
        with pytest.raises(Exception, match="no account"):
            await astore.call(store.deliver, ["alice@example.com", "nobody@x"], w)
        assert sub.receive_nowait() is None


async def test_idle_waiter_is_woken_by_delivery(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    got: list[Change] = []
    with astore.subscribe(alice.id) as sub:
        async with anyio.create_task_group() as tg:

            async def idle() -> None:
                got.append(await sub.receive())

            tg.start_soon(idle)
            await anyio.sleep(0.01)
            assert got == []
            await astore.call(store.deliver, "alice@example.com", writer_with(store, [b"y"]))
    assert got[0].kind is ChangeKind.EXISTS


async def test_overflow_is_flagged(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    inbox = store.mailbox(alice.id, "INBOX").id
    with astore.subscribe(alice.id, max_buffer=2) as sub:
        await astore.call(store.deliver, "alice@example.com", writer_with(store, [b"1"]))
        assert not sub.overflowed
        await astore.call(store.store_flags, inbox, [UidRange(1)], FlagMode.ADD, ["\\Seen"])
        assert sub.overflowed


async def test_closed_subscription_stops_iteration(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    sub = astore.subscribe(alice.id)
    sub.close()
    assert [c async for c in sub] == []
    await astore.call(store.deliver, "alice@example.com", writer_with(store, [b"1"]))  # no error


async def test_read_message_streams(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    data = bytes(range(256)) * 1000
    d = await astore.call(store.deliver, "alice@example.com", writer_with(store, [data]))
    chunks = [
        c async for c in astore.read_message(alice.id, d["alice@example.com"].gm_msgid, 100_000)
    ]
    assert [len(c) for c in chunks] == [100_000, 100_000, 56_000]
    assert b"".join(chunks) == data


def test_sync_listener_called_after_commit(store: Store, alice: Account) -> None:
    seen: list[tuple[ChangeKind, int]] = []

    def listener(change: Change) -> None:
        # the change is committed: a fresh read sees it
        seen.append((change.kind, store.mailbox_by_id(change.mailbox_id or 0).messages))

    def broken(change: Change) -> None:
        raise RuntimeError("listener bug")

    remove = store.add_listener(listener)
    store.add_listener(broken)
    store.deliver("alice@example.com", writer_with(store, [b"1"]))
    assert seen == [(ChangeKind.EXISTS, 1), (ChangeKind.EXISTS, 1)]
    remove()
    remove()
    store.deliver("alice@example.com", writer_with(store, [b"2"]))
    assert len(seen) == 2


async def test_group_commit_delivers_each_in_order(
    store: Store, alice: Account, bob: Account
) -> None:
    astore = AsyncStore(store)
    results: dict[int, dict[str, Delivered] | Exception] = {}
    commits: list[int] = []
    real = store.run_grouped

    def counting(operations):  # type: ignore[no-untyped-def]
        commits.append(len(operations))
        return real(operations)

    store.run_grouped = counting  # type: ignore[method-assign]

    async def client(i: int) -> None:
        to = "nobody@example.com" if i == 7 else ("alice@example.com", "bob@example.com")[i % 2]
        try:
            results[i] = await astore.deliver(to, writer_with(store, [message(str(i))]))
        except Exception as exc:
            results[i] = exc

    sub = astore.subscribe(alice.id)
    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(client, i)
    # fewer transactions than deliveries, all of them accounted for
    assert sum(commits) == 20 and len(commits) < 20
    assert str(results[7]) == "no account nobody@example.com"
    ok = {i: r for i, r in results.items() if isinstance(r, dict)}
    assert sorted(ok) == [i for i in range(20) if i != 7]
    alice_uids = sorted(r["alice@example.com"].uid for i, r in ok.items() if i % 2 == 0)
    bob_uids = sorted(r["bob@example.com"].uid for i, r in ok.items() if i % 2 == 1)
    assert alice_uids == list(range(1, 11)) and bob_uids == list(range(1, 10))
    # each message's body is its own, and the failed one left nothing behind
    inbox = store.mailbox(alice.id, "INBOX").id
    assert len(store.fetch(inbox)) == 10
    assert store._db.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 19
    for i, r in ok.items():
        ((address, d),) = r.items()
        account = store.require_account(address)
        assert b"".join(store.read_message(account.id, d.gm_msgid)) == message(str(i))
    seen: list[int] = []
    while (change := sub.receive_nowait()) is not None:
        seen.extend(change.uids if change.mailbox_id == inbox else ())
    assert sorted(seen) == list(range(1, 11))
    sub.close()


def test_savepoint_undoes_one_part_only(store: Store, alice: Account) -> None:
    w1, w2, w3 = (writer_with(store, [message(str(i))]) for i in range(3))
    seen: list[Change] = []
    store.add_listener(seen.append)
    got = store.run_grouped(
        [
            functools.partial(store.deliver, "alice@example.com", w1),
            functools.partial(store.deliver, "nobody@x", w2),
            functools.partial(store.deliver, "alice@example.com", w3),
        ]
    )
    assert [type(r).__name__ for r in got] == ["dict", "NoSuchAccount", "dict"]
    # the failed part's changes were dropped with it; the others merged
    assert [(c.mailbox_id, c.uids) for c in seen] == [(1, (1, 2)), (6, (1, 2))]
    assert [m.uid for m in store.fetch(store.mailbox(alice.id, "INBOX").id)] == [1, 2]
    assert w1.closed and w2.closed and w3.closed
    from protokit.server import StoreError

    with pytest.raises(StoreError, match="savepoint needs a transaction"), store._db.savepoint():
        pass


async def test_commit_groups_any_write(store: Store, alice: Account) -> None:
    astore = AsyncStore(store)
    inbox = store.mailbox(alice.id, "INBOX").id
    results: list[object] = []

    async def append(i: int) -> None:
        results.append(
            await astore.commit(
                store.append, inbox, writer_with(store, [b"%d" % i]), flags=["\\Seen"]
            )
        )

    async def bad() -> None:
        naive = datetime(2020, 1, 1)
        with pytest.raises(ValueError, match="timezone-aware"):
            await astore.commit(
                store.append, inbox, writer_with(store, [b"x"]), internal_date=naive
            )

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(append, i)
        tg.start_soon(bad)
    assert sorted(r.uid for r in results) == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]
    assert [m.flags for m in store.fetch(inbox)] == [("\\Seen",)] * 5


async def test_async_write_spills_on_a_worker_thread(
    store: Store, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    astore = AsyncStore(store)
    threads: set[int] = set()
    real = MessageWriter.write

    def spy(self: MessageWriter, chunk: bytes) -> None:
        threads.add(threading.get_ident())
        real(self, chunk)

    monkeypatch.setattr(MessageWriter, "write", spy)
    w = store.new_message()
    piece = bytes(range(256)) * 1024  # 256 KiB
    await astore.write(w, piece)
    assert threads == {threading.get_ident()}  # in memory: written in place
    for _ in range(7):
        await astore.write(w, piece)
    assert len(threads) >= 2  # past 1 MiB: on worker threads
    d = await astore.deliver("alice@example.com", w)
    assert b"".join(store.read_message(alice.id, d["alice@example.com"].gm_msgid)) == piece * 8
