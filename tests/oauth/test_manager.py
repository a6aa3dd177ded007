"""The token manager against the fake provider: caching, one refresh in
flight, rotation stored before use, invalid_grant, backoff; the device and
PKCE flows end to end."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from protokit.oauth import (
    AccessDenied,
    AccessToken,
    AccountLocked,
    AuthorizationNeeded,
    DeviceAuthorization,
    ExpiredToken,
    HTTPTransport,
    OAuthProvider,
    StoredTokens,
    TokenManager,
    TokenStorage,
    TransientError,
    authorize_device,
    authorize_pkce,
)
from protokit.wire import Secret
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Grant,
    Provider,
    oauth_provider,
)

ACCOUNT = "alice@example.com"
PASSWORD = Secret("local-password")


def config(provider: Provider) -> OAuthProvider:
    return OAuthProvider(
        token_url=provider.token_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=Secret(DEFAULT_CLIENT_SECRET),
        authorize_url=provider.authorize_url,
        device_url=provider.device_url,
        scopes=("mail",),
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    provider: Provider
    grant: Grant
    storage: TokenStorage
    manager: TokenManager
    clock: Clock
    sleeps: list[float]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with oauth_provider(rotate=True) as provider:
        grant = provider.issue(ACCOUNT)
        assert grant.refresh_token is not None
        storage = TokenStorage(tmp_path, scrypt_n=2**10)
        storage.create(ACCOUNT, PASSWORD, StoredTokens(refresh_token=Secret(grant.refresh_token)))
        clock = Clock()
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        manager = TokenManager(
            config(provider),
            storage,
            transport=HTTPTransport(timeout=10),
            clock=clock,
            backoff_base=1.0,
            backoff_max=8.0,
            sleep=sleep,
        )
        yield Setup(provider, grant, storage, manager, clock, sleeps)


def stored(setup: Setup, tmp_path: Path) -> StoredTokens:
    """What is on disk, read by a fresh storage (as another process would)."""
    fresh = TokenStorage(tmp_path, scrypt_n=2**10)
    assert fresh.unlock(ACCOUNT, PASSWORD)
    return fresh.load(ACCOUNT)


async def test_refresh_then_cache(setup: Setup, tmp_path: Path) -> None:
    token = await setup.manager.access_token(ACCOUNT)
    assert setup.provider.token_requests == {"refresh_token": 1}
    assert setup.provider.is_active(token.token.expose())
    assert token.expires_at == setup.clock.now + timedelta(seconds=3600)
    assert (token.token_type, token.scope) == ("Bearer", "mail")
    assert await setup.manager.access_token(ACCOUNT) is token
    assert setup.provider.token_requests == {"refresh_token": 1}
    on_disk = stored(setup, tmp_path)
    assert on_disk.access_token == token.token
    assert on_disk.refresh_token == Secret(setup.provider.current_refresh_token(setup.grant) or "")


async def test_forget_a_refused_token_refreshes_and_keeps_the_refresh_token(
    setup: Setup, tmp_path: Path
) -> None:
    first = await setup.manager.access_token(ACCOUNT)
    setup.manager.forget(ACCOUNT, first)
    # The copy still stored (valid for an hour) is not handed out again.
    second = await setup.manager.access_token(ACCOUNT)
    assert second.token != first.token
    assert setup.provider.is_active(second.token.expose())
    assert setup.provider.token_requests == {"refresh_token": 2}
    on_disk = stored(setup, tmp_path)
    assert on_disk.access_token == second.token
    assert on_disk.refresh_token == Secret(setup.provider.current_refresh_token(setup.grant) or "")
    # Forgetting a token already replaced keeps the replacement.
    setup.manager.forget(ACCOUNT, first)
    assert await setup.manager.access_token(ACCOUNT) is second
    assert setup.provider.token_requests == {"refresh_token": 2}


async def test_refresh_ahead_of_expiry_by_the_margin(setup: Setup) -> None:
    first = await setup.manager.access_token(ACCOUNT)
    setup.clock.now += timedelta(seconds=3600 - 61)
    assert await setup.manager.access_token(ACCOUNT) is first
    setup.clock.now += timedelta(seconds=1)  # now exactly 60 s before expiry
    second = await setup.manager.access_token(ACCOUNT)
    assert second.token != first.token
    assert setup.provider.token_requests == {"refresh_token": 2}


async def test_twenty_concurrent_callers_cause_one_refresh(setup: Setup) -> None:
    setup.provider.delay_token_requests(0.3)
    results: list[AccessToken] = []

    async def caller() -> None:
        results.append(await setup.manager.access_token(ACCOUNT))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(caller)
    assert len(results) == 20
    assert all(r is results[0] for r in results)
    assert setup.provider.token_requests == {"refresh_token": 1}


async def test_rotated_token_is_stored_before_the_access_token_is_returned(
    setup: Setup, tmp_path: Path
) -> None:
    seen_at_save: list[tuple[str | None, str | None]] = []
    handed_out: list[AccessToken] = []
    real_save = setup.storage.save

    def save(account: str, tokens: StoredTokens) -> None:
        # At this moment the provider has rotated, nobody has the new token yet.
        assert handed_out == []
        assert tokens.refresh_token is not None
        seen_at_save.append(
            (tokens.refresh_token.expose(), setup.provider.current_refresh_token(setup.grant))
        )
        real_save(account, tokens)

    setup.storage.save = save  # type: ignore[method-assign]
    old = setup.grant.refresh_token
    handed_out.append(await setup.manager.access_token(ACCOUNT))
    new, current = seen_at_save[0]
    assert new == current and new != old
    assert stored(setup, tmp_path).refresh_token == Secret(current or "")


async def test_a_failed_save_hands_out_nothing_and_is_retried(
    setup: Setup, tmp_path: Path
) -> None:
    def broken_save(account: str, tokens: StoredTokens) -> None:
        raise OSError(28, "No space left on device")

    setup.storage.save = broken_save  # type: ignore[method-assign]
    for _ in range(2):
        with pytest.raises(OSError, match="No space left"):
            await setup.manager.access_token(ACCOUNT)
    assert setup.provider.token_requests == {"refresh_token": 1}
    del setup.storage.save  # the disk has room again
    token = await setup.manager.access_token(ACCOUNT)
    # The rotated token from the first refresh was kept in memory and is now
    # on disk; the access token it came with is the one handed out.
    assert setup.provider.token_requests == {"refresh_token": 1}
    assert setup.provider.is_active(token.token.expose())
    on_disk = stored(setup, tmp_path)
    assert on_disk.refresh_token == Secret(setup.provider.current_refresh_token(setup.grant) or "")
    assert on_disk.access_token == token.token


async def test_revoked_grant_needs_authorization(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.provider.revoke(setup.grant)
    with pytest.raises(AuthorizationNeeded) as info:
        await setup.manager.access_token(ACCOUNT)
    assert str(info.value) == (
        "account alice@example.com: the provider said invalid_grant;"
        " run: protokit proxy authorize alice@example.com"
    )
    assert info.value.account == ACCOUNT
    assert setup.provider.token_requests == {"refresh_token": 1}  # no retry loop
    assert "run protokit proxy authorize alice@example.com" in caplog.text
    assert (setup.grant.refresh_token or "?") not in caplog.text
    # The refused grant is not sent again, however many logins follow...
    for _ in range(3):
        with pytest.raises(AuthorizationNeeded, match="refused its refresh token; run: protokit"):
            await setup.manager.access_token(ACCOUNT)
    assert setup.provider.token_requests == {"refresh_token": 1}
    # ...until the account is authorized again (a new refresh token is stored).
    fresh = setup.provider.issue(ACCOUNT)
    setup.storage.save(ACCOUNT, StoredTokens(refresh_token=Secret(fresh.refresh_token or "")))
    token = await setup.manager.access_token(ACCOUNT)
    assert setup.provider.is_active(token.token.expose())
    assert setup.provider.token_requests == {"refresh_token": 2}


async def test_reuse_of_a_rotated_token_is_invalid_grant(setup: Setup, tmp_path: Path) -> None:
    old = setup.grant.refresh_token
    await setup.manager.access_token(ACCOUNT)
    assert old is not None
    setup.storage.save(ACCOUNT, StoredTokens(refresh_token=Secret(old)))  # a stale copy
    setup.manager.forget(ACCOUNT)
    with pytest.raises(AuthorizationNeeded):
        await setup.manager.access_token(ACCOUNT)


async def test_transient_errors_are_retried_with_backoff(setup: Setup) -> None:
    setup.provider.fail_next(3, status=503)
    token = await setup.manager.access_token(ACCOUNT)
    assert setup.provider.is_active(token.token.expose())
    assert setup.provider.token_requests == {"refresh_token": 4}
    assert len(setup.sleeps) == 3
    for n, delay in enumerate(setup.sleeps):  # equal jitter: [base/2, base], doubling
        assert 2**n / 2 <= delay <= 2**n


async def test_a_dropped_connection_is_retried(setup: Setup) -> None:
    setup.provider.fail_next(2, status=0)
    token = await setup.manager.access_token(ACCOUNT)
    assert setup.provider.is_active(token.token.expose())
    assert setup.provider.token_requests == {"refresh_token": 3}
    assert [e.error for e in setup.provider.entries()] == ["disconnected", "disconnected", None]


async def test_retry_after_is_honoured_within_the_bound(setup: Setup) -> None:
    setup.provider.fail_next(1, status=429, retry_after=5)
    setup.provider.fail_next(1, status=503, retry_after=3600)
    await setup.manager.access_token(ACCOUNT)
    assert setup.sleeps[0] == 5.0
    assert setup.sleeps[1] == 8.0  # backoff_max


async def test_transient_errors_give_up_after_max_attempts(setup: Setup) -> None:
    setup.provider.fail_next(10, status=502)
    with pytest.raises(TransientError) as info:
        await setup.manager.access_token(ACCOUNT)
    assert info.value.status == 502
    assert setup.provider.token_requests == {"refresh_token": 4}
    assert len(setup.sleeps) == 3


async def test_locked_account(setup: Setup) -> None:
    setup.storage.lock(ACCOUNT)
    with pytest.raises(AccountLocked):
        await setup.manager.access_token(ACCOUNT)
    assert await setup.manager.unlock(ACCOUNT, Secret("nope")) is False
    assert await setup.manager.unlock(ACCOUNT, PASSWORD) is True
    await setup.manager.access_token(ACCOUNT)
    with pytest.raises(AuthorizationNeeded, match="protokit proxy authorize bob"):
        await setup.manager.unlock("bob", PASSWORD)


async def test_stored_access_token_survives_a_restart(setup: Setup, tmp_path: Path) -> None:
    first = await setup.manager.access_token(ACCOUNT)
    storage = TokenStorage(tmp_path, scrypt_n=2**10)
    manager = TokenManager(
        config(setup.provider), storage, transport=HTTPTransport(timeout=10), clock=setup.clock
    )
    assert await manager.unlock(ACCOUNT, PASSWORD)
    again = await manager.access_token(ACCOUNT)
    assert again.token == first.token and again.expires_at == first.expires_at
    assert setup.provider.token_requests == {"refresh_token": 1}


async def test_no_provider_for_the_account(setup: Setup) -> None:
    manager = TokenManager({"bob": config(setup.provider)}, setup.storage, clock=setup.clock)
    with pytest.raises(AuthorizationNeeded, match="no provider is configured"):
        await manager.access_token(ACCOUNT)


# -- device flow -------------------------------------------------------------------


async def test_device_flow_end_to_end(tmp_path: Path) -> None:
    with oauth_provider() as provider:
        storage = TokenStorage(tmp_path, scrypt_n=2**10)
        prompts: list[DeviceAuthorization] = []
        sleeps: list[float] = []

        def prompt(device: DeviceAuthorization) -> None:
            prompts.append(device)
            provider.queue_device_errors(device.user_code, "authorization_pending", "slow_down")
            provider.approve(device.user_code, "bob@example.com")

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        token = await authorize_device(
            config(provider),
            storage,
            "bob",
            PASSWORD,
            transport=HTTPTransport(timeout=10),
            prompt=prompt,
            sleep=sleep,
        )
        assert prompts[0].verification_uri == f"{provider.base_url}/device"
        assert sleeps == [5, 5, 10]  # slow_down adds 5 s (RFC 8628 section 3.5)
        assert provider.token_requests == {"urn:ietf:params:oauth:grant-type:device_code": 3}
        grant = provider.grants()[-1]
        assert grant.user == "bob@example.com"
        fresh = TokenStorage(tmp_path, scrypt_n=2**10)
        assert fresh.unlock("bob", PASSWORD)
        tokens = fresh.load("bob")
        assert tokens.refresh_token == Secret(grant.refresh_token or "")
        assert tokens.access_token == token.token


@pytest.mark.parametrize(("action", "exc"), [("deny", AccessDenied), ("expire", ExpiredToken)])
async def test_device_flow_refused(tmp_path: Path, action: str, exc: type[Exception]) -> None:
    with oauth_provider() as provider:
        storage = TokenStorage(tmp_path, scrypt_n=2**10)

        def prompt(device: DeviceAuthorization) -> None:
            if action == "deny":
                provider.deny(device.user_code)
            else:
                provider.queue_device_errors(device.user_code, "expired_token")

        async def sleep(seconds: float) -> None:
            pass

        with pytest.raises(exc):
            await authorize_device(
                config(provider), storage, "bob", PASSWORD, prompt=prompt, sleep=sleep
            )
        assert not storage.exists("bob")


async def test_device_flow_gives_up_at_expires_in(tmp_path: Path) -> None:
    with oauth_provider(device_expires_in=12) as provider:
        polls: list[float] = []

        async def sleep(seconds: float) -> None:
            polls.append(seconds)

        with pytest.raises(ExpiredToken, match="did not approve in time"):
            await authorize_device(
                config(provider),
                TokenStorage(tmp_path),
                "bob",
                PASSWORD,
                prompt=lambda device: None,
                sleep=sleep,
            )
        assert polls == [5, 5, 5]
        assert provider.token_requests == {"urn:ietf:params:oauth:grant-type:device_code": 2}


# -- PKCE ---------------------------------------------------------------------------


class Browser:
    """Opens the printed URL in a thread, following the provider's redirect
    to the loopback listener, as a browser would."""

    def __init__(self) -> None:
        self.pages: list[tuple[int, str]] = []
        self.threads: list[threading.Thread] = []

    def open(self, *urls: str) -> None:
        """Visit ``urls`` one after the other, in a thread."""

        def visit() -> None:
            for url in urls:
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        self.pages.append((response.status, response.read().decode()))
                except urllib.error.HTTPError as error:
                    self.pages.append((error.code, error.read().decode()))

        thread = threading.Thread(target=visit)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=10)


async def test_pkce_flow_end_to_end(tmp_path: Path) -> None:
    with oauth_provider(user="carol@example.com") as provider:
        storage = TokenStorage(tmp_path, scrypt_n=2**10)
        browser = Browser()
        urls: list[str] = []

        def show(url: str) -> None:
            urls.append(url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            listener = query["redirect_uri"][0].rsplit("/", 1)[0]
            browser.open(listener + "/favicon.ico", url)  # a stray request first: 404

        token = await authorize_pkce(
            config(provider),
            storage,
            "carol",
            PASSWORD,
            transport=HTTPTransport(timeout=10),
            show_url=show,
            timeout=10,
        )
        await anyio.to_thread.run_sync(browser.join)
        assert urls[0].startswith(provider.authorize_url + "?response_type=code&client_id=")
        assert "code_challenge_method=S256" in urls[0]
        assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in urls[0]
        assert browser.pages[0][0] == 404
        assert browser.pages[1][0] == 200
        assert "Authorization received. You can close this window." in browser.pages[1][1]
        assert provider.token_requests == {"authorization_code": 1}
        grant = provider.grants()[-1]
        assert grant.user == "carol@example.com"
        assert provider.is_active(token.token.expose())
        fresh = TokenStorage(tmp_path, scrypt_n=2**10)
        assert fresh.unlock("carol", PASSWORD)
        assert fresh.load("carol").refresh_token == Secret(grant.refresh_token or "")


async def test_pkce_flow_denied(tmp_path: Path) -> None:
    with oauth_provider() as provider:
        provider.authorize_error = "access_denied"
        storage = TokenStorage(tmp_path, scrypt_n=2**10)
        browser = Browser()
        with pytest.raises(AccessDenied):
            await authorize_pkce(
                config(provider), storage, "carol", PASSWORD, show_url=browser.open, timeout=10
            )
        await anyio.to_thread.run_sync(browser.join)
        assert browser.pages[0][0] == 400
        assert "Authorization failed: access_denied." in browser.pages[0][1]
        assert provider.token_requests == {}
        assert not storage.exists("carol")


async def test_pkce_flow_times_out(tmp_path: Path) -> None:
    with oauth_provider() as provider, pytest.raises(TimeoutError):
        await authorize_pkce(
            config(provider),
            TokenStorage(tmp_path),
            "carol",
            PASSWORD,
            show_url=lambda url: None,
            timeout=0.2,
        )
