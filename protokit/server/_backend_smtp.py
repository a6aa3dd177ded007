"""The SMTP backend on the store (:func:`protokit.net.serve_smtp`'s
:class:`~protokit.net.SMTPBackend`), in one of two roles:

- ``"mx"`` (the port 25 role): local delivery without authentication; a
  recipient without an account is refused "550 5.1.1"; the message goes to
  each recipient's INBOX.
- ``"submission"`` (the 587 and 465 roles): MAIL needs an authenticated
  session (the server's ``auth_required`` says "530 5.7.0" before the
  backend is asked); the message goes through :meth:`Store.submit`: the
  sender's Sent (seen, pre-marked popped) and each local recipient's INBOX.
  This development server relays nowhere: a recipient without an account is
  refused "550 5.7.1" rather than accepted and silently dropped.

Either way the final "250" is returned only after the store's commit has
returned (durable: WAL with synchronous=FULL); concurrent sessions share a
commit (:meth:`AsyncStore.commit`)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import Final, Literal

from ..net import Envelope, MessageSink, SMTPSession
from ..sasl import LookupScramCredentials, Request, TokenResult
from ..smtp import MailParams, RcptParams, Reply
from ..wire._secret import Secret
from ._async import AsyncStore
from ._tokens import TokenValidator
from ._types import MessageTooLarge, NoSuchAccount
from ._writer import DEFAULT_MAX_MESSAGE_SIZE, MessageWriter

__all__ = ["SMTPRole", "StoreSMTPBackend"]

log = logging.getLogger("protokit.server.smtp")

SMTPRole = Literal["mx", "submission"]

ACCEPTED: Final = Reply(code=250, enhanced="2.0.0", lines=("Message accepted",))
NO_SUCH_USER: Final = Reply(code=550, enhanced="5.1.1", lines=("No such user here",))
NO_RELAY: Final = Reply(
    code=550,
    enhanced="5.7.1",
    lines=("Not a local account: this development server does not relay",),
)
AUTH_REQUIRED: Final = Reply(code=530, enhanced="5.7.0", lines=("Authentication required",))
TOO_LARGE: Final = Reply(code=552, enhanced="5.3.4", lines=("Message too big",))
GONE: Final = Reply(code=451, enhanced="4.3.0", lines=("Recipient no longer exists, try again",))
_SCRAM_HASHES: Final = {"SCRAM-SHA-1": "SHA-1", "SCRAM-SHA-256": "SHA-256"}


class _StoreSink:
    """One message on its way into the store: spooled by a
    :class:`MessageWriter`, committed by :meth:`finish`."""

    __slots__ = ("_astore", "_envelope", "_role", "_too_large", "_user", "_writer")

    def __init__(
        self,
        astore: AsyncStore,
        writer: MessageWriter,
        role: SMTPRole,
        user: str | None,
        envelope: Envelope,
    ) -> None:
        self._astore = astore
        self._writer = writer
        self._role = role
        self._user = user
        self._envelope = envelope
        self._too_large = False

    async def write(self, chunk: bytes) -> None:
        if self._too_large:
            return
        try:
            await self._astore.write(self._writer, chunk)
        except MessageTooLarge:
            # The writer aborted itself; the rest is read and dropped, and
            # the client hears why at the end.
            self._too_large = True

    async def finish(self) -> Reply | Sequence[Reply]:
        if self._too_large:
            return TOO_LARGE
        recipients = list(dict.fromkeys(self._envelope.recipients))
        astore = self._astore
        try:
            if self._role == "mx":
                await astore.deliver(recipients, self._writer)
            else:
                assert self._user is not None
                await astore.commit(astore.store.submit, self._user, recipients, self._writer)
        except NoSuchAccount:
            # An account removed between RCPT and the end of DATA.
            return GONE
        return ACCEPTED

    async def abort(self) -> None:
        self._writer.abort()


class StoreSMTPBackend:
    """:class:`~protokit.net.SMTPBackend` on an :class:`AsyncStore`, in the
    ``role`` "mx" or "submission" (see the module's docstring).  Password
    checks, SCRAM keys and bearer tokens come from the store (``tokens``
    adds JWT validation when configured)."""

    def __init__(
        self,
        astore: AsyncStore,
        role: SMTPRole,
        *,
        tokens: TokenValidator | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        if role not in ("mx", "submission"):
            raise ValueError("role is 'mx' or 'submission'")
        self.astore = astore
        self.role: SMTPRole = role
        self.tokens = tokens if tokens is not None else TokenValidator(astore.store)
        self.max_message_size = max_message_size

    def __repr__(self) -> str:
        return f"<StoreSMTPBackend role={self.role} store={self.astore.store!r}>"

    # -- credentials ------------------------------------------------------------

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        if self.role == "mx":
            return False
        store = self.astore.store
        account = await self.astore.call(store.verify_password, username, password)
        return account is not None

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        if self.role == "mx":
            return TokenResult(valid=False)
        check = await self.tokens.validate(self.astore, token, username)
        if not check.valid:
            return check.result()
        # The expiry ends the session when the token does.
        return TokenResult(valid=True, identity=check.identity, expires_at=check.expires_at)

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        if self.role == "mx" or not isinstance(request, LookupScramCredentials):
            return None
        hash_name = _SCRAM_HASHES.get(mechanism.upper().removesuffix("-PLUS"))
        if hash_name is None or request.authzid not in (None, request.authcid):
            return None
        store = self.astore.store
        return await self.astore.call(store.scram_credentials, request.authcid, hash_name)

    async def authorize(self, authcid: str, authzid: str) -> bool:
        # Bytes: compare_digest refuses str with non-ASCII characters.
        return hmac.compare_digest(authcid.casefold().encode(), authzid.casefold().encode())

    # -- envelope ----------------------------------------------------------------

    async def mail_from(
        self, session: SMTPSession, sender: str, params: MailParams
    ) -> Reply | None:
        if self.role == "submission" and session.user is None:
            return AUTH_REQUIRED
        if params.size is not None and params.size > self.max_message_size:
            return TOO_LARGE
        return None

    async def rcpt_to(
        self, session: SMTPSession, envelope: Envelope, recipient: str, params: RcptParams
    ) -> Reply | None:
        account = await self.astore.call(self.astore.store.account, recipient)
        if account is not None:
            return None
        log.info("recipient refused: no account (%s role)", self.role)
        return NO_SUCH_USER if self.role == "mx" else NO_RELAY

    async def open_message(self, session: SMTPSession, envelope: Envelope) -> MessageSink:
        if self.role == "submission" and session.user is None:
            raise PermissionError("submission without an authenticated user")
        writer = self.astore.store.new_message(max_size=self.max_message_size)
        return _StoreSink(self.astore, writer, self.role, session.user, envelope)
