"""Real mail clients through the proxy to Dovecot (XOAUTH2/OAUTHBEARER by
introspection at the fake provider): IDLE woken by a second connection,
curl over implicit TLS (SASL-IR), fetchmail over STARTTLS."""

from __future__ import annotations

import imaplib
import os
from dataclasses import replace
from pathlib import Path

import anyio

from protokit.net import TLSMode
from tests.interop.clients import run_client_async
from tests.interop.imap_server_peers import fetchmailrc
from tests.interop.oauth_provider import Provider
from tests.interop.peers import Dovecot, make_cert
from tests.interop.pop3_peers import deliver_maildir

from .conftest import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    GrantTokens,
    Peer,
    fresh_user,
    imap_account,
    running_proxy,
)

MESSAGES = [
    b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n",
    b"From: b@example.com\r\nSubject: two\r\n\r\n" + (b"y" * 70 + b"\r\n") * 1500,
]


async def test_idle_is_woken_by_a_second_connection(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES[:1])
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    async with running_proxy(imap_account(provider, upstream, user), tokens, tmp_path) as info:
        port = info.port("work")
        async with Peer(await anyio.connect_tcp("127.0.0.1", port)) as c:
            await c.line()
            await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\nb SELECT INBOX\r\n")
            assert (await c.line()).startswith(b"a OK [CAPABILITY IMAP4rev1 ")
            while not (line := await c.line()).startswith(b"b "):
                pass
            assert line.startswith(b"b OK [READ-WRITE] Select completed")
            await c.send(b"c IDLE\r\n")
            assert await c.line() == b"+ idling\r\n"

            def append_elsewhere() -> str:
                other = imaplib.IMAP4("127.0.0.1", port, timeout=10)
                other.login(LOCAL_USER, LOCAL_PASSWORD)
                typ, _ = other.append("INBOX", None, None, MESSAGES[1])
                other.logout()
                return typ

            assert await anyio.to_thread.run_sync(append_elsewhere) == "OK"
            assert await c.line() == b"* 2 EXISTS\r\n"
            await c.send(b"DONE\r\n")
            while not (line := await c.line()).startswith(b"c "):
                assert line.startswith(b"* ")
            assert line.startswith(b"c OK Idle completed")
            await c.send(b"d LOGOUT\r\n")
            assert await c.line() == b"* BYE Logging out\r\n"
            assert (await c.line()).startswith(b"d OK Logout completed")
            assert await c.closed()


async def test_curl_over_implicit_tls_fetches_exact_bytes(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES)
    cert, key = make_cert(tmp_path)
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    acct = replace(
        imap_account(provider, upstream, user, upstream_tls=TLSMode.STARTTLS),
        listen_tls=TLSMode.IMPLICIT,
        cert_file=cert,
        key_file=key,
    )
    async with running_proxy(acct, tokens, tmp_path) as info:
        base = f"imaps://localhost:{info.port('work')}/INBOX"
        for uid, message in ((1, MESSAGES[0]), (2, MESSAGES[1])):
            result = await run_client_async(
                ["curl", "-sS", "-v", "--max-time", "20", "--cacert", str(cert),
                 "-u", f"{LOCAL_USER}:{LOCAL_PASSWORD}", f"{base};UID={uid}"],
                timeout=30,
            )  # fmt: skip
            log = result.stderr.decode(errors="replace")
            assert result.returncode == 0, log
            assert result.stdout == message
            # curl logs in with SASL-IR: the initial response on the command line
            assert "> A002 AUTHENTICATE PLAIN " in log, log


async def test_fetchmail_over_starttls_downloads_every_message(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES)
    cert, key = make_cert(tmp_path)
    tokens = GrantTokens(provider, {"work": provider.issue(user)})
    acct = replace(
        imap_account(provider, upstream, user),
        listen_tls=TLSMode.STARTTLS,
        cert_file=cert,
        key_file=key,
    )
    out = tmp_path / "out"
    out.mkdir()
    async with running_proxy(acct, tokens, tmp_path) as info:
        rc = fetchmailrc(
            tmp_path / "fetchmailrc",
            port=info.port("work"),
            user=LOCAL_USER,
            password=LOCAL_PASSWORD,
            mode="starttls",
            mda=f"/bin/sh -c 'cat > $(mktemp -p {out} msg.XXXXXX)'",
            cafile=cert,
            keep=False,
        )
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)}
        result = await run_client_async(
            ["fetchmail", "-N", "-d0", "-v", "--nosyslog", "-f", str(rc),
             "--idfile", str(tmp_path / "ids")],
            env=env, timeout=60,
        )  # fmt: skip
    log = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert result.returncode == 0, log
    assert "IMAP> A0001 STARTTLS" in log, log
    assert "2 messages for me" in log, log
    # "no stripcr": the MDA gets the octets as stored, CRLF and all
    assert sorted(p.read_bytes() for p in out.iterdir()) == sorted(MESSAGES)
    # "no keep": deleted and expunged upstream
    assert list(upstream.maildir(user).glob("cur/*")) == []
