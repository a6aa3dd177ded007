"""Changes committed by other connections to the store's file (another
``protokit`` process: ``protokit import`` while ``protokit serve`` runs),
turned into ordinary :class:`~protokit.server.Change` values.

``PRAGMA data_version`` changes for a connection exactly when another
connection committed; its own commits leave it alone.  :class:`MailboxState`
remembers what this connection last knew of every mailbox (name, UIDNEXT,
HIGHESTMODSEQ, uids) and, when the version moved, compares that with the
file: new uids are EXISTS, uids gone are EXPUNGE, a higher MODSEQ on a
known uid is FLAGS, a mailbox created, renamed or deleted is MAILBOXES.
Every change to a mailbox's messages raises its HIGHESTMODSEQ (the store's
writers keep RFC 7162's rule), so only mailboxes whose counter moved are read.

The connection's own commits are folded into the state from the changes
they emitted (see ``Database.transaction``), so they are never reported
again.  :class:`Watcher` is the thread that polls; it holds the store's
lock for one ``PRAGMA`` when nothing changed.
"""

from __future__ import annotations

import array
import bisect
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ._types import Change, ChangeKind

# Internal: Store.watch and AsyncStore are the API.
__all__: list[str] = []

#: Seconds between two looks at ``PRAGMA data_version``.
DEFAULT_WATCH_INTERVAL: Final = 0.25

_log = logging.getLogger("protokit.server")


@dataclass(slots=True)
class _Mailbox:
    account_id: int
    name: str
    uidnext: int
    highestmodseq: int
    uids: array.array[int]  # ascending


def data_version(db: sqlite3.Connection) -> int:
    """The connection's ``PRAGMA data_version``."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def _uids(db: sqlite3.Connection, mailbox_id: int) -> list[tuple[int, int]]:
    return db.execute(
        "SELECT uid, modseq FROM members WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)
    ).fetchall()


class MailboxState:
    """What one connection knows of every mailbox; not thread-safe (the
    database's lock guards it)."""

    def __init__(self, db: sqlite3.Connection, version: int) -> None:
        """Read the whole state as of ``version`` (:func:`data_version` read
        before the read or write transaction this is called in began)."""
        self.version = version
        self._boxes: dict[int, _Mailbox] = {}
        for row in db.execute(
            "SELECT id, account_id, name, uidnext, highestmodseq FROM mailboxes"
        ).fetchall():
            self._boxes[int(row[0])] = _Mailbox(
                int(row[1]), str(row[2]), int(row[3]), int(row[4]), array.array("q")
            )
        for mailbox_id, uid in db.execute(
            "SELECT mailbox_id, uid FROM members ORDER BY mailbox_id, uid"
        ):
            box = self._boxes.get(int(mailbox_id))
            if box is not None:
                box.uids.append(int(uid))

    def diff(self, db: sqlite3.Connection, version: int) -> list[Change]:
        """The changes between the remembered state and the file (call inside
        a transaction started after reading ``version``), and remember the
        file's state as of ``version``."""
        self.version = version
        rows = db.execute(
            "SELECT id, account_id, name, uidnext, highestmodseq FROM mailboxes ORDER BY id"
        ).fetchall()
        current = {int(r[0]): (int(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows}
        renamed: set[int] = set()
        out: list[Change] = []
        for mailbox_id in sorted(self._boxes.keys() - current.keys()):
            renamed.add(self._boxes.pop(mailbox_id).account_id)
        for mailbox_id, (account_id, name, uidnext, highest) in current.items():
            box = self._boxes.get(mailbox_id)
            if box is None:
                renamed.add(account_id)
                box = _Mailbox(account_id, name, 1, 0, array.array("q"))
                self._boxes[mailbox_id] = box
            elif box.name != name:
                renamed.add(account_id)
                box.name = name
            if highest != box.highestmodseq or uidnext != box.uidnext:
                out.extend(self._compare(db, mailbox_id, box, uidnext, highest))
        mailboxes = [
            Change(account_id=a, mailbox_id=None, kind=ChangeKind.MAILBOXES)
            for a in sorted(renamed)
        ]
        return mailboxes + out

    def _compare(
        self, db: sqlite3.Connection, mailbox_id: int, box: _Mailbox, uidnext: int, highest: int
    ) -> list[Change]:
        # Uids are never reused: a uid below the old UIDNEXT that is here now
        # was here before, and every new one is at or above it.  Each query
        # is one scan of the mailbox's primary-key range inside SQLite.
        old_next = box.uidnext
        added = tuple(
            r[0]
            for r in db.execute(
                "SELECT uid FROM members WHERE mailbox_id = ? AND uid >= ? ORDER BY uid",
                (mailbox_id, old_next),
            )
        )
        flagged = tuple(
            r[0]
            for r in db.execute(
                "SELECT uid FROM members WHERE mailbox_id = ? AND uid < ? AND modseq > ?"
                " ORDER BY uid",
                (mailbox_id, old_next, box.highestmodseq),
            )
        )
        (kept,) = db.execute(
            "SELECT count(*) FROM members WHERE mailbox_id = ? AND uid < ?", (mailbox_id, old_next)
        ).fetchone()
        gone: tuple[int, ...] = ()
        if kept != len(box.uids):
            now = {
                r[0]
                for r in db.execute(
                    "SELECT uid FROM members WHERE mailbox_id = ? AND uid < ?",
                    (mailbox_id, old_next),
                )
            }
            gone = tuple(uid for uid in box.uids if uid not in now)
            box.uids = array.array("q", (uid for uid in box.uids if uid in now))
        box.uids.extend(added)
        box.uidnext, box.highestmodseq = uidnext, highest
        account_id = box.account_id
        out = []
        for kind, uids in (
            (ChangeKind.EXPUNGE, gone),
            (ChangeKind.EXISTS, added),
            (ChangeKind.FLAGS, flagged),
        ):
            if uids:
                out.append(
                    Change(
                        account_id=account_id,
                        mailbox_id=mailbox_id,
                        kind=kind,
                        uids=uids,
                        modseq=highest,
                    )
                )
        return out

    def absorb(self, db: sqlite3.Connection, changes: Iterable[Change]) -> None:
        """Fold this connection's own changes (about to be committed, inside
        its write transaction) into the state, so they are not reported as
        another's."""
        touched: dict[int, list[Change]] = {}
        mailbox_set = False
        for change in changes:
            if change.mailbox_id is None:
                mailbox_set = True
            else:
                touched.setdefault(change.mailbox_id, []).append(change)
        fresh: set[int] = set()
        if mailbox_set:
            fresh = self._reload_mailboxes(db)
        for mailbox_id, own in touched.items():
            if mailbox_id in fresh:
                continue
            row = db.execute(
                "SELECT uidnext, highestmodseq FROM mailboxes WHERE id = ?", (mailbox_id,)
            ).fetchone()
            box = self._boxes.get(mailbox_id)
            if row is None:
                self._boxes.pop(mailbox_id, None)
                continue
            if box is None:  # created by this transaction without a MAILBOXES change
                self._reload_mailboxes(db)
                continue
            for change in own:
                if change.kind is ChangeKind.EXISTS:
                    _insert(box.uids, change.uids)
                elif change.kind is ChangeKind.EXPUNGE:
                    _remove(box.uids, change.uids)
            box.uidnext, box.highestmodseq = int(row[0]), int(row[1])

    def _reload_mailboxes(self, db: sqlite3.Connection) -> set[int]:
        """Names and set of mailboxes from the file; the uids of new ones.
        Returns the ids read whole."""
        fresh: set[int] = set()
        rows = db.execute(
            "SELECT id, account_id, name, uidnext, highestmodseq FROM mailboxes"
        ).fetchall()
        ids = {int(r[0]) for r in rows}
        for mailbox_id in self._boxes.keys() - ids:
            del self._boxes[mailbox_id]
        for row in rows:
            mailbox_id = int(row[0])
            box = self._boxes.get(mailbox_id)
            if box is None:
                uids = array.array("q", (r[0] for r in _uids(db, mailbox_id)))
                self._boxes[mailbox_id] = _Mailbox(
                    int(row[1]), str(row[2]), int(row[3]), int(row[4]), uids
                )
                fresh.add(mailbox_id)
            else:
                box.name = str(row[2])
        return fresh


def _insert(uids: array.array[int], new: Sequence[int]) -> None:
    for uid in new:
        i = bisect.bisect_left(uids, uid)
        if i == len(uids) or uids[i] != uid:
            uids.insert(i, uid)


def _remove(uids: array.array[int], gone: Sequence[int]) -> None:
    for uid in gone:
        i = bisect.bisect_left(uids, uid)
        if i < len(uids) and uids[i] == uid:
            del uids[i]


class Watcher:
    """A thread that calls ``poll()`` every ``interval`` seconds until
    :meth:`stop`; an exception from ``poll`` is logged and polling goes on."""

    def __init__(self, poll: Callable[[], object], interval: float) -> None:
        if not interval > 0:
            raise ValueError("the watch interval is a positive number of seconds")
        self.interval = interval
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="protokit-store-watcher", daemon=True
        )

    def __repr__(self) -> str:
        return f"<Watcher interval={self.interval}>"

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._poll()
            except sqlite3.ProgrammingError:  # the connection was closed
                return
            except Exception:
                _log.exception("watching the store for other processes' commits failed")

    def stop(self) -> None:
        """Stop polling and wait for the thread (idempotent; from the
        watcher's own thread, e.g. a listener, it only asks)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
