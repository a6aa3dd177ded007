"""Messages: delivery, append, fetch, flags, copy/move, expunge, search.

Gmail's model: a message belongs to an account and is a *member* of one or
more mailboxes (its labels); each membership has its own UID, flags and
MODSEQ.  Every message is a member of All Mail.  COPY into a mailbox the
message is already in maps to the existing UID; expunging from INBOX or any
ordinary mailbox removes the label only (the message stays in All Mail);
expunging from All Mail or Trash deletes the message everywhere.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final, TypeVar

from ._db import Database
from ._schema import BODY_CHUNK
from ._types import (
    Account,
    ChangeKind,
    CopyResult,
    Delivered,
    FlagMode,
    InvalidName,
    MailboxInfo,
    MessageInfo,
    NoSuchAccount,
    NoSuchMailbox,
    SearchQuery,
    StoreError,
    StoreResult,
    Submitted,
    UidRange,
    normalize_flags,
)
from ._writer import MessageWriter, message_ids, parse_header_fields

__all__ = ["MessagesMixin"]

_T = TypeVar("_T")

_BLOB_CHUNK: Final = 64 * 1024
_MAX_REFERENCES: Final = 50
# Special-use attribute -> X-GM-LABELS system label (Gmail's spelling).
_GM_LABELS: Final = {
    "\\Sent": "\\Sent",
    "\\Drafts": "\\Draft",
    "\\Trash": "\\Trash",
    "\\Junk": "\\Spam",
    "\\Flagged": "\\Starred",
}
_DELETING: Final = ("\\All", "\\Trash")

_INFO_SQL: Final = (
    "SELECT m.uid, g.id, g.thread_id, g.size, g.internal_date, g.internal_tz, m.flags,"
    " m.modseq, (SELECT group_concat(coalesce(x.special_use, '') || char(1) || x.name,"
    " char(2)) FROM members y JOIN mailboxes x ON x.id = y.mailbox_id"
    " WHERE y.message_id = m.message_id) FROM members m JOIN messages g ON g.id = m.message_id"
    " WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? AND m.modseq > ? ORDER BY m.uid"
)


def _date(ts: int, tz_minutes: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone(timedelta(minutes=tz_minutes)))


def _labels(concat: str | None) -> tuple[str, ...]:
    labels = []
    for item in (concat or "").split("\x02"):
        if not item:
            continue
        special, _, name = item.partition("\x01")
        if special == "\\All":
            continue
        if name == "INBOX":
            labels.append("\\Inbox")
        else:
            labels.append(_GM_LABELS.get(special, name))
    return tuple(sorted(labels))


def _info(row: tuple[object, ...]) -> MessageInfo:
    flags = str(row[6])
    return MessageInfo(
        uid=int(row[0]),  # type: ignore[call-overload]
        gm_msgid=int(row[1]),  # type: ignore[call-overload]
        thread_id=int(row[2]),  # type: ignore[call-overload]
        size=int(row[3]),  # type: ignore[call-overload]
        internal_date=_date(int(row[4]), int(row[5])),  # type: ignore[call-overload]
        flags=tuple(flags.split()),
        modseq=int(row[7]),  # type: ignore[call-overload]
        labels=_labels(None if row[8] is None else str(row[8])),
    )


def _check_date(when: datetime | None, now: int) -> tuple[int, int]:
    if when is None:
        return now, 0
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("the internal date must be timezone-aware")
    return int(when.timestamp()), int(offset.total_seconds() // 60)


class MessagesMixin:
    """Message operations of :class:`~protokit.server.Store`."""

    _db: Database

    def _mailbox_by_id(self, db: sqlite3.Connection, mailbox_id: int) -> MailboxInfo:
        raise AssertionError  # provided by MailboxesMixin

    def account(self, address: str) -> Account | None:
        raise AssertionError  # provided by AccountsMixin

    # -- writing ------------------------------------------------------------------

    def new_message(self, *, max_size: int | None = None) -> MessageWriter:
        """A writer for one incoming message, spooled in the data directory."""
        if max_size is None:
            return MessageWriter(spool_dir=self._db.path.parent)
        return MessageWriter(max_size=max_size, spool_dir=self._db.path.parent)

    def _store_body(self, db: sqlite3.Connection, writer: MessageWriter) -> int:
        digest, size, _ = writer._finish()
        row = db.execute("SELECT id FROM bodies WHERE sha256 = ?", (digest,)).fetchone()
        if row is not None:
            return int(row[0])
        body_id = db.execute(
            "INSERT INTO bodies (sha256, size, crlf_size) VALUES (?, ?, ?)",
            (digest, size, writer.crlf_size),
        ).lastrowid
        assert body_id is not None
        seq = 0
        pending = bytearray()
        for chunk in writer._chunks():
            pending += chunk
            while len(pending) >= BODY_CHUNK:
                db.execute(
                    "INSERT INTO body_chunks (body_id, seq, data) VALUES (?, ?, ?)",
                    (body_id, seq, bytes(pending[:BODY_CHUNK])),
                )
                del pending[:BODY_CHUNK]
                seq += 1
        if pending:
            db.execute(
                "INSERT INTO body_chunks (body_id, seq, data) VALUES (?, ?, ?)",
                (body_id, seq, bytes(pending)),
            )
        return body_id

    def _new_message(
        self,
        db: sqlite3.Connection,
        account_id: int,
        body_id: int,
        writer: MessageWriter,
        internal_date: datetime | None,
    ) -> int:
        _, size, head = writer._finish()
        ts, tz = _check_date(internal_date, self._db.now())
        fields = parse_header_fields(head)
        own: str | None = None
        refs: list[str] = []
        for name, value in fields:
            key = name.lower()
            if key == "message-id" and own is None:
                ids = message_ids(value)
                own = ids[0] if ids else None
            elif key in ("references", "in-reply-to"):
                refs.extend(message_ids(value))
        thread_id = None
        for ref in reversed(refs[-_MAX_REFERENCES:]):
            row = db.execute(
                "SELECT thread_id FROM messages WHERE account_id = ? AND message_id_header = ?"
                " LIMIT 1",
                (account_id, ref),
            ).fetchone()
            if row is not None:
                thread_id = int(row[0])
                break
        message_id = db.execute(
            "INSERT INTO messages (account_id, body_id, size, internal_date, internal_tz,"
            " thread_id, message_id_header, header) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            (account_id, body_id, size, ts, tz, own, head),
        ).lastrowid
        assert message_id is not None
        db.execute(
            "UPDATE messages SET thread_id = ? WHERE id = ?",
            (message_id if thread_id is None else thread_id, message_id),
        )
        return message_id

    def _add_member(
        self, db: sqlite3.Connection, mailbox_id: int, message_id: int, flags: str
    ) -> int:
        row = db.execute(
            "SELECT account_id, uidnext, highestmodseq FROM mailboxes WHERE id = ?",
            (mailbox_id,),
        ).fetchone()
        if row is None:
            raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
        account_id, uid, modseq = int(row[0]), int(row[1]), int(row[2]) + 1
        db.execute(
            "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
            (uid + 1, modseq, mailbox_id),
        )
        db.execute(
            "INSERT INTO members (mailbox_id, uid, message_id, flags, modseq)"
            " VALUES (?, ?, ?, ?, ?)",
            (mailbox_id, uid, message_id, flags, modseq),
        )
        self._db.emit(account_id, mailbox_id, ChangeKind.EXISTS, (uid,), modseq)
        return uid

    def _all_mail_id(self, db: sqlite3.Connection, account_id: int) -> int | None:
        row = db.execute(
            "SELECT id FROM mailboxes WHERE account_id = ? AND special_use = '\\All'",
            (account_id,),
        ).fetchone()
        return None if row is None else int(row[0])

    def _create(
        self,
        db: sqlite3.Connection,
        account_id: int,
        mailbox_id: int,
        body_id: int,
        writer: MessageWriter,
        flags: str,
        internal_date: datetime | None,
    ) -> Delivered:
        message_id = self._new_message(db, account_id, body_id, writer, internal_date)
        uid = self._add_member(db, mailbox_id, message_id, flags)
        all_mail = self._all_mail_id(db, account_id)
        if all_mail is not None and all_mail != mailbox_id:
            self._add_member(db, all_mail, message_id, flags)
        return Delivered(gm_msgid=message_id, mailbox_id=mailbox_id, uid=uid)

    def deliver(
        self, addresses: str | Sequence[str], writer: MessageWriter
    ) -> dict[str, Delivered]:
        """Local delivery: the message into each address's INBOX, in one
        transaction, the body stored once.  Durable when this returns (so an
        SMTP server may send 250).  An unknown address raises
        :class:`NoSuchAccount` and stores nothing; the writer is closed
        either way."""
        try:
            with self._db.transaction() as db:
                return self._deliver(db, addresses, writer)
        finally:
            writer.abort()

    def _deliver(
        self, db: sqlite3.Connection, addresses: str | Sequence[str], writer: MessageWriter
    ) -> dict[str, Delivered]:
        targets = [addresses] if isinstance(addresses, str) else list(addresses)
        body_id = self._store_body(db, writer)
        out: dict[str, Delivered] = {}
        done: dict[int, Delivered] = {}
        for address in targets:
            row = db.execute(
                "SELECT a.id, b.id FROM accounts a JOIN mailboxes b"
                " ON b.account_id = a.id AND b.name = 'INBOX' WHERE a.address = ?",
                (address,),
            ).fetchone()
            if row is None:
                raise NoSuchAccount(f"no account {address}")
            if row[0] not in done:
                done[row[0]] = self._create(db, row[0], row[1], body_id, writer, "", None)
            out[address] = done[row[0]]
        return out

    def run_grouped(self, operations: Sequence[Callable[[], _T]]) -> list[_T | Exception]:
        """Several write operations (each a call of a store method, e.g.
        ``functools.partial(store.deliver, address, writer)``) in one
        transaction: one fsync for all, a group commit.  Each succeeds or
        fails on its own (a savepoint each); the results, in order, are what
        the calls returned or raised.  Durable when this returns."""
        results: list[_T | Exception] = []
        with self._db.transaction():
            for operation in operations:
                try:
                    with self._db.savepoint():
                        results.append(operation())
                except Exception as exc:
                    results.append(exc)
        return results

    def store_sent(self, address: str, writer: MessageWriter) -> Delivered:
        """A message the user submitted: into Sent, flagged \\Seen and
        pre-marked popped (POP3 shows it in recent mode only)."""
        return self.submit(address, (), writer).sent

    def submit(self, sender: str, recipients: Sequence[str], writer: MessageWriter) -> Submitted:
        """A message submitted by ``sender`` (an account): into its Sent,
        flagged \\Seen and pre-marked popped (POP3 shows it in recent mode
        only), and delivered to the INBOX of each local recipient, in one
        transaction with the body stored once.  The sender among the
        recipients gets the same message labelled INBOX too (Gmail's
        behaviour).  Unknown sender or recipient: :class:`NoSuchAccount`,
        nothing stored."""
        try:
            with self._db.transaction() as db:
                account = self.account(sender)
                if account is None:
                    raise NoSuchAccount(f"no account {sender}")
                row = db.execute(
                    "SELECT id FROM mailboxes WHERE account_id = ? AND special_use = '\\Sent'"
                    " ORDER BY id LIMIT 1",
                    (account.id,),
                ).fetchone()
                if row is None:
                    raise NoSuchMailbox("the account has no \\Sent mailbox")
                body_id = self._store_body(db, writer)
                sent = self._create(db, account.id, row[0], body_id, writer, "\\Seen", None)
                db.execute(
                    "INSERT INTO pop3_popped (account_id, message_id, popped_at) VALUES (?, ?, ?)",
                    (account.id, sent.gm_msgid, self._db.now()),
                )
                others = []
                delivered: dict[str, Delivered] = {}
                for address in recipients:
                    target = self.account(address)
                    if target is None:
                        raise NoSuchAccount(f"no account {address}")
                    if target.id != account.id:
                        others.append(address)
                        continue
                    inbox = db.execute(
                        "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'",
                        (account.id,),
                    ).fetchone()[0]
                    existing = db.execute(
                        "SELECT uid FROM members WHERE mailbox_id = ? AND message_id = ?",
                        (inbox, sent.gm_msgid),
                    ).fetchone()
                    uid = (
                        int(existing[0])
                        if existing
                        else self._add_member(db, inbox, sent.gm_msgid, "")
                    )
                    delivered[address] = Delivered(
                        gm_msgid=sent.gm_msgid, mailbox_id=inbox, uid=uid
                    )
                if others:
                    delivered.update(self._deliver(db, others, writer))
                return Submitted(sent=sent, delivered=delivered)
        finally:
            writer.abort()

    def append(
        self,
        mailbox_id: int,
        writer: MessageWriter,
        *,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> Delivered:
        """IMAP APPEND (RFC 3501 6.3.11, RFC 4315 APPENDUID): a new message
        in the mailbox with ``flags`` and ``internal_date`` (aware; default now)."""
        try:
            stored_flags = " ".join(normalize_flags(flags))
            with self._db.transaction() as db:
                mb = self._mailbox_by_id(db, mailbox_id)
                body_id = self._store_body(db, writer)
                return self._create(
                    db, mb.account_id, mb.id, body_id, writer, stored_flags, internal_date
                )
        finally:
            writer.abort()

    def append_batch(
        self,
        mailbox_id: int,
        messages: Sequence[tuple[MessageWriter, Iterable[str], datetime | None]],
    ) -> list[Delivered]:
        """Several messages into one mailbox, each with its flags and
        internal date (aware; None: now), in one transaction: all of them
        durable when this returns, none if it raises (an importer's batch).
        Every writer is closed either way."""
        try:
            prepared = [(w, " ".join(normalize_flags(flags)), when) for w, flags, when in messages]
            with self._db.transaction() as db:
                mb = self._mailbox_by_id(db, mailbox_id)
                out = []
                for writer, stored_flags, when in prepared:
                    body_id = self._store_body(db, writer)
                    out.append(
                        self._create(db, mb.account_id, mb.id, body_id, writer, stored_flags, when)
                    )
                return out
        finally:
            for writer, _, _ in messages:
                writer.abort()

    # -- reading ---------------------------------------------------------------------

    def _ranges(
        self, db: sqlite3.Connection, mailbox_id: int, uids: Sequence[UidRange] | None
    ) -> list[tuple[int, int]]:
        """uid ranges as (low, high), ``*`` resolved to the largest uid (RFC 3501 9)."""
        if uids is None:
            return [(1, 2**63 - 1)]
        top = db.execute(
            "SELECT max(uid) FROM members WHERE mailbox_id = ?", (mailbox_id,)
        ).fetchone()[0]
        out = []
        for r in uids:
            if not isinstance(r, UidRange):
                raise TypeError("uids are UidRange values")
            last = r.last
            if last is None:
                if top is None:
                    continue
                last = int(top)
            out.append((min(r.first, last), max(r.first, last)))
        return out

    def fetch(
        self,
        mailbox_id: int,
        uids: Sequence[UidRange] | None = None,
        *,
        changed_since: int | None = None,
    ) -> list[MessageInfo]:
        """The messages whose uid is in ``uids`` (None: all), ascending;
        ``changed_since``: only those with a greater MODSEQ (RFC 7162 3.1.4)."""
        with self._db.snapshot() as db:
            self._mailbox_by_id(db, mailbox_id)
            found: dict[int, MessageInfo] = {}
            for low, high in self._ranges(db, mailbox_id, uids):
                for row in db.execute(_INFO_SQL, (mailbox_id, low, high, changed_since or 0)):
                    found.setdefault(row[0], _info(row))
        return [found[uid] for uid in sorted(found)]

    def header(self, account_id: int, gm_msgid: int) -> bytes:
        """The message's header block (up to 64 KiB, ending with its empty line)."""
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT header FROM messages WHERE id = ? AND account_id = ?",
                (gm_msgid, account_id),
            ).fetchone()
        if row is None:
            raise StoreError("no such message")
        return bytes(row[0])

    def body_chunk(self, account_id: int, gm_msgid: int, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of the message from ``offset`` (b"" at the end)."""
        if offset < 0 or size < 0:
            raise ValueError("offset and size are not negative")
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT body_id, size FROM messages WHERE id = ? AND account_id = ?",
                (gm_msgid, account_id),
            ).fetchone()
            if row is None:
                raise StoreError("no such message")
            end = min(offset + size, int(row[1]))
            if offset >= end:
                return b""
            first, last = offset // BODY_CHUNK, (end - 1) // BODY_CHUNK
            parts = [
                bytes(data)
                for (data,) in db.execute(
                    "SELECT data FROM body_chunks WHERE body_id = ? AND seq BETWEEN ? AND ?"
                    " ORDER BY seq",
                    (row[0], first, last),
                )
            ]
        skip = offset - first * BODY_CHUNK
        if len(parts) == 1:
            return parts[0][skip : skip + end - offset]
        return b"".join(parts)[skip : skip + end - offset]

    def read_message(
        self, account_id: int, gm_msgid: int, chunk_size: int = _BLOB_CHUNK
    ) -> Iterator[bytes]:
        """The message's bytes as a stream of chunks of at most ``chunk_size``."""
        if chunk_size < 1:
            raise ValueError("chunk_size is positive")
        offset = 0
        while chunk := self.body_chunk(account_id, gm_msgid, offset, chunk_size):
            offset += len(chunk)
            yield chunk

    # -- flags, copy, move, expunge ------------------------------------------------------

    def store_flags(
        self,
        mailbox_id: int,
        uids: Sequence[UidRange],
        mode: FlagMode,
        flags: Iterable[str],
        *,
        unchanged_since: int | None = None,
    ) -> StoreResult:
        """STORE (RFC 3501 6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162
        3.1.3): every changed message gets one new MODSEQ, above the
        mailbox's HIGHESTMODSEQ; a message whose flags do not change keeps its
        MODSEQ; messages modified after ``unchanged_since`` are left alone
        and listed in ``modified``."""
        wanted = normalize_flags(flags)
        folded = {f.casefold() for f in wanted}
        with self._db.transaction() as db:
            mb = self._mailbox_by_id(db, mailbox_id)
            rows: dict[int, tuple[str, int]] = {}
            for low, high in self._ranges(db, mailbox_id, uids):
                for uid, current, modseq in db.execute(
                    "SELECT uid, flags, modseq FROM members WHERE mailbox_id = ?"
                    " AND uid BETWEEN ? AND ?",
                    (mailbox_id, low, high),
                ):
                    rows[uid] = (current, modseq)
            modified: list[int] = []
            changes: dict[int, tuple[str, ...]] = {}
            updated: dict[int, tuple[tuple[str, ...], int]] = {}
            for uid in sorted(rows):
                current, modseq = rows[uid]
                if unchanged_since is not None and modseq > unchanged_since:
                    modified.append(uid)
                    continue
                have = tuple(current.split())
                if mode is FlagMode.SET:
                    new = wanted
                elif mode is FlagMode.ADD:
                    new = normalize_flags((*have, *wanted))
                else:
                    new = tuple(f for f in have if f.casefold() not in folded)
                if new != have:
                    changes[uid] = new
                updated[uid] = (have, modseq)
            if changes:
                modseq = mb.highestmodseq + 1
                db.execute(
                    "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, mailbox_id)
                )
                for uid, new in changes.items():
                    db.execute(
                        "UPDATE members SET flags = ?, modseq = ?"
                        " WHERE mailbox_id = ? AND uid = ?",
                        (" ".join(new), modseq, mailbox_id, uid),
                    )
                    updated[uid] = (new, modseq)
                self._db.emit(
                    mb.account_id, mailbox_id, ChangeKind.FLAGS, tuple(sorted(changes)), modseq
                )
        return StoreResult(updated=updated, modified=tuple(modified))

    def copy(self, mailbox_id: int, uids: Sequence[UidRange], target_id: int) -> CopyResult:
        """COPY (RFC 3501 6.4.7) with COPYUID (RFC 4315): flags travel with
        the message; a message already in the target maps to its uid there."""
        with self._db.transaction() as db:
            return self._copy(db, mailbox_id, uids, target_id)

    def _copy(
        self, db: sqlite3.Connection, mailbox_id: int, uids: Sequence[UidRange], target_id: int
    ) -> CopyResult:
        source = self._mailbox_by_id(db, mailbox_id)
        target = self._mailbox_by_id(db, target_id)
        if source.account_id != target.account_id:
            raise NoSuchMailbox("the target mailbox belongs to another account")
        rows: dict[int, tuple[int, str]] = {}
        for low, high in self._ranges(db, mailbox_id, uids):
            for uid, message_id, flags in db.execute(
                "SELECT uid, message_id, flags FROM members WHERE mailbox_id = ?"
                " AND uid BETWEEN ? AND ?",
                (mailbox_id, low, high),
            ):
                rows[uid] = (message_id, flags)
        mapping = []
        for uid in sorted(rows):
            message_id, flags = rows[uid]
            existing = db.execute(
                "SELECT uid FROM members WHERE mailbox_id = ? AND message_id = ?",
                (target_id, message_id),
            ).fetchone()
            if existing is not None:
                mapping.append((uid, int(existing[0])))
            else:
                mapping.append((uid, self._add_member(db, target_id, message_id, flags)))
        return CopyResult(uidvalidity=target.uidvalidity, mapping=tuple(mapping))

    def move(self, mailbox_id: int, uids: Sequence[UidRange], target_id: int) -> CopyResult:
        """MOVE (RFC 6851): COPY then remove from the source, atomically.
        Moving out of All Mail only adds the label (Gmail keeps every
        message in All Mail)."""
        with self._db.transaction() as db:
            result = self._copy(db, mailbox_id, uids, target_id)
            source = self._mailbox_by_id(db, mailbox_id)
            if source.special_use != "\\All" and mailbox_id != target_id:
                self._remove_members(db, source, [src for src, _ in result.mapping])
            return result

    def _remove_members(self, db: sqlite3.Connection, mb: MailboxInfo, uids: list[int]) -> None:
        if not uids:
            return
        modseq = int(
            db.execute("SELECT highestmodseq FROM mailboxes WHERE id = ?", (mb.id,)).fetchone()[0]
        )
        db.execute("UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq + 1, mb.id))
        for uid in uids:
            db.execute("DELETE FROM members WHERE mailbox_id = ? AND uid = ?", (mb.id, uid))
        self._db.emit(mb.account_id, mb.id, ChangeKind.EXPUNGE, tuple(uids), modseq + 1)

    def _delete_messages(self, db: sqlite3.Connection, message_ids: list[int]) -> None:
        """Delete messages from every mailbox, then bodies nobody uses."""
        by_mailbox: dict[int, list[int]] = {}
        bodies = set()
        for message_id in message_ids:
            for mailbox_id, uid in db.execute(
                "SELECT mailbox_id, uid FROM members WHERE message_id = ?", (message_id,)
            ):
                by_mailbox.setdefault(mailbox_id, []).append(uid)
            row = db.execute("SELECT body_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is not None:
                bodies.add(int(row[0]))
        for mailbox_id, uids in sorted(by_mailbox.items()):
            self._remove_members(db, self._mailbox_by_id(db, mailbox_id), sorted(uids))
        for message_id in message_ids:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        for body_id in bodies:
            db.execute(
                "DELETE FROM bodies WHERE id = ? AND NOT EXISTS"
                " (SELECT 1 FROM messages WHERE body_id = ?)",
                (body_id, body_id),
            )

    def expunge(self, mailbox_id: int, uids: Sequence[UidRange] | None = None) -> tuple[int, ...]:
        """EXPUNGE (or UID EXPUNGE, RFC 4315, with ``uids``): remove the
        messages flagged \\Deleted; returns their uids, ascending."""
        with self._db.transaction() as db:
            mb = self._mailbox_by_id(db, mailbox_id)
            rows: dict[int, int] = {}
            for low, high in self._ranges(db, mailbox_id, uids):
                rows.update(
                    db.execute(
                        "SELECT uid, message_id FROM members WHERE mailbox_id = ? AND uid"
                        " BETWEEN ? AND ? AND instr(' ' || flags || ' ', ' \\Deleted ') > 0",
                        (mailbox_id, low, high),
                    ).fetchall()
                )
            gone = sorted(rows)
            if mb.special_use in _DELETING:
                self._delete_messages(db, [rows[uid] for uid in gone])
            else:
                self._remove_members(db, mb, gone)
            return tuple(gone)

    # -- search ----------------------------------------------------------------------------

    def search(self, mailbox_id: int, query: SearchQuery) -> tuple[int, ...]:
        """The uids matching every criterion of ``query``, ascending."""
        need = normalize_flags(query.flags)
        refuse = {f.casefold() for f in normalize_flags(query.not_flags)}
        headers = [(name.casefold(), text.casefold()) for name, text in query.headers]
        for name, _ in headers:
            if ":" in name or any(c.isspace() for c in name):
                raise InvalidName("not a header field name")
        out = []
        with self._db.snapshot() as db:
            self._mailbox_by_id(db, mailbox_id)
            seen: set[int] = set()
            for low, high in self._ranges(db, mailbox_id, query.uids):
                for uid, flags, _modseq, ts, tz, head in db.execute(
                    "SELECT m.uid, m.flags, m.modseq, g.internal_date, g.internal_tz,"
                    " CASE WHEN ? THEN g.header END FROM members m"
                    " JOIN messages g ON g.id = m.message_id"
                    " WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? AND m.modseq >= ?",
                    (bool(headers), mailbox_id, low, high, query.modseq or 0),
                ):
                    if uid in seen:
                        continue
                    seen.add(uid)
                    have = {f.casefold() for f in flags.split()}
                    if any(f.casefold() not in have for f in need) or have & refuse:
                        continue
                    day = _date(ts, tz).date()
                    if query.since is not None and day < query.since:
                        continue
                    if query.before is not None and day >= query.before:
                        continue
                    if headers and not _headers_match(bytes(head), headers):
                        continue
                    out.append(uid)
        return tuple(sorted(out))


def _headers_match(head: bytes, wanted: list[tuple[str, str]]) -> bool:
    fields = [(n.casefold(), v.casefold()) for n, v in parse_header_fields(head)]
    for name, text in wanted:
        if not any((not name or n == name) and text in v for n, v in fields):
            return False
    return True
