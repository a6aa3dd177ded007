"""The embedded server's store: one SQLite file holding accounts, tokens,
mailboxes, messages and POP3 state (DESIGN.md, "The embedded mail server").

:class:`Store` is synchronous and thread-safe: one connection, one lock,
every write a ``BEGIN IMMEDIATE`` transaction that is durable (WAL,
``synchronous=FULL``) when the call returns.  Async code uses
:class:`~protokit.server.AsyncStore`, which runs these calls on a worker
thread.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ..sasl import PASSWORD_HASH_ITERATIONS
from ._accounts import AccountsMixin
from ._db import DB_FILENAME, Database, Listener
from ._labels import LabelsMixin
from ._mailboxes import MailboxesMixin
from ._pop3 import Pop3Mixin
from ._types import Change
from ._watch import DEFAULT_WATCH_INTERVAL

__all__ = ["DEFAULT_DATA_DIR", "Store", "ensure_data_dir"]

#: The data directory when none is given: in the current working directory.
DEFAULT_DATA_DIR: Final = "protokit-data"


def ensure_data_dir(path: str | os.PathLike[str]) -> Path:
    """Create the data directory (mode 0700) if needed; return it absolute."""
    directory = Path(path).absolute()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


class Store(AccountsMixin, MailboxesMixin, LabelsMixin, Pop3Mixin):
    """The SQLite store.  ``password_iterations`` (PBKDF2 for PLAIN/LOGIN)
    and ``scram_iterations`` apply to passwords set from now on; tests lower
    them.  ``clock`` (seconds since the epoch) drives token expiry, internal
    dates and POP3's recent mode."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        password_iterations: int = PASSWORD_HASH_ITERATIONS,
        scram_iterations: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._password_iterations = password_iterations
        self._scram_iterations = scram_iterations
        self._db = Database(path, clock=clock)

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str], **options: object) -> Store:
        """The store in ``data_dir`` (created if needed), migrated to the
        current schema."""
        directory = ensure_data_dir(data_dir)
        return cls(directory / DB_FILENAME, **options)  # type: ignore[arg-type]

    @property
    def path(self) -> Path:
        """The database file."""
        return self._db.path

    def __repr__(self) -> str:
        return f"<Store {str(self._db.path)!r}>"

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_listener(
        self, listener: Listener, *, external_only: bool = False
    ) -> Callable[[], None]:
        """Call ``listener(change)`` after each commit (in the committing
        thread) and, while :meth:`watch` is on, for each change another
        process committed (in the thread that noticed it); returns a function
        that removes it.  ``external_only``: only the latter."""
        return self._db.add_listener(listener, external_only=external_only)

    def watch(self, interval: float | None = DEFAULT_WATCH_INTERVAL) -> None:
        """Report the commits of other processes on the same file (``protokit
        import`` while ``protokit serve`` runs) to the listeners as ordinary
        changes, looking every ``interval`` seconds on a thread (None: only
        at :meth:`poll_external` and at each write).  :meth:`close` stops it."""
        self._db.watch(interval)

    def stop_watching(self) -> None:
        """Stop :meth:`watch` (the thread has ended when this returns)."""
        self._db.stop_watching()

    def poll_external(self) -> list[Change]:
        """Look now for other processes' commits (see :meth:`watch`): the
        changes, also delivered to the listeners."""
        return self._db.poll_external()
