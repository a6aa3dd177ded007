"""POP3 state: the maildrop in normal and recent mode, popped at QUIT."""

from __future__ import annotations

from collections.abc import Iterable

from ._db import Database
from ._types import PopEntry

__all__ = ["Pop3Mixin"]


class Pop3Mixin:
    """POP3 operations of :class:`~protokit.server.Store`."""

    _db: Database

    def pop3_maildrop(self, account_id: int, *, recent: bool = False) -> list[PopEntry]:
        """The POP3 maildrop, oldest first.  Normal mode: every message not
        yet popped.  Recent mode: every message of the last 30 days, popped
        or not (DESIGN.md).  Sizes count line endings as CRLF (the server
        sends bare CR or LF as CRLF); the unique-id is the X-GM-MSGID."""
        with self._db.snapshot() as db:
            if recent:
                since = self._db.now() - 30 * 24 * 3600
                rows = db.execute(
                    "SELECT g.id, b.crlf_size FROM messages g JOIN bodies b ON b.id = g.body_id"
                    " WHERE g.account_id = ? AND g.internal_date >= ? ORDER BY g.id",
                    (account_id, since),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT g.id, b.crlf_size FROM messages g JOIN bodies b ON b.id = g.body_id"
                    " WHERE g.account_id = ? AND NOT EXISTS (SELECT 1 FROM pop3_popped p"
                    " WHERE p.message_id = g.id) ORDER BY g.id",
                    (account_id,),
                ).fetchall()
        return [PopEntry(unique_id=str(r[0]), size=int(r[1]), gm_msgid=int(r[0])) for r in rows]

    def pop3_mark_popped(self, account_id: int, gm_msgids: Iterable[int]) -> None:
        """At QUIT: the messages RETRieved in the session are popped (they
        leave the normal-mode maildrop for good)."""
        with self._db.transaction() as db:
            now = self._db.now()
            for gm_msgid in gm_msgids:
                db.execute(
                    "INSERT OR IGNORE INTO pop3_popped (account_id, message_id, popped_at)"
                    " SELECT account_id, id, ? FROM messages WHERE id = ? AND account_id = ?",
                    (now, gm_msgid, account_id),
                )
