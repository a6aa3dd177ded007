"""The OAuth 2.0 flows, sans-IO: request builders return an :class:`HTTPRequest`
and response parsers take ``(status, headers, body)``.  Standard library only.

Refresh (RFC 6749 section 6), authorization code with PKCE (RFC 7636) and a
loopback redirect (RFC 8252 section 7.3), device authorization (RFC 8628),
client credentials (RFC 6749 section 4.4) and token introspection (RFC 7662).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import math
import secrets
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from ..wire._secret import Secret
from ._errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidResponse,
    OAuthError,
    SlowDown,
    TransientError,
)

__all__ = [
    "DEVICE_CODE_GRANT",
    "MAX_EXPIRES_IN",
    "AccessToken",
    "AuthorizationRequest",
    "ClientAuth",
    "DeviceAuthorization",
    "DevicePoll",
    "HTTPRequest",
    "HTTPResponse",
    "Introspection",
    "OAuthProvider",
    "TokenResponse",
    "authorization_code_request",
    "client_credentials_request",
    "device_authorization_request",
    "device_token_request",
    "introspection_request",
    "parse_device_authorization",
    "parse_introspection",
    "parse_token_response",
    "pkce_pair",
    "refresh_request",
]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: The longest lifetime we believe (one year); a larger ``expires_in`` is capped.
MAX_EXPIRES_IN = 365 * 86400
_FORM = "application/x-www-form-urlencoded"

ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]

Headers = Iterable[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthProvider:
    """A client's registration at a provider: endpoints, client id and
    secret, how the client authenticates and the scopes it asks for."""

    token_url: str
    client_id: str
    client_secret: Secret[str] | None = None
    client_auth: ClientAuth = "client_secret_basic"
    scopes: tuple[str, ...] = ()
    authorize_url: str | None = None
    device_url: str | None = None
    introspect_url: str | None = None

    def __post_init__(self) -> None:
        if self.client_auth != "none" and self.client_secret is None:
            object.__setattr__(self, "client_auth", "none")

    @property
    def scope(self) -> str | None:
        return " ".join(self.scopes) if self.scopes else None


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """One HTTP request to send.  Its repr shows no header value and no body
    (they carry client secrets, tokens and codes)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        size = len(self.body)
        return f"HTTPRequest({self.method} {self.url}, headers=[{names}], body={size} bytes)"


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """An HTTP response: status, headers (names lower-cased) and the whole body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    """An access token ready to use: ``expires_at`` is aware UTC."""

    token: Secret[str]
    expires_at: datetime
    token_type: str = "Bearer"  # noqa: S105 (the scheme, not a secret)
    scope: str | None = None

    def expires_within(self, margin: timedelta, now: datetime) -> bool:
        return self.expires_at - margin <= now


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenResponse:
    """A successful token response (RFC 6749 section 5.1)."""

    access_token: Secret[str]
    token_type: str
    expires_in: int | None
    refresh_token: Secret[str] | None
    scope: str | None

    def access(self, now: datetime, *, default_lifetime: int = 3600) -> AccessToken:
        """The access token with its absolute expiry (``default_lifetime``
        seconds when the provider did not say)."""
        lifetime = self.expires_in if self.expires_in is not None else default_lifetime
        return AccessToken(
            token=self.access_token,
            expires_at=now + timedelta(seconds=lifetime),
            token_type=self.token_type,
            scope=self.scope,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceAuthorization:
    """RFC 8628 section 3.2: what to show the user and how to poll."""

    device_code: Secret[str]
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Introspection:
    """RFC 7662 section 2.2.  ``active`` is true only for a JSON ``true``."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    username: str | None = None
    sub: str | None = None
    email: str | None = None
    token_type: str | None = None
    expires_at: datetime | None = None
    issued_at: datetime | None = None

    @property
    def account(self) -> str | None:
        """The user the token is for: ``username``, else ``sub``, else ``email``."""
        return self.username or self.sub or self.email


# -- shared pieces -----------------------------------------------------------


def _form_quote(text: str) -> str:
    """application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 and
    appendix B require for the Basic credentials and the body alike."""
    return urllib.parse.quote_plus(text, safe="")


def _encode_form(fields: Iterable[tuple[str, str]]) -> bytes:
    return "&".join(f"{_form_quote(k)}={_form_quote(v)}" for k, v in fields).encode("ascii")


def _post(provider: OAuthProvider, url: str, fields: list[tuple[str, str]]) -> HTTPRequest:
    """A form POST authenticated as the client (RFC 6749 section 2.3.1)."""
    headers = [("Content-Type", _FORM), ("Accept", "application/json")]
    secret = provider.client_secret
    if provider.client_auth == "client_secret_basic" and secret is not None:
        pair = f"{_form_quote(provider.client_id)}:{_form_quote(secret.expose())}"
        headers.append(
            ("Authorization", "Basic " + base64.b64encode(pair.encode()).decode("ascii"))
        )
    elif provider.client_auth == "client_secret_post" and secret is not None:
        fields = [*fields, ("client_id", provider.client_id), ("client_secret", secret.expose())]
    else:
        fields = [*fields, ("client_id", provider.client_id)]
    return HTTPRequest("POST", url, tuple(headers), _encode_form(fields))


def _header(headers: Headers, name: str) -> str | None:
    items = headers.items() if isinstance(headers, Mapping) else headers
    name = name.lower()
    for key, value in items:
        if key.lower() == name:
            return value
    return None


def _retry_after(headers: Headers, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110 section 10.2.3: delay or HTTP-date)."""
    value = _header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(delta, 86400.0))


def _json_object(status: int, body: bytes) -> dict[str, object]:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidResponse("the body is not JSON", status=status) from None
    if not isinstance(value, dict):
        raise InvalidResponse("the body is not a JSON object", status=status)
    return value


_ERRORS: dict[str, type[OAuthError]] = {
    "invalid_grant": InvalidGrant,
    "authorization_pending": AuthorizationPending,
    "slow_down": SlowDown,
    "access_denied": AccessDenied,
    "expired_token": ExpiredToken,
}


def _check_status(status: int, headers: Headers, body: bytes) -> dict[str, object]:
    """The JSON object of a 200 answer; anything else raises the right error."""
    if status == 200:
        return _json_object(status, body)
    if 300 <= status < 400:
        raise InvalidResponse(
            f"redirect to {_header(headers, 'location')!r} not followed", status=status
        )
    if status >= 500 or status == 429:
        description = ""
        try:
            obj = _json_object(status, body)
            description = str(obj.get("error_description") or obj.get("error") or "")
        except InvalidResponse:
            pass
        raise TransientError(
            "temporarily_unavailable",
            description or "the server is unavailable",
            status=status,
            retry_after=_retry_after(headers),
        )
    try:
        obj = _json_object(status, body)
    except InvalidResponse:
        raise InvalidResponse(
            f"HTTP {status} without an OAuth error body", status=status
        ) from None
    error = obj.get("error")
    if not isinstance(error, str) or not error:
        raise InvalidResponse(f"HTTP {status} without an OAuth error code", status=status)
    text = obj.get("error_description")
    desc = text if isinstance(text, str) else ""
    raise _ERRORS.get(error, OAuthError)(error, desc, status=status)


def _optional_str(obj: Mapping[str, object], key: str, status: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResponse(f"{key} is not a string", status=status)
    return value


def _lifetime(obj: Mapping[str, object], key: str, status: int) -> int | None:
    """A lifetime in seconds: a non-negative integer (a digit string is
    tolerated, as some providers send one), capped at :data:`MAX_EXPIRES_IN`."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidResponse(f"{key} is not an integer", status=status)
    if value < 0:
        raise InvalidResponse(f"{key} is negative", status=status)
    return min(value, MAX_EXPIRES_IN)


# -- token responses -----------------------------------------------------------


def parse_token_response(status: int, headers: Headers, body: bytes) -> TokenResponse:
    """Parse a token endpoint's answer (RFC 6749 sections 5.1 and 5.2).

    Raises :class:`InvalidGrant` (authorize again), :class:`TransientError`
    (5xx, 429: retry later), :class:`InvalidResponse` (malformed) or another
    :class:`OAuthError`.
    """
    obj = _check_status(status, headers, body)
    token = obj.get("access_token")
    if not isinstance(token, str) or not token:
        raise InvalidResponse("no access_token", status=status)
    token_type = obj.get("token_type")
    if not isinstance(token_type, str):
        raise InvalidResponse("no token_type", status=status)
    if token_type.lower() != "bearer":  # RFC 6749 section 7.1: case-insensitive
        raise InvalidResponse(f"token_type {token_type[:40]!r} is not Bearer", status=status)
    refresh = obj.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise InvalidResponse("refresh_token is not a string", status=status)
    return TokenResponse(
        access_token=Secret(token),
        token_type="Bearer",  # noqa: S106 (the scheme, not a secret)
        expires_in=_lifetime(obj, "expires_in", status),
        refresh_token=Secret(refresh) if isinstance(refresh, str) else None,
        scope=_optional_str(obj, "scope", status),
    )


def refresh_request(
    provider: OAuthProvider, refresh_token: Secret[str], *, scope: str | None = None
) -> HTTPRequest:
    """RFC 6749 section 6: exchange a refresh token for a new access token."""
    fields = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose())]
    if scope is not None:
        fields.append(("scope", scope))
    return _post(provider, provider.token_url, fields)


def client_credentials_request(
    provider: OAuthProvider, *, scope: str | None = None
) -> HTTPRequest:
    """RFC 6749 section 4.4.2: a token for the client itself."""
    fields = [("grant_type", "client_credentials")]
    scope = scope if scope is not None else provider.scope
    if scope is not None:
        fields.append(("scope", scope))
    return _post(provider, provider.token_url, fields)


# -- authorization code with PKCE ------------------------------------------------


def pkce_pair() -> tuple[Secret[str], str]:
    """RFC 7636 section 4.1-4.2: a 43-character verifier (32 random octets,
    base64url) and its S256 challenge."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return Secret(verifier), _s256(verifier)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One authorization code attempt: the URL for the user's browser and
    what the redirect and the code exchange are checked against."""

    url: str = field(repr=False)  # carries the state
    redirect_uri: str
    state: Secret[str]
    verifier: Secret[str]

    @classmethod
    def create(
        cls,
        provider: OAuthProvider,
        redirect_uri: str,
        *,
        scope: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> AuthorizationRequest:
        """RFC 6749 section 4.1.1 with RFC 7636 S256 and a random ``state``."""
        if provider.authorize_url is None:
            raise ValueError("the provider has no authorization endpoint")
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        query = [
            ("response_type", "code"),
            ("client_id", provider.client_id),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
        scope = scope if scope is not None else provider.scope
        if scope is not None:
            query.append(("scope", scope))
        query.extend((extra or {}).items())
        sep = "&" if urllib.parse.urlsplit(provider.authorize_url).query else "?"
        url = provider.authorize_url + sep + _encode_form(query).decode("ascii")
        return cls(url, redirect_uri, Secret(state), verifier)

    def parse_redirect(self, target: str) -> Secret[str]:
        """The code from the redirect's request target (``/path?code=..&state=..``).

        The ``state`` must match (RFC 6749 section 10.12); an ``error``
        parameter raises the matching :class:`OAuthError`.
        """
        query = urllib.parse.urlsplit(target).query
        try:
            pairs = urllib.parse.parse_qsl(
                query, keep_blank_values=True, strict_parsing=bool(query)
            )
        except ValueError:
            raise InvalidResponse("the redirect's query is malformed") from None
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                raise InvalidResponse(f"the redirect repeats {key[:40]!r}")
            params[key] = value
        state = params.get("state")
        if state is None or not secrets.compare_digest(
            state.encode(), self.state.expose().encode()
        ):
            raise InvalidResponse("the redirect's state does not match (a forged redirect?)")
        if "error" in params:
            error = params["error"]
            raise _ERRORS.get(error, OAuthError)(error, params.get("error_description", ""))
        code = params.get("code")
        if not code:
            raise InvalidResponse("the redirect has no code")
        return Secret(code)


def authorization_code_request(
    provider: OAuthProvider, authorization: AuthorizationRequest, code: Secret[str]
) -> HTTPRequest:
    """RFC 6749 section 4.1.3 with the RFC 7636 ``code_verifier``."""
    return _post(
        provider,
        provider.token_url,
        [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", authorization.redirect_uri),
            ("code_verifier", authorization.verifier.expose()),
        ],
    )


# -- device authorization (RFC 8628) -------------------------------------------------


def device_authorization_request(
    provider: OAuthProvider, *, scope: str | None = None
) -> HTTPRequest:
    """RFC 8628 section 3.1."""
    if provider.device_url is None:
        raise ValueError("the provider has no device authorization endpoint")
    scope = scope if scope is not None else provider.scope
    fields = [("scope", scope)] if scope is not None else []
    return _post(provider, provider.device_url, fields)


def parse_device_authorization(status: int, headers: Headers, body: bytes) -> DeviceAuthorization:
    """RFC 8628 section 3.2; ``interval`` defaults to 5 seconds."""
    obj = _check_status(status, headers, body)
    device_code = obj.get("device_code")
    user_code = obj.get("user_code")
    # "verification_url" is the pre-RFC spelling some providers still send.
    uri = obj.get("verification_uri", obj.get("verification_url"))
    if not isinstance(device_code, str) or not device_code:
        raise InvalidResponse("no device_code", status=status)
    if not isinstance(user_code, str) or not user_code:
        raise InvalidResponse("no user_code", status=status)
    if not isinstance(uri, str) or not uri:
        raise InvalidResponse("no verification_uri", status=status)
    expires_in = _lifetime(obj, "expires_in", status)
    if expires_in is None:
        raise InvalidResponse("no expires_in", status=status)
    interval = _lifetime(obj, "interval", status)
    return DeviceAuthorization(
        device_code=Secret(device_code),
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=_optional_str(obj, "verification_uri_complete", status),
        expires_in=expires_in,
        interval=max(1, min(interval, 300)) if interval is not None else 5,
    )


def device_token_request(provider: OAuthProvider, device: DeviceAuthorization) -> HTTPRequest:
    """RFC 8628 section 3.4."""
    return _post(
        provider,
        provider.token_url,
        [("grant_type", DEVICE_CODE_GRANT), ("device_code", device.device_code.expose())],
    )


@dataclass(slots=True)
class DevicePoll:
    """The polling loop of RFC 8628 section 3.5 as a state machine: wait
    ``interval`` seconds, send :func:`device_token_request`, feed the answer
    to :meth:`handle`; ``None`` means poll again (``interval`` may have grown
    by 5 s after ``slow_down``), a :class:`TokenResponse` means done;
    ``access_denied`` and ``expired_token`` raise.  ``deadline`` (monotonic
    seconds) comes from ``expires_in``."""

    device: DeviceAuthorization
    started: float
    interval: int = 0
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.interval = self.device.interval
        self.deadline = self.started + self.device.expires_in

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def handle(self, status: int, headers: Headers, body: bytes) -> TokenResponse | None:
        try:
            return parse_token_response(status, headers, body)
        except AuthorizationPending:
            return None
        except SlowDown:
            self.interval += 5
            return None


# -- introspection (RFC 7662) ----------------------------------------------------


def introspection_request(
    provider: OAuthProvider,
    token: Secret[str],
    *,
    token_type_hint: str | None = "access_token",  # noqa: S107
) -> HTTPRequest:
    """RFC 7662 section 2.1, authenticated as the resource server's client."""
    if provider.introspect_url is None:
        raise ValueError("the provider has no introspection endpoint")
    fields = [("token", token.expose())]
    if token_type_hint is not None:
        fields.append(("token_type_hint", token_type_hint))
    return _post(provider, provider.introspect_url, fields)


def _timestamp(obj: Mapping[str, object], key: str, status: int) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidResponse(f"{key} is not a number", status=status)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidResponse(f"{key} is out of range", status=status) from None


def parse_introspection(status: int, headers: Headers, body: bytes) -> Introspection:
    """RFC 7662 section 2.2.  Only a JSON ``true`` makes a token active (not
    ``"true"``, not ``1``); an inactive answer carries nothing else."""
    obj = _check_status(status, headers, body)
    if "active" not in obj:
        raise InvalidResponse("no active member", status=status)
    if obj["active"] is not True:
        return Introspection(active=False)
    return Introspection(
        active=True,
        scope=_optional_str(obj, "scope", status),
        client_id=_optional_str(obj, "client_id", status),
        username=_optional_str(obj, "username", status),
        sub=_optional_str(obj, "sub", status),
        email=_optional_str(obj, "email", status),
        token_type=_optional_str(obj, "token_type", status),
        expires_at=_timestamp(obj, "exp", status),
        issued_at=_timestamp(obj, "iat", status),
    )
