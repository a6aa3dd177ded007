"""The store's schema as an ordered list of migrations.

``schema_version`` holds one row: the number of migrations applied.  Opening
a database applies the missing ones in order, each in its own transaction
together with the version bump, so an interrupted upgrade leaves the file at
a consistent older version.  Never edit a released migration: append one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

from ._types import SchemaTooNew

__all__ = ["BODY_CHUNK", "MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_version"]


def _v1_mail(db: sqlite3.Connection) -> None:
    """Accounts, mailboxes, bodies (stored once, by SHA-256), messages and
    mailbox membership (uid, flags, modseq)."""
    for statement in (
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
        """CREATE TABLE accounts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            address TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            scram_sha1 TEXT NOT NULL,
            scram_sha256 TEXT NOT NULL,
            created INTEGER NOT NULL
        )""",
        """CREATE TABLE mailboxes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            special_use TEXT,
            uidvalidity INTEGER NOT NULL,
            uidnext INTEGER NOT NULL DEFAULT 1,
            highestmodseq INTEGER NOT NULL DEFAULT 1,
            subscribed INTEGER NOT NULL DEFAULT 1,
            UNIQUE (account_id, name)
        )""",
        """CREATE TABLE bodies (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sha256 BLOB NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            body_id INTEGER NOT NULL REFERENCES bodies(id),
            size INTEGER NOT NULL,
            internal_date INTEGER NOT NULL,
            internal_tz INTEGER NOT NULL,
            thread_id INTEGER NOT NULL,
            message_id_header TEXT,
            header BLOB NOT NULL
        )""",
        "CREATE INDEX messages_by_date ON messages(account_id, internal_date)",
        "CREATE INDEX messages_by_msgid ON messages(account_id, message_id_header)",
        "CREATE INDEX messages_by_body ON messages(body_id)",
        """CREATE TABLE members (
            mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
            uid INTEGER NOT NULL,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            flags TEXT NOT NULL DEFAULT '',
            modseq INTEGER NOT NULL,
            PRIMARY KEY (mailbox_id, uid),
            UNIQUE (mailbox_id, message_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX members_by_message ON members(message_id)",
    ):
        db.execute(statement)


def _v2_pop3(db: sqlite3.Connection) -> None:
    """POP3 popped state, per account and message (DESIGN.md's normal mode)."""
    db.execute(
        """CREATE TABLE pop3_popped (
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            popped_at INTEGER NOT NULL,
            PRIMARY KEY (account_id, message_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX pop3_popped_by_message ON pop3_popped(message_id)")


def _v3_tokens(db: sqlite3.Connection) -> None:
    """Development bearer tokens, stored as SHA-256 digests with an expiry."""
    db.execute(
        """CREATE TABLE tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            digest BLOB NOT NULL UNIQUE,
            created INTEGER NOT NULL,
            expires INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX tokens_by_account ON tokens(account_id)")


#: Bytes per row of ``body_chunks``.
BODY_CHUNK: Final = 256 * 1024


def _v4_body_chunks(db: sqlite3.Connection) -> None:
    """Bodies move into fixed-size chunk rows.  Reading a large blob at an
    offset walks SQLite's overflow-page chain from its start, so streaming
    one 8 MiB blob in 64 KiB pieces cost O(n^2); with 256 KiB rows every
    read touches only the rows it returns."""
    db.execute(
        """CREATE TABLE body_chunks (
            body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (body_id, seq)
        )"""
    )
    for (body_id,) in db.execute("SELECT id FROM bodies ORDER BY id").fetchall():
        (data,) = db.execute("SELECT data FROM bodies WHERE id = ?", (body_id,)).fetchone()
        for seq, start in enumerate(range(0, len(data), BODY_CHUNK)):
            db.execute(
                "INSERT INTO body_chunks (body_id, seq, data) VALUES (?, ?, ?)",
                (body_id, seq, bytes(data[start : start + BODY_CHUNK])),
            )
    db.execute("ALTER TABLE bodies DROP COLUMN data")


def _v5_crlf_size(db: sqlite3.Connection) -> None:
    """Each body's size with CRLF line endings (POP3's LIST size),
    computed once at write time instead of per LIST."""
    from ._writer import LineEndingCounter

    db.execute("ALTER TABLE bodies ADD COLUMN crlf_size INTEGER")
    for body_id, size in db.execute("SELECT id, size FROM bodies ORDER BY id").fetchall():
        counter = LineEndingCounter()
        for (data,) in db.execute(
            "SELECT data FROM body_chunks WHERE body_id = ? ORDER BY seq", (body_id,)
        ):
            counter.feed(bytes(data))
        db.execute("UPDATE bodies SET crlf_size = ? WHERE id = ?", (size + counter.bare, body_id))


#: Applied in order; the schema version is the number applied.
MIGRATIONS: Final[Sequence[Callable[[sqlite3.Connection], None]]] = (
    _v1_mail,
    _v2_pop3,
    _v3_tokens,
    _v4_body_chunks,
    _v5_crlf_size,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    """The version of ``db``: 0 for an empty database."""
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row is not None else 0


def migrate(
    db: sqlite3.Connection,
    migrations: Sequence[Callable[[sqlite3.Connection], None]] = MIGRATIONS,
    *,
    target: int | None = None,
) -> int:
    """Bring ``db`` (autocommit mode) to ``target`` (default: the latest) and
    return the version reached.  A database newer than this code raises
    :class:`SchemaTooNew` rather than being touched."""
    goal = len(migrations) if target is None else target
    if not 0 <= goal <= len(migrations):
        raise ValueError("target is between 0 and the number of migrations")
    # A new database is built in one transaction (nothing to preserve, and
    # one fsync instead of one per step); an existing one is upgraded one
    # migration per transaction, so a failed step keeps the steps before it.
    fresh = False
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) == 0:
                fresh = True
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                if db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
                    db.execute("INSERT INTO schema_version (version) VALUES (0)")
            while True:
                current = schema_version(db)
                if current > len(migrations):
                    raise SchemaTooNew(
                        f"the database has schema version {current}; this protokit "
                        f"knows up to {len(migrations)}"
                    )
                if current >= goal:
                    db.execute("COMMIT")
                    return current
                migrations[current](db)
                db.execute("UPDATE schema_version SET version = ?", (current + 1,))
                if not fresh:
                    break
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
