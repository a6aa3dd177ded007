"""The token manager: a live access token per account, refreshed ahead of
expiry with one refresh in flight per account, the rotated refresh token
stored (durably) before the new access token is handed out, ``invalid_grant``
turned into :class:`AuthorizationNeeded`, and transient failures retried
with exponential backoff and jitter; plus the two authorization flows that
create an account's tokens (device and PKCE)."""

from __future__ import annotations

import hashlib
import logging
import random
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import anyio.abc
import h11

from ..wire._secret import Secret
from ._errors import (
    AuthorizationNeeded,
    ExpiredToken,
    InvalidGrant,
    OAuthError,
    TransientError,
)
from ._flows import (
    AccessToken,
    AuthorizationRequest,
    DeviceAuthorization,
    DevicePoll,
    OAuthProvider,
    TokenResponse,
    authorization_code_request,
    device_authorization_request,
    device_token_request,
    parse_device_authorization,
    parse_token_response,
    refresh_request,
)
from ._http import HTTPTransport
from ._storage import StoredTokens, TokenStorage

__all__ = ["TokenManager", "authorize_device", "authorize_pkce"]

_log = logging.getLogger("protokit.oauth")

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Account:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    token: AccessToken | None = None
    # sha256 of a refresh token the provider refused: not sent again (a new
    # authorization stores a different one).
    refused: bytes | None = None
    # Tokens from a refresh whose save failed, kept until a save succeeds.
    unsaved: StoredTokens | None = None
    # sha256 of an access token the caller said was refused (see forget): a
    # copy still stored from before is not handed out again.
    rejected: bytes | None = None


def _fingerprint(token: Secret[str]) -> bytes:
    return hashlib.sha256(token.expose().encode("utf-8", "surrogatepass")).digest()


class TokenManager:
    """Access tokens for accounts whose refresh tokens live in ``storage``.

    ``provider`` is one registration for every account or a mapping from
    account to registration.  ``refresh_margin`` seconds before expiry a
    token counts as expired.  A transient failure is retried up to
    ``max_attempts`` times in all, waiting ``backoff_base * 2**n`` seconds
    (at most ``backoff_max``, or the server's Retry-After if larger but
    still at most ``backoff_max``) with jitter.
    """

    def __init__(
        self,
        provider: OAuthProvider | Mapping[str, OAuthProvider],
        storage: TokenStorage,
        *,
        transport: HTTPTransport | None = None,
        refresh_margin: float = 60.0,
        clock: Clock = _utcnow,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        sleep: Sleep | None = None,
        default_lifetime: int = 3600,
    ) -> None:
        self.provider = provider
        self.storage = storage
        self.transport = transport if transport is not None else HTTPTransport()
        self.refresh_margin = timedelta(seconds=refresh_margin)
        self.clock = clock
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self.default_lifetime = default_lifetime
        self._accounts: dict[str, _Account] = {}

    def __repr__(self) -> str:
        return f"<TokenManager storage={self.storage!r} accounts={sorted(self._accounts)}>"

    def provider_for(self, account: str) -> OAuthProvider:
        if isinstance(self.provider, OAuthProvider):
            return self.provider
        try:
            return self.provider[account]
        except KeyError:
            raise AuthorizationNeeded(account, "no provider is configured for it") from None

    async def unlock(self, account: str, password: Secret[str]) -> bool:
        """Check the account's local password by decrypting its tokens (in a
        worker thread); on success the manager can read and save them.
        Raises :class:`AuthorizationNeeded` when nothing is stored."""
        return await anyio.to_thread.run_sync(self.storage.unlock, account, password)

    def forget(self, account: str, token: AccessToken | None = None) -> None:
        """Drop the cached access token, e.g. one a server refused: the next
        call refreshes (the stored refresh token is kept; the stored copy of
        the dropped access token is not used again).  With ``token``, only
        that token is dropped: one another task already replaced stays."""
        state = self._accounts.get(account)
        if state is None:
            return
        dropped = state.token if token is None else token
        if dropped is not None:
            state.rejected = _fingerprint(dropped.token)
        if token is None or (state.token is not None and state.token.token == token.token):
            state.token = None

    async def access_token(self, account: str) -> AccessToken:
        """A token valid for more than ``refresh_margin``: the cached one, or
        a refreshed one.  However many tasks call at once, one refresh runs;
        the others wait for it and get its result."""
        state = self._accounts.get(account)
        if state is None:
            state = self._accounts[account] = _Account()
        current = state.token
        if current is not None and not current.expires_within(self.refresh_margin, self.clock()):
            return current
        async with state.lock:
            current = state.token
            if current is not None and not current.expires_within(
                self.refresh_margin, self.clock()
            ):
                return current
            state.token = await self._refresh(account, state)
            return state.token

    async def _refresh(self, account: str, state: _Account) -> AccessToken:
        if state.unsaved is not None:
            # The last refresh could not be saved: save it now (or fail again),
            # since the provider may already have retired the stored token.
            await anyio.to_thread.run_sync(self.storage.save, account, state.unsaved)
            stored, state.unsaved = state.unsaved, None
        else:
            stored = await anyio.to_thread.run_sync(self.storage.load, account)
        now = self.clock()
        if (
            stored.access_token is not None
            and stored.expires_at is not None
            and stored.expires_at - self.refresh_margin > now
            and _fingerprint(stored.access_token) != state.rejected
        ):
            # Still good from an earlier run (e.g. before a restart).
            return AccessToken(
                token=stored.access_token, expires_at=stored.expires_at, scope=stored.scope
            )
        if stored.refresh_token is None:
            raise AuthorizationNeeded(account, "no refresh token is stored for it")
        fingerprint = _fingerprint(stored.refresh_token)
        if state.refused == fingerprint:
            raise AuthorizationNeeded(account, "the provider refused its refresh token")
        provider = self.provider_for(account)
        try:
            answer = await self._request_with_retries(account, provider, stored.refresh_token)
        except AuthorizationNeeded:
            state.refused = fingerprint
            raise
        access = answer.access(self.clock(), default_lifetime=self.default_lifetime)
        # Store the rotated refresh token (or keep the old one) before anyone
        # sees the new access token: a crash now must not lose the grant.
        refresh = (
            answer.refresh_token if answer.refresh_token is not None else stored.refresh_token
        )
        tokens = StoredTokens(
            refresh_token=refresh,
            access_token=access.token,
            expires_at=access.expires_at,
            scope=access.scope or stored.scope,
        )
        try:
            await anyio.to_thread.run_sync(self.storage.save, account, tokens)
        except BaseException:
            # Nobody gets the access token; the next call retries the save.
            state.unsaved = tokens
            raise
        _log.info(
            "account=%s refreshed access token, expires_at=%s rotated=%s",
            account,
            access.expires_at.isoformat(timespec="seconds"),
            answer.refresh_token is not None,
        )
        return access

    async def _request_with_retries(
        self, account: str, provider: OAuthProvider, refresh_token: Secret[str]
    ) -> TokenResponse:
        request = refresh_request(provider, refresh_token)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.transport.send(request)
                return parse_token_response(response.status, response.headers, response.body)
            except InvalidGrant as exc:
                _log.warning(
                    "account=%s authorization needed (%s): run protokit proxy authorize %s",
                    account,
                    exc.error,
                    account,
                )
                raise AuthorizationNeeded(account, f"the provider said {exc.error}") from None
            except TransientError as exc:
                if attempt >= self.max_attempts:
                    _log.warning(
                        "account=%s token refresh failed %d times: %s", account, attempt, exc
                    )
                    raise
                delay = self._backoff(attempt, exc.retry_after)
                _log.info(
                    "account=%s token refresh failed (%s), retrying in %.2f s", account, exc, delay
                )
                await self._pause(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential with "equal jitter": half fixed, half random."""
        base = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay: float = base / 2 + random.uniform(0, base / 2)  # jitter, not a secret
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    async def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            await anyio.sleep(seconds)


# -- authorization flows -----------------------------------------------------------


def _print_device(device: DeviceAuthorization) -> None:
    if device.verification_uri_complete:
        print(
            f"Open {device.verification_uri_complete} (code {device.user_code})", file=sys.stderr
        )
    else:
        print(
            f"Open {device.verification_uri} and enter the code {device.user_code}",
            file=sys.stderr,
        )


async def _store(
    storage: TokenStorage,
    account: str,
    password: Secret[str],
    answer: TokenResponse,
    now: datetime,
) -> AccessToken:
    if answer.refresh_token is None:
        raise OAuthError(
            "invalid_response", "the provider issued no refresh token (ask for offline access)"
        )
    access = answer.access(now)
    tokens = StoredTokens(
        refresh_token=answer.refresh_token,
        access_token=access.token,
        expires_at=access.expires_at,
        scope=access.scope,
    )
    await anyio.to_thread.run_sync(storage.create, account, password, tokens)
    _log.info("account=%s authorized, tokens stored in %s", account, storage.path(account))
    return access


async def authorize_device(
    provider: OAuthProvider,
    storage: TokenStorage,
    account: str,
    password: Secret[str],
    *,
    transport: HTTPTransport | None = None,
    prompt: Callable[[DeviceAuthorization], None] = _print_device,
    sleep: Sleep | None = None,
    clock: Clock = _utcnow,
) -> AccessToken:
    """Run the device flow (RFC 8628) once: show the user code with
    ``prompt``, poll until the user approves, then store the tokens under
    ``password``.  Raises :class:`AccessDenied` or :class:`ExpiredToken`."""
    transport = transport if transport is not None else HTTPTransport()
    response = await transport.send(device_authorization_request(provider))
    device = parse_device_authorization(response.status, response.headers, response.body)
    prompt(device)
    poll = DevicePoll(device, started=0.0)
    request = device_token_request(provider, device)
    waited = 0.0
    while True:
        await (sleep or anyio.sleep)(poll.interval)
        waited += poll.interval
        if poll.expired(waited):
            raise ExpiredToken("expired_token", "the user did not approve in time")
        response = await transport.send(request)
        answer = poll.handle(response.status, response.headers, response.body)
        if answer is not None:
            return await _store(storage, account, password, answer, clock())


_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>protokit</title></head>"
    "<body><p>{}</p></body></html>"
)


async def authorize_pkce(
    provider: OAuthProvider,
    storage: TokenStorage,
    account: str,
    password: Secret[str],
    *,
    transport: HTTPTransport | None = None,
    show_url: Callable[[str], None] | None = None,
    path: str = "/callback",
    timeout: float = 300.0,
    clock: Clock = _utcnow,
) -> AccessToken:
    """Run the authorization code flow with PKCE once: listen on
    ``127.0.0.1`` (a random port) for the redirect (RFC 8252 section 7.3),
    hand the URL to open to ``show_url`` (default: print it), exchange the
    code, store the tokens under ``password``.  Within ``timeout`` seconds."""
    transport = transport if transport is not None else HTTPTransport()
    listeners = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = listeners.listeners[0]
    assert isinstance(listener, anyio.abc.SocketListener)
    async with listeners:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        authorization = AuthorizationRequest.create(provider, f"http://127.0.0.1:{port}{path}")
        if show_url is None:
            print(
                f"Open this URL in a browser to authorize {account}:\n{authorization.url}",
                file=sys.stderr,
            )
        else:
            show_url(authorization.url)
        with anyio.fail_after(timeout):
            code = await _wait_for_redirect(listener, authorization, path)
    response = await transport.send(authorization_code_request(provider, authorization, code))
    answer = parse_token_response(response.status, response.headers, response.body)
    return await _store(storage, account, password, answer, clock())


async def _wait_for_redirect(
    listener: anyio.abc.SocketListener, authorization: AuthorizationRequest, path: str
) -> Secret[str]:
    """Answer browser requests until one reaches ``path``; its query gives
    the code (or the error, raised after the browser got a page)."""
    while True:
        stream = await listener.accept()  # one browser request at a time is enough
        async with stream:
            target = await _read_target(stream)
            if target is None or target.split("?", 1)[0] != path:
                await _answer(stream, 404, "Not found.")
                continue
            try:
                code = authorization.parse_redirect(target)
            except OAuthError as exc:
                await _answer(
                    stream, 400, f"Authorization failed: {exc.error}. You can close this window."
                )
                raise
            await _answer(stream, 200, "Authorization received. You can close this window.")
            return code


async def _read_target(stream: anyio.abc.ByteStream) -> str | None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
    with anyio.move_on_after(10):
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return None
            if event is h11.NEED_DATA:
                try:
                    conn.receive_data(await stream.receive(65536))
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    conn.receive_data(b"")
                continue
            if isinstance(event, h11.Request):
                return event.target.decode("ascii", "replace") if event.method == b"GET" else None
            return None
    return None


async def _answer(stream: anyio.abc.ByteStream, status: int, text: str) -> None:
    body = _PAGE.format(text).encode()
    head = (
        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        await stream.send(head.encode() + body)
    except (anyio.BrokenResourceError, OSError):
        pass
