"""Real POP3 clients through the proxy to Dovecot (XOAUTH2/OAUTHBEARER by
introspection at the fake provider): poplib with STLS on both sides of the
proxy, curl over pop3s:// (SASL PLAIN), fetchmail with STLS, and a 20 MB
message relayed with bounded memory."""

from __future__ import annotations

import hashlib
import os
import poplib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from protokit.net import TLSMode
from tests.interop.clients import run_client_async
from tests.interop.oauth_provider import Provider
from tests.interop.peers import Dovecot, dovecot, make_cert
from tests.interop.pop3_peers import deliver_maildir, fetchmailrc

from .pop3_smtp_helpers import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    ProviderTokens,
    account,
    fresh_user,
    running_proxy,
)

MESSAGES = [
    b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n.leading dot\r\n",
    b"From: b@example.com\r\nSubject: two\r\n\r\nsecond\r\n\r\n..\r\nend\r\n",
]


#: The user the module's provider issues grants for (tests/proxy/conftest.py).
PROVIDER_USER = "alice"


@pytest.fixture(scope="module")
def upstream(provider: Provider) -> Iterator[Dovecot]:
    with dovecot(introspection_url=provider.dovecot_introspect_url) as d:
        yield d


async def test_poplib_stls_locally_and_upstream_oauthbearer(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES)
    cert = make_cert(tmp_path)
    acct = account(
        "pop3", provider, upstream_port=upstream.pop3, upstream_tls=TLSMode.STARTTLS,
        cafile=upstream.cert, listen_tls=TLSMode.STARTTLS, cert=cert,
        upstream_user=user, mechanisms=("OAUTHBEARER",),
    )  # fmt: skip
    tokens = ProviderTokens(provider, provider.issue(user))
    async with running_proxy(acct, tokens, tmp_path) as port:

        def session() -> None:
            c = poplib.POP3("127.0.0.1", port, timeout=10)
            before = c.capa()
            assert "STLS" in before and "USER" not in before and "SASL" not in before
            with pytest.raises(poplib.error_proto, match="USER/PASS needs TLS"):
                c.user(LOCAL_USER)
            c.stls(ssl.create_default_context(cafile=str(cert[0])))
            after = c.capa()
            assert "STLS" not in after and after["SASL"] == ["PLAIN"] and "USER" in after
            c.user(LOCAL_USER)
            c.pass_(LOCAL_PASSWORD)
            assert c.uidl()[1] == [b"1 " + c.uidl(1).split()[2], b"2 " + c.uidl(2).split()[2]]
            for i, m in enumerate(MESSAGES, 1):
                assert b"\r\n".join(c.retr(i)[1]) + b"\r\n" == m
                assert b"\r\n".join(c.top(i, 0)[1]) + b"\r\n" == m.split(b"\r\n\r\n")[0] + (
                    b"\r\n\r\n"
                )
            c.quit()

        await anyio.to_thread.run_sync(session)


async def test_curl_pop3s_sasl_plain(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    deliver_maildir(upstream, user, MESSAGES)
    cert = make_cert(tmp_path)
    acct = account(
        "pop3", provider, upstream_port=upstream.pop3s, upstream_tls=TLSMode.IMPLICIT,
        cafile=upstream.cert, listen_tls=TLSMode.IMPLICIT, cert=cert, upstream_user=user,
    )  # fmt: skip
    tokens = ProviderTokens(provider, provider.issue(user))
    async with running_proxy(acct, tokens, tmp_path) as port:
        result = await run_client_async(
            ["curl", "-sS", "-v", "--cacert", str(cert[0]), "--user",
             f"{LOCAL_USER}:{LOCAL_PASSWORD}", f"pop3s://127.0.0.1:{port}/2"],
            timeout=30,
        )  # fmt: skip
    log = result.stderr.decode(errors="replace")
    assert result.returncode == 0, log
    assert result.stdout == MESSAGES[1]
    assert "> AUTH PLAIN" in log


async def test_fetchmail_stls_fetches_and_deletes(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    files = deliver_maildir(upstream, user, MESSAGES)
    cert = make_cert(tmp_path)
    acct = account(
        "pop3", provider, upstream_port=upstream.pop3s, upstream_tls=TLSMode.IMPLICIT,
        cafile=upstream.cert, listen_tls=TLSMode.STARTTLS, cert=cert, upstream_user=user,
    )  # fmt: skip
    tokens = ProviderTokens(provider, provider.issue(user))
    out = tmp_path / "out"
    out.mkdir()
    async with running_proxy(acct, tokens, tmp_path) as port:
        rc = fetchmailrc(
            tmp_path / "fetchmailrc", port=port, user=LOCAL_USER, password=LOCAL_PASSWORD,
            mode="stls", mda=f"/bin/sh -c 'cat > $(mktemp -p {out} msg.XXXXXX)'",
            cafile=cert[0], keep=False,
        )  # fmt: skip
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)}
        result = await run_client_async(
            ["fetchmail", "-N", "-d0", "-v", "--nosyslog", "-f", str(rc),
             "--idfile", str(tmp_path / "ids")],
            env=env, timeout=60,
        )  # fmt: skip
    log = result.stdout.decode(errors="replace")
    assert result.returncode == 0, log + result.stderr.decode(errors="replace")
    assert "2 messages for me" in log
    assert "upgrade to TLS succeeded" in log
    assert sorted(p.read_bytes() for p in out.iterdir()) == sorted(MESSAGES)
    # fetchmail's QUIT reached Dovecot: the deletions were applied.
    assert not any(f.exists() for f in files)
    assert list(upstream.maildir(user).glob("*/*")) == []


def reset_peak_rss() -> None:
    """Reset this process's VmHWM to its current resident size (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def rss(field: str) -> int:
    """VmRSS or VmHWM of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _big_message(size: int) -> bytes:
    line = b"." + b"x" * 76 + b"\r\n"  # every line dot-stuffed on the wire
    head = b"From: big@example.com\r\nSubject: big\r\n\r\n"
    return head + line * ((size - len(head)) // len(line))


async def test_20_mb_retr_streams_with_bounded_memory(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    message = _big_message(20 * 1024 * 1024)
    stuffed = message.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    deliver_maildir(upstream, user, [message])
    acct = account(
        "pop3", provider, upstream_port=upstream.pop3s, upstream_tls=TLSMode.IMPLICIT,
        cafile=upstream.cert, upstream_user=user,
    )  # fmt: skip
    tokens = ProviderTokens(provider, provider.issue(user))
    async with running_proxy(acct, tokens, tmp_path) as port:

        def client() -> tuple[bytes, int]:
            # A client that hashes as it reads and keeps 64 KiB at most.
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                f = s.makefile("rb")
                assert f.readline().startswith(b"+OK")
                s.sendall(b"USER me\r\nPASS " + LOCAL_PASSWORD.encode() + b"\r\nRETR 1\r\n")
                assert f.readline() == b"+OK send PASS\r\n"
                assert f.readline().startswith(b"+OK")
                assert f.readline() == b"+OK %d octets\r\n" % len(message)
                digest = hashlib.sha256()
                wire = 0
                tail = b""
                while not tail.endswith(b"\r\n.\r\n"):
                    chunk = f.read1(65536)
                    assert chunk
                    wire += len(chunk)
                    digest.update(chunk)
                    tail = (tail + chunk)[-5:]
                s.sendall(b"QUIT\r\n")
                return digest.digest(), wire

        # Peak resident memory during the transfer, from the kernel (tracing
        # every allocation instead costs ~15 s here).
        reset_peak_rss()
        before = rss("VmRSS")
        digest, wire = await anyio.to_thread.run_sync(client)
        peak = rss("VmHWM") - before
    assert wire == len(stuffed)
    assert digest == hashlib.sha256(stuffed).digest()
    # The proxy held chunks, never the message (20 MiB): a few MiB at most
    # (``message`` and ``stuffed`` stay referenced, so their pages are not
    # reused for a copy).
    assert peak < 8 * 1024 * 1024, peak
