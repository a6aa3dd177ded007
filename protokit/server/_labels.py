"""X-GM-LABELS: Gmail's labels are mailbox memberships (STORE [+-]X-GM-LABELS)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Final

from ._mailboxes import normalize_mailbox_name
from ._messages import _GM_LABELS, _INFO_SQL, MessagesMixin, _info
from ._types import ChangeKind, FlagMode, InvalidName, NoSuchMailbox, UidRange

__all__ = ["LabelsMixin"]

# X-GM-LABELS system label (casefolded) -> special-use attribute.
_GM_SYSTEM_LABELS: Final = {label.casefold(): special for special, label in _GM_LABELS.items()}


class LabelsMixin(MessagesMixin):
    """Label operations of :class:`~protokit.server.Store`."""

    def _next_uidvalidity(self) -> int:
        raise AssertionError  # provided by AccountsMixin

    def _label_mailbox(self, db: sqlite3.Connection, account_id: int, label: str) -> int:
        if label.startswith("\\"):
            if label.casefold() == "\\inbox":
                row = db.execute(
                    "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'",
                    (account_id,),
                ).fetchone()
            else:
                special = _GM_SYSTEM_LABELS.get(label.casefold())
                if special is None:
                    raise InvalidName(f"unsupported system label {label!r}")
                row = db.execute(
                    "SELECT id FROM mailboxes WHERE account_id = ? AND special_use = ?"
                    " ORDER BY id LIMIT 1",
                    (account_id, special),
                ).fetchone()
            if row is None:
                raise NoSuchMailbox(f"no mailbox for the label {label!r}")
            return int(row[0])
        name = normalize_mailbox_name(label)
        row = db.execute(
            "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, name)
        ).fetchone()
        if row is not None:
            return int(row[0])
        # Gmail creates a label on first use.
        mailbox_id = db.execute(
            "INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES (?, ?, ?)",
            (account_id, name, self._next_uidvalidity()),
        ).lastrowid
        assert mailbox_id is not None
        self._db.emit(account_id, None, ChangeKind.MAILBOXES)
        return mailbox_id

    def store_labels(
        self, mailbox_id: int, uids: Sequence[UidRange], mode: FlagMode, labels: Iterable[str]
    ) -> dict[int, tuple[str, ...]]:
        """STORE [+-]X-GM-LABELS: a label is a mailbox membership.  Labels are
        mailbox names (created when new, as Gmail does) or Gmail's system
        labels (\\Inbox, \\Sent, \\Draft, \\Trash, \\Spam, \\Starred
        where such a mailbox exists).  All Mail is not a label and is left
        alone.  Each message whose labels change gets a new MODSEQ in this
        mailbox.  Returns uid -> labels after, for the messages still here."""
        names = list(labels)
        if any(not isinstance(n, str) for n in names):
            raise TypeError("a label is a str")
        with self._db.transaction() as db:
            mb = self._mailbox_by_id(db, mailbox_id)
            targets = {self._label_mailbox(db, mb.account_id, n) for n in names}
            all_mail = self._all_mail_id(db, mb.account_id)
            targets.discard(all_mail)
            rows: dict[int, tuple[int, str]] = {}
            for low, high in self._ranges(db, mailbox_id, uids):
                for uid, message_id, flags in db.execute(
                    "SELECT uid, message_id, flags FROM members WHERE mailbox_id = ?"
                    " AND uid BETWEEN ? AND ?",
                    (mailbox_id, low, high),
                ):
                    rows[uid] = (message_id, flags)
            changed: list[int] = []
            leaving: list[int] = []
            for uid in sorted(rows):
                message_id, flags = rows[uid]
                current = {
                    int(r[0])
                    for r in db.execute(
                        "SELECT mailbox_id FROM members WHERE message_id = ?", (message_id,)
                    )
                } - {all_mail}
                if mode is FlagMode.ADD:
                    add, remove = targets - current, set()
                elif mode is FlagMode.REMOVE:
                    add, remove = set(), targets & current
                else:
                    add, remove = targets - current, current - targets
                for target in sorted(add):
                    self._add_member(db, target, message_id, flags)
                for target in sorted(remove):
                    (target_uid,) = db.execute(
                        "SELECT uid FROM members WHERE mailbox_id = ? AND message_id = ?",
                        (target, message_id),
                    ).fetchone()
                    if target == mailbox_id:
                        leaving.append(uid)
                    else:
                        self._remove_members(db, self._mailbox_by_id(db, target), [target_uid])
                if add or remove:
                    changed.append(uid)
            stay = [uid for uid in changed if uid not in leaving]
            if stay:
                modseq = self._mailbox_by_id(db, mailbox_id).highestmodseq + 1
                db.execute(
                    "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, mailbox_id)
                )
                for uid in stay:
                    db.execute(
                        "UPDATE members SET modseq = ? WHERE mailbox_id = ? AND uid = ?",
                        (modseq, mailbox_id, uid),
                    )
                self._db.emit(mb.account_id, mailbox_id, ChangeKind.FLAGS, tuple(stay), modseq)
            self._remove_members(db, mb, leaving)
            result: dict[int, tuple[str, ...]] = {}
            for uid in sorted(rows):
                if uid in leaving:
                    continue
                row = db.execute(_INFO_SQL, (mailbox_id, uid, uid, 0)).fetchone()
                result[uid] = _info(row).labels
            return result
