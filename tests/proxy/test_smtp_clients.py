"""Real SMTP clients through the proxy to aiosmtpd (XOAUTH2/OAUTHBEARER by
introspection at the fake provider): smtplib with STARTTLS and AUTH LOGIN,
swaks with STARTTLS, AUTH PLAIN and pipelining, curl over smtp:// with
--ssl-reqd, and msmtp with STARTTLS; the bytes arriving upstream are checked."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from protokit.net import TLSMode
from protokit.proxy import AccountConfig
from tests.interop.clients import run_client_async
from tests.interop.oauth_provider import Provider
from tests.interop.peers import make_cert

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    SmtpUpstream,
    account,
    running_proxy,
    smtp_upstream,
    wait_until,
)

MESSAGE = (
    b"From: me@example.com\r\nTo: you@example.com\r\nSubject: through the proxy\r\n\r\n"
    b"hello\r\n.a line with a leading dot\r\n\r\nbye\r\n"
)


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


@pytest.fixture(scope="module")
def implicit_upstream(
    provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SmtpUpstream]:
    with smtp_upstream(provider, tmp_path_factory.mktemp("up"), tls=TLSMode.IMPLICIT) as up:
        yield up


@pytest.fixture
def upstream(implicit_upstream: SmtpUpstream) -> SmtpUpstream:
    """The module's aiosmtpd (implicit TLS) with nothing received yet."""
    with implicit_upstream.lock:
        implicit_upstream.received.clear()
        implicit_upstream.mechanisms.clear()
    return implicit_upstream


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The proxy's listener certificate."""
    return make_cert(tmp_path_factory.mktemp("cert"))


def starttls_account(
    provider: Provider, up: SmtpUpstream, cert: tuple[Path, Path], **kw: object
) -> AccountConfig:
    return account(
        "smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.IMPLICIT,
        cafile=up.cert, listen_tls=TLSMode.STARTTLS, cert=cert, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def delivered(up: SmtpUpstream, count: int = 1) -> list[tuple[str, list[str], bytes, str]]:
    wait_until(lambda: len(up.messages()) >= count)
    return [(m.mail_from, m.rcpt_tos, m.data, m.user) for m in up.messages()]


async def test_smtplib_starttls_auth_login(
    provider: Provider, upstream: SmtpUpstream, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    acct = starttls_account(provider, upstream, cert, mechanisms=("OAUTHBEARER", "XOAUTH2"))
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with running_proxy(acct, tokens, tmp_path) as port:

        def session() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                c.ehlo("client.test")
                assert "auth" not in c.esmtp_features and "starttls" in c.esmtp_features
                code, _ = c.mail("me@example.com")
                assert code == 530  # TLS first
                c.rset()
                c.starttls(context=ssl.create_default_context(cafile=str(cert[0])))
                c.ehlo("client.test")
                assert c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
                assert "starttls" not in c.esmtp_features
                c.user, c.password = LOCAL_USER, LOCAL_PASSWORD
                assert c.auth("LOGIN", c.auth_login, initial_response_ok=False)[0] == 235
                refused = c.sendmail("me@example.com", ["you@example.com"], MESSAGE)
                assert refused == {}

        await anyio.to_thread.run_sync(session)
    assert delivered(upstream) == [("me@example.com", ["you@example.com"], MESSAGE, "alice")]
    assert upstream.mechanisms == ["OAUTHBEARER"]


async def test_smtplib_wrong_local_password_is_535_and_nothing_goes_upstream(
    provider: Provider, upstream: SmtpUpstream, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    acct = account("smtp", provider, upstream_port=upstream.port, upstream_tls=TLSMode.IMPLICIT,
                   cafile=upstream.cert)  # fmt: skip
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with running_proxy(acct, tokens, tmp_path) as port:

        def session() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                    c.login(LOCAL_USER, "wrong")
                assert err.value.smtp_code == 535
                assert c.mail("me@example.com")[0] == 530

        await anyio.to_thread.run_sync(session)
    assert upstream.mechanisms == [] and tokens.requests == 0


async def test_swaks_starttls_plain_pipelining(
    provider: Provider, upstream: SmtpUpstream, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    acct = starttls_account(provider, upstream, cert)
    tokens = ProviderTokens(provider, provider.issue("alice"))
    body = tmp_path / "message.eml"
    body.write_bytes(MESSAGE)
    async with running_proxy(acct, tokens, tmp_path) as port:
        result = await run_client_async(
            ["swaks", "-s", "127.0.0.1", "-p", str(port), "--tls", "--pipeline",
             "--auth", "PLAIN", "--auth-user", LOCAL_USER, "--auth-password", LOCAL_PASSWORD,
             "-f", "me@example.com", "-t", "you@example.com,other@example.com",
             "--data", str(body)],
            timeout=30,
        )  # fmt: skip
    log = result.stdout.decode(errors="replace")
    assert result.returncode == 0, log + result.stderr.decode(errors="replace")
    assert "<~  235 Authentication successful" in log
    # swaks writes its data, then CRLF "." CRLF: the line after "bye" is empty.
    assert delivered(upstream) == [
        ("me@example.com", ["you@example.com", "other@example.com"], MESSAGE + b"\r\n", "alice")
    ]


async def test_curl_smtp_ssl_reqd(
    provider: Provider, upstream: SmtpUpstream, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    acct = starttls_account(provider, upstream, cert)
    tokens = ProviderTokens(provider, provider.issue("alice"))
    body = tmp_path / "message.eml"
    body.write_bytes(MESSAGE)
    async with running_proxy(acct, tokens, tmp_path) as port:
        result = await run_client_async(
            ["curl", "-sS", "-v", "--ssl-reqd", "--cacert", str(cert[0]),
             f"smtp://127.0.0.1:{port}/client.test", "--user", f"{LOCAL_USER}:{LOCAL_PASSWORD}",
             "--mail-from", "me@example.com", "--mail-rcpt", "you@example.com",
             "--upload-file", str(body)],
            timeout=30,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert delivered(upstream) == [("me@example.com", ["you@example.com"], MESSAGE, "alice")]


async def test_msmtp_starttls(
    provider: Provider, upstream: SmtpUpstream, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    # With a Date and a Message-ID of its own, msmtp adds no header.
    message = b"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n" + MESSAGE
    acct = starttls_account(provider, upstream, cert)
    tokens = ProviderTokens(provider, provider.issue("alice"))
    async with running_proxy(acct, tokens, tmp_path) as port:
        rc = tmp_path / "msmtprc"
        rc.write_text(
            "account proxy\nhost 127.0.0.1\n"
            f"port {port}\ntls on\ntls_starttls on\ntls_trust_file {cert[0]}\n"
            f"auth plain\nuser {LOCAL_USER}\npassword {LOCAL_PASSWORD}\n"
            "from me@example.com\n"
        )
        rc.chmod(0o600)
        result = await run_client_async(
            ["msmtp", "-C", str(rc), "-a", "proxy", "you@example.com"], input=message, timeout=30
        )
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")
    assert delivered(upstream) == [("me@example.com", ["you@example.com"], message, "alice")]
