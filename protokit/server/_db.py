"""The store's SQLite connection: pragmas, transactions, change
notifications.  One connection per :class:`~protokit.server.Store`, shared
by threads under one lock (SQLite serialises writers anyway); the async
layer runs every call on a worker thread (see ``_async.py``).  While
:meth:`Database.watch` is on, commits by other connections (another
process) reach the listeners too (see ``_watch.py``)."""

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
from ._watch import DEFAULT_WATCH_INTERVAL, MailboxState, Watcher, data_version

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
        self._external_listeners: list[Listener] = []
        # While watching: what this connection knows of the mailboxes, and
        # the thread that polls for other connections' commits.
        self._state: MailboxState | None = None
        self._watcher: Watcher | None = None
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
        """Stop watching and close the connection (idempotent)."""
        self.stop_watching()
        with self._lock:
            self.db.close()

    # -- transactions --------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT).  Nested use joins
        the outer transaction.  Changes emitted inside are delivered to the
        listeners after the commit, never after a rollback."""
        external: list[Change] = []
        try:
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
                    # Others' commits before this one are reported as theirs
                    # (this transaction holds the write lock: none can slip in).
                    external = self._catch_up()
                    yield self.db
                except BaseException:
                    self._depth = 0
                    self._pending.clear()
                    self.db.execute("ROLLBACK")
                    raise
                self._depth = 0
                try:
                    if self._state is not None and self._pending:
                        self._state.absorb(self.db, self._pending.values())
                    self.db.execute("COMMIT")
                except BaseException:
                    self._pending.clear()
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                    if self._state is not None:  # absorb may have half-run
                        with contextlib.suppress(sqlite3.Error):
                            self._state = self._read_state()
                    raise
                changes = list(self._pending.values())
                self._pending.clear()
                listeners = list(self._listeners)
        finally:
            if external:
                self._notify_external(external)
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

    def add_listener(
        self, listener: Listener, *, external_only: bool = False
    ) -> Callable[[], None]:
        """Call ``listener(change)`` after every commit, in the committing
        thread, and (while :meth:`watch` is on) for every change another
        connection committed, in the thread that noticed it; returns a
        function that removes it.  ``external_only``: only the latter.  A
        listener that raises is logged and does not undo the commit."""
        chosen = self._external_listeners if external_only else self._listeners
        with self._lock:
            chosen.append(listener)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                chosen.remove(listener)

        return remove

    # -- other connections' commits ------------------------------------------------

    def watch(self, interval: float | None = DEFAULT_WATCH_INTERVAL) -> None:
        """Report other connections' commits to the listeners: remember the
        mailboxes' state now, then look at ``PRAGMA data_version`` every
        ``interval`` seconds on a thread (None: no thread, only when
        :meth:`poll_external` is called, and at the start of each write
        transaction).  Called again, it changes the interval."""
        if interval is not None and not interval > 0:
            raise ValueError("the watch interval is a positive number of seconds")
        with self._lock:
            if self._state is None:
                self._state = self._read_state()
            watcher = self._watcher
            if watcher is not None and interval is not None:
                watcher.interval = interval
                return
            if watcher is None and interval is not None:
                self._watcher = Watcher(self.poll_external, interval)
                self._watcher.start()
                return
            self._watcher = None
        if watcher is not None:
            watcher.stop()

    @property
    def watching(self) -> bool:
        """Whether other connections' commits are reported."""
        return self._state is not None

    def stop_watching(self) -> None:
        """Stop reporting other connections' commits; the polling thread has
        ended when this returns (idempotent)."""
        with self._lock:
            watcher, self._watcher = self._watcher, None
            self._state = None
        if watcher is not None:
            watcher.stop()

    def poll_external(self) -> list[Change]:
        """Look once for other connections' commits; deliver what they
        changed to the listeners and return it.  Holds the lock for one
        ``PRAGMA`` when nothing changed."""
        with self._lock:
            if self._state is None or self._depth:
                return []
            version = data_version(self.db)
            if version == self._state.version:
                return []
            self.db.execute("BEGIN")
            try:
                changes = self._state.diff(self.db, version)
            finally:
                self.db.execute("COMMIT")
        self._notify_external(changes)
        return changes

    def _read_state(self) -> MailboxState:
        version = data_version(self.db)
        if self._depth:
            return MailboxState(self.db, version)
        self.db.execute("BEGIN")
        try:
            return MailboxState(self.db, version)
        finally:
            self.db.execute("COMMIT")

    def _catch_up(self) -> list[Change]:
        """Inside a write transaction, before its writes: what others
        committed since the last look."""
        if self._state is None:
            return []
        version = data_version(self.db)
        if version == self._state.version:
            return []
        return self._state.diff(self.db, version)

    def _notify_external(self, changes: list[Change]) -> None:
        if not changes:
            return
        with self._lock:
            listeners = [*self._listeners, *self._external_listeners]
        self._call(changes, listeners)

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
        self._call(changes, listeners)

    def _call(self, changes: list[Change], listeners: list[Listener]) -> None:
        for change in changes:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:
                    _log.exception("a store change listener failed")

    def now(self) -> int:
        """The clock, in whole seconds."""
        return int(self.clock())
