"""fetchmail against our IMAP server (plain, STARTTLS, implicit TLS),
delivering to an MDA: every message arrives byte-identical; "no keep"
flags them \\Deleted and expunges them, "keep" leaves them \\Seen so that
the next poll (without fetchall) finds nothing new."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protokit.imap import ServerConfig
from protokit.net import InMemoryIMAPBackend
from protokit.net._imap_server import DEFAULT_CAPABILITIES, DEFAULT_MECHANISMS  # not exported
from tests.interop.clients import run_client_async
from tests.interop.imap_server_peers import OurServer, fetchmailrc, our_imap_server

MESSAGES = [
    b"From: a@example.test\r\nSubject: one\r\n\r\nfirst\r\n.dot line\r\n",
    b"From: b@example.test\r\nSubject: two\r\n\r\n" + b"x" * 990 + b"\r\n" * 3,
    # 100 KB: more than a held literal; lines within RFC 5322's 998 octets
    # (fetchmail cuts longer ones at its 8 KB buffer)
    b"From: c@example.test\r\nSubject: three\r\n\r\n" + (bytes(range(33, 109)) + b"\r\n") * 1300,
]


def make_backend() -> InMemoryIMAPBackend:
    backend = InMemoryIMAPBackend()
    backend.add_user("alice", "alicepw")
    for m in MESSAGES:
        backend.deliver("alice", m)
    return backend


async def fetchmail(tmp_path: Path, srv: OurServer, mode: str, out: Path, keep: bool) -> str:
    rc = fetchmailrc(
        tmp_path / "fetchmailrc",
        port=srv.implicit if mode == "ssl" else srv.plain,
        user="alice",
        password="alicepw",
        mode=mode,
        mda=f"/bin/sh -c 'cat > $(mktemp -p {out} msg.XXXXXX)'",
        cafile=srv.cafile,
        keep=keep,
    )
    if keep:  # the second poll must see only unseen mail
        rc.write_text(rc.read_text().replace(" fetchall", ""))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)}
    result = await run_client_async(
        ["fetchmail", "-N", "-d0", "-v", "--nosyslog", "-f", str(rc),
         "--idfile", str(tmp_path / "ids")],
        env=env, timeout=60,
    )  # fmt: skip
    log = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert result.returncode in (0, 1), log  # 1: no mail
    return log


@pytest.mark.parametrize("mode", ["plain", "starttls", "ssl"])
async def test_fetchmail_downloads_and_deletes(tmp_path: Path, mode: str) -> None:
    backend = make_backend()
    out = tmp_path / "out"
    out.mkdir()
    # Plaintext LOGIN is allowed on the loopback-only "plain" run.
    config = ServerConfig(
        capabilities=DEFAULT_CAPABILITIES,
        mechanisms=DEFAULT_MECHANISMS,
        allow_plaintext=mode == "plain",
    )
    async with our_imap_server(tmp_path, backend, config) as srv:
        log = await fetchmail(tmp_path, srv, mode, out, keep=False)
    assert "3 messages for alice" in log, log
    if mode == "starttls":
        assert "IMAP> A0001 STARTTLS" in log, log
    assert "STORE 1 +FLAGS (\\Seen \\Deleted)" in log, log
    assert "IMAP< * 1 EXPUNGE" in log
    delivered = sorted(p.read_bytes() for p in out.iterdir())
    assert delivered == sorted(MESSAGES)
    assert backend.messages("alice") == []


async def test_fetchmail_keep_marks_seen(tmp_path: Path) -> None:
    backend = make_backend()
    out = tmp_path / "out"
    out.mkdir()
    async with our_imap_server(tmp_path, backend) as srv:
        log = await fetchmail(tmp_path, srv, "ssl", out, keep=True)
        assert "3 messages for alice" in log, log
        again = await fetchmail(tmp_path, srv, "ssl", out, keep=True)
        # fetchmail asks for unseen mail only, finds none (status 1: no mail)
        assert "IMAP> A0003 SEARCH UNSEEN UNDELETED\nfetchmail: IMAP< * SEARCH\n" in again
        assert "normal termination, status 1" in again, again
    assert sorted(p.read_bytes() for p in out.iterdir()) == sorted(MESSAGES)
    assert [(d, f) for _, d, f in backend.messages("alice")] == [(m, {"\\Seen"}) for m in MESSAGES]
