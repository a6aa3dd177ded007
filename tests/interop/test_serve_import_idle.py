"""``protokit import`` run while ``protokit serve`` runs on the same data
directory: the import is another process, and an IMAP client idling on
INBOX (Python's imaplib over 993, IDLE by its low-level send and readline,
every read under the socket timeout) hears ``* 2 EXISTS`` for the two
imported messages without re-selecting, and FETCH returns their bytes
exactly; serve still stops with exit code 0 on SIGTERM."""

from __future__ import annotations

import imaplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.serve_peers import Served, protokit_command, run, serving_accounts

USERS = {"alice@example.com": "alice-pw"}
TIMEOUT = 20
MBOX = (
    b"From someone@example.com Thu Nov 26 17:59:27 2026\n"
    b"Subject: imported one\n"
    b"\n"
    b"first body\n"
    b"\n"
    b"From other@example.com Thu Nov 26 18:00:00 2026\n"
    b"Subject: imported two\n"
    b"\n"
    b"second body\n"
    b">From quoted\n"
)
# LF line endings become CRLF, the empty line before a From_ line is the
# separator's, and '>From ' quoting is undone.
EXPECTED = [
    b"Subject: imported one\r\n\r\nfirst body\r\n",
    b"Subject: imported two\r\n\r\nsecond body\r\nFrom quoted\r\n",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with serving_accounts(tmp_path / "data", USERS) as served:
        yield served


def imaps(served: Served) -> imaplib.IMAP4_SSL:
    ctx = ssl.create_default_context(cafile=str(served.cafile))
    ctx.check_hostname = False  # the certificate names localhost; we dial 127.0.0.1
    return imaplib.IMAP4_SSL("127.0.0.1", served.port("imaps"), ssl_context=ctx, timeout=TIMEOUT)


def test_idle_hears_a_concurrent_import(server: Served, tmp_path: Path) -> None:
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(MBOX)
    imap = imaps(server)
    try:
        imap.login("alice@example.com", "alice-pw")
        assert imap.select("INBOX") == ("OK", [b"0"])
        tag = imap._new_tag()
        imap.send(tag + b" IDLE\r\n")
        assert imap.readline() == b"+ idling\r\n"
        imported = run(
            protokit_command(
                "import", "alice@example.com", str(mbox), "--data-dir", str(server.data_dir)
            )
        )
        assert imported.returncode == 0, imported.stderr
        done = time.monotonic()
        # The socket timeout bounds the wait; the watcher looks every 0.25 s.
        assert imap.readline() == b"* 2 EXISTS\r\n"
        assert time.monotonic() - done < 5
        imap.send(b"DONE\r\n")
        assert imap.readline() == tag + b" OK IDLE terminated\r\n"
        typ, data = imap.uid("FETCH", "1:2", "(BODY.PEEK[])")
        assert typ == "OK"
        assert [part[1] for part in data if isinstance(part, tuple)] == EXPECTED
        # Nothing more is pending: the import is reported once.
        imap.untagged_responses.clear()
        typ, data = imap.noop()
        assert (typ, data) == ("OK", [b"NOOP completed"])
        assert imap.untagged_responses == {}
    finally:
        imap.logout()
