"""protokit serve's bearer tokens checked at an RFC 7662 introspection
endpoint (the fake provider): serve_smtp, serve_pop3 and serve_imap on the
store backends accept an introspected token, refuse a revoked, unknown-user or
foreign one with the mechanism's error challenge, and end the session at the
token's ``exp``."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import pytest

from protokit.net import Listener, ServerInfo, serve_imap, serve_pop3, serve_smtp
from protokit.oauth import HTTPTransport, IntrospectionValidator, OAuthProvider
from protokit.pop3 import ServerConfig as POP3Config
from protokit.server import Account, AsyncStore, Store, StoreIMAPBackend, TokenValidator
from protokit.server._backend_pop3 import StorePOP3Backend
from protokit.server._backend_smtp import StoreSMTPBackend
from protokit.smtp import ServerConfig as SMTPConfig
from protokit.wire import Secret
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Provider,
    oauth_provider,
)
from tests.net.test_imap_server import Wire as IMAPWire
from tests.net.test_smtp_server import Wire
from tests.server.conftest import Clock
from tests.server.imap_helpers import LOOPBACK

SMTP_CONFIG = SMTPConfig(
    hostname="mx.test",
    auth_mechanisms=("XOAUTH2", "OAUTHBEARER"),
    auth_required=True,
    allow_plaintext_auth=True,
)
POP3_CONFIG = POP3Config(allow_plaintext_auth=True, sasl_mechanisms=("XOAUTH2", "OAUTHBEARER"))


@pytest.fixture
def provider() -> Iterator[Provider]:
    with oauth_provider() as p:
        yield p


def validator(
    store: Store,
    provider: Provider,
    *,
    cache_ttl: float = 0.0,
    secret: str = DEFAULT_CLIENT_SECRET,
) -> TokenValidator:
    config = OAuthProvider(
        token_url=provider.token_url,
        introspect_url=provider.introspect_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=Secret(secret),
    )
    introspection = IntrospectionValidator(
        config, transport=HTTPTransport(timeout=5), cache_ttl=cache_ttl
    )
    return TokenValidator(store, introspection=introspection)


@asynccontextmanager
async def servers(store: Store, tokens: TokenValidator) -> AsyncIterator[ServerInfo]:
    astore = AsyncStore(store)
    smtp = StoreSMTPBackend(astore, "submission", tokens=tokens)
    pop3 = StorePOP3Backend(astore, tokens=tokens)
    async with anyio.create_task_group() as tg:
        smtp_info = await tg.start(
            lambda task_status: serve_smtp(
                smtp, [Listener(name="submission")], config=SMTP_CONFIG, task_status=task_status
            )
        )
        pop3_info = await tg.start(
            lambda task_status: serve_pop3(
                pop3, [Listener(name="pop3")], config=POP3_CONFIG, task_status=task_status
            )
        )
        try:
            yield ServerInfo({**smtp_info.addresses, **pop3_info.addresses})
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def smtp(info: ServerInfo) -> AsyncIterator[Wire]:
    stream = await anyio.connect_tcp("127.0.0.1", info.port("submission"))
    async with stream:
        w = Wire(stream)
        assert await w.line() == b"220 mx.test ESMTP protokit ready\r\n"
        await w.ehlo()
        yield w


@asynccontextmanager
async def pop3(info: ServerInfo) -> AsyncIterator[Wire]:
    stream = await anyio.connect_tcp("127.0.0.1", info.port("pop3"))
    async with stream:
        w = Wire(stream)
        assert await w.line() == b"+OK POP3 server ready\r\n"
        yield w


def xoauth2(user: str, token: str) -> bytes:
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


def oauthbearer(user: str, token: str) -> bytes:
    return base64.b64encode(f"n,a={user},\x01auth=Bearer {token}\x01\x01".encode())


XOAUTH2_CHALLENGE = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}


@pytest.fixture(autouse=True)
def real_clock(clock: Clock) -> None:
    clock.now = time.time()  # the server ends sessions at the real-time expiry


async def test_smtp_accepts_an_introspected_token_and_refuses_it_once_revoked(
    store: Store, alice: Account, provider: Provider
) -> None:
    grant = provider.issue("alice@example.com")
    token = next(iter(grant.access_tokens))
    async with servers(store, validator(store, provider)) as info:
        async with smtp(info) as w:
            assert await w.ask(
                b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n"
            ) == (b"235 2.7.0 Authentication successful\r\n")
            assert await w.ask(b"MAIL FROM:<alice@example.com>\r\n") == b"250 2.1.0 Sender OK\r\n"
        provider.revoke(grant)
        async with smtp(info) as w:
            reply = await w.ask(b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n")
            assert reply.startswith(b"334 ")
            assert json.loads(base64.b64decode(reply[4:-2])) == XOAUTH2_CHALLENGE
            assert await w.ask(b"\r\n") == b"535 5.7.8 Authentication credentials invalid\r\n"
        async with smtp(info) as w:
            reply = await w.ask(
                b"AUTH OAUTHBEARER " + oauthbearer("alice@example.com", token) + b"\r\n"
            )
            assert reply.startswith(b"334 ")
            assert json.loads(base64.b64decode(reply[4:-2]))["status"] == "invalid_token"
            assert await w.ask(b"AQ==\r\n") == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert provider.introspections == 3


async def test_pop3_accepts_an_introspected_token_and_refuses_it_once_revoked(
    store: Store, alice: Account, provider: Provider
) -> None:
    grant = provider.issue("alice@example.com")
    token = next(iter(grant.access_tokens))
    async with servers(store, validator(store, provider)) as info:
        async with pop3(info) as w:
            assert await w.ask(
                b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n"
            ) == (b"+OK alice@example.com's maildrop has 0 messages (0 octets)\r\n")
            assert await w.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (maildrop empty)\r\n"
            )
        provider.revoke(grant)
        async with pop3(info) as w:
            reply = await w.ask(b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n")
            assert reply.startswith(b"+ ")
            assert json.loads(base64.b64decode(reply[2:-2])) == XOAUTH2_CHALLENGE
            assert await w.ask(b"\r\n") == b"-ERR [AUTH] authentication failed\r\n"


@pytest.mark.parametrize(
    ("owner", "user", "reason"),
    [
        ("nobody@example.com", "nobody@example.com", "introspected token for an unknown account"),
        ("bob@example.com", "alice@example.com", "the token belongs to another user"),
    ],
)
async def test_refused_owners(
    store: Store,
    alice: Account,
    bob: Account,
    provider: Provider,
    caplog: pytest.LogCaptureFixture,
    owner: str,
    user: str,
    reason: str,
) -> None:
    token = next(iter(provider.issue(owner).access_tokens))
    caplog.set_level(logging.INFO, "protokit.server")
    async with servers(store, validator(store, provider)) as info, smtp(info) as w:
        reply = await w.ask(b"AUTH XOAUTH2 " + xoauth2(user, token) + b"\r\n")
        assert reply.startswith(b"334 ")
        assert await w.ask(b"\r\n") == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert f"bearer token refused: {reason}" in caplog.text
    assert token not in caplog.text


async def test_provider_down_fails_closed(
    store: Store, alice: Account, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    token = next(iter(provider.issue("alice@example.com").access_tokens))
    caplog.set_level(logging.INFO, "protokit.server")
    tokens = validator(store, provider, secret="wrong-secret")
    async with servers(store, tokens) as info, pop3(info) as w:
        reply = await w.ask(b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n")
        assert reply.startswith(b"+ ")
        assert await w.ask(b"\r\n") == b"-ERR [AUTH] authentication failed\r\n"
    assert (
        "bearer token refused: introspection failed: invalid_client: client authentication"
        " failed (HTTP 401)" in caplog.text
    )
    assert DEFAULT_CLIENT_SECRET not in caplog.text and "wrong-secret" not in caplog.text


async def test_development_tokens_still_work_without_introspection(
    store: Store, alice: Account, provider: Provider
) -> None:
    token, _ = store.issue_token("alice@example.com", 600)
    async with servers(store, validator(store, provider)) as info, smtp(info) as w:
        assert (
            await w.ask(b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token.expose()) + b"\r\n")
            == b"235 2.7.0 Authentication successful\r\n"
        )
    assert provider.introspections == 0


async def test_positive_answers_are_cached_within_the_ttl(
    store: Store, alice: Account, provider: Provider
) -> None:
    token = next(iter(provider.issue("alice@example.com").access_tokens))
    async with servers(store, validator(store, provider, cache_ttl=30)) as info:
        for _ in range(3):
            async with pop3(info) as w:
                assert (
                    await w.ask(b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n")
                ).startswith(b"+OK ")
    assert provider.introspections == 1


async def test_the_session_ends_at_the_introspected_exp(store: Store, alice: Account) -> None:
    with oauth_provider(expires_in=2) as provider:
        token = next(iter(provider.issue("alice@example.com").access_tokens))
        async with servers(store, validator(store, provider)) as info, smtp(info) as w:
            assert await w.ask(
                b"AUTH XOAUTH2 " + xoauth2("alice@example.com", token) + b"\r\n"
            ) == (b"235 2.7.0 Authentication successful\r\n")
            assert await w.ask(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"
            assert await w.eof() == b"421 4.7.0 The access token expired, authenticate again\r\n"
        assert not provider.is_active(token)


async def test_imap_accepts_an_introspected_token_and_refuses_it_once_revoked(
    store: Store, alice: Account, provider: Provider
) -> None:
    grant = provider.issue("alice@example.com")
    token = next(iter(grant.access_tokens))
    backend = StoreIMAPBackend(AsyncStore(store), tokens=validator(store, provider))
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_imap(
                backend, [Listener(name="imap")], config=LOOPBACK, task_status=task_status
            )
        )
        for revoked in (False, True):
            if revoked:
                provider.revoke(grant)
            stream = await anyio.connect_tcp("127.0.0.1", info.port("imap"))
            async with stream:
                w = IMAPWire(stream)
                await w.line()
                command = b"a AUTHENTICATE XOAUTH2 " + xoauth2("alice@example.com", token)
                if not revoked:
                    assert await w.ask(command + b"\r\n") == b"a OK Logged in\r\n"
                    continue
                reply = await w.ask(command + b"\r\n", b"\r\n")
                assert json.loads(base64.b64decode(reply[2:-2])) == XOAUTH2_CHALLENGE
                assert await w.ask(b"\r\n", b"\r\n") == (
                    b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
                )
        tg.cancel_scope.cancel()
    assert provider.introspections == 2
