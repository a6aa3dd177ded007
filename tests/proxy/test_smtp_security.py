"""The SMTP side's failure paths, byte for byte: a revoked grant, STARTTLS
command injection (client side) and response injection (upstream side),
smuggling in DATA, and an upstream that ends the session at token expiry."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from protokit.net import TLSMode
from tests.interop.oauth_provider import Provider
from tests.interop.peers import make_cert

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    SmtpUpstream,
    account,
    read_to_end,
    read_until,
    running_proxy,
    scripted_upstream,
    smtp_upstream,
    wait_until,
)

PLAIN = base64.b64encode(f"\0{LOCAL_USER}\0{LOCAL_PASSWORD}".encode())
GREETING = b"220 localhost ESMTP protokit proxy ready\r\n"
EHLO = (
    b"250-localhost Hello c\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250 AUTH PLAIN LOGIN\r\n"
)


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def plain_upstream(
    provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SmtpUpstream]:
    """One aiosmtpd (plaintext on loopback) for the module's tests."""
    with smtp_upstream(provider, tmp_path_factory.mktemp("up"), tls=TLSMode.PLAIN) as up:
        yield up


@pytest.fixture
def up(plain_upstream: SmtpUpstream) -> SmtpUpstream:
    """The module's aiosmtpd with nothing received yet."""
    with plain_upstream.lock:
        plain_upstream.received.clear()
        plain_upstream.mechanisms.clear()
    return plain_upstream


async def test_revoked_grant_gives_535_naming_the_command_and_logs_it(
    provider: Provider, up: SmtpUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acct = account("smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.PLAIN)
    grant = provider.issue("alice")
    provider.revoke(grant)
    tokens = ProviderTokens(provider, grant)
    with caplog.at_level(logging.WARNING, logger="protokit.proxy"):
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\nQUIT\r\n")
            got = await read_to_end(s)
    assert got == (
        GREETING + EHLO
        + b"535 authorization needed: run protokit proxy authorize work\r\n"
        + b"221 localhost closing connection\r\n"
    )  # fmt: skip
    assert up.mechanisms == []
    assert "run protokit proxy authorize work" in caplog.text


@pytest.mark.parametrize("split", [0, 9, 10])
async def test_starttls_command_injection_locally_is_refused(
    provider: Provider,
    up: SmtpUpstream,
    cert: tuple[Path, Path],
    tmp_path: Path,
    split: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    acct = account(
        "smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.PLAIN,
        listen_tls=TLSMode.STARTTLS, cert=cert,
    )  # fmt: skip
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with (
        running_proxy(acct, tokens, tmp_path) as port,
        await anyio.connect_tcp("127.0.0.1", port) as s,
    ):
        await s.send(b"EHLO c\r\n")
        await read_until(s, b"250 ")
        payload = b"STARTTLS\r\nAUTH PLAIN " + PLAIN + b"\r\n"
        await s.send(payload[: split or len(payload)])
        if split:
            await s.send(payload[split:])
        got = await read_to_end(s)
    # Sent in one segment or split, the plaintext after STARTTLS never runs.
    assert got in (
        b"421 localhost Commands pipelined after STARTTLS, closing connection\r\n",
        b"220 Ready to start TLS\r\n",
    )
    assert up.mechanisms == []
    # An attack, not a bug: the proxy ends the connection itself.
    assert "internal error" not in caplog.text


async def test_upstream_starttls_response_injection_is_refused(
    provider: Provider, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    script = [
        (None, b"220 upstream ESMTP\r\n"),
        (b"EHLO", b"250-upstream\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n"),
        (b"STARTTLS", b"220 go ahead\r\n250 injected\r\n"),
    ]
    async with scripted_upstream(script) as (up_port, lines, _finished):
        acct = account(
            "smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.STARTTLS,
            cafile=cert[0],
        )  # fmt: skip
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            got = await read_to_end(s)
    assert got == b"421 the upstream server is unavailable, closing\r\n"
    assert lines == [b"EHLO localhost", b"STARTTLS"]
    assert tokens.requests == 0


@pytest.mark.parametrize(
    "ending", [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n\x00.\r\n", b"\n.\r"]
)
async def test_smuggling_is_refused_and_nothing_reaches_the_upstream(
    provider: Provider, up: SmtpUpstream, tmp_path: Path, ending: bytes
) -> None:
    acct = account("smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.PLAIN)
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with (
        running_proxy(acct, tokens, tmp_path) as port,
        await anyio.connect_tcp("127.0.0.1", port) as s,
    ):
        await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\n")
        await read_until(s, b"235 ")
        await s.send(b"MAIL FROM:<a@x.test>\r\n")
        await read_until(s, b"250 ")
        await s.send(b"RCPT TO:<b@x.test>\r\n")
        await read_until(s, b"250 ")
        await s.send(b"DATA\r\n")
        await read_until(s, b"354 ")
        await s.send(
            b"Subject: one\r\n\r\nbody" + ending
            + b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\n"
            + b"Subject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n"
        )  # fmt: skip
        got = await read_to_end(s)
    if ending == b"\r\n\x00.\r\n":
        # No bare line ending: one message, ending at the only \r\n.\r\n,
        # the would-be commands inside it as body text.
        assert got == b"250 Message accepted\r\n221 localhost closing connection\r\n"
        wait_until(lambda: len(up.messages()) == 1)
        assert up.messages()[0].data == (
            b"Subject: one\r\n\r\nbody\r\n\x00.\r\nMAIL FROM:<evil@x.test>\r\n"
            b"RCPT TO:<victim@x.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n"
        )
    else:
        # The one \r\n.\r\n ends one message, refused for its bare line ending.
        assert got == (
            b"550 Message contains bare CR or LF\r\n"
            b"421 the upstream transaction was aborted, closing\r\n"
        )
        assert up.messages() == []


async def test_upstream_421_at_token_expiry_ends_the_session(
    provider: Provider, tmp_path: Path
) -> None:
    expired = b"421 4.7.0 The access token expired, authenticate again\r\n"
    script = [
        (None, b"220 upstream ESMTP\r\n"),
        (b"EHLO", b"250-upstream\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH XOAUTH2\r\n"),
        (b"AUTH XOAUTH2 ", b"235 2.7.0 ok\r\n" + expired),
    ]
    async with scripted_upstream(script) as (up_port, _lines, _finished):
        acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\n")
            got = await read_to_end(s)
    assert got == (
        GREETING
        + b"250-localhost Hello c\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"
        + b"235 2.7.0 Authentication successful\r\n"
        + expired
    )


async def test_upstream_refusing_the_token_gives_535_5_7_8_after_the_error_challenge(
    provider: Provider, tmp_path: Path
) -> None:
    error = base64.b64encode(b'{"status":"401","schemes":"bearer"}')
    script = [
        (None, b"220 upstream ESMTP\r\n"),
        (b"EHLO", b"250-upstream\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH OAUTHBEARER\r\n"),
        (b"AUTH OAUTHBEARER ", b"334 " + error + b"\r\n"),
        (b"AQ==", b"535 5.7.8 Authentication credentials invalid\r\n"),
        (b"QUIT", b"221 2.0.0 bye\r\n"),
    ]
    async with scripted_upstream(script) as (up_port, lines, _finished):
        acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\nQUIT\r\n")
            got = await read_to_end(s)
    assert got == (
        GREETING
        + b"250-localhost Hello c\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"
        + b"535 5.7.8 the upstream server refused the access token\r\n"
        + b"221 2.0.0 localhost closing connection\r\n"
    )
    # The error challenge was answered with the single 0x01 (RFC 7628 3.2.3).
    assert lines[2] == b"AQ=="


async def test_pipelined_commands_are_relayed_one_by_one_with_the_upstreams_exact_replies(
    provider: Provider, tmp_path: Path
) -> None:
    script = [
        (None, b"220 upstream ESMTP\r\n"),
        (b"EHLO", b"250-upstream\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
                  b"250 AUTH XOAUTH2\r\n"),
        (b"AUTH XOAUTH2 ", b"235 2.7.0 ok\r\n"),
        (b"MAIL FROM:<a@x.test> SIZE=20", b"250 2.1.0 Sender <a@x.test> OK\r\n"),
        (b"RCPT TO:<nobody@x.test>", b"550-5.1.1 no such user\r\n550 5.1.1 really\r\n"),
        (b"RCPT TO:<b@x.test>", b"250 2.1.5 Recipient OK\r\n"),
        (b"DATA", b"554 5.7.1 upstream policy says no\r\n"),
        (b"VRFY b", b"252 2.1.5 cannot verify\r\n"),
        (b"QUIT", b"221 2.0.0 bye\r\n"),
    ]  # fmt: skip
    async with scripted_upstream(script) as (up_port, lines, finished):
        acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(
                b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\n"
                b"MAIL FROM:<a@x.test> SIZE=20\r\nRCPT TO:<nobody@x.test>\r\n"
                b"RCPT TO:<b@x.test>\r\nDATA\r\n"
            )  # fmt: skip
            head = await read_until(s, b"354 ")
            await s.send(b"Subject: x\r\n\r\nbody\r\n.\r\nVRFY b\r\nQUIT\r\n")
            got = head + await read_to_end(s)
        with anyio.fail_after(5):
            await finished.wait()
    assert got == (
        GREETING
        + b"250-localhost Hello c\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
        + b"250 AUTH PLAIN LOGIN\r\n235 2.7.0 Authentication successful\r\n"
        b"250 2.1.0 Sender <a@x.test> OK\r\n"
        b"550-5.1.1 no such user\r\n550 5.1.1 really\r\n"
        b"250 2.1.5 Recipient OK\r\n"
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
        b"554 5.7.1 upstream policy says no\r\n"
        b"252 2.1.5 cannot verify\r\n"
        b"221 2.0.0 localhost closing connection\r\n"
    )
    assert lines[2:] == [
        b"MAIL FROM:<a@x.test> SIZE=20", b"RCPT TO:<nobody@x.test>", b"RCPT TO:<b@x.test>",
        b"DATA", b"VRFY b", b"QUIT",
    ]  # fmt: skip


EHLO_PIPELINING = (
    b"250-upstream\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH XOAUTH2\r\n"
)


async def test_rcpts_pipelined_by_the_client_go_upstream_with_their_mail(
    provider: Provider, tmp_path: Path
) -> None:
    # The upstream answers MAIL only once both RCPTs have arrived: a proxy
    # that waited for the MAIL reply first would never get it.
    script = [
        (None, b"220 upstream ESMTP\r\n"),
        (b"EHLO", EHLO_PIPELINING),
        (b"AUTH XOAUTH2 ", b"235 2.7.0 ok\r\n"),
        (b"MAIL FROM:<a@x.test>", b""),
        (b"RCPT TO:<b@x.test>", b""),
        (b"RCPT TO:<Postmaster>", b"250 2.1.0 ok\r\n250 2.1.5 b ok\r\n250 2.1.5 pm ok\r\n"),
        (b"DATA", b"354 go\r\n"),
        (b".", b"250 2.0.0 queued\r\n"),
        (b"QUIT", b"221 2.0.0 bye\r\n"),
    ]
    async with scripted_upstream(script) as (up_port, lines, finished):
        acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\n")
            await read_until(s, b"235 ")
            await s.send(
                b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\n"
            )
            head = await read_until(s, b"354 ", timeout=5)
            await s.send(b".\r\nQUIT\r\n")
            got = head + await read_to_end(s)
        with anyio.fail_after(5):
            await finished.wait()
    assert got == (
        b"250 2.1.0 ok\r\n250 2.1.5 b ok\r\n250 2.1.5 pm ok\r\n"
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
        b"250 2.0.0 queued\r\n221 2.0.0 localhost closing connection\r\n"
    )
    assert lines[2:] == [
        b"MAIL FROM:<a@x.test>", b"RCPT TO:<b@x.test>", b"RCPT TO:<Postmaster>", b"DATA",
        b".", b"QUIT",
    ]  # fmt: skip


async def test_rcpts_pipelined_behind_a_refused_mail_are_refused_locally(
    provider: Provider, tmp_path: Path
) -> None:
    script = [
        (None, b"220 upstream ESMTP\r\n"),
        (b"EHLO", EHLO_PIPELINING),
        (b"AUTH XOAUTH2 ", b"235 2.7.0 ok\r\n"),
        (b"MAIL FROM:<a@x.test>", b"550 5.7.1 sender refused\r\n"),
        (b"RCPT TO:<b@x.test>", b"503 5.5.1 MAIL first\r\n"),
        (b"RCPT TO:<c@x.test>", b"503 5.5.1 MAIL first\r\n"),
        (b"QUIT", b"221 2.0.0 bye\r\n"),
    ]
    async with scripted_upstream(script) as (up_port, lines, finished):
        acct = account("smtp", provider, upstream_port=up_port, upstream_tls=TLSMode.PLAIN)
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with (
            running_proxy(acct, tokens, tmp_path) as port,
            await anyio.connect_tcp("127.0.0.1", port) as s,
        ):
            await s.send(b"EHLO c\r\nAUTH PLAIN " + PLAIN + b"\r\n")
            await read_until(s, b"235 ")
            await s.send(
                b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n"
                b"DATA\r\nQUIT\r\n"
            )
            got = await read_to_end(s)
        with anyio.fail_after(5):
            await finished.wait()
    assert got == (
        b"550 5.7.1 sender refused\r\n"
        b"503 5.5.1 Bad sequence of commands\r\n503 5.5.1 Bad sequence of commands\r\n"
        b"503 5.5.1 Bad sequence of commands\r\n221 2.0.0 localhost closing connection\r\n"
    )
    # DATA never went upstream: the local server refused it (no recipient).
    assert lines[2:] == [
        b"MAIL FROM:<a@x.test>", b"RCPT TO:<b@x.test>", b"RCPT TO:<c@x.test>", b"QUIT",
    ]  # fmt: skip
