"""``protokit serve`` end to end, with real clients only: the server runs as
``python -m protokit.cli serve`` on a free port offset; swaks submits with
PLAIN over 587+STARTTLS and over 465, smtplib sees AUTH refused before
STARTTLS, curl uploads, poplib and curl read back (normal and recent
modes, Sent in recent mode only), smtplib authenticates with XOAUTH2 using a
token from ``protokit token issue`` and gets the error challenge for a bad
one; SIGTERM stops the server with exit code 0, a port in use is exit 1, a
bad configuration file exit 2."""

from __future__ import annotations

import base64
import json
import poplib
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from protokit.server import TOKEN_PREFIX
from tests.interop.peers import free_port, require_program
from tests.interop.serve_peers import (
    Served,
    make_data_dir,
    protokit_command,
    run,
    serving,
)

USERS = {"alice@example.com": "alice-pw", "bob@example.com": "bob-pw"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = make_data_dir(tmp_path_factory.mktemp("serve") / "data", USERS)
    with serving(data) as served:
        yield served
        code, out, err = served.stop()
        assert code == 0, err
        assert "ready (Ctrl-C or SIGTERM stops the server)" in out
        assert "protokit serve: stopped" in err
        # Logs never hold a password or a token.
        assert "alice-pw" not in err and "bob-pw" not in err and TOKEN_PREFIX not in err


def tls_context(served: Served) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(served.cafile))


def swaks(served: Served, port: str, *args: str, subject: str) -> tuple[int, str]:
    exe = require_program("swaks")
    result = run(
        [
            exe, "--server", f"127.0.0.1:{served.port(port)}", "--timeout", "20",
            "-f", "alice@example.com", "-t", "bob@example.com",
            "--header", f"Subject: {subject}", "--body", "swaks body", *args,
        ]
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def pop3_messages(served: Served, user: str, password: str) -> list[bytes]:
    """Every message (RETR), then QUIT (which pops them in normal mode)."""
    pop = poplib.POP3_SSL(
        "127.0.0.1", served.port("pop3s"), context=tls_context(served), timeout=20
    )
    try:
        pop.user(user)
        pop.pass_(password)
        count, _ = pop.stat()
        return [b"\r\n".join(pop.retr(n)[1]) for n in range(1, count + 1)]
    finally:
        pop.quit()


def subjects(messages: list[bytes]) -> list[str]:
    return [
        line[9:].decode()
        for m in messages
        for line in m.split(b"\r\n")
        if line.startswith(b"Subject: ")
    ]


def test_submission_and_reading_back(server: Served, tmp_path: Path) -> None:
    # 1. swaks, PLAIN over 587 with STARTTLS and over 465.
    code, out = swaks(
        server, "submission", "--tls", "--auth", "PLAIN",
        "--auth-user", "alice@example.com", "--auth-password", "alice-pw", subject="via 587",
    )  # fmt: skip
    assert code == 0, out
    assert "<~  250 2.0.0 Message accepted" in out
    code, out = swaks(
        server, "submissions", "--tlsc", "--auth", "PLAIN",
        "--auth-user", "alice@example.com", "--auth-password", "alice-pw", subject="via 465",
    )  # fmt: skip
    assert code == 0, out
    # 2. A wrong password: 535, nothing sent.
    code, out = swaks(
        server, "submission", "--tls", "--auth", "PLAIN",
        "--auth-user", "alice@example.com", "--auth-password", "wrong", subject="never",
    )  # fmt: skip
    assert code != 0
    assert "535 5.7.8 Authentication credentials invalid" in out
    # 3. curl uploads over 587 with STARTTLS.
    curl = require_program("curl")
    message = tmp_path / "m.eml"
    message.write_bytes(b"Subject: via curl\r\nFrom: alice@example.com\r\n\r\ncurl body\r\n")
    result = run(
        [
            curl, "-sS", "--ssl-reqd", "--cacert", str(server.cafile),
            f"smtp://127.0.0.1:{server.port('submission')}",
            "--mail-from", "alice@example.com", "--mail-rcpt", "bob@example.com",
            "-u", "alice@example.com:alice-pw", "-T", str(message), "--max-time", "20",
        ]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 4. curl reads bob's third message over POP3 with STLS, byte for byte.
    fetched = subprocess.run(
        [
            curl, "-sS", "--ssl-reqd", "--cacert", str(server.cafile), "--max-time", "20",
            "-u", "bob@example.com:bob-pw", f"pop3://127.0.0.1:{server.port('pop3')}/3",
        ],
        capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == message.read_bytes()
    # 5. poplib, normal mode: curl's RETR and QUIT popped the third; bob gets
    #    the other two once, and the next session nothing.
    assert subjects(pop3_messages(server, "bob@example.com", "bob-pw")) == [
        "via 587",
        "via 465",
    ]
    assert pop3_messages(server, "bob@example.com", "bob-pw") == []
    # 6. Recent mode: all three again for bob; alice's Sent only in recent mode.
    recent = pop3_messages(server, "recent:bob@example.com", "bob-pw")
    assert subjects(recent) == ["via 587", "via 465", "via curl"]
    assert pop3_messages(server, "alice@example.com", "alice-pw") == []
    assert subjects(pop3_messages(server, "recent:alice@example.com", "alice-pw")) == [
        "via 587",
        "via 465",
        "via curl",
    ]


def test_auth_refused_before_starttls(server: Served) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=20) as smtp:
        smtp.ehlo("client.example")
        assert smtp.esmtp_features["auth"] == " SCRAM-SHA-256 SCRAM-SHA-1"
        plain = base64.b64encode(b"\0alice@example.com\0alice-pw").decode()
        assert smtp.docmd("AUTH", "PLAIN " + plain) == (
            538,
            b"5.7.11 Encryption required for requested authentication mechanism",
        )
        assert smtp.docmd("MAIL", "FROM:<alice@example.com>") == (
            530,
            b"5.7.0 Authentication required",
        )
    # The MX listener takes mail without AUTH, for local accounts only.
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=20) as smtp:
        refused = smtp.sendmail(
            "x@remote.example", ["bob@example.com"], b"Subject: mx\r\n\r\nhi\r\n"
        )
        assert refused == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            smtp.sendmail("x@remote.example", ["nobody@example.com"], b"Subject: x\r\n\r\n")
        assert info.value.recipients == {"nobody@example.com": (550, b"5.1.1 No such user here")}


def test_xoauth2_with_an_issued_token_and_the_error_challenge(server: Served) -> None:
    issued = run(
        protokit_command("token", "issue", "alice@example.com", "--data-dir", str(server.data_dir))
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith(TOKEN_PREFIX)
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.port("submissions"), context=tls_context(server), timeout=20
    ) as smtp:
        smtp.ehlo("client.example")
        bad = base64.b64encode(b"user=alice@example.com\x01auth=Bearer pk_nope\x01\x01")
        code, challenge = smtp.docmd("AUTH", "XOAUTH2 " + bad.decode())
        assert code == 334
        assert json.loads(base64.b64decode(challenge))["status"] == "401"
        assert smtp.docmd("") == (535, b"5.7.8 Authentication credentials invalid")
        good = f"user=alice@example.com\x01auth=Bearer {token}\x01\x01".encode()
        assert smtp.docmd("AUTH", "XOAUTH2 " + base64.b64encode(good).decode()) == (
            235,
            b"2.7.0 Authentication successful",
        )
        assert (
            smtp.sendmail(
                "alice@example.com", ["bob@example.com"], b"Subject: via xoauth2\r\n\r\nhi\r\n"
            )
            == {}
        )


def test_exit_codes(server: Served, tmp_path: Path) -> None:
    # The same ports again: exit 1, saying why.
    second = run(
        protokit_command(
            "serve", "--data-dir", str(server.data_dir), "--port-offset", str(server.offset)
        )
    )
    assert second.returncode == 1
    assert "a port is already in use" in second.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[ports]\nimap4 = 1\n")
    usage = run(protokit_command("serve", "--data-dir", str(tmp_path), "--config", str(bad)))
    assert usage.returncode == 2
    assert "unknown listener 'imap4'" in usage.stderr


def test_ports_from_the_configuration_file(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data", {"carol@example.com": "carol-pw"})
    config = tmp_path / "serve.toml"
    port = free_port()
    config.write_text(f'hostname = "mail.test"\n[ports]\npop3 = {port}\n')
    with serving(data, "--config", str(config), ports={"pop3": port}) as served:
        pop = poplib.POP3("127.0.0.1", port, timeout=20)
        try:
            assert pop.getwelcome() == b"+OK POP3 server ready"
        finally:
            pop.quit()
        with smtplib.SMTP("127.0.0.1", served.port("smtp"), timeout=20) as smtp:
            assert smtp.ehlo("client.example")[1].startswith(b"mail.test Hello")
        code, out, _ = served.stop()
    assert code == 0
    assert f"pop3         127.0.0.1:{port} " in out
