"""Shared fixtures of the proxy's tests: the fake OAuth provider, Dovecot
introspecting every token there, a token source for the proxy, accounts, and
the proxy running inside a test's task group.

The upstream is a real Dovecot with its oauth2 passdb asking the fake
provider (tests/interop/oauth_provider.py) about each bearer token (RFC 7662),
so a revoked or expired token is refused by the server itself.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

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
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    """The fake OAuth provider, one per module; a module names the user its
    grants are for with ``PROVIDER_USER`` (default: the provider's own)."""
    user = getattr(request.module, "PROVIDER_USER", None)
    with oauth_provider() if user is None else oauth_provider(user=user) as p:
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
    """serve_proxy for the block; yields the bound addresses by account name.
    Failed logins are answered at once unless ``auth_failure_delay`` is given
    (tests/proxy/test_auth_failures.py tests the delay)."""
    limits.setdefault("auth_failure_delay", 0.0)
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


class StaticTokens:
    """A token source with one fixed access token, for scripted upstreams."""

    def __init__(self, token: str = "tok-1") -> None:
        self.token = token
        self.calls = 0

    async def unlock(self, grant: str, password: Secret[str]) -> bool:
        return password == Secret(LOCAL_PASSWORD)

    async def access_token(self, grant: str) -> AccessToken:
        self.calls += 1
        return AccessToken(
            token=Secret(self.token), expires_at=datetime.now(UTC) + timedelta(seconds=3600)
        )


def scripted_account(port: int, **overrides: Any) -> AccountConfig:
    """An IMAP account whose upstream is a scripted server on loopback (plain)."""
    acct = AccountConfig(
        name="work",
        protocol="imap",
        listen_port=0,
        local_user=LOCAL_USER,
        upstream_host="127.0.0.1",
        upstream_port=port,
        upstream_tls=TLSMode.PLAIN,
        upstream_user="alice@example.com",
        provider=ProviderConfig(
            name="fake", token_endpoint="http://127.0.0.1:9/token", client_id="cid"
        ),
    )
    return replace(acct, **overrides)


class Peer:
    """One side of a raw connection in a test: send bytes, read lines or
    exact byte counts, each within a deadline."""

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float = 10.0) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.timeout = timeout

    async def __aenter__(self) -> Peer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await anyio.aclose_forcefully(self.stream)

    async def send(self, data: bytes) -> None:
        with anyio.fail_after(self.timeout):
            await self.stream.send(data)

    async def line(self) -> bytes:
        with anyio.fail_after(self.timeout):
            return await self.reader.receive_until(b"\r\n", 1 << 20) + b"\r\n"

    async def exactly(self, n: int) -> bytes:
        with anyio.fail_after(self.timeout):
            return await self.reader.receive_exactly(n)

    async def closed(self) -> bool:
        """Whether the peer closes (rather than sending more) within the deadline."""
        with anyio.fail_after(self.timeout):
            try:
                extra = await self.reader.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return True
        raise AssertionError(f"expected the connection to close, got {extra!r}")

    async def nothing_within(self, seconds: float) -> None:
        """Nothing arrives for ``seconds`` (a bounded check that a peer holds back)."""
        with anyio.move_on_after(seconds):
            extra = await self.reader.receive()
            raise AssertionError(f"expected nothing, got {extra!r}")


@asynccontextmanager
async def scripted_upstream(
    script: Callable[[Peer], Awaitable[None]],
) -> AsyncIterator[tuple[int, list[BaseException]]]:
    """A loopback server running ``script`` for each connection; yields its
    port and the errors its scripts raised (a test asserts it is empty)."""
    errors: list[BaseException] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await script(Peer(stream))
            except Exception as exc:  # reported to the test
                errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield port, errors
        finally:
            tg.cancel_scope.cancel()
    await listener.aclose()


async def fake_login(peer: Peer, caps: bytes = b"IMAP4rev1 LITERAL+ IDLE") -> bytes:
    """The scripted upstream's greeting and XOAUTH2 login; returns the
    AUTHENTICATE line the proxy sent."""
    await peer.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=XOAUTH2] fake ready\r\n")
    line = await peer.line()
    await peer.send(b"P1 OK [CAPABILITY " + caps + b"] Logged in\r\n")
    return line
