"""What :func:`~protokit.net.serve_pop3` asks of the application: a typed
backend (credentials, maildrops), and :class:`InMemoryPOP3Backend`, the
reference implementation and test double.

The server never sees a password store or a message store itself: it asks
the backend to verify credentials, to open (and lock) a maildrop, to stream
a message's bytes, and at QUIT to apply the deletions (RFC 1939 section 6).
"""

from __future__ import annotations

import hmac
import itertools
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..pop3 import MaildropEntry
from ..sasl import (
    LookupPassword,
    LookupScramCredentials,
    Request,
    ScramCredentials,
    TokenResult,
    derive_scram_credentials,
)
from ..wire._secret import Secret

__all__ = [
    "InMemoryPOP3Backend",
    "Maildrop",
    "MaildropInUse",
    "MaildropUnavailable",
    "POP3Backend",
]


class MaildropInUse(Exception):
    """The maildrop is locked by another session (answered "-ERR [IN-USE]")."""


class MaildropUnavailable(Exception):
    """The maildrop cannot be opened now (answered "-ERR [SYS/TEMP]")."""


@runtime_checkable
class Maildrop(Protocol):
    """One user's maildrop, opened (and locked) for one session."""

    def listing(self) -> Sequence[MaildropEntry]:
        """Every message: its exact size with CRLF line endings and its
        unique-id, in the order the session numbers them (from 1)."""
        ...

    def message(self, uid: str) -> AsyncIterator[bytes]:
        """The message's bytes, in chunks (any line endings; the server
        sends CRLF and dot-stuffs)."""
        ...

    async def update(self, deleted: Sequence[str], retrieved: Sequence[str]) -> None:
        """QUIT in TRANSACTION: remove ``deleted`` (unique-ids); ``retrieved``
        lists what RETR sent completely.  Raise to report "-ERR [SYS/TEMP]"."""
        ...

    async def close(self) -> None:
        """The session ended (after QUIT or not): release the lock."""
        ...


@runtime_checkable
class POP3Backend(Protocol):
    """Credentials and maildrops for :func:`~protokit.net.serve_pop3`.

    An unknown user and a wrong password must take the same path and get the
    same answer (``False``/``None``); compare secrets in constant time.
    """

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        """USER/PASS, and the PLAIN and LOGIN mechanisms."""
        ...

    async def apop_secret(self, username: str) -> Secret[str] | None:
        """The shared secret APOP digests are checked against (``None``:
        unknown user, or APOP not allowed for them)."""
        ...

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        """XOAUTH2 and OAUTHBEARER bearer tokens."""
        ...

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        """Any other SASL question of ``mechanism`` (CRAM-MD5's
        LookupPassword, SCRAM's LookupScramCredentials, EXTERNAL ...),
        answered as the request's class says."""
        ...

    async def authorize(self, authcid: str, authzid: str) -> bool:
        """May ``authcid`` act as ``authzid`` (a SASL authorization identity
        different from the authenticated one)?"""
        ...

    async def open_maildrop(self, username: str) -> Maildrop:
        """Open and lock ``username``'s maildrop; raise :class:`MaildropInUse`
        or :class:`MaildropUnavailable`."""
        ...


@dataclass
class _Stored:
    uid: str
    data: bytes


def _crlf(data: bytes) -> bytes:
    # The size POP3 reports is the size with CRLF line endings (RFC 1939 11).
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


class _InMemoryMaildrop:
    def __init__(self, backend: InMemoryPOP3Backend, user: str) -> None:
        self._backend = backend
        self._user = user
        self._snapshot = list(backend._boxes[user])
        self._by_uid = {m.uid: m.data for m in self._snapshot}
        self._open = True

    def listing(self) -> Sequence[MaildropEntry]:
        return [MaildropEntry(size=len(m.data), uid=m.uid) for m in self._snapshot]

    async def message(self, uid: str) -> AsyncIterator[bytes]:
        data = self._by_uid[uid]
        size = self._backend.chunk_size
        for i in range(0, len(data), size):
            yield data[i : i + size]

    async def update(self, deleted: Sequence[str], retrieved: Sequence[str]) -> None:
        gone = set(deleted)
        box = self._backend._boxes[self._user]
        box[:] = [m for m in box if m.uid not in gone]
        self._backend.retrieved[self._user].update(retrieved)

    async def close(self) -> None:
        if self._open:
            self._open = False
            self._backend._locked.discard(self._user)


class InMemoryPOP3Backend:
    """Users, passwords, bearer tokens and maildrops held in memory.

    The reference :class:`POP3Backend`: one lock per maildrop ("-ERR
    [IN-USE]" for a second session), messages stored with CRLF line endings
    so that sizes are exact, deletions applied only by QUIT.
    """

    def __init__(self, *, chunk_size: int = 64 * 1024) -> None:
        self.chunk_size = chunk_size
        self._passwords: dict[str, Secret[str]] = {}
        self._tokens: dict[str, str] = {}
        self._boxes: dict[str, list[_Stored]] = {}
        self._locked: set[str] = set()
        self._scram: dict[tuple[str, str], ScramCredentials] = {}
        self._uids = itertools.count(1)
        #: Unique-ids each user RETRieved completely in a session ended by QUIT.
        self.retrieved: dict[str, set[str]] = {}
        # Compared against for unknown users, so that they cost the same.
        self._dummy = Secret(secrets.token_hex(16))

    def __repr__(self) -> str:
        return f"<InMemoryPOP3Backend users={len(self._passwords)}>"

    # -- set-up -------------------------------------------------------------------

    def add_user(self, username: str, password: str | Secret[str]) -> None:
        self._passwords[username] = password if isinstance(password, Secret) else Secret(password)
        self._boxes.setdefault(username, [])
        self.retrieved.setdefault(username, set())

    def add_token(self, token: str, username: str) -> None:
        """Accept ``token`` as a bearer token for ``username``."""
        self._tokens[token] = username

    def deliver(self, username: str, message: bytes, uid: str | None = None) -> str:
        """Append a message (line endings become CRLF); returns its unique-id."""
        uid = uid or f"m{next(self._uids):08d}.{secrets.token_hex(4)}"
        self._boxes[username].append(_Stored(uid, _crlf(message)))
        return uid

    def messages(self, username: str) -> list[bytes]:
        """The messages now in ``username``'s maildrop, CRLF line endings."""
        return [m.data for m in self._boxes[username]]

    def locked(self, username: str) -> bool:
        return username in self._locked

    # -- POP3Backend --------------------------------------------------------------------

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        stored = self._passwords.get(username)
        expected = (stored or self._dummy).expose().encode("utf-8")
        ok = hmac.compare_digest(expected, password.expose().encode("utf-8"))
        return ok and stored is not None

    async def apop_secret(self, username: str) -> Secret[str] | None:
        return self._passwords.get(username)

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        owner = None
        for known, user in self._tokens.items():
            if hmac.compare_digest(known.encode("utf-8"), token.expose().encode("utf-8")):
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
            # "SCRAM-SHA-256-PLUS" -> "SHA-256"
            hash_name = mechanism.removeprefix("SCRAM-").removesuffix("-PLUS")
            key = (request.authcid, hash_name)
            if key not in self._scram:
                self._scram[key] = derive_scram_credentials(hash_name, password)
            return self._scram[key]
        return None

    async def authorize(self, authcid: str, authzid: str) -> bool:
        return authcid == authzid

    async def open_maildrop(self, username: str) -> Maildrop:
        if username not in self._boxes:
            raise MaildropUnavailable(username)
        if username in self._locked:
            raise MaildropInUse(username)
        self._locked.add(username)
        return _InMemoryMaildrop(self, username)
