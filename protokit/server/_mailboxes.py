"""Mailboxes: list, create, rename, delete, subscribe, select."""

from __future__ import annotations

import re
import sqlite3
from typing import Final

from ._db import Database
from ._types import (
    ChangeKind,
    InvalidName,
    MailboxExists,
    MailboxInfo,
    NoSuchMailbox,
    SelectInfo,
)

__all__ = ["DELIMITER", "MailboxesMixin", "mailbox_row", "normalize_mailbox_name"]

#: The hierarchy delimiter (what LIST reports).
DELIMITER: Final = "/"
# No controls (they could never go on the wire), no LIST wildcards.
_BAD_NAME_CHARS: Final = re.compile(r"[\x00-\x1f\x7f*%]")
_UNDELETABLE: Final = ("\\All",)

_MAILBOX_COLUMNS: Final = (
    "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed,"
    " (SELECT count(*) FROM members m WHERE m.mailbox_id = mailboxes.id),"
    " (SELECT count(*) FROM members m WHERE m.mailbox_id = mailboxes.id"
    "   AND instr(' ' || m.flags || ' ', ' \\Seen ') = 0)"
)
# Built from constants only: no value ever enters the SQL text.
_SELECT_BY_ID: Final = "SELECT " + _MAILBOX_COLUMNS + " FROM mailboxes WHERE id = ?"  # noqa: S608
_SELECT_BY_NAME: Final = (
    "SELECT " + _MAILBOX_COLUMNS + " FROM mailboxes WHERE account_id = ? AND name = ?"  # noqa: S608
)
_SELECT_ALL: Final = (
    "SELECT " + _MAILBOX_COLUMNS + " FROM mailboxes WHERE account_id = ? ORDER BY"  # noqa: S608
    " name <> 'INBOX', name"
)


def normalize_mailbox_name(name: str) -> str:
    """The stored form of a mailbox name: ``INBOX`` in any case is
    ``INBOX`` (RFC 3501 5.1), others as given.  Refuses empty names, control
    characters, ``*``/``%``, and empty hierarchy levels."""
    if not isinstance(name, str):
        raise TypeError("a mailbox name is a str")
    if not name or len(name) > 1000 or _BAD_NAME_CHARS.search(name):
        raise InvalidName("not a valid mailbox name")
    if any(not part for part in name.split(DELIMITER)):
        raise InvalidName("a mailbox name has no empty hierarchy level")
    head, sep, rest = name.partition(DELIMITER)
    if head.upper() == "INBOX":
        return "INBOX" + sep + rest
    return name


def mailbox_row(row: tuple[object, ...]) -> MailboxInfo:
    return MailboxInfo(
        id=int(row[0]),  # type: ignore[call-overload]
        account_id=int(row[1]),  # type: ignore[call-overload]
        name=str(row[2]),
        special_use=None if row[3] is None else str(row[3]),
        uidvalidity=int(row[4]),  # type: ignore[call-overload]
        uidnext=int(row[5]),  # type: ignore[call-overload]
        highestmodseq=int(row[6]),  # type: ignore[call-overload]
        subscribed=bool(row[7]),
        messages=int(row[8]),  # type: ignore[call-overload]
        unseen=int(row[9]),  # type: ignore[call-overload]
    )


class MailboxesMixin:
    """Mailbox operations of :class:`~protokit.server.Store`."""

    _db: Database

    def _next_uidvalidity(self) -> int:  # provided by AccountsMixin
        raise AssertionError

    def mailboxes(self, account_id: int) -> list[MailboxInfo]:
        """Every mailbox of the account, INBOX first, then by name."""
        with self._db.snapshot() as db:
            return [mailbox_row(r) for r in db.execute(_SELECT_ALL, (account_id,))]

    def mailbox(self, account_id: int, name: str) -> MailboxInfo:
        """The mailbox called ``name``, or :class:`NoSuchMailbox`."""
        name = normalize_mailbox_name(name)
        with self._db.snapshot() as db:
            row = db.execute(_SELECT_BY_NAME, (account_id, name)).fetchone()
        if row is None:
            raise NoSuchMailbox(f"no mailbox {name!r}")
        return mailbox_row(row)

    def mailbox_by_id(self, mailbox_id: int) -> MailboxInfo:
        """The mailbox with this id, or :class:`NoSuchMailbox`."""
        with self._db.snapshot() as db:
            return self._mailbox_by_id(db, mailbox_id)

    def _mailbox_by_id(self, db: sqlite3.Connection, mailbox_id: int) -> MailboxInfo:
        row = db.execute(_SELECT_BY_ID, (mailbox_id,)).fetchone()
        if row is None:
            raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
        return mailbox_row(row)

    def special_mailbox(self, account_id: int, special_use: str) -> MailboxInfo:
        """The account's mailbox with this special-use attribute (``\\Sent`` ...)."""
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT id FROM mailboxes WHERE account_id = ? AND special_use = ?"
                " ORDER BY id LIMIT 1",
                (account_id, special_use),
            ).fetchone()
            if row is None:
                raise NoSuchMailbox(f"no {special_use} mailbox")
            return self._mailbox_by_id(db, row[0])

    def create_mailbox(
        self, account_id: int, name: str, *, special_use: str | None = None
    ) -> MailboxInfo:
        """Create a mailbox with a fresh UIDVALIDITY.  Raises :class:`MailboxExists`."""
        name = normalize_mailbox_name(name)
        if special_use is not None and special_use not in (
            "\\Archive",
            "\\Drafts",
            "\\Flagged",
            "\\Junk",
            "\\Sent",
            "\\Trash",
        ):
            raise InvalidName("special-use is one of RFC 6154's (not \\All)")
        with self._db.transaction() as db:
            if db.execute(
                "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, name)
            ).fetchone():
                raise MailboxExists(f"the mailbox {name!r} exists")
            mailbox_id = db.execute(
                "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity)"
                " VALUES (?, ?, ?, ?)",
                (account_id, name, special_use, self._next_uidvalidity()),
            ).lastrowid
            assert mailbox_id is not None
            self._db.emit(account_id, None, ChangeKind.MAILBOXES)
            return self._mailbox_by_id(db, mailbox_id)

    def delete_mailbox(self, account_id: int, name: str) -> None:
        """Delete a mailbox and its memberships; the messages stay in All
        Mail (Gmail's label semantics).  INBOX and All Mail cannot be deleted."""
        with self._db.transaction() as db:
            mb = self.mailbox(account_id, name)
            if mb.name == "INBOX" or mb.special_use in _UNDELETABLE:
                raise InvalidName(f"{mb.name} cannot be deleted")
            db.execute("DELETE FROM mailboxes WHERE id = ?", (mb.id,))
            self._db.emit(account_id, None, ChangeKind.MAILBOXES)

    def rename_mailbox(self, account_id: int, old: str, new: str) -> MailboxInfo:
        """Rename a mailbox and its children (``old/...``), keeping UIDVALIDITY
        and uids.  INBOX and All Mail cannot be renamed."""
        new = normalize_mailbox_name(new)
        with self._db.transaction() as db:
            mb = self.mailbox(account_id, old)
            if mb.name == "INBOX" or mb.special_use in _UNDELETABLE:
                raise InvalidName(f"{mb.name} cannot be renamed")
            if new == mb.name or new.startswith(mb.name + DELIMITER):
                raise InvalidName("a mailbox cannot be renamed into itself")
            if db.execute(
                "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, new)
            ).fetchone():
                raise MailboxExists(f"the mailbox {new!r} exists")
            prefix = mb.name + DELIMITER
            children = db.execute(
                "SELECT id, name FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ?",
                (account_id, len(prefix), prefix),
            ).fetchall()
            db.execute("UPDATE mailboxes SET name = ? WHERE id = ?", (new, mb.id))
            for child_id, child_name in children:
                db.execute(
                    "UPDATE mailboxes SET name = ? WHERE id = ?",
                    (new + DELIMITER + child_name[len(prefix) :], child_id),
                )
            self._db.emit(account_id, None, ChangeKind.MAILBOXES)
            return self._mailbox_by_id(db, mb.id)

    def subscribe(self, account_id: int, name: str, subscribed: bool = True) -> None:
        """SUBSCRIBE / UNSUBSCRIBE."""
        with self._db.transaction() as db:
            mb = self.mailbox(account_id, name)
            db.execute(
                "UPDATE mailboxes SET subscribed = ? WHERE id = ?", (int(subscribed), mb.id)
            )

    def select(self, mailbox_id: int) -> SelectInfo:
        """SELECT/EXAMINE: the mailbox's counters, its uids in sequence order,
        the flags in use and the first unseen message."""
        with self._db.snapshot() as db:
            mb = self._mailbox_by_id(db, mailbox_id)
            rows = db.execute(
                "SELECT uid, flags FROM members WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)
            ).fetchall()
        uids = tuple(r[0] for r in rows)
        keywords: dict[str, str] = {}
        first_unseen = None
        for seq, (_, flags) in enumerate(rows, 1):
            names = flags.split()
            if first_unseen is None and "\\Seen" not in names:
                first_unseen = seq
            for flag in names:
                if not flag.startswith("\\"):
                    keywords.setdefault(flag.casefold(), flag)
        flags = (
            "\\Answered",
            "\\Deleted",
            "\\Draft",
            "\\Flagged",
            "\\Seen",
            *sorted(keywords.values(), key=str.casefold),
        )
        return SelectInfo(mailbox=mb, uids=uids, flags=flags, first_unseen=first_unseen)

    def mailbox_totals(self, mailbox_id: int) -> tuple[int, int]:
        """STATUS SIZE and DELETED (RFC 8438, RFC 9051): the octets of the
        mailbox's messages and how many are flagged \\Deleted."""
        with self._db.snapshot() as db:
            self._mailbox_by_id(db, mailbox_id)
            size, deleted = db.execute(
                "SELECT coalesce(sum(g.size), 0), coalesce(sum(instr(' ' || m.flags || ' ',"
                " ' \\Deleted ') > 0), 0) FROM members m JOIN messages g ON g.id = m.message_id"
                " WHERE m.mailbox_id = ?",
                (mailbox_id,),
            ).fetchone()
        return int(size), int(deleted)

    def uids(self, mailbox_id: int) -> tuple[int, ...]:
        """The mailbox's uids, ascending (its sequence numbers, from 1)."""
        with self._db.snapshot() as db:
            return tuple(
                r[0]
                for r in db.execute(
                    "SELECT uid FROM members WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)
                )
            )
