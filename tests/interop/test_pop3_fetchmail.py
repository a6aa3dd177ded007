"""fetchmail against our POP3 server (plain, STLS, implicit TLS), delivering
to an MDA: every message arrives byte-identical, and with "no keep" the
deletions at QUIT take effect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protokit.net import InMemoryPOP3Backend
from protokit.pop3 import ServerConfig
from tests.interop.clients import run_client_async
from tests.interop.pop3_peers import fetchmailrc, our_pop3_server

MESSAGES = [
    b"From: a@example.test\r\nSubject: one\r\n\r\nfirst\r\n.dot line\r\n..two dots\r\n",
    b"From: b@example.test\r\nSubject: two\r\n\r\n" + b"x" * 990 + b"\r\n" * 3,
    b"From: c@example.test\r\nSubject: three\r\n\r\n.\r\nafter a lone dot\r\n",
]


@pytest.mark.parametrize("mode", ["plain", "stls", "ssl"])
async def test_fetchmail_downloads_and_deletes(tmp_path: Path, mode: str) -> None:
    backend = InMemoryPOP3Backend()
    backend.add_user("alice", "alicepw")
    for m in MESSAGES:
        backend.deliver("alice", m)
    out = tmp_path / "out"
    out.mkdir()
    # Plaintext USER/PASS is allowed on the loopback-only "plain" run.
    config = ServerConfig(allow_plaintext_auth=mode == "plain")
    async with our_pop3_server(tmp_path, backend, config) as srv:
        rc = fetchmailrc(
            tmp_path / "fetchmailrc",
            port=srv.implicit if mode == "ssl" else srv.plain,
            user="alice",
            password="alicepw",
            mode=mode,
            mda=f"/bin/sh -c 'cat > $(mktemp -p {out} msg.XXXXXX)'",
            cafile=srv.cafile,
            keep=False,
        )
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)}
        result = await run_client_async(
            ["fetchmail", "-N", "-d0", "-v", "--nosyslog", "-f", str(rc),
             "--idfile", str(tmp_path / "ids")],
            env=env, timeout=60,
        )  # fmt: skip
        log = result.stdout.decode(errors="replace")
        assert result.returncode == 0, log + result.stderr.decode(errors="replace")
        assert "3 messages for alice" in log
        if mode == "stls":
            assert "fetchmail: POP3> STLS" in log
            assert "upgrade to TLS succeeded" in log
        assert "fetchmail: POP3> PASS *" in log
        assert "fetchmail: POP3> QUIT" in log
    delivered = sorted(p.read_bytes() for p in out.iterdir())
    assert delivered == sorted(MESSAGES)
    assert backend.messages("alice") == []
    assert not backend.locked("alice")
