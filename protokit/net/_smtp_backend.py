"""What :func:`~protokit.net.serve_smtp` asks of the application: a typed
backend (credentials, envelope policy, message storage), and
:class:`InMemorySMTPBackend`, the reference implementation and test double.

The server never stores anything itself: it asks the backend to verify
credentials, to accept or refuse each sender and recipient, and to store a
message whose bytes arrive in chunks.  The final reply is sent only once
:meth:`MessageSink.finish` has returned, so a backend returns a positive
reply only after the message is durably stored.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..sasl import (
    LookupPassword,
    LookupScramCredentials,
    Request,
    ScramCredentials,
    TokenResult,
    derive_scram_credentials,
)
from ..smtp import MailParams, RcptParams, Reply
from ..wire._secret import Secret

__all__ = [
    "Envelope",
    "InMemorySMTPBackend",
    "MessageSink",
    "SMTPBackend",
    "SMTPSession",
    "StoredMessage",
]


@dataclass(slots=True, kw_only=True)
class SMTPSession:
    """One client's session, as the backend sees it (updated by the server)."""

    peer: tuple[str, int]
    #: The listener's name.
    listener: str
    tls: bool = False
    #: The EHLO/HELO/LHLO argument, once given.
    helo: str | None = None
    #: The authenticated (authorised) identity, once AUTH succeeded.
    user: str | None = None
    lmtp: bool = False


@dataclass(slots=True, kw_only=True)
class Envelope:
    """The accepted sender and recipients of the message being received."""

    sender: str
    mail_params: MailParams
    recipients: list[str] = field(default_factory=list)
    rcpt_params: list[RcptParams] = field(default_factory=list)


@runtime_checkable
class MessageSink(Protocol):
    """Receives one message's bytes (unstuffed DATA or BDAT octets, CRLF line
    endings as the client sent them)."""

    async def write(self, chunk: bytes) -> None:
        """The next piece of the message."""
        ...

    async def finish(self) -> Reply | Sequence[Reply]:
        """The message is complete: store it durably, then return the final
        reply (``250``) or a refusal.  LMTP: one reply per recipient, in the
        envelope's order (a single reply applies to all)."""
        ...

    async def abort(self) -> None:
        """The message was refused or the session ended: discard it."""
        ...


@runtime_checkable
class SMTPBackend(Protocol):
    """Credentials, envelope policy and storage for :func:`serve_smtp`.

    An unknown user and a wrong password must take the same path and get the
    same answer (``False``/``None``); compare secrets in constant time.
    Returning ``None`` from :meth:`mail_from`/:meth:`rcpt_to` accepts with
    the default reply.  An exception is answered "451 4.3.0" and logged.
    """

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        """PLAIN and LOGIN."""
        ...

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        """XOAUTH2 and OAUTHBEARER bearer tokens."""
        ...

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        """Any other SASL question (CRAM-MD5's LookupPassword, SCRAM's
        LookupScramCredentials ...), answered as the request's class says."""
        ...

    async def authorize(self, authcid: str, authzid: str) -> bool:
        """May ``authcid`` act as ``authzid``?"""
        ...

    async def mail_from(
        self, session: SMTPSession, sender: str, params: MailParams
    ) -> Reply | None:
        """Accept (``None`` or a 2xx reply) or refuse the sender ("" is the
        null reverse-path)."""
        ...

    async def rcpt_to(
        self, session: SMTPSession, envelope: Envelope, recipient: str, params: RcptParams
    ) -> Reply | None:
        """Accept (``None`` or a 2xx reply) or refuse one recipient."""
        ...

    async def open_message(self, session: SMTPSession, envelope: Envelope) -> MessageSink:
        """A sink for the message about to arrive for ``envelope``."""
        ...


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message the in-memory backend accepted."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    #: Who submitted it (the authenticated identity), if anyone.
    user: str | None
    mail_params: MailParams
    tls: bool


_ACCEPTED = Reply(code=250, enhanced="2.0.0", lines=("Message accepted",))
_STORED_LMTP = Reply(code=250, enhanced="2.1.5", lines=("Delivered",))
_MAILBOX_FULL = Reply(code=452, enhanced="4.2.2", lines=("Mailbox full",))
_NO_SUCH_USER = Reply(code=550, enhanced="5.1.1", lines=("No such user here",))


class _InMemorySink:
    __slots__ = ("_backend", "_envelope", "_parts", "_session")

    def __init__(
        self, backend: InMemorySMTPBackend, session: SMTPSession, envelope: Envelope
    ) -> None:
        self._backend = backend
        self._session = session
        self._envelope = envelope
        self._parts: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self._parts.append(chunk)

    async def finish(self) -> Reply | Sequence[Reply]:
        env = self._envelope
        b = self._backend
        data = b"".join(self._parts)
        self._parts = []
        if not self._session.lmtp:
            b._store(self._session, env, tuple(env.recipients), data)
            return _ACCEPTED
        replies = []
        delivered = []
        for rcpt in env.recipients:
            if rcpt in b.full_mailboxes:
                replies.append(_MAILBOX_FULL)
            else:
                delivered.append(rcpt)
                replies.append(_STORED_LMTP)
        if delivered:
            b._store(self._session, env, tuple(delivered), data)
        return replies

    async def abort(self) -> None:
        self._parts = []


class InMemorySMTPBackend:
    """Users, bearer tokens and accepted messages held in memory.

    The reference :class:`SMTPBackend`.  ``local_recipients`` limits RCPT to
    those addresses (case-insensitive; others get "550 5.1.1"); ``None``
    accepts any.  LMTP delivery to an address in ``full_mailboxes`` fails
    for that recipient alone ("452 4.2.2").  ``require_auth_to_send``
    refuses MAIL from unauthenticated sessions ("530 5.7.0").
    """

    def __init__(
        self,
        *,
        local_recipients: Sequence[str] | None = None,
        require_auth_to_send: bool = False,
    ) -> None:
        self._passwords: dict[str, Secret[str]] = {}
        self._tokens: dict[str, str] = {}
        self._scram: dict[tuple[str, str], ScramCredentials] = {}
        self.local_recipients = (
            None if local_recipients is None else {r.lower() for r in local_recipients}
        )
        self.require_auth_to_send = require_auth_to_send
        #: Recipients whose LMTP delivery fails (mailbox full).
        self.full_mailboxes: set[str] = set()
        #: Every message accepted, in order.
        self.messages: list[StoredMessage] = []
        self._dummy = Secret(secrets.token_hex(16))

    def __repr__(self) -> str:
        return f"<InMemorySMTPBackend users={len(self._passwords)} messages={len(self.messages)}>"

    # -- set-up ---------------------------------------------------------------------

    def add_user(self, username: str, password: str | Secret[str]) -> None:
        self._passwords[username] = password if isinstance(password, Secret) else Secret(password)

    def add_token(self, token: str, username: str) -> None:
        """Accept ``token`` as a bearer token for ``username``."""
        self._tokens[token] = username

    def _store(
        self, session: SMTPSession, env: Envelope, recipients: tuple[str, ...], data: bytes
    ) -> None:
        self.messages.append(
            StoredMessage(
                sender=env.sender,
                recipients=recipients,
                data=data,
                user=session.user,
                mail_params=env.mail_params,
                tls=session.tls,
            )
        )

    # -- SMTPBackend ----------------------------------------------------------------------

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        stored = self._passwords.get(username)
        expected = (stored or self._dummy).expose().encode("utf-8")
        ok = hmac.compare_digest(expected, password.expose().encode("utf-8"))
        return ok and stored is not None

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        owner = None
        offered = token.expose().encode("utf-8")
        for known, user in self._tokens.items():
            if hmac.compare_digest(known.encode("utf-8"), offered):
                owner = user
        if owner is None or (username is not None and username != owner):
            return TokenResult(valid=False)
        return TokenResult(valid=True, identity=owner)

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        if isinstance(request, LookupPassword):
            return self._passwords.get(request.authcid)
        if isinstance(request, LookupScramCredentials):
            if request.authzid not in (None, request.authcid):
                return None
            password = self._passwords.get(request.authcid)
            if password is None:
                return None
            hash_name = mechanism.removeprefix("SCRAM-").removesuffix("-PLUS")
            key = (request.authcid, hash_name)
            if key not in self._scram:
                self._scram[key] = derive_scram_credentials(hash_name, password)
            return self._scram[key]
        return None

    async def authorize(self, authcid: str, authzid: str) -> bool:
        return authcid == authzid

    async def mail_from(
        self, session: SMTPSession, sender: str, params: MailParams
    ) -> Reply | None:
        if self.require_auth_to_send and session.user is None:
            return Reply(code=530, enhanced="5.7.0", lines=("Authentication required",))
        return None

    async def rcpt_to(
        self, session: SMTPSession, envelope: Envelope, recipient: str, params: RcptParams
    ) -> Reply | None:
        local = self.local_recipients
        if local is not None and recipient.lower() not in local:
            return _NO_SUCH_USER
        return None

    async def open_message(self, session: SMTPSession, envelope: Envelope) -> MessageSink:
        return _InMemorySink(self, session, envelope)
