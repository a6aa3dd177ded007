"""The store's SQLite connection: pragmas, transactions, change
notifications.  One connection per :class:`~protokit.server.Store`, shared
by threads under one lock (SQLite serialises writers anyway); the async
layer runs every call on a worker thread (see ``_async.py``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from ._schema import migrate
from ._types import Change, ChangeKind, StoreError

__all__ = ["DB_FILENAME", "Database", "Listener"]

#: The database file inside the data directory.
DB_FILENAME: Final = "protokit.sqlite3"

Listener = Callable[[Change], None]
_log = logging.getLogger("protokit.server")


class Database:
    """One SQLite file in WAL mode with ``synchronous=FULL`` and foreign keys
    on: a transaction that :meth:`transaction` committed is on disk when the
    ``with`` block exits (SQLite fsyncs the WAL at each commit)."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._pending: dict[tuple[int, int | None, ChangeKind], Change] = {}
        self._listeners: list[Listener] = []
        self._local = threading.local()
        if not self.path.exists():
            # The store holds password hashes and mail: owner-only from birth
            # (SQLite gives the -wal and -shm files the database's mode).
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite refused WAL mode for {self.path}")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 30000")
            migrate(db)
        except BaseException:
            db.close()
            raise
        self.db = db

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self.db.close()

    # -- transactions --------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT).  Nested use joins
        the outer transaction.  Changes emitted inside are delivered to the
        listeners after the commit, never after a rollback."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self._depth = 0
                self._pending.clear()
                self.db.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self.db.execute("COMMIT")
            except BaseException:
                self._pending.clear()
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            changes = list(self._pending.values())
            self._pending.clear()
            listeners = list(self._listeners)
        self._deliver(changes, listeners)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside :meth:`transaction`: a part that is undone alone, changes
        included, when it raises."""
        if not self._depth:
            raise StoreError("a savepoint needs a transaction")
        pending = dict(self._pending)
        self.db.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO part")
            self.db.execute("RELEASE part")
            self._pending = pending
            raise
        self.db.execute("RELEASE part")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state."""
        with self._lock:
            if self._depth:
                yield self.db
                return
            self.db.execute("BEGIN")
            self._depth = 1
            try:
                yield self.db
            finally:
                self._depth = 0
                self.db.execute("COMMIT")

    # -- change notifications -------------------------------------------------

    def emit(
        self,
        account_id: int,
        mailbox_id: int | None,
        kind: ChangeKind,
        uids: tuple[int, ...] = (),
        modseq: int | None = None,
    ) -> None:
        """Record a change of the current transaction (merged per mailbox and kind)."""
        key = (account_id, mailbox_id, kind)
        old = self._pending.get(key)
        if old is not None:
            uids = old.uids + uids
            modseq = modseq if modseq is not None else old.modseq
        self._pending[key] = Change(
            account_id=account_id, mailbox_id=mailbox_id, kind=kind, uids=uids, modseq=modseq
        )

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` after every commit, in the committing
        thread; returns a function that removes it.  A listener that raises
        is logged and does not undo the commit."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[Change]]:
        """Collect, in addition, the changes committed by this thread inside
        the ``with`` block (the async layer forwards them to its subscribers)."""
        captured: list[Change] = []
        previous = getattr(self._local, "capture", None)
        self._local.capture = captured
        try:
            yield captured
        finally:
            self._local.capture = previous

    def _deliver(self, changes: list[Change], listeners: list[Listener]) -> None:
        captured = getattr(self._local, "capture", None)
        if captured is not None:
            captured.extend(changes)
        for change in changes:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:
                    _log.exception("a store change listener failed")

    def now(self) -> int:
        """The clock, in whole seconds."""
        return int(self.clock())
