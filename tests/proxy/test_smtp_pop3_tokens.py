"""The POP3 and SMTP sides with protokit.oauth's real TokenManager and
encrypted storage: the local password unlocks the stored refresh token, the
first login refreshes it, and once the grant is revoked at the provider the
next refresh gets invalid_grant and the client is told what to run."""

from __future__ import annotations

import logging
import poplib
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from protokit.net import TLSMode
from protokit.oauth import StoredTokens, TokenManager, TokenStorage
from protokit.proxy import AccountConfig
from protokit.proxy._proxy import oauth_provider as registration
from protokit.wire import Secret
from tests.interop.oauth_provider import Grant, Provider
from tests.interop.peers import Dovecot, dovecot
from tests.interop.pop3_peers import deliver_maildir

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    account,
    fresh_user,
    running_proxy,
    smtp_upstream,
    wait_until,
)

SCRYPT_N = 2**10  # fast for tests; the default is 2**15
MESSAGE = b"From: me@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


class Clock:
    """The token manager's clock, moved on by the test (no sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def manager(acct: AccountConfig, state: Path, grant: Grant, clock: Clock) -> TokenManager:
    """The token manager over storage holding only ``grant``'s refresh token,
    locked (as after a restart): the local password unlocks it."""
    storage = TokenStorage(state, scrypt_n=SCRYPT_N)
    assert grant.refresh_token is not None
    storage.create(
        acct.grant_name,
        Secret(LOCAL_PASSWORD),
        StoredTokens(refresh_token=Secret(grant.refresh_token)),
    )
    storage.lock(acct.grant_name)
    return TokenManager(registration(acct.provider), storage, clock=clock)


@pytest.fixture(scope="module")
def upstream(provider: Provider) -> Iterator[Dovecot]:
    with dovecot(introspection_url=provider.dovecot_introspect_url) as d:
        yield d


async def test_pop3_refresh_then_revoked_grant(
    provider: Provider, upstream: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, [MESSAGE])
    grant = provider.issue(user)
    acct = account(
        "pop3", provider, upstream_port=upstream.pop3s, upstream_tls=TLSMode.IMPLICIT,
        cafile=upstream.cert, upstream_user=user,
    )  # fmt: skip
    clock = Clock()
    tokens = manager(acct, tmp_path / "state", grant, clock)
    refreshes = provider.token_requests["refresh_token"]
    async with running_proxy(acct, tokens, tmp_path) as port:

        def session(password: str) -> bytes:
            c = poplib.POP3("127.0.0.1", port, timeout=10)
            c.user(LOCAL_USER)
            try:
                c.pass_(password)
            except poplib.error_proto as exc:
                c.quit()
                return bytes(exc.args[0])
            data = b"\r\n".join(c.retr(1)[1]) + b"\r\n"
            c.quit()
            return data

        assert await anyio.to_thread.run_sync(session, "wrong") == (
            b"-ERR [AUTH] authentication failed"
        )
        assert await anyio.to_thread.run_sync(session, LOCAL_PASSWORD) == MESSAGE
        assert provider.token_requests["refresh_token"] == refreshes + 1
        # Revoked at the provider; an hour on, the cached token has expired.
        provider.revoke(grant)
        clock.offset = timedelta(hours=2)
        with caplog.at_level(logging.WARNING, logger="protokit.proxy"):
            assert await anyio.to_thread.run_sync(session, LOCAL_PASSWORD) == (
                b"-ERR [AUTH] authorization needed: run protokit proxy authorize work"
            )
    assert "run protokit proxy authorize work" in caplog.text


async def test_smtp_refresh_then_revoked_grant(
    provider: Provider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    grant = provider.issue("alice")
    (tmp_path / "up").mkdir()
    with smtp_upstream(provider, tmp_path / "up", tls=TLSMode.IMPLICIT) as up:
        acct = account(
            "smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.IMPLICIT,
            cafile=up.cert,
        )  # fmt: skip
        clock = Clock()
        tokens = manager(acct, tmp_path / "state", grant, clock)
        async with running_proxy(acct, tokens, tmp_path) as port:

            def session() -> tuple[int, bytes]:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                    try:
                        c.login(LOCAL_USER, LOCAL_PASSWORD)
                    except smtplib.SMTPAuthenticationError as exc:
                        return exc.smtp_code, exc.smtp_error
                    c.sendmail("me@example.com", ["you@example.com"], MESSAGE)
                    return 235, b""

            assert await anyio.to_thread.run_sync(session) == (235, b"")
            wait_until(lambda: len(up.messages()) == 1)
            assert up.messages()[0].data == MESSAGE
            provider.revoke(grant)
            clock.offset = timedelta(hours=2)
            with caplog.at_level(logging.WARNING, logger="protokit.proxy"):
                assert await anyio.to_thread.run_sync(session) == (
                    535,
                    b"authorization needed: run protokit proxy authorize work",
                )
    assert "run protokit proxy authorize work" in caplog.text


def pop3_session(port: int) -> bytes:
    """Log in and RETR 1 (the message), or the -ERR of the login."""
    c = poplib.POP3("127.0.0.1", port, timeout=10)
    c.user(LOCAL_USER)
    try:
        c.pass_(LOCAL_PASSWORD)
    except poplib.error_proto as exc:
        c.quit()
        return bytes(exc.args[0])
    data = b"\r\n".join(c.retr(1)[1]) + b"\r\n"
    c.quit()
    return data


def pop3_account_with_one_message(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> tuple[AccountConfig, Grant, TokenManager]:
    """A POP3 account on a fresh Dovecot mailbox holding MESSAGE, its grant,
    and the token manager over storage holding the grant's refresh token."""
    user = fresh_user()
    deliver_maildir(upstream, user, [MESSAGE])
    grant = provider.issue(user)
    acct = account(
        "pop3", provider, upstream_port=upstream.pop3s, upstream_tls=TLSMode.IMPLICIT,
        cafile=upstream.cert, upstream_user=user,
    )  # fmt: skip
    return acct, grant, manager(acct, tmp_path / "state", grant, Clock())


async def test_pop3_grant_revoked_while_its_token_is_cached(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    acct, grant, tokens = pop3_account_with_one_message(provider, upstream, tmp_path)
    before = provider.token_requests["refresh_token"]
    async with running_proxy(acct, tokens, tmp_path) as port:
        assert await anyio.to_thread.run_sync(pop3_session, port) == MESSAGE
        assert provider.token_requests["refresh_token"] - before == 1
        # Revoked with the access token cached for another hour: Dovecot
        # refuses it, the proxy drops it, and the refresh says invalid_grant.
        provider.revoke(grant)
        needed = b"-ERR [AUTH] authorization needed: run protokit proxy authorize work"
        assert await anyio.to_thread.run_sync(pop3_session, port) == needed
        assert provider.token_requests["refresh_token"] - before == 2
        assert await anyio.to_thread.run_sync(pop3_session, port) == needed
        assert provider.token_requests["refresh_token"] - before == 2


async def test_pop3_cached_token_the_upstream_refuses_is_refreshed_once(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    acct, _grant, tokens = pop3_account_with_one_message(provider, upstream, tmp_path)
    before = provider.token_requests["refresh_token"]
    async with running_proxy(acct, tokens, tmp_path) as port:
        assert await anyio.to_thread.run_sync(pop3_session, port) == MESSAGE
        # Expired at the provider while the proxy still holds it as valid.
        provider.expire_access_tokens()
        assert await anyio.to_thread.run_sync(pop3_session, port) == MESSAGE
        assert provider.token_requests["refresh_token"] - before == 2
        assert await anyio.to_thread.run_sync(pop3_session, port) == MESSAGE
        assert provider.token_requests["refresh_token"] - before == 2


def smtp_session(port: int) -> tuple[int, bytes]:
    """Log in and send MESSAGE: (235, b"") or the refusal of the login."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        try:
            c.login(LOCAL_USER, LOCAL_PASSWORD)
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code, exc.smtp_error
        c.sendmail("me@example.com", ["you@example.com"], MESSAGE)
        return 235, b""


@pytest.mark.parametrize("revoked", [True, False], ids=["revoked", "stale"])
async def test_smtp_cached_token_the_upstream_refuses(
    provider: Provider, tmp_path: Path, revoked: bool
) -> None:
    grant = provider.issue("alice")
    (tmp_path / "up").mkdir()
    with smtp_upstream(provider, tmp_path / "up", tls=TLSMode.IMPLICIT) as up:
        acct = account(
            "smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.IMPLICIT,
            cafile=up.cert,
        )  # fmt: skip
        tokens = manager(acct, tmp_path / "state", grant, Clock())
        before = provider.token_requests["refresh_token"]
        async with running_proxy(acct, tokens, tmp_path) as port:
            assert await anyio.to_thread.run_sync(smtp_session, port) == (235, b"")
            assert provider.token_requests["refresh_token"] - before == 1
            if revoked:
                provider.revoke(grant)
                expected = (535, b"authorization needed: run protokit proxy authorize work")
            else:
                provider.expire_access_tokens()
                expected = (235, b"")
            assert await anyio.to_thread.run_sync(smtp_session, port) == expected
            assert provider.token_requests["refresh_token"] - before == 2
            assert await anyio.to_thread.run_sync(smtp_session, port) == expected
            assert provider.token_requests["refresh_token"] - before == 2
        wait_until(lambda: len(up.messages()) == (1 if revoked else 3))
