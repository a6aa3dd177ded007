"""The proxy's IMAP side with protokit.oauth's real TokenManager and
encrypted storage: one refresh for many logins, a rotated refresh token
stored before the new access token is used, a grant that is gone."""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from protokit.oauth import AccessToken, StoredTokens, TokenManager, TokenStorage
from protokit.proxy import AccountConfig
from protokit.proxy._proxy import oauth_provider
from protokit.wire import Secret
from tests.interop.oauth_provider import Grant, Provider
from tests.interop.peers import Dovecot

from .conftest import LOCAL_PASSWORD, LOCAL_USER, fresh_user, imap_account, running_proxy

SCRYPT_N = 2**10  # fast for tests; the default is 2**15


class CheckedManager(TokenManager):
    """Checks, each time an access token is handed out (before the proxy uses
    it), that the refresh token on disk, read back by a fresh storage object
    as after a crash, is the provider's current one."""

    def watch(self, provider: Provider, grant: Grant, state: Path) -> None:
        self.watched = (provider, grant, state)
        self.checks = 0

    async def access_token(self, account: str) -> AccessToken:
        token = await super().access_token(account)
        provider, grant, state = self.watched
        fresh = TokenStorage(state, scrypt_n=SCRYPT_N)
        assert fresh.unlock(account, Secret(LOCAL_PASSWORD))
        on_disk = fresh.load(account).refresh_token
        assert on_disk is not None
        assert on_disk.expose() == provider.current_refresh_token(grant)
        self.checks += 1
        return token


def stored(acct: AccountConfig, state: Path, grant: Grant) -> CheckedManager:
    """A manager whose storage holds only ``grant``'s refresh token, locked
    (as after a restart): the first login unlocks it, the first use refreshes."""
    storage = TokenStorage(state, scrypt_n=SCRYPT_N)
    assert grant.refresh_token is not None
    storage.create(
        "work", Secret(LOCAL_PASSWORD), StoredTokens(refresh_token=Secret(grant.refresh_token))
    )
    storage.lock("work")
    return CheckedManager(oauth_provider(acct.provider), storage)


@pytest.fixture
def rotating(provider: Provider) -> Iterator[Provider]:
    provider.rotate = True
    try:
        yield provider
    finally:
        provider.rotate = False


def login_and_select(port: int) -> tuple[str, str]:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        return c.login(LOCAL_USER, LOCAL_PASSWORD)[0], c.select("INBOX")[0]
    finally:
        c.logout()


def login_error(port: int) -> str:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        with pytest.raises(imaplib.IMAP4.error) as failed:
            c.login(LOCAL_USER, LOCAL_PASSWORD)
        return str(failed.value)
    finally:
        c.logout()


async def test_twenty_concurrent_logins_one_refresh_rotation_stored_before_use(
    rotating: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    grant = rotating.issue(user)
    first_refresh = grant.refresh_token
    acct = imap_account(rotating, upstream, user)
    manager = stored(acct, tmp_path / "state", grant)
    manager.watch(rotating, grant, tmp_path / "state")
    before = rotating.token_requests["refresh_token"]
    results: list[tuple[str, str]] = []
    async with running_proxy(acct, manager, tmp_path) as info:
        port = info.port("work")

        async def one() -> None:
            results.append(await anyio.to_thread.run_sync(login_and_select, port))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(one)
    assert results == [("OK", "OK")] * 20
    assert rotating.token_requests["refresh_token"] - before == 1
    assert manager.checks == 20
    current = rotating.current_refresh_token(grant)
    assert current is not None and current != first_refresh


async def test_revoked_grant_with_the_token_manager(
    provider: Provider, upstream: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = fresh_user()
    grant = provider.issue(user)
    acct = imap_account(provider, upstream, user)
    manager = stored(acct, tmp_path / "state", grant)
    provider.revoke(grant)
    caplog.set_level(logging.WARNING, logger="protokit.proxy")
    async with running_proxy(acct, manager, tmp_path) as info:
        assert await anyio.to_thread.run_sync(login_error, info.port("work")) == (
            "b'[AUTHORIZATIONFAILED] authorization needed: run protokit proxy authorize work'"
        )
    warnings = [r.getMessage() for r in caplog.records if r.name == "protokit.proxy"]
    assert len(warnings) == 1
    assert warnings[0].startswith("account=work authorization needed (")
    assert warnings[0].endswith("): run protokit proxy authorize work")


async def test_never_authorized_account(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    acct = imap_account(provider, upstream, user)
    manager = TokenManager(
        oauth_provider(acct.provider), TokenStorage(tmp_path / "empty", scrypt_n=SCRYPT_N)
    )
    async with running_proxy(acct, manager, tmp_path) as info:
        assert await anyio.to_thread.run_sync(login_error, info.port("work")) == (
            "b'[AUTHORIZATIONFAILED] authorization needed: run protokit proxy authorize work'"
        )


async def test_provider_down_is_unavailable_not_a_crash(
    provider: Provider, upstream: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = fresh_user()
    grant = provider.issue(user)
    acct = imap_account(provider, upstream, user)
    storage_manager = stored(acct, tmp_path / "state", grant)
    manager = TokenManager(oauth_provider(acct.provider), storage_manager.storage, max_attempts=1)
    provider.fail_next(1, status=503)
    caplog.set_level(logging.INFO, logger="protokit")
    async with running_proxy(acct, manager, tmp_path) as info:
        port = info.port("work")

        def session() -> tuple[str, str]:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            with pytest.raises(imaplib.IMAP4.error) as failed:
                c.login(LOCAL_USER, LOCAL_PASSWORD)
            # The next attempt, the provider back, goes through.
            ok = c.login(LOCAL_USER, LOCAL_PASSWORD)[0]
            c.logout()
            return str(failed.value), ok

        assert await anyio.to_thread.run_sync(session) == (
            "b'[UNAVAILABLE] the OAuth provider is unavailable'",
            "OK",
        )
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]


async def test_grant_revoked_while_its_token_is_cached_is_authorization_needed_at_once(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    grant = provider.issue(user)
    acct = imap_account(provider, upstream, user)
    manager = stored(acct, tmp_path / "state", grant)
    manager.watch(provider, grant, tmp_path / "state")
    before = provider.token_requests["refresh_token"]
    async with running_proxy(acct, manager, tmp_path) as info:
        port = info.port("work")
        assert await anyio.to_thread.run_sync(login_and_select, port) == ("OK", "OK")
        assert provider.token_requests["refresh_token"] - before == 1
        # Revoked with the access token cached for another hour: Dovecot
        # refuses it, the proxy drops it, and the refresh says invalid_grant.
        provider.revoke(grant)
        needed = "b'[AUTHORIZATIONFAILED] authorization needed: run protokit proxy authorize work'"
        assert await anyio.to_thread.run_sync(login_error, port) == needed
        assert provider.token_requests["refresh_token"] - before == 2
        # The refused refresh token is not sent again.
        assert await anyio.to_thread.run_sync(login_error, port) == needed
        assert provider.token_requests["refresh_token"] - before == 2


async def test_cached_token_the_upstream_refuses_is_refreshed_once_and_the_login_succeeds(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    grant = provider.issue(user)
    acct = imap_account(provider, upstream, user)
    manager = stored(acct, tmp_path / "state", grant)
    manager.watch(provider, grant, tmp_path / "state")
    before = provider.token_requests["refresh_token"]
    async with running_proxy(acct, manager, tmp_path) as info:
        port = info.port("work")
        assert await anyio.to_thread.run_sync(login_and_select, port) == ("OK", "OK")
        # Expired at the provider while the proxy still holds it as valid.
        provider.expire_access_tokens()
        assert await anyio.to_thread.run_sync(login_and_select, port) == ("OK", "OK")
        assert provider.token_requests["refresh_token"] - before == 2
        # The fresh token is cached again.
        assert await anyio.to_thread.run_sync(login_and_select, port) == ("OK", "OK")
        assert provider.token_requests["refresh_token"] - before == 2
