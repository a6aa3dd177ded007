"""``protokit serve``'s IMAP listeners end to end, with real clients only:
the server runs as ``python -m protokit.cli serve`` on a free port offset;
swaks submits over 587+STARTTLS and curl over 465, and Python's imaplib
reads the messages back over 143+STARTTLS and 993 (exact bytes), as curl
does over imap:// and imaps://; imaplib authenticates with XOAUTH2 using a
token from ``protokit token issue`` and gets the error challenge for a bad
one; LOGIN is refused before STARTTLS; an IDLE (imaplib's low-level send
and readline, every read under a socket timeout) hears "* 1 EXISTS" when
smtplib delivers through the MX listener; a token session ends with the
server's BYE when the token expires; flags persist across connections;
MOVE to Trash; curl APPENDs a draft; imapclient (the library a Python user
would pick for Gmail) finds the special-use folders, labels a message with
X-GM-LABELS and hears a delivery in IDLE."""

from __future__ import annotations

import imaplib
import json
import re
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protokit.server import TOKEN_PREFIX
from tests.interop.peers import require_program
from tests.interop.serve_peers import Served, protokit_command, run, serving_accounts

USERS = {
    "alice@example.com": "alice-pw",
    "bob@example.com": "bob-pw",
    "carol@example.com": "carol-pw",
    "dave@example.com": "dave-pw",
    "erin@example.com": "erin-pw",
    "frank@example.com": "frank-pw",
}
TIMEOUT = 20
MESSAGE = (
    b"Subject: via curl 465\r\nFrom: alice@example.com\r\nTo: bob@example.com\r\n\r\n"
    b"exact body\r\n.leading dot\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # the log never holds a password or a token (checked when it stops)
    data = tmp_path_factory.mktemp("serve-imap") / "data"
    with serving_accounts(data, USERS, secrets=(TOKEN_PREFIX,)) as served:
        yield served


def tls_context(served: Served) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(served.cafile))
    ctx.check_hostname = False  # the certificate names localhost; we dial 127.0.0.1
    return ctx


def imaps(served: Served) -> imaplib.IMAP4_SSL:
    return imaplib.IMAP4_SSL(
        "127.0.0.1", served.port("imaps"), ssl_context=tls_context(served), timeout=TIMEOUT
    )


def imap_starttls(served: Served) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", served.port("imap"), timeout=TIMEOUT)
    imap.starttls(tls_context(served))
    return imap


def issue_token(served: Served, address: str, *extra: str) -> str:
    issued = run(
        protokit_command("token", "issue", address, "--data-dir", str(served.data_dir), *extra)
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith(TOKEN_PREFIX)
    return token


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def curl_upload(served: Served, tmp_path: Path) -> None:
    curl = require_program("curl")
    eml = tmp_path / "m.eml"
    eml.write_bytes(MESSAGE)
    result = run(
        [
            curl, "-sS", "--cacert", str(served.cafile), "--max-time", str(TIMEOUT),
            f"smtps://127.0.0.1:{served.port('submissions')}",
            "--mail-from", "alice@example.com", "--mail-rcpt", "bob@example.com",
            "-u", "alice@example.com:alice-pw", "-T", str(eml),
        ]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_submitted_mail_read_back_over_imap(server: Served, tmp_path: Path) -> None:
    swaks = require_program("swaks")
    sent = run(
        [
            swaks, "--server", f"127.0.0.1:{server.port('submission')}", "--timeout", "20",
            "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.com",
            "--auth-password", "alice-pw", "-f", "alice@example.com", "-t", "bob@example.com",
            "--header", "Subject: via swaks 587", "--body", "swaks body",
        ]
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    curl_upload(server, tmp_path)
    # imaplib over 143 with STARTTLS.
    imap = imap_starttls(server)
    try:
        assert imap.login("bob@example.com", "bob-pw")[0] == "OK"
        assert imap.select("INBOX") == ("OK", [b"2"])
        typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        assert [d[1] for d in data if isinstance(d, tuple)] == [
            b"Subject: via swaks 587\r\n\r\n",
            b"Subject: via curl 465\r\n\r\n",
        ]
        typ, data = imap.uid("FETCH", "2", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == MESSAGE  # type: ignore[index]
    finally:
        imap.logout()
    # imaplib over 993; reading BODY[] marks it \Seen.
    imap = imaps(server)
    try:
        imap.login("bob@example.com", "bob-pw")
        imap.select("INBOX")
        typ, data = imap.fetch("2", "(BODY[])")
        assert typ == "OK"
        assert data[0] == (b"2 (FLAGS (\\Seen) BODY[] {%d}" % len(MESSAGE), MESSAGE)
    finally:
        imap.logout()
    # curl over imap:// (STARTTLS) and imaps://, byte for byte.
    curl = require_program("curl")
    for url, extra in (
        (f"imap://127.0.0.1:{server.port('imap')}/INBOX;UID=2", ["--ssl-reqd"]),
        (f"imaps://127.0.0.1:{server.port('imaps')}/INBOX;UID=2", []),
    ):
        fetched = subprocess.run(
            [
                curl, "-sS", *extra, "--cacert", str(server.cafile), "--max-time", str(TIMEOUT),
                "-u", "bob@example.com:bob-pw", url,
            ],
            capture_output=True, timeout=TIMEOUT + 10, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == MESSAGE
    # Alice's copy is in her Sent, \Seen.
    imap = imaps(server)
    try:
        imap.login("alice@example.com", "alice-pw")
        assert imap.select("Sent", readonly=True) == ("OK", [b"2"])
        typ, data = imap.uid("FETCH", "2", "(FLAGS BODY.PEEK[])")
        assert data[0] == (b"2 (UID 2 FLAGS (\\Seen) BODY[] {%d}" % len(MESSAGE), MESSAGE)
    finally:
        imap.logout()


def test_login_refused_before_starttls(server: Served) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=TIMEOUT)
    try:
        assert "LOGINDISABLED" in imap.capabilities
        assert "STARTTLS" in imap.capabilities
        assert "AUTH=PLAIN" not in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error) as info:
            imap.login("alice@example.com", "alice-pw")
        assert str(info.value) == "b'[PRIVACYREQUIRED] LOGIN is disabled without TLS'"
        imap.starttls(tls_context(server))
        assert "LOGINDISABLED" not in imap.capabilities
        assert {"AUTH=PLAIN", "AUTH=XOAUTH2", "IDLE", "MOVE", "CONDSTORE"} <= set(
            imap.capabilities
        )
        assert imap.login("alice@example.com", "alice-pw")[0] == "OK"
    finally:
        imap.logout()


def test_xoauth2_token_and_error_challenge(server: Served) -> None:
    token = issue_token(server, "alice@example.com")
    imap = imaps(server)
    try:
        challenges: list[bytes] = []

        def bad(challenge: bytes) -> bytes:
            challenges.append(challenge)
            return xoauth2("alice@example.com", "pk_nope") if len(challenges) == 1 else b""

        with pytest.raises(imaplib.IMAP4.error) as info:
            imap.authenticate("XOAUTH2", bad)
        # imaplib (no SASL-IR) gets "+ " first, then the error challenge,
        # which it answers with an empty line; then NO.
        assert challenges[0] == b""
        assert json.loads(challenges[1]) == {
            "status": "401",
            "schemes": "bearer",
            "scope": "https://mail.google.com/",
        }
        assert str(info.value) == "[AUTHENTICATIONFAILED] Authentication failed"
        typ, _ = imap.authenticate("XOAUTH2", lambda _: xoauth2("alice@example.com", token))
        assert typ == "OK"
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()


def test_idle_hears_mail_delivered_over_smtp(server: Served) -> None:
    imap = imaps(server)
    try:
        imap.login("carol@example.com", "carol-pw")
        assert imap.select("INBOX") == ("OK", [b"0"])
        tag = imap._new_tag()  # type: ignore[attr-defined]
        imap.send(tag + b" IDLE\r\n")
        assert imap.readline() == b"+ idling\r\n"
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=TIMEOUT) as smtp:
            assert (
                smtp.sendmail(
                    "x@remote.example", ["carol@example.com"], b"Subject: ping\r\n\r\nhi\r\n"
                )
                == {}
            )
        # The socket timeout bounds the wait.
        assert imap.readline() == b"* 1 EXISTS\r\n"
        imap.send(b"DONE\r\n")
        assert imap.readline() == tag + b" OK IDLE terminated\r\n"
    finally:
        imap.logout()


def test_token_session_ends_with_bye_when_the_token_expires(server: Served) -> None:
    started = time.time()
    token = issue_token(server, "dave@example.com", "--expires-in", "2")
    imap = imaps(server)
    try:
        typ, _ = imap.authenticate("XOAUTH2", lambda _: xoauth2("dave@example.com", token))
        assert typ == "OK"
        assert imap.select("INBOX")[0] == "OK"
        # Block on the read (bounded by the socket timeout) until the server speaks.
        assert imap.readline() == b"* BYE [EXPIRED] The access token expired, log in again\r\n"
        assert imap.readline() == b""  # and closes
        assert time.time() - started >= 1
    finally:
        imap.shutdown()


def test_flags_persist_and_move_to_trash(server: Served) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=TIMEOUT) as smtp:
        for n in (1, 2):
            message = f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode()
            assert smtp.sendmail("x@remote.example", ["erin@example.com"], message) == {}
    imap = imaps(server)
    try:
        imap.login("erin@example.com", "erin-pw")
        imap.select("INBOX")
        typ, data = imap.store("1", "+FLAGS", "(\\Flagged $Later)")
        assert (typ, data) == ("OK", [b"1 (FLAGS (\\Flagged $Later))"])
    finally:
        imap.logout()
    imap = imap_starttls(server)
    try:
        imap.login("erin@example.com", "erin-pw")
        imap.select("INBOX")
        assert imap.fetch("1:*", "(FLAGS)") == (
            "OK",
            [b"1 (FLAGS (\\Flagged $Later))", b"2 (FLAGS ())"],
        )
        typ, data = imap.uid("MOVE", "1", "Trash")
        assert typ == "OK"
        assert data == [None]
        copyuid = imap.untagged_responses.get("OK", [])
        assert any(re.fullmatch(rb"\[COPYUID \d+ 1 1\] Moved", line) for line in copyuid)
        assert imap.fetch("1:*", "(UID)") == ("OK", [b"1 (UID 2)"])
        assert imap.select("Trash") == ("OK", [b"1"])
        assert imap.uid("FETCH", "1", "(FLAGS X-GM-LABELS BODY.PEEK[TEXT])") == (
            "OK",
            [
                (b"1 (UID 1 FLAGS (\\Flagged $Later) BODY[TEXT] {8}", b"body 1\r\n"),
                b" X-GM-LABELS (\\Trash))",
            ],
        )
    finally:
        imap.logout()


def test_curl_appends_over_imap(server: Served, tmp_path: Path) -> None:
    curl = require_program("curl")
    draft = b"Subject: a draft\r\nFrom: erin@example.com\r\n\r\nnot sent yet\r\n"
    eml = tmp_path / "draft.eml"
    eml.write_bytes(draft)
    result = run(
        [
            curl, "-sS", "--ssl-reqd", "--cacert", str(server.cafile), "--max-time", str(TIMEOUT),
            "-u", "erin@example.com:erin-pw", "-T", str(eml),
            f"imap://127.0.0.1:{server.port('imap')}/Drafts",
        ]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    imap = imaps(server)
    try:
        imap.login("erin@example.com", "erin-pw")
        assert imap.select("Drafts", readonly=True) == ("OK", [b"1"])
        assert imap.uid("FETCH", "1", "(BODY.PEEK[])") == (
            "OK",
            [(b"1 (UID 1 BODY[] {%d}" % len(draft), draft), b")"],
        )
    finally:
        imap.logout()


def test_imapclient_gmail_extensions_and_idle(server: Served) -> None:
    imapclient = pytest.importorskip("imapclient")
    special = pytest.importorskip("imapclient.imapclient")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=TIMEOUT) as smtp:
        smtp.sendmail("x@remote.example", ["frank@example.com"], b"Subject: one\r\n\r\n1\r\n")
    with imapclient.IMAPClient(
        "127.0.0.1", port=server.port("imaps"), ssl_context=tls_context(server), timeout=TIMEOUT
    ) as client:
        client.login("frank@example.com", "frank-pw")
        assert client.find_special_folder(special.SENT) == "Sent"
        assert client.find_special_folder(special.TRASH) == "Trash"
        assert client.find_special_folder(special.ALL) == "All Mail"
        client.select_folder("INBOX")
        assert client.search(["ALL"]) == [1]
        client.add_gmail_labels([1], ["Projects"])
        fetched = client.fetch([1], ["X-GM-LABELS", "X-GM-MSGID", "X-GM-THRID"])
        assert fetched[1][b"X-GM-LABELS"] == (b"Projects", b"\\Inbox")
        assert fetched[1][b"X-GM-THRID"] == fetched[1][b"X-GM-MSGID"]
        assert client.folder_status("Projects", ["MESSAGES"]) == {b"MESSAGES": 1}
        client.idle()
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=TIMEOUT) as smtp:
            smtp.sendmail("x@remote.example", ["frank@example.com"], b"Subject: 2\r\n\r\n2\r\n")
        assert client.idle_check(timeout=TIMEOUT) == [(2, b"EXISTS")]
        client.idle_done()
