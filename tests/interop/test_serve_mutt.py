"""mutt, the terminal mail reader, against ``protokit serve`` (a
subprocess), verifying the server's certificate.

Sending: ``mutt -s SUBJECT -- rcpt < body`` in batch mode submits over
587+offset with STARTTLS (``ssl_force_tls``) and SASL; the recipient's
INBOX holds mutt's message (its headers, the body with CRLF), the sender's
Sent an identical \\Seen copy.  With a CA file that does not hold the
server's certificate mutt refuses to send and nothing arrives.

Reading: mutt, in a terminal (``script``), opens INBOX over IMAPS
(993+offset) and over IMAP with STARTTLS (143+offset) and pipes the
message to ``cat`` through a pushed ``<pipe-message>``: the piped bytes
are the server's FETCH BODY[] with every CRLF turned into LF.  Leaving,
mutt marks the message it showed as old with its "Old" keyword (the server
allows keywords)."""

from __future__ import annotations

import imaplib
import os
import re
import shlex
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.interop.clients import run_client
from tests.interop.peers import require_program
from tests.interop.serve_peers import Served, serving_accounts

PASSWORD = "mutt-pw"
USERS = ("alice", "bob", "carol", "reader-imaps", "reader-imap")
TIMEOUT = 20
BODY = b"hello bob\n.leading dot\n\nfrom mutt\n"


def address(user: str) -> str:
    return f"{user}@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    users = {address(u): PASSWORD for u in USERS}
    with serving_accounts(tmp_path_factory.mktemp("serve-mutt") / "data", users) as served:
        yield served


def muttrc(served: Served, tmp_path: Path, user: str, *, cafile: Path | None = None) -> Path:
    """The user's muttrc: 587 with STARTTLS for sending, IMAP to read."""
    rc = tmp_path / "muttrc"
    rc.write_text(
        f'set from = "{address(user)}"\n'
        f'set realname = "Mutt User"\n'
        f'set smtp_url = "smtp://{user}%40example.com@localhost:{served.port("submission")}/"\n'
        f'set smtp_pass = "{PASSWORD}"\n'
        f'set imap_user = "{address(user)}"\n'
        f'set imap_pass = "{PASSWORD}"\n'
        "set ssl_starttls = yes\n"
        "set ssl_force_tls = yes\n"
        f'set ssl_ca_certificates_file = "{cafile or served.cafile}"\n'
        f'set certificate_file = "{tmp_path}/certificates"\n'
        f'set folder = "{tmp_path}"\n'  # else mutt asks to create ~/Mail
        "set connect_timeout = 10\n"
        'set record = ""\n'
        'set header_cache = ""\n'
        'set message_cachedir = ""\n'
        "set quit = yes\n"
        "set wait_key = no\n"
        "set mail_check = 0\n"
        "set sleep_time = 0\n"
        "set pipe_decode = no\n"
    )
    return rc


def env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TERM": "xterm"}


def imaps(served: Served, user: str) -> imaplib.IMAP4_SSL:
    ctx = ssl.create_default_context(cafile=str(served.cafile))
    ctx.check_hostname = False  # we dial 127.0.0.1
    imap = imaplib.IMAP4_SSL("127.0.0.1", served.port("imaps"), ssl_context=ctx, timeout=TIMEOUT)
    imap.login(address(user), PASSWORD)
    return imap


def mailbox(served: Served, user: str, name: str) -> list[tuple[bytes, bytes]]:
    """(FLAGS, BODY[]) of every message, read without setting \\Seen."""
    imap = imaps(served, user)
    try:
        assert imap.select(name, readonly=True)[0] == "OK"
        typ, data = imap.uid("SEARCH", "ALL")
        assert typ == "OK"
        if not data[0]:
            return []
        typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK"
        out = []
        for item in data:
            if isinstance(item, tuple):
                found = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                assert found is not None, item[0]
                out.append((found[1], item[1]))
        return out
    finally:
        imap.logout()


def send(served: Served, tmp_path: Path, rc: Path, to: str) -> subprocess.CompletedProcess[bytes]:
    return run_client(
        ["mutt", "-n", "-F", str(rc), "-s", "from mutt", "--", address(to)],
        input=BODY,
        env=env(tmp_path),
        timeout=60,
    )


def test_send_over_submission_starttls(server: Served, tmp_path: Path) -> None:
    result = send(server, tmp_path, muttrc(server, tmp_path, "alice"), "bob")
    assert result.returncode == 0, result.stdout + result.stderr
    [(flags, data)] = mailbox(server, "bob", "INBOX")
    assert flags == b""
    header, _, body = data.partition(b"\r\n\r\n")
    assert body == BODY.replace(b"\n", b"\r\n")
    lines = header.split(b"\r\n")
    assert re.fullmatch(rb"Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", lines[0])
    assert re.fullmatch(rb"Message-ID: <[^<>@\s]+@[^<>@\s]+>", lines[4]), lines[4]
    assert lines[1:4] + lines[5:] == [
        b"From: Mutt User <alice@example.com>",
        b"To: bob@example.com",
        b"Subject: from mutt",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=us-ascii",
        b"Content-Disposition: inline",
    ]
    # serve filed the sender's copy: the same bytes, \Seen.
    assert mailbox(server, "alice", "Sent") == [(b"\\Seen", data)]


def test_send_refused_with_an_untrusted_certificate(server: Served, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = send(server, tmp_path, muttrc(server, tmp_path, "alice", cafile=other), "carol")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert b"Untrusted server certificate" in output
    assert b"Could not send the message." in output
    assert PASSWORD.encode() not in output
    assert mailbox(server, "carol", "INBOX") == []


def run_in_terminal(argv: list[str], tmp_path: Path, timeout: float = 30) -> bytes:
    """``argv`` in a pseudo-terminal (``script``), its input kept open as a
    terminal's is, until it exits (bounded by ``timeout``); what it drew on
    the screen.  Keys come only from what the command pushes itself: any
    prompt it did not expect eats them, and the test fails on what is
    missing rather than hanging."""
    script = require_program("script")
    screen = tmp_path / "screen"
    with screen.open("wb") as out:
        proc = subprocess.Popen(
            [script, "-qec", shlex.join(argv), "/dev/null"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env(tmp_path),
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
            pytest.fail(f"{argv[0]} did not exit in {timeout} s: {screen.read_bytes()!r}")
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
    drawn = screen.read_bytes()
    assert code == 0, drawn
    return drawn


@pytest.mark.parametrize("listener", ["imaps", "imap"])
def test_read_over_imap_pipe_message(server: Served, tmp_path: Path, listener: str) -> None:
    user = f"reader-{listener}"
    sent = (
        f"From: sender@remote.example\r\nTo: {address(user)}\r\nSubject: for mutt\r\n\r\n"
        "line one\r\n.leading dot\r\n\r\n"
    ).encode() + (bytes(range(33, 127)) + b"\r\n") * 50
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=TIMEOUT) as smtp:
        assert smtp.sendmail("sender@remote.example", [address(user)], sent) == {}
    assert mailbox(server, user, "INBOX") == [(b"", sent)]

    mutt = require_program("mutt")
    scheme = "imaps" if listener == "imaps" else "imap"
    url = f"{scheme}://localhost:{server.port(listener)}/INBOX"
    drawn = run_in_terminal(
        [
            mutt, "-n", "-F", str(muttrc(server, tmp_path, user)), "-f", url,
            "-e", 'push "<pipe-message>cat > piped<enter><quit>"',
        ],
        tmp_path,
    )  # fmt: skip
    assert b"Authenticating (SCRAM-SHA-256)..." in drawn, drawn
    assert PASSWORD.encode() not in drawn
    assert (tmp_path / "piped").read_bytes() == sent.replace(b"\r\n", b"\n")
    # Still there, not \Seen (piping is not reading); mutt's "Old" keyword.
    assert mailbox(server, user, "INBOX") == [(b"Old", sent)]
