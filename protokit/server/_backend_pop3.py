"""The POP3 backend on the store (:func:`protokit.net.serve_pop3`'s
:class:`~protokit.net.POP3Backend`), with DESIGN.md's two modes:

- normal (``alice@example.com``): every message not yet popped; the messages
  RETRieved (or DELEted) in a session that ends with QUIT are popped and
  leave the normal-mode maildrop for good.  Nothing is ever removed from the
  store: IMAP still sees them (as Gmail's "keep a copy" does).
- recent (``recent:alice@example.com``): every message of the last 30 days,
  popped or not, the user's Sent mail included; a recent-mode session never
  changes the popped state.

Messages the user submitted are stored pre-marked popped, so they appear
in recent mode only.  One session per account at a time: a second one is
refused "-ERR [IN-USE]" until the first ends."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Final

from ..net import Maildrop, MaildropInUse, MaildropUnavailable
from ..pop3 import MaildropEntry
from ..sasl import LookupScramCredentials, Request, TokenResult
from ..wire._secret import Secret
from ._async import AsyncStore
from ._tokens import TokenValidator
from ._types import Account, PopEntry

__all__ = ["RECENT_PREFIX", "StorePOP3Backend", "split_recent"]

log = logging.getLogger("protokit.server.pop3")

#: The user-name prefix that selects recent mode.
RECENT_PREFIX: Final = "recent:"
_SCRAM_HASHES: Final = {"SCRAM-SHA-1": "SHA-1", "SCRAM-SHA-256": "SHA-256"}


def split_recent(username: str) -> tuple[str, bool]:
    """``(address, recent)``: the ``recent:`` prefix (any case) removed."""
    if username[: len(RECENT_PREFIX)].casefold() == RECENT_PREFIX:
        return username[len(RECENT_PREFIX) :], True
    return username, False


class _StoreMaildrop:
    """One session's maildrop: the listing is fixed at login (RFC 1939)."""

    def __init__(
        self,
        backend: StorePOP3Backend,
        account: Account,
        recent: bool,
        entries: list[PopEntry],
    ) -> None:
        self._backend = backend
        self._account = account
        self._recent = recent
        self._entries = entries
        self._by_uid = {e.unique_id: e.gm_msgid for e in entries}
        self._listing = [MaildropEntry(size=e.size, uid=e.unique_id) for e in entries]
        self._open = True

    def listing(self) -> Sequence[MaildropEntry]:
        return self._listing

    async def message(self, uid: str) -> AsyncIterator[bytes]:
        astore = self._backend.astore
        async for chunk in astore.read_message(self._account.id, self._by_uid[uid]):
            yield chunk

    async def update(self, deleted: Sequence[str], retrieved: Sequence[str]) -> None:
        if self._recent:
            return
        popped = [self._by_uid[uid] for uid in dict.fromkeys([*retrieved, *deleted])]
        if popped:
            astore = self._backend.astore
            await astore.call(astore.store.pop3_mark_popped, self._account.id, popped)

    async def close(self) -> None:
        if self._open:
            self._open = False
            self._backend._locked.discard(self._account.id)


class StorePOP3Backend:
    """:class:`~protokit.net.POP3Backend` on an :class:`AsyncStore`: the
    store's passwords, SCRAM keys and bearer tokens (``tokens`` adds JWT
    validation when configured), the maildrop in normal or recent mode, one
    session per account."""

    def __init__(self, astore: AsyncStore, *, tokens: TokenValidator | None = None) -> None:
        self.astore = astore
        self.tokens = tokens if tokens is not None else TokenValidator(astore.store)
        self._locked: set[int] = set()

    def __repr__(self) -> str:
        return f"<StorePOP3Backend store={self.astore.store!r} sessions={len(self._locked)}>"

    def locked(self, account_id: int) -> bool:
        """Is a session holding this account's maildrop?"""
        return account_id in self._locked

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        address, _ = split_recent(username)
        store = self.astore.store
        return await self.astore.call(store.verify_password, address, password) is not None

    async def apop_secret(self, username: str) -> Secret[str] | None:
        # Only salted hashes are stored: APOP (a shared plaintext secret)
        # cannot be offered.
        return None

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        address = None if username is None else split_recent(username)[0]
        check = await self.tokens.validate(self.astore, token, address)
        if not check.valid or check.identity is None:
            return check.result()
        # The identity keeps the mode the client asked for.
        # The expiry ends the session when the token does.
        return TokenResult(
            valid=True, identity=username or check.identity, expires_at=check.expires_at
        )

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        if not isinstance(request, LookupScramCredentials):
            return None
        hash_name = _SCRAM_HASHES.get(mechanism.upper().removesuffix("-PLUS"))
        if hash_name is None or request.authzid not in (None, request.authcid):
            return None
        address, _ = split_recent(request.authcid)
        store = self.astore.store
        return await self.astore.call(store.scram_credentials, address, hash_name)

    async def authorize(self, authcid: str, authzid: str) -> bool:
        # Only oneself, in either mode ("alice" may open "recent:alice").
        a, b = split_recent(authcid)[0], split_recent(authzid)[0]
        # Bytes: compare_digest refuses str with non-ASCII characters.
        return hmac.compare_digest(a.casefold().encode(), b.casefold().encode())

    async def open_maildrop(self, username: str) -> Maildrop:
        address, recent = split_recent(username)
        store = self.astore.store
        account = await self.astore.call(store.account, address)
        if account is None:
            raise MaildropUnavailable("no such account")
        if account.id in self._locked:
            raise MaildropInUse("maildrop in use")
        self._locked.add(account.id)
        try:
            entries = await self.astore.call(store.pop3_maildrop, account.id, recent=recent)
        except BaseException:
            self._locked.discard(account.id)
            raise
        log.info(
            "maildrop opened: %d messages (%s mode)",
            len(entries),
            "recent" if recent else "normal",
        )
        return _StoreMaildrop(self, account, recent, entries)
