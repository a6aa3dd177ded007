"""Shared fixtures of the proxy's tests: the fake OAuth provider, Dovecot
introspecting every token there, a token source for the proxy, accounts, and
the proxy running inside a test's task group.

The upstream is a real Dovecot with its oauth2 passdb asking the fake
provider (tests/interop/oauth_provider.py) about each bearer token (RFC 7662),
so a revoked or expired token is refused by the server itself.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from protokit.net import ServerInfo, TLSMode
from protokit.oauth import AccessToken, AuthorizationNeeded
from protokit.proxy import AccountConfig, ProviderConfig, ProxyConfig, ProxyLimits, serve_proxy
from protokit.proxy._session import TokenSource
from protokit.wire import Secret
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Grant,
    Provider,
    oauth_provider,
)
from tests.interop.peers import Dovecot, dovecot

LOCAL_USER = "me"
LOCAL_PASSWORD = "local-pw"
_users = itertools.count(1)


def fresh_user(prefix: str = "imap") -> str:
    """A mailbox no earlier test used (tests of a module share one Dovecot)."""
    return f"{prefix}{next(_users)}@example.com"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oauth_provider() as p:
        yield p


@pytest.fixture(scope="module")
def upstream(provider: Provider) -> Iterator[Dovecot]:
    """Dovecot offering XOAUTH2 and OAUTHBEARER, introspecting at ``provider``."""
    with dovecot(introspection_url=provider.dovecot_introspect_url) as d:
        yield d


class GrantTokens:
    """A token source straight from the fake provider's grants, one per grant
    name: the local password is LOCAL_PASSWORD; each call hands out a fresh
    live access token; a revoked grant is AuthorizationNeeded."""

    def __init__(self, provider: Provider, grants: dict[str, Grant]) -> None:
        self.provider = provider
        self.grants = grants
        self.calls = 0

    async def unlock(self, grant: str, password: Secret[str]) -> bool:
        return grant in self.grants and password == Secret(LOCAL_PASSWORD)

    async def access_token(self, grant: str) -> AccessToken:
        self.calls += 1
        g = self.grants[grant]
        if g.revoked:
            raise AuthorizationNeeded(grant)
        token = await anyio.to_thread.run_sync(self.provider.access_token, g)
        return AccessToken(
            token=Secret(token), expires_at=datetime.now(UTC) + timedelta(seconds=3600)
        )


def imap_account(
    provider: Provider,
    d: Dovecot,
    user: str,
    *,
    name: str = "work",
    upstream_tls: TLSMode = TLSMode.IMPLICIT,
    **overrides: Any,
) -> AccountConfig:
    """An IMAP account proxying to ``d`` as ``user``, listening on a free
    loopback port in plain text unless ``overrides`` say otherwise."""
    port = {TLSMode.IMPLICIT: d.imaps}.get(upstream_tls, d.imap)
    acct = AccountConfig(
        name=name,
        protocol="imap",
        listen_port=0,
        local_user=LOCAL_USER,
        upstream_host="127.0.0.1",
        upstream_port=port,
        upstream_tls=upstream_tls,
        upstream_cafile=str(d.cert),
        upstream_user=user,
        provider=ProviderConfig(
            name="fake",
            token_endpoint=provider.token_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=Secret(DEFAULT_CLIENT_SECRET),
        ),
    )
    return replace(acct, **overrides)


@asynccontextmanager
async def running_proxy(
    accounts: AccountConfig | tuple[AccountConfig, ...],
    tokens: TokenSource,
    tmp: Path,
    **limits: float,
) -> AsyncIterator[ServerInfo]:
    """serve_proxy for the block; yields the bound addresses by account name."""
    accts = accounts if isinstance(accounts, tuple) else (accounts,)
    config = ProxyConfig(accounts=accts, state_dir=tmp / "state", limits=ProxyLimits(**limits))
    async with anyio.create_task_group() as tg:
        info: ServerInfo = await tg.start(
            lambda task_status: serve_proxy(config, tokens=tokens, task_status=task_status)
        )
        try:
            yield info
        finally:
            tg.cancel_scope.cancel()
