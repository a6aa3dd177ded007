"""The questions server mechanisms ask their caller.

A mechanism never owns a user database and never does I/O: it hands back one
of these :class:`~protokit.sasl.Request` objects, and the caller answers it
with :meth:`~protokit.sasl.ServerMechanism.answer`.  Each class says what the
answer must be.  Secrets arrive wrapped in :class:`~protokit.Secret`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..wire._secret import Secret
from ._base import Request

__all__ = [
    "AllowAnonymous",
    "LookupPassword",
    "TokenResult",
    "ValidateToken",
    "VerifyExternal",
    "VerifyPassword",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyPassword(Request):
    """PLAIN, LOGIN: is ``password`` right for ``authcid``, and may ``authcid``
    act as ``authzid`` (``None``: as itself)?

    Answer ``bool``.  For an unknown user answer ``False`` after the same work
    as for a known one: :func:`protokit.sasl.verify_password` with
    ``stored=None`` does exactly that.
    """

    authcid: str
    authzid: str | None
    password: Secret[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupPassword(Request):
    """CRAM-MD5: the plaintext password (or its equivalent) of ``authcid``.

    Answer ``Secret[str]`` (a ``str`` is accepted too) or ``None`` for an
    unknown user; the mechanism then fails exactly as for a wrong password.
    """

    authcid: str


@dataclass(frozen=True, slots=True)
class TokenResult:
    """The answer to :class:`ValidateToken`.

    ``identity`` is the identity the token proves (``None``: the user the
    client named).  ``error`` is the JSON object sent to the client when the
    token is not valid (``None``: the mechanism's default; ``bytes``: a JSON
    body sent verbatim).  ``expires_at`` (an aware datetime), when known,
    is when the token stops being valid: a server ends a session
    authenticated by it then (the mechanisms ignore it).
    """

    valid: bool
    identity: str | None = None
    error: Mapping[str, object] | bytes | None = field(default=None)
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidateToken(Request):
    """XOAUTH2, OAUTHBEARER: is ``token`` a valid bearer token for ``user``
    (``None`` when an OAUTHBEARER client named no user)?  ``host`` and
    ``port`` are what an OAUTHBEARER client said it connected to.

    Answer :class:`TokenResult` (a bare ``bool`` is accepted too).
    """

    user: str | None
    token: Secret[str]
    host: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyExternal(Request):
    """EXTERNAL: who did the lower layer (a verified TLS client certificate)
    authenticate, and may it act as ``authzid`` (``None``: as itself)?

    Answer the authenticated identity as ``str``, or ``None`` to refuse (no
    verified client certificate, or not authorised).
    """

    authzid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowAnonymous(Request):
    """ANONYMOUS: may an anonymous client that sent ``trace`` log in?

    Answer ``bool``.
    """

    trace: str
