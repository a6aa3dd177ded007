"""The POP3 side's failure paths, byte for byte: a revoked grant, STLS
command injection (client side) and response injection (upstream side), an
upstream that ends the session at token expiry, and QUIT semantics."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from functools import partial
from pathlib import Path

import anyio
import pytest

from protokit.net import InMemoryPOP3Backend, Listener, TLSMode, serve_pop3
from protokit.pop3 import ServerConfig
from protokit.sasl import TokenResult
from protokit.wire import Secret
from tests.interop.oauth_provider import Provider, oauth_provider
from tests.interop.peers import make_cert

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    _introspect,
    account,
    read_to_end,
    read_until,
    running_proxy,
    scripted_upstream,
)

PLAIN = base64.b64encode(f"\0{LOCAL_USER}\0{LOCAL_PASSWORD}".encode())
UP_CAPA = b"+OK\r\nTOP\r\nUIDL\r\nSASL XOAUTH2\r\n.\r\n"


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


async def test_revoked_grant_gives_err_auth_naming_the_command(
    provider: Provider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = [(None, b"+OK upstream\r\n"), (b"CAPA", UP_CAPA), (b"QUIT", b"+OK bye\r\n")]
    async with scripted_upstream(script) as (up_port, lines, _finished):
        acct = account("pop3", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        grant = provider.issue("alice")
        provider.revoke(grant)
        tokens = ProviderTokens(provider, grant)
        with caplog.at_level(logging.WARNING, logger="protokit.proxy"):
            async with (
                running_proxy(acct, tokens, tmp_path) as port,
                await anyio.connect_tcp("127.0.0.1", port) as s,
            ):
                await s.send(b"AUTH PLAIN " + PLAIN + b"\r\nQUIT\r\n")
                got = await read_to_end(s)
    assert got == (
        b"+OK POP3 proxy ready\r\n"
        b"-ERR [AUTH] authorization needed: run protokit proxy authorize work\r\n"
        b"+OK localhost POP3 server signing off\r\n"
    )
    assert "run protokit proxy authorize work" in caplog.text
    assert lines == [b"CAPA"]  # no AUTH went upstream


@pytest.mark.parametrize("split", [0, 4, 6])
async def test_stls_command_injection_locally_is_refused(
    provider: Provider, tmp_path: Path, split: int, caplog: pytest.LogCaptureFixture
) -> None:
    script = [(None, b"+OK upstream\r\n"), (b"CAPA", UP_CAPA)]
    async with scripted_upstream(script) as (up_port, _lines, _finished):
        acct = account(
            "pop3", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN,
            listen_tls=TLSMode.STARTTLS, cert=make_cert(tmp_path),
        )  # fmt: skip
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await read_until(s, b"\r\n")
            payload = b"STLS\r\nUSER me\r\n"
            await s.send(payload[: split or len(payload)])
            if split:
                await s.send(payload[split:])
            got = await read_to_end(s)
    assert got in (
        b"-ERR command injection after STLS\r\n",
        b"+OK Begin TLS negotiation\r\n",
    )
    assert tokens.requests == 0
    # An attack, not a bug: the proxy ends the connection itself.
    assert "internal error" not in caplog.text


async def test_upstream_stls_response_injection_is_refused(
    provider: Provider, tmp_path: Path
) -> None:
    script = [(None, b"+OK upstream\r\n"), (b"STLS", b"+OK begin\r\n+OK injected\r\n")]
    async with scripted_upstream(script) as (up_port, lines, _finished):
        acct = account(
            "pop3", provider, upstream_port=up_port, upstream_tls=TLSMode.STARTTLS,
            cafile=make_cert(tmp_path)[0],
        )  # fmt: skip
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            got = await read_to_end(s)
    assert got == b"-ERR [SYS/TEMP] the upstream server is unavailable\r\n"
    assert lines == [b"STLS"]
    assert tokens.requests == 0


async def test_upstream_ending_the_session_at_token_expiry_ends_it_cleanly(
    provider: Provider, tmp_path: Path
) -> None:
    script = [
        (None, b"+OK upstream\r\n"),
        (b"CAPA", UP_CAPA),
        (b"AUTH XOAUTH2 ", b"+OK logged in\r\n"),
        (b"STAT", b"+OK 1 10\r\n"),
        (None, b"-ERR [AUTH] the access token expired: log in again\r\n"),
    ]
    async with scripted_upstream(script) as (up_port, _lines, _finished):
        acct = account("pop3", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"USER me\r\nPASS " + LOCAL_PASSWORD.encode() + b"\r\nSTAT\r\n")
            got = await read_to_end(s)
    # The upstream's own -ERR, then the end.
    assert got == (
        b"+OK POP3 proxy ready\r\n+OK send PASS\r\n+OK logged in\r\n+OK 1 10\r\n"
        b"-ERR [AUTH] the access token expired: log in again\r\n"
    )


async def test_client_pipelining_after_login_and_no_quit_means_no_update(
    provider: Provider, tmp_path: Path
) -> None:
    script = [
        (None, b"+OK upstream\r\n"),
        (b"CAPA", b"+OK\r\nPIPELINING\r\nTOP\r\nUIDL\r\nSASL OAUTHBEARER\r\n.\r\n"),
        (b"AUTH OAUTHBEARER ", b"+OK logged in\r\n"),
        (b"LIST", b"+OK 2 messages\r\n1 5\r\n2 7\r\n.\r\n"),
        (b"DELE 1", b"+OK deleted\r\n"),
        (b"RETR 2", b"+OK 7 octets\r\n..dot\r\n.\r\n"),
        (b"QUIT", b"+OK should never be asked\r\n"),
    ]
    async with scripted_upstream(script) as (up_port, lines, finished):
        acct = account("pop3", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(
                b"AUTH PLAIN " + PLAIN + b"\r\nLIST\r\nDELE 1\r\nCAPA\r\nRETR 2\r\nUSER x\r\n"
            )
            got = await read_until(s, b"not valid in the TRANSACTION state\r\n")
        # The client went away without QUIT: the proxy closes the upstream
        # connection without sending QUIT (no UPDATE state there).
        with anyio.fail_after(5):
            await finished.wait()
    assert got == (
        b"+OK POP3 proxy ready\r\n+OK logged in\r\n"
        b"+OK scan listing follows\r\n1 5\r\n2 7\r\n.\r\n"
        b"+OK deleted\r\n"
        b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\n"
        b"PIPELINING\r\nUIDL\r\nIMPLEMENTATION protokit-proxy\r\nAUTH-RESP-CODE\r\n.\r\n"
        b"+OK 7 octets\r\n..dot\r\n.\r\n"
        b"-ERR USER is not valid in the TRANSACTION state\r\n"
    )
    assert lines[2:] == [b"LIST", b"DELE 1", b"RETR 2"]


async def test_upstream_closing_during_auth_is_err_sys_temp_and_the_end(
    provider: Provider, tmp_path: Path
) -> None:
    script = [(None, b"+OK upstream\r\n"), (b"CAPA", UP_CAPA), (b"AUTH XOAUTH2 ", b"")]
    async with scripted_upstream(script) as (up_port, _lines, _finished):
        acct = account("pop3", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"USER me\r\nPASS " + LOCAL_PASSWORD.encode() + b"\r\n")
            got = await read_to_end(s)
    assert got == (
        b"+OK POP3 proxy ready\r\n+OK send PASS\r\n"
        b"-ERR [SYS/TEMP] the upstream server is unavailable\r\n"
    )


async def test_protokit_pop3_upstream_ends_the_session_at_token_expiry(tmp_path: Path) -> None:
    """protokit's own serve_pop3 as the upstream, introspecting at the fake
    provider: a 2 s token, and the session ends with its -ERR at expiry."""
    with oauth_provider(user="alice", expires_in=2) as provider:
        backend = IntrospectingPOP3Backend(provider)
        backend.add_user("alice", "unused-password")
        backend.deliver("alice", b"Subject: x\r\n\r\nbody\r\n")
        config = ServerConfig(
            sasl_mechanisms=("XOAUTH2", "OAUTHBEARER"), allow_plaintext_auth=True
        )
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                partial(serve_pop3, backend, [Listener(port=0, name="up")], config=config)
            )
            acct = account(
                "pop3", provider, upstream_port=info.port("up"), upstream_tls=TLSMode.PLAIN
            )
            tokens = ProviderTokens(provider, provider.issue("alice"))
            async with (
                running_proxy(acct, tokens, tmp_path) as port,
                await anyio.connect_tcp("127.0.0.1", port) as s,
            ):
                await s.send(b"AUTH PLAIN " + PLAIN + b"\r\nSTAT\r\n")
                head = await read_until(s, b"+OK 1 20\r\n")
                got = head + await read_to_end(s)
            tg.cancel_scope.cancel()
    assert got == (
        b"+OK POP3 proxy ready\r\n+OK alice's maildrop has 1 message (20 octets)\r\n"
        b"+OK 1 20\r\n-ERR [AUTH] the access token expired: log in again\r\n"
    )


class IntrospectingPOP3Backend(InMemoryPOP3Backend):
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
