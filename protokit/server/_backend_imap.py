"""The IMAP backend on the store (:func:`protokit.net.serve_imap`'s
:class:`~protokit.net.IMAPBackend`).

- Credentials: the store's salted password hashes (LOGIN, PLAIN, LOGIN
  mechanism; the server allows them under TLS only), SCRAM keys, and bearer
  tokens through the :class:`TokenValidator` the SMTP and POP3 backends use
  (its expiry goes to the server, which ends the session with the token).
- Mailboxes as the store defines them: INBOX, Sent (\\Sent), Drafts
  (\\Drafts), Trash (\\Trash), Junk (\\Junk), All Mail (\\All), and those the
  user creates; X-GM-LABELS are mailbox memberships (``_labels.py``).
- APPEND is spooled by a :class:`MessageWriter` and committed (durable)
  before the server says OK; FETCH bodies are streamed from the store in
  chunks; IDLE is woken by the store's change notifications.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from ..net import (
    AppendResult,
    IMAPSession,
    MailboxError,
    MailboxInfo,
    MailboxStatus,
    SelectedMailbox,
)
from ..sasl import Request, TokenResult
from ..wire._secret import Secret
from ._async import AsyncStore
from ._backend_imap_selected import StoreSelectedMailbox
from ._backend_smtp import StoreSMTPBackend
from ._mailboxes import DELIMITER
from ._store import Store
from ._tokens import TokenValidator
from ._types import (
    Account,
    InvalidName,
    MailboxExists,
    MessageTooLarge,
    NoSuchMailbox,
    StoreError,
    normalize_flags,
)
from ._types import MailboxInfo as StoredMailbox
from ._writer import DEFAULT_MAX_MESSAGE_SIZE

__all__ = ["StoreIMAPBackend"]

log = logging.getLogger("protokit.server.imap")

_SPECIAL_USES: Final = ("\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")


def _create(store: Store, account_id: int, name: str, special_use: str | None) -> None:
    """CREATE, with the superior names it needs (RFC 9051 6.3.4)."""
    parts = name.split(DELIMITER)
    for depth in range(1, len(parts)):
        try:
            store.create_mailbox(account_id, DELIMITER.join(parts[:depth]))
        except MailboxExists:
            pass
    store.create_mailbox(account_id, name, special_use=special_use)


@contextmanager
def _refused(verb: str) -> Iterator[None]:
    """The store's refusals of CREATE, DELETE and RENAME as NO [code]."""
    try:
        yield
    except NoSuchMailbox:
        raise MailboxError("Mailbox does not exist", "NONEXISTENT") from None
    except MailboxExists:
        raise MailboxError("Mailbox already exists", "ALREADYEXISTS") from None
    except InvalidName as exc:
        raise MailboxError(f"Cannot {verb}: {exc}", "CANNOT") from None


class _StoreIMAPSession:
    """One authenticated account's mailboxes, for one connection."""

    delimiter = DELIMITER

    def __init__(self, backend: StoreIMAPBackend, account: Account) -> None:
        self.backend = backend
        self.account = account

    def __repr__(self) -> str:
        return f"<StoreIMAPSession account_id={self.account.id}>"

    async def _mailbox(self, name: str, code: str = "NONEXISTENT") -> StoredMailbox:
        astore = self.backend.astore
        try:
            return await astore.call(astore.store.mailbox, self.account.id, name)
        except (NoSuchMailbox, InvalidName):
            raise MailboxError("Mailbox does not exist", code) from None

    async def list(self) -> Sequence[MailboxInfo]:
        astore = self.backend.astore
        boxes = await astore.call(astore.store.mailboxes, self.account.id)
        names = [b.name for b in boxes]
        out = []
        for box in boxes:
            prefix = box.name + DELIMITER
            children = any(n.startswith(prefix) for n in names)
            attrs = ["\\HasChildren" if children else "\\HasNoChildren"]
            if box.special_use:
                attrs.append(box.special_use)
            out.append(MailboxInfo(name=box.name, attributes=tuple(attrs),
                                   subscribed=box.subscribed))  # fmt: skip
        return out

    async def status(self, name: str) -> MailboxStatus:
        astore = self.backend.astore
        box = await self._mailbox(name)
        size, deleted = await astore.call(astore.store.mailbox_totals, box.id)
        return MailboxStatus(
            messages=box.messages,
            recent=0,
            uidnext=box.uidnext,
            uidvalidity=box.uidvalidity,
            unseen=box.unseen,
            highestmodseq=box.highestmodseq,
            size=size,
            deleted=deleted,
        )

    async def create(self, name: str, special_use: str | None = None) -> None:
        astore = self.backend.astore
        if special_use is not None and special_use not in _SPECIAL_USES:
            raise MailboxError("Unsupported special-use attribute", "USEATTR")
        name = name.rstrip(DELIMITER)
        with _refused("create"):
            await astore.call(_create, astore.store, self.account.id, name, special_use)

    async def delete(self, name: str) -> None:
        astore = self.backend.astore
        with _refused("delete"):
            await astore.call(astore.store.delete_mailbox, self.account.id, name)

    async def rename(self, old: str, new: str) -> None:
        astore = self.backend.astore
        with _refused("rename"):
            await astore.call(astore.store.rename_mailbox, self.account.id, old, new)

    async def subscribe(self, name: str, subscribed: bool) -> None:
        astore = self.backend.astore
        try:
            await astore.call(astore.store.subscribe, self.account.id, name, subscribed)
        except (NoSuchMailbox, InvalidName):
            raise MailboxError("Mailbox does not exist", "NONEXISTENT") from None

    async def check_append(self, name: str, size: int) -> None:
        await self._mailbox(name, "TRYCREATE")
        if size > self.backend.max_message_size:
            raise MailboxError("Message too large", "TOOBIG")

    async def append(
        self,
        name: str,
        flags: Sequence[str],
        date: _dt.datetime | None,
        data: AsyncIterator[bytes],
    ) -> AppendResult:
        astore = self.backend.astore
        box = await self._mailbox(name, "TRYCREATE")
        try:
            stored_flags = normalize_flags([f for f in flags if f.casefold() != "\\recent"])
        except InvalidName as exc:
            raise MailboxError(f"Cannot store the flags: {exc}", "CANNOT") from None
        writer = astore.store.new_message(max_size=self.backend.max_message_size)
        try:
            async for chunk in data:
                await astore.write(writer, chunk)
        except MessageTooLarge:
            raise MailboxError("Message too large", "TOOBIG") from None
        except BaseException:
            writer.abort()
            raise
        # Durable when commit returns: the server says OK only after it.
        try:
            done = await astore.commit(
                astore.store.append, box.id, writer, flags=stored_flags, internal_date=date
            )
        except NoSuchMailbox:
            raise MailboxError("Mailbox does not exist", "TRYCREATE") from None
        except (StoreError, ValueError) as exc:
            raise MailboxError(f"Cannot append: {exc}", "CANNOT") from None
        return AppendResult(uidvalidity=box.uidvalidity, uid=done.uid)

    async def select(self, name: str, *, readonly: bool) -> SelectedMailbox:
        astore = self.backend.astore
        box = await self._mailbox(name)
        # Subscribed before the snapshot: no change can fall between them.
        subscription = astore.subscribe(self.account.id, max_buffer=self.backend.change_buffer)
        try:
            info = await astore.call(astore.store.select, box.id)
        except NoSuchMailbox:
            subscription.close()
            raise MailboxError("Mailbox does not exist", "NONEXISTENT") from None
        except BaseException:
            subscription.close()
            raise
        return StoreSelectedMailbox(self, info, subscription, readonly=readonly)

    async def close(self) -> None:
        return None


class StoreIMAPBackend:
    """:class:`~protokit.net.IMAPBackend` on an :class:`AsyncStore`: the
    store's passwords, SCRAM keys and bearer tokens (``tokens`` adds JWT
    validation when configured), and each account's mailboxes; APPEND and
    the messages it takes are bounded by ``max_message_size``.  Several
    sessions of one account may run at once; each sees the others' changes."""

    def __init__(
        self,
        astore: AsyncStore,
        *,
        tokens: TokenValidator | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        change_buffer: int = 1000,
    ) -> None:
        self.astore = astore
        #: Changes queued per selected mailbox before it re-reads the mailbox instead.
        self.change_buffer = change_buffer
        # The account credentials are checked by the submission backend's
        # code (one path for SMTP AUTH, IMAP and, alike, POP3), tokens
        # included: their expiry goes to the server, which ends the session.
        self._credentials = StoreSMTPBackend(astore, "submission", tokens=tokens)
        self.tokens = self._credentials.tokens
        self.max_message_size = max_message_size

    def __repr__(self) -> str:
        return f"<StoreIMAPBackend store={self.astore.store!r}>"

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        return await self._credentials.verify_password(username, password)

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        return await self._credentials.validate_token(username, token)

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        return await self._credentials.sasl_request(mechanism, request)

    async def authorize(self, authcid: str, authzid: str) -> bool:
        return await self._credentials.authorize(authcid, authzid)

    async def open_session(self, username: str) -> IMAPSession:
        account = await self.astore.call(self.astore.store.account, username)
        if account is None:
            raise MailboxError("No such account", "UNAVAILABLE")
        log.info("session opened: account_id=%d", account.id)
        return _StoreIMAPSession(self, account)
