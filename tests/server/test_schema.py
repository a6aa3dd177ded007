"""Versioned migrations: a fresh database, an upgrade from every older
version (data kept, schema identical to a fresh one), a newer database
refused, and the pragmas durability depends on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from protokit.sasl import hash_password
from protokit.server import MIGRATIONS, SCHEMA_VERSION, SchemaTooNew, Store
from protokit.server._schema import migrate, schema_version

from .helpers import deliver, message, read_all


def _schema(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return sorted(
            (name, sql)
            for name, sql in db.execute(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
            )
        )
    finally:
        db.close()


def _raw(path: Path, version: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    assert migrate(db, target=version) == version
    return db


def _seed_v1(db: sqlite3.Connection, version: int) -> None:
    """What a version-1 server would have written: an account, its INBOX and
    All Mail, one message in both."""
    db.execute(
        "INSERT INTO accounts (id, address, password_hash, scram_sha1, scram_sha256, created)"
        " VALUES (1, 'old@example.com', ?, ?, ?, 1700000000)",
        (
            hash_password("old-pw", iterations=1000),
            "64$00$" + "00" * 20 + "$" + "00" * 20,
            "64$00$" + "00" * 32 + "$" + "00" * 32,
        ),
    )
    db.execute(
        "INSERT INTO mailboxes (id, account_id, name, special_use, uidvalidity, uidnext,"
        " highestmodseq) VALUES (1, 1, 'INBOX', NULL, 1700000000, 2, 2)"
    )
    db.execute(
        "INSERT INTO mailboxes (id, account_id, name, special_use, uidvalidity, uidnext,"
        " highestmodseq) VALUES (2, 1, 'All Mail', '\\All', 1700000001, 2, 2)"
    )
    body = b"old\r\n\r"
    if version < 4:
        db.execute(
            "INSERT INTO bodies (id, sha256, size, data) VALUES (1, ?, 6, ?)",
            (b"\x01" * 32, body),
        )
    else:
        db.execute("INSERT INTO bodies (id, sha256, size) VALUES (1, ?, 6)", (b"\x01" * 32,))
        db.execute("INSERT INTO body_chunks VALUES (1, 0, ?)", (body,))
    db.execute(
        "INSERT INTO messages (id, account_id, body_id, size, internal_date, internal_tz,"
        " thread_id, message_id_header, header) VALUES (1, 1, 1, 6, 1700000000, 0, 1, NULL, ?)",
        (b"old\r\n",),
    )
    db.execute("INSERT INTO members VALUES (1, 1, 1, '\\Seen', 2)")
    db.execute("INSERT INTO members VALUES (2, 1, 1, '\\Seen', 2)")


def test_fresh_database_is_at_the_latest_version(store: Store) -> None:
    db = sqlite3.connect(store.path)
    assert schema_version(db) == SCHEMA_VERSION == len(MIGRATIONS) == 5
    db.close()


def test_pragmas(store: Store) -> None:
    db = store._db.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_upgrade_from_every_older_version(tmp_path: Path, start: int) -> None:
    old = tmp_path / "old.sqlite3"
    db = _raw(old, start)
    if start >= 1:
        _seed_v1(db, start)
    if start >= 2:
        db.execute("INSERT INTO pop3_popped VALUES (1, 1, 1700000001)")
    db.close()

    with Store(old, password_iterations=1000, scram_iterations=64) as store:
        assert schema_version(store._db.db) == SCHEMA_VERSION
        if start >= 1:
            account = store.require_account("old@example.com")
            assert store.verify_password("old@example.com", "old-pw") == account
            inbox = store.mailbox(account.id, "INBOX")
            assert (inbox.uidvalidity, inbox.uidnext, inbox.messages) == (1700000000, 2, 1)
            assert [m.uid for m in store.fetch(inbox.id)] == [1]
            assert read_all(store, account.id, 1) == b"old\r\n\r"
            # the popped row survived v3; without v2 data the message is unpopped
            # v5 computed the POP3 size: the trailing bare CR counts as CRLF
            maildrop = [(e.gm_msgid, e.size) for e in store.pop3_maildrop(account.id)]
            assert maildrop == ([] if start >= 2 else [(1, 7)])
            # tables of later versions work on the upgraded data
            token, _ = store.issue_token("old@example.com", 60)
            assert store.validate_token(token) is not None
            new = deliver(store, "old@example.com", message("new"))
            assert new.uid == 2
    fresh = tmp_path / "fresh.sqlite3"
    Store(fresh).close()
    assert _schema(old) == _schema(fresh)


def test_each_migration_is_one_transaction(tmp_path: Path) -> None:
    """Upgrading, a migration that fails leaves the file at the previous
    version, with nothing of the failed step applied; a new database is
    built all at once or not at all."""
    path = tmp_path / "x.sqlite3"

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    db = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError, match="boom"):
        migrate(db, (*MIGRATIONS[:1], broken))
    assert schema_version(db) == 0
    assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    assert migrate(db, target=1) == 1
    with pytest.raises(RuntimeError, match="boom"):
        migrate(db, (*MIGRATIONS[:2], broken))
    assert schema_version(db) == 2  # migration 2 kept, the broken third undone
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    db.close()


def test_a_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    db.close()
    before = _schema(path)
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}"):
        Store(path)
    assert _schema(path) == before


def test_migrate_to_a_target_and_bad_targets(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    assert schema_version(db) == 0
    assert migrate(db, target=2) == 2
    assert migrate(db, target=1) == 2  # never downgrades
    assert migrate(db) == SCHEMA_VERSION
    with pytest.raises(ValueError, match="target"):
        migrate(db, target=SCHEMA_VERSION + 1)
    db.close()


def test_database_file_is_owner_only(store: Store) -> None:
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.parent.stat().st_mode & 0o777 == 0o700
