"""The store for async code: :class:`AsyncStore` runs each
:class:`~protokit.server.Store` call on a worker thread (one at a time, so
the event loop never waits on SQLite or fsync) and forwards the changes
those calls commit to async subscribers (IDLE), on asyncio and trio alike.

Design choice: a synchronous core with a thin async wrapper.  The core stays
usable from the CLI, importers and tests without an event loop; the wrapper
is the only place that knows about anyio.

Commits by other processes (``protokit import`` while ``protokit serve``
runs) are noticed by the store's watcher thread (:meth:`Store.watch`) and
handed to the subscribers' event loop without blocking that thread.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import ParamSpec, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._store import Store
from ._types import Change, Delivered
from ._watch import DEFAULT_WATCH_INTERVAL
from ._writer import MessageWriter

__all__ = ["AsyncStore", "Subscription"]

#: Deliveries committed together at most.
_MAX_BATCH = 256
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Subscription:
    """Changes to one account, as committed through the :class:`AsyncStore`.

    ``async for change in subscription`` or ``await subscription.receive()``.
    When more than ``max_buffer`` changes are waiting, newer ones are
    dropped and :attr:`overflowed` becomes True: the reader should then
    re-read the mailbox state rather than trust the change list."""

    def __init__(self, owner: AsyncStore, account_id: int, max_buffer: int) -> None:
        self.account_id = account_id
        self.overflowed = False
        self._owner = owner
        self._soon = _call_soon_threadsafe()
        send: MemoryObjectSendStream[Change]
        receive: MemoryObjectReceiveStream[Change]
        send, receive = anyio.create_memory_object_stream[Change](max_buffer)
        self._send = send
        self._receive = receive

    def __repr__(self) -> str:
        return f"<Subscription account_id={self.account_id}>"

    def _offer(self, change: Change) -> None:
        try:
            self._send.send_nowait(change)
        except anyio.WouldBlock:
            self.overflowed = True
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    def _offer_threadsafe(self, change: Change) -> None:
        """:meth:`_offer` from any thread: queued to the subscriber's event
        loop, never waiting for it (dropped once that loop has ended)."""
        if self._soon is None:
            return
        try:
            self._soon(functools.partial(self._offer, change))
        except RuntimeError:  # the loop is closed (trio: RunFinishedError)
            pass

    async def receive(self) -> Change:
        """The next change (waits)."""
        return await self._receive.receive()

    def receive_nowait(self) -> Change | None:
        """The next change if one is waiting, else None."""
        try:
            return self._receive.receive_nowait()
        except anyio.WouldBlock:
            return None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Change:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving (idempotent)."""
        self._owner._unsubscribe(self)
        self._send.close()
        self._receive.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Pending:
    __slots__ = ("done", "operation", "result")

    def __init__(self, operation: Callable[[], object]) -> None:
        self.operation = operation
        self.done = anyio.Event()
        self.result: object = None


def _call_soon_threadsafe() -> Callable[[Callable[[], object]], object] | None:
    """The running event loop's "run this callback soon" that any thread may
    call without waiting (asyncio's ``call_soon_threadsafe``, trio's
    ``TrioToken.run_sync_soon``); None outside an event loop."""
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:  # not asyncio: anyio's other backend is trio
        pass
    try:
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    except (ImportError, RuntimeError):
        return None


class AsyncStore:
    """Run :class:`Store` calls from async code: ``await astore.call(
    astore.store.deliver, address, writer)``.  Calls run one at a time on a
    worker thread; the changes they commit reach :meth:`subscribe`rs
    in the event loop's thread once the call returns.

    Unless ``watch_interval`` is None, the store is watched for other
    processes' commits (:meth:`Store.watch`, every ``watch_interval``
    seconds; closing the store stops it) and the subscribers get those
    changes too."""

    def __init__(
        self, store: Store, *, watch_interval: float | None = DEFAULT_WATCH_INTERVAL
    ) -> None:
        self.store = store
        self._limiter: anyio.CapacityLimiter | None = None
        self._subscriptions: list[Subscription] = []
        self._queue: list[_Pending] = []
        self._flushing = False
        if watch_interval is not None:
            store.add_listener(self._external, external_only=True)
            store.watch(watch_interval)

    def _external(self, change: Change) -> None:
        """Another process's change, in the thread that noticed it."""
        for sub in list(self._subscriptions):
            if sub.account_id == change.account_id:
                sub._offer_threadsafe(change)

    def __repr__(self) -> str:
        return f"<AsyncStore {self.store!r}>"

    async def call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``fn(*args, **kwargs)`` on the store's worker thread."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        db = self.store._db

        def run() -> tuple[_T, list[Change]]:
            with db.capture() as captured:
                result = fn(*args, **kwargs)
            return result, captured

        result, changes = await anyio.to_thread.run_sync(run, limiter=self._limiter)
        for change in changes:
            for sub in list(self._subscriptions):
                if sub.account_id == change.account_id:
                    sub._offer(change)
        return result

    async def commit(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """A store write with group commit: writes that arrive while a
        commit is in progress are committed together in the next
        transaction (:meth:`Store.run_grouped`: one fsync for all, each in
        its own savepoint), so 50 concurrent SMTP sessions do not wait for
        50 fsyncs in a row.  Durable when it returns; raises what ``fn``
        raised."""
        pending = _Pending(functools.partial(fn, *args, **kwargs))
        self._queue.append(pending)
        if not self._flushing:
            self._flushing = True
            try:
                # Shielded: the batch this task took on must be committed and
                # answered even if this task is cancelled meanwhile.
                with anyio.CancelScope(shield=True):
                    while self._queue:
                        batch = self._queue[:_MAX_BATCH]
                        del self._queue[:_MAX_BATCH]
                        try:
                            results: Sequence[object] = await self.call(
                                self.store.run_grouped, [p.operation for p in batch]
                            )
                        except Exception as exc:  # the database itself failed: tell everyone
                            results = [exc] * len(batch)
                        for p, result in zip(batch, results, strict=True):
                            p.result = result
                            p.done.set()
            finally:
                self._flushing = False
        await pending.done.wait()
        if isinstance(pending.result, Exception):
            raise pending.result
        return pending.result  # type: ignore[return-value]

    async def write(self, writer: MessageWriter, chunk: bytes) -> None:
        """``writer.write(chunk)``, on a worker thread once the message has
        outgrown the in-memory spool (so a large DATA never blocks the
        event loop on file writes)."""
        if writer.spills(len(chunk)):
            await anyio.to_thread.run_sync(writer.write, chunk)
        else:
            writer.write(chunk)

    async def deliver(
        self, addresses: str | Sequence[str], writer: MessageWriter
    ) -> dict[str, Delivered]:
        """:meth:`Store.deliver`, group-committed (see :meth:`commit`)."""
        return await self.commit(self.store.deliver, addresses, writer)

    def subscribe(self, account_id: int, *, max_buffer: int = 1000) -> Subscription:
        """A :class:`Subscription` to the account's changes (use as a context
        manager, or call ``close()``)."""
        if max_buffer < 1 or max_buffer == math.inf:
            raise ValueError("max_buffer is a positive int")
        sub = Subscription(self, account_id, max_buffer)
        self._subscriptions.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    async def read_message(
        self, account_id: int, gm_msgid: int, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        """The message's bytes as chunks, each read on the worker thread."""
        offset = 0
        while chunk := await self.call(
            self.store.body_chunk, account_id, gm_msgid, offset, chunk_size
        ):
            offset += len(chunk)
            yield chunk
