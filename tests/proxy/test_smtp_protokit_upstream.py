"""The SMTP side against protokit's own SMTP server as the upstream (it
offers PIPELINING and ENHANCEDSTATUSCODES, which aiosmtpd does not, and ends
a bearer-token session when the token expires): a pipelining swaks, and a
session the upstream ends at token expiry."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio

from protokit.net import InMemorySMTPBackend, Listener, TLSMode, serve_smtp
from protokit.sasl import TokenResult
from protokit.smtp import ServerConfig
from protokit.wire import Secret
from tests.interop.clients import run_client_async
from tests.interop.oauth_provider import Provider, oauth_provider

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    _introspect,
    account,
    read_to_end,
    read_until,
    running_proxy,
)

PLAIN = base64.b64encode(f"\0{LOCAL_USER}\0{LOCAL_PASSWORD}".encode())
MESSAGE = b"From: me@example.com\r\nSubject: pipelined\r\n\r\nbody\r\n"


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


class IntrospectingBackend(InMemorySMTPBackend):
    """Bearer tokens checked at the fake provider (RFC 7662), their expiry
    passed on so the server ends the session then."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        answer = await anyio.to_thread.run_sync(_introspect, self.provider, token.expose())
        if answer.get("active") is not True or answer.get("username") != username:
            return TokenResult(valid=False)
        expires = dt.datetime.fromtimestamp(int(answer["exp"]), dt.UTC)
        return TokenResult(valid=True, identity=username, expires_at=expires)


@asynccontextmanager
async def protokit_upstream(provider: Provider) -> AsyncIterator[tuple[int, InMemorySMTPBackend]]:
    backend = IntrospectingBackend(provider)
    config = ServerConfig(
        hostname="upstream.test",
        auth_mechanisms=("XOAUTH2", "OAUTHBEARER"),
        allow_plaintext_auth=True,  # loopback only
    )
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            partial(serve_smtp, backend, [Listener(port=0, name="up")], config=config)
        )
        try:
            yield info.port("up"), backend
        finally:
            tg.cancel_scope.cancel()


async def test_swaks_pipelining_through_to_a_pipelining_upstream(
    provider: Provider, tmp_path: Path
) -> None:
    body = tmp_path / "message.eml"
    body.write_bytes(MESSAGE)
    async with protokit_upstream(provider) as (up_port, backend):
        acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with running_proxy(acct, tokens, tmp_path) as port:
            result = await run_client_async(
                ["swaks", "-s", "127.0.0.1", "-p", str(port), "--pipeline",
                 "--auth", "PLAIN", "--auth-user", LOCAL_USER, "--auth-password", LOCAL_PASSWORD,
                 "-f", "me@example.com", "-t", "a@example.com,b@example.com,c@example.com",
                 "--data", str(body)],
                timeout=30,
            )  # fmt: skip
        log = result.stdout.decode(errors="replace")
        assert result.returncode == 0, log + result.stderr.decode(errors="replace")
        # The upstream's enhanced codes reach the client (its EHLO offered them).
        replies = [line for line in log.splitlines() if line.startswith("<-  ")]
        # The upstream's own replies, enhanced codes included (the local EHLO
        # offered ENHANCEDSTATUSCODES because the upstream's did).
        assert replies[-7:] == [
            "<-  250 2.1.0 Sender OK",
            *["<-  250 2.1.5 Recipient OK"] * 3,
            "<-  354 End data with <CR><LF>.<CR><LF>",
            "<-  250 2.0.0 Message accepted",
            "<-  221 2.0.0 localhost closing connection",
        ]
        [stored] = backend.messages
    assert (stored.sender, stored.recipients, stored.data, stored.user) == (
        "me@example.com",
        ("a@example.com", "b@example.com", "c@example.com"),
        MESSAGE + b"\r\n",
        "alice",
    )


async def test_upstream_ending_the_session_at_token_expiry(tmp_path: Path) -> None:
    with oauth_provider(user="alice", expires_in=2) as provider:
        async with protokit_upstream(provider) as (up_port, _backend):
            acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
            tokens = ProviderTokens(provider, provider.issue("alice"))
            async with (
                running_proxy(acct, tokens, tmp_path) as port,
                await anyio.connect_tcp("127.0.0.1", port) as s,
            ):
                await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\n")
                await read_until(s, b"235 ")
                # Nothing more is sent: within seconds the token expires.
                got = await read_to_end(s, timeout=10)
    assert got == b"421 4.7.0 The access token expired, authenticate again\r\n"
