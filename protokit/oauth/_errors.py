"""The OAuth error family: what the provider said (RFC 6749 section 5.2,
RFC 8628 section 3.5), what went wrong on the way, and what a user must do.
Messages carry the error code and the provider's description, never a token,
code, verifier or client secret."""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthorizationNeeded",
    "AuthorizationPending",
    "ExpiredToken",
    "InvalidGrant",
    "InvalidResponse",
    "OAuthError",
    "SlowDown",
    "TransientError",
    "TransportFailure",
]

_MAX_DESCRIPTION = 300


def _clean(text: str) -> str:
    """A provider's text made safe for one log line: printable, bounded."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= _MAX_DESCRIPTION else text[:_MAX_DESCRIPTION] + "..."


class OAuthError(Exception):
    """An OAuth failure: ``error`` is the RFC 6749 error code (or one of ours:
    ``invalid_response``, ``transport``), ``description`` the provider's
    ``error_description`` or ours, ``status`` the HTTP status when there was one."""

    def __init__(self, error: str, description: str = "", *, status: int | None = None) -> None:
        self.error = _clean(error)
        self.description = _clean(description)
        self.status = status
        super().__init__(self._message())

    def _message(self) -> str:
        text = self.error
        if self.description:
            text += f": {self.description}"
        if self.status is not None:
            text += f" (HTTP {self.status})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.error!r}, {self.description!r}, status={self.status!r})"
        )


class InvalidGrant(OAuthError):
    """The grant (refresh token, code, device code) is no longer valid: the
    user has to authorize again; retrying will not help."""


class InvalidResponse(OAuthError):
    """The provider's answer is not what the RFC allows (bad JSON, no
    ``access_token``, a token type other than Bearer, a bad ``expires_in``)."""

    def __init__(self, description: str, *, status: int | None = None) -> None:
        super().__init__("invalid_response", description, status=status)


class TransientError(OAuthError):
    """A failure worth retrying later: HTTP 5xx or 429, a timeout, a refused
    or reset connection.  ``retry_after`` is the server's Retry-After in
    seconds, when it sent one."""

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(error, description, status=status)


class TransportFailure(OAuthError):
    """The HTTP exchange failed in a way retrying will not fix: TLS
    verification, a redirect, an oversize answer, a plain-http URL off loopback."""

    def __init__(self, description: str) -> None:
        super().__init__("transport", description)


class AuthorizationPending(OAuthError):
    """RFC 8628 section 3.5: the user has not finished yet; poll again."""


class SlowDown(OAuthError):
    """RFC 8628 section 3.5: poll again, 5 seconds slower."""


class AccessDenied(OAuthError):
    """The user (or the provider) refused the authorization."""


class ExpiredToken(OAuthError):
    """RFC 8628 section 3.5: the device code expired before the user finished."""


class AuthorizationNeeded(Exception):
    """The account has no usable grant: the user must authorize it again with
    ``protokit proxy authorize ACCOUNT``.  ``cause`` says why, without secrets."""

    def __init__(
        self, account: str, reason: str = "the provider refused the refresh token"
    ) -> None:
        self.account = account
        self.reason = reason
        self.command = f"protokit proxy authorize {account}"
        super().__init__(f"account {account}: {reason}; run: {self.command}")
