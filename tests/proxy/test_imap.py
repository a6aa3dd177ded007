"""The IMAP side of the proxy with real clients against a real upstream:
Dovecot authenticating XOAUTH2/OAUTHBEARER by introspection at the fake
OAuth provider."""

from __future__ import annotations

import imaplib
import logging
from pathlib import Path

import anyio
import pytest

from tests.interop.oauth_provider import Provider
from tests.interop.peers import Dovecot
from tests.interop.pop3_peers import deliver_maildir

from .conftest import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    GrantTokens,
    fresh_user,
    imap_account,
    running_proxy,
)

MESSAGES = [
    b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n",
    # above the framer's 64 KiB: streamed through the proxy in chunks
    b"From: b@example.com\r\nSubject: two\r\n\r\n" + b"x" * 70000 + b"\r\nend\r\n",
]
PRE_LOGIN_CAPS = (
    "IMAP4REV1",
    "ID",
    "ENABLE",
    "IDLE",
    "LITERAL+",
    "SASL-IR",
    "AUTH=PLAIN",
    "AUTH=LOGIN",
)
# Dovecot's post-login list, less nothing it offers (no AUTH=, STARTTLS there).
POST_LOGIN_CAPS = (
    b"IMAP4rev1 ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    b"THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE "
    b"UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN "
    b"CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE "
    b"SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)


async def test_imaplib_login_fetch_literals_append_literal_logout(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES)
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    appended = b"Subject: new\r\n\r\nappended through the proxy\r\n"
    async with running_proxy(imap_account(provider, upstream, user), tokens, tmp_path) as info:
        port = info.port("work")

        def session() -> None:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            assert c.welcome == (
                b"* OK [CAPABILITY IMAP4rev1 ID ENABLE IDLE LITERAL+ SASL-IR AUTH=PLAIN "
                b"AUTH=LOGIN] protokit proxy ready"
            )
            assert c.capabilities == PRE_LOGIN_CAPS
            assert c.login(LOCAL_USER, LOCAL_PASSWORD) == (
                "OK",
                [b"[CAPABILITY " + POST_LOGIN_CAPS + b"] Logged in"],
            )
            assert c.select("INBOX") == ("OK", [b"2"])
            typ, data = c.fetch("1:2", "(BODY.PEEK[])")
            assert typ == "OK"
            assert data == [
                (b"1 (BODY[] {%d}" % len(MESSAGES[0]), MESSAGES[0]),
                b")",
                (b"2 (BODY[] {%d}" % len(MESSAGES[1]), MESSAGES[1]),
                b")",
            ]
            # imaplib sends the message as a synchronizing literal: the proxy
            # relays Dovecot's "+" and only then the octets.
            typ, data = c.append("INBOX", None, None, appended)
            assert typ == "OK" and data[0].startswith(b"[APPENDUID ")
            typ, data = c.fetch("3", "(BODY.PEEK[])")
            assert data[0] == (b"3 (BODY[] {%d}" % len(appended), appended)
            assert c.logout() == ("BYE", [b"Logging out"])

        await anyio.to_thread.run_sync(session)
    assert tokens.calls == 1


async def test_wrong_local_password_is_refused_without_asking_for_a_token(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    async with running_proxy(imap_account(provider, upstream, user), tokens, tmp_path) as info:
        port = info.port("work")

        def session() -> str:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            with pytest.raises(imaplib.IMAP4.error) as failed:
                c.login(LOCAL_USER, "wrong")
            c.logout()
            return str(failed.value)

        assert await anyio.to_thread.run_sync(session) == (
            "b'[AUTHENTICATIONFAILED] Authentication failed'"
        )
    assert tokens.calls == 0


async def test_revoked_grant_tells_the_client_and_the_log_names_the_command(
    provider: Provider, upstream: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = fresh_user()
    grant = provider.issue(user)
    provider.revoke(grant)
    tokens = GrantTokens(provider, {"work": grant})
    caplog.set_level(logging.WARNING, logger="protokit.proxy")
    async with running_proxy(imap_account(provider, upstream, user), tokens, tmp_path) as info:
        port = info.port("work")

        def session() -> str:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            with pytest.raises(imaplib.IMAP4.error) as failed:
                c.login(LOCAL_USER, LOCAL_PASSWORD)
            c.logout()
            return str(failed.value)

        assert await anyio.to_thread.run_sync(session) == (
            "b'[AUTHORIZATIONFAILED] authorization needed: run protokit proxy authorize work'"
        )
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "account=work authorization needed (the provider refused the refresh token): "
        "run protokit proxy authorize work"
    ]


async def test_oauthbearer_upstream_and_authenticate_plain_without_sasl_ir(
    provider: Provider, upstream: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES[:1])
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    acct = imap_account(provider, upstream, user, mechanisms=("OAUTHBEARER", "XOAUTH2"))
    caplog.set_level(logging.DEBUG)
    async with running_proxy(acct, tokens, tmp_path) as info:
        port = info.port("work")

        def session() -> None:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            # imaplib sends "AUTHENTICATE PLAIN", waits for "+", then the response
            typ, _ = c.authenticate(
                "PLAIN", lambda _challenge: f"\0{LOCAL_USER}\0{LOCAL_PASSWORD}".encode()
            )
            assert typ == "OK"
            assert c.select("INBOX") == ("OK", [b"1"])
            assert c.fetch("1", "(BODY.PEEK[])")[1][0] == (
                b"1 (BODY[] {%d}" % len(MESSAGES[0]),
                MESSAGES[0],
            )
            c.logout()

        await anyio.to_thread.run_sync(session)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"account=work logged in upstream as {user} with OAUTHBEARER" in logged
    # Neither the local password nor any token reaches a log line.
    assert LOCAL_PASSWORD not in logged
    for grant in tokens.grants.values():
        for token in grant.access_tokens:
            assert token not in logged
