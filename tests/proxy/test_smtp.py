"""The SMTP side of the proxy against a real upstream: aiosmtpd offering
XOAUTH2 and OAUTHBEARER, each token introspected at the fake provider."""

from __future__ import annotations

import smtplib
from pathlib import Path

import anyio

from protokit.net import TLSMode
from protokit.proxy._smtp import local_extensions
from protokit.smtp import Extension, Reply
from protokit.smtp._parse import parse_capabilities
from tests.interop.oauth_provider import Provider

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    account,
    running_proxy,
    smtp_upstream,
)

MESSAGE = (
    b"From: me@example.com\r\nTo: you@example.com\r\nSubject: hi\r\n\r\n"
    b"line one\r\n.starts with a dot\r\n..two dots\r\n"
)


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


async def test_smtplib_plain_and_login_exact_bytes_upstream_starttls(
    provider: Provider, tmp_path: Path
) -> None:
    with smtp_upstream(provider, tmp_path, tls=TLSMode.STARTTLS) as up:
        acct = account(
            "smtp", provider, upstream_port=up.port, upstream_tls=TLSMode.STARTTLS,
            cafile=up.cert,
        )  # fmt: skip
        tokens = ProviderTokens(provider, provider.issue("alice"))
        async with running_proxy(acct, tokens, tmp_path) as port:

            def session(mechanism: str) -> None:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                    code, text = c.ehlo("client.test")
                    assert code == 250
                    assert text.decode().split("\n") == [
                        "localhost Hello client.test",
                        "SIZE 33554432",
                        "8BITMIME",
                        "SMTPUTF8",
                        "AUTH PLAIN LOGIN",
                    ]
                    c.login(LOCAL_USER, LOCAL_PASSWORD, initial_response_ok=True)
                    c.sendmail("me@example.com", ["you@example.com"], MESSAGE)

            await anyio.to_thread.run_sync(session, "PLAIN")
        got = up.messages()
        assert [(m.mail_from, m.rcpt_tos, m.data, m.user) for m in got] == [
            ("me@example.com", ["you@example.com"], MESSAGE, "alice")
        ]
        assert up.mechanisms == ["XOAUTH2"]


def test_local_ehlo_is_rebuilt_from_the_upstreams_parsed_keywords() -> None:
    reply = Reply(
        code=250,
        lines=(
            "upstream.test", "PIPELINING", "SIZE 35882577", "8BITMIME", "SMTPUTF8",
            "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN", "STARTTLS",
            "AUTH XOAUTH2 OAUTHBEARER", "REQUIRETLS",
        ),
    )  # fmt: skip
    extensions, size = local_extensions(parse_capabilities(reply))
    assert extensions == {
        Extension.PIPELINING, Extension.SIZE, Extension.EIGHTBITMIME, Extension.SMTPUTF8,
        Extension.ENHANCEDSTATUSCODES,
    }  # fmt: skip
    assert size == 35882577
    assert local_extensions(None) == (frozenset(), 64 * 1024 * 1024)
