"""Bearer tokens for XOAUTH2 and OAUTHBEARER: the store's development
tokens (``protokit token issue``) and, when configured, JWT access tokens
(checked locally) and opaque tokens checked at an RFC 7662 introspection
endpoint (:class:`protokit.oauth.IntrospectionValidator`).  A session keeps
the expiry, so it can end when its token does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..sasl import TokenResult
from ..wire._secret import Secret
from ._accounts import TOKEN_PREFIX
from ._jwt import InvalidToken, JWTValidator
from ._store import Store

if TYPE_CHECKING:
    from ..oauth import IntrospectionValidator
    from ._async import AsyncStore

__all__ = ["TokenCheck", "TokenValidator"]

_log = logging.getLogger("protokit.server")


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenCheck:
    """The outcome: ``identity`` (the account address) and ``expires_at``
    when valid; ``reason`` (for logs: never the token) when not."""

    valid: bool
    identity: str | None = None
    expires_at: datetime | None = None
    reason: str | None = None

    def result(self) -> TokenResult:
        """The answer to :class:`protokit.sasl.ValidateToken` (the
        mechanism's default error challenge when invalid)."""
        return TokenResult(valid=self.valid, identity=self.identity)


class TokenValidator:
    """Check a bearer token: a development token against the store, else a
    JWT against ``jwt`` (when given), else, with ``introspection``, the
    provider's RFC 7662 answer (:meth:`validate` only: it is a network call).
    A JWT or an introspected token must name an existing account.  When the
    client named a user, it must be the token's account."""

    def __init__(
        self,
        store: Store,
        jwt: JWTValidator | None = None,
        introspection: IntrospectionValidator | None = None,
    ) -> None:
        self.store = store
        self.jwt = jwt
        self.introspection = introspection

    def __repr__(self) -> str:
        return (
            f"<TokenValidator store={self.store!r} jwt={self.jwt!r}"
            f" introspection={self.introspection!r}>"
        )

    async def validate(
        self, astore: AsyncStore, token: str | Secret[str], user: str | None = None
    ) -> TokenCheck:
        """What the backends call: :meth:`check` on the store's worker
        thread, or, for a token that is neither a development token nor a
        JWT, introspection when configured (in this task, not on the store's
        thread; only the account lookup goes there)."""
        value = token.expose() if isinstance(token, Secret) else token
        if (
            self.introspection is None
            or value.startswith(TOKEN_PREFIX)
            or (self.jwt is not None and JWTValidator.looks_like_jwt(value))
        ):
            return await astore.call(self.check, value, user)
        from ..oauth import OAuthError

        try:
            answer = await self.introspection.introspect(Secret(value))
        except OAuthError as exc:
            # Fail closed: a provider we cannot ask accepts nobody.
            return self._refuse(f"introspection failed: {exc}")
        if not answer.active:
            return self._refuse("introspection: the token is not active")
        name = answer.account
        if name is None:
            return self._refuse("introspection names no user")
        account = await astore.call(self.store.account, name)
        if account is None:
            return self._refuse("introspected token for an unknown account")
        identity = account.address
        if user is not None and user.casefold() != identity.casefold():
            return self._refuse("the token belongs to another user")
        return TokenCheck(valid=True, identity=identity, expires_at=answer.expires_at)

    def check(self, token: str | Secret[str], user: str | None = None) -> TokenCheck:
        """Development tokens and JWTs (no network: safe on the store's thread)."""
        value = token.expose() if isinstance(token, Secret) else token
        if value.startswith(TOKEN_PREFIX):
            found = self.store.validate_token(Secret(value))
            if found is None:
                return self._refuse("unknown or expired development token")
            identity, expires_at = found[0].address, found[1]
        elif self.jwt is not None and JWTValidator.looks_like_jwt(value):
            try:
                claims = self.jwt.validate(Secret(value))
            except InvalidToken as exc:
                return self._refuse(f"JWT refused: {exc}")
            account = self.store.account(claims.identity)
            if account is None:
                return self._refuse("JWT for an unknown account")
            identity, expires_at = account.address, claims.expires_at
        else:
            return self._refuse("not a token this server knows")
        if user is not None and user.casefold() != identity.casefold():
            return self._refuse("the token belongs to another user")
        return TokenCheck(valid=True, identity=identity, expires_at=expires_at)

    @staticmethod
    def _refuse(reason: str) -> TokenCheck:
        _log.info("bearer token refused: %s", reason)
        return TokenCheck(valid=False, reason=reason)
