"""fetchmail, a real mail retriever, against ``protokit serve`` (a
subprocess): over POP3 with STLS (110+offset) and implicit TLS
(995+offset), and over IMAP with STARTTLS (143+offset) and implicit TLS
(993+offset), verifying the server's certificate, delivering each message
to an MDA that writes a file.  Mail arrives through the MX listener
(smtplib); what fetchmail hands the MDA is byte-identical.  After a POP3
run the messages are popped: POP3 normal mode shows nothing new while
recent mode still lists them.  IMAP reading leaves them \\Seen (a second
poll finds nothing new) and, not being POP3, does not pop them."""

from __future__ import annotations

import os
import poplib
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop import imap_server_peers, pop3_peers
from tests.interop.clients import run_client
from tests.interop.serve_peers import Served, serving_accounts

PASSWORD = "fetch-pw"
#: (listener, fetchmail protocol, the helpers' TLS mode name)
RUNS = {
    "pop3": ("POP3", "stls"),
    "pop3s": ("POP3", "ssl"),
    "imap": ("IMAP", "starttls"),
    "imaps": ("IMAP", "ssl"),
}


def messages(listener: str) -> list[bytes]:
    return [
        f"From: sender@example.com\r\nTo: {listener}@example.com\r\n"
        f"Subject: {listener} one\r\n\r\nfirst line\r\n.leading dot\r\n\r\n".encode(),
        f"From: sender@example.com\r\nSubject: {listener} two\r\n\r\n".encode()
        + (bytes(range(33, 127)) + b"\r\n") * 200,
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    users = {f"{name}@example.com": PASSWORD for name in RUNS}
    with serving_accounts(tmp_path_factory.mktemp("serve") / "data", users) as served:
        yield served


def deliver(served: Served, address: str, data: list[bytes]) -> None:
    with smtplib.SMTP("127.0.0.1", served.port("smtp"), timeout=20) as smtp:
        for message in data:
            assert smtp.sendmail("sender@example.com", [address], message) == {}


def fetchmail(served: Served, tmp_path: Path, listener: str, *, fetchall: bool) -> str:
    protocol, mode = RUNS[listener]
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    helpers = pop3_peers if protocol == "POP3" else imap_server_peers
    rc = helpers.fetchmailrc(
        tmp_path / "fetchmailrc",
        port=served.port(listener),
        user=f"{listener}@example.com",
        password=PASSWORD,
        mode=mode,
        mda=f"/bin/sh -c 'cat > $(mktemp -p {out} msg.XXXXXX)'",
        cafile=served.cafile,
        keep=True,
    )
    if not fetchall:
        rc.write_text(rc.read_text().replace(" fetchall", ""))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)}
    result = run_client(
        ["fetchmail", "-N", "-d0", "-v", "--nosyslog", "-f", str(rc),
         "--idfile", str(tmp_path / "ids")],
        env=env, timeout=60,
    )  # fmt: skip
    log = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    # 0: mail delivered, 1: no mail
    assert result.returncode == (0 if fetchall else 1), log
    assert PASSWORD not in log
    return log


def pop3_maildrop(served: Served, user: str, *, read: bool) -> list[int] | list[bytes]:
    """The user's POP3 maildrop over STLS: the sizes (LIST), or with
    ``read`` every message (RETR; for recent mode only, which pops nothing)."""
    context = ssl.create_default_context(cafile=str(served.cafile))
    pop = poplib.POP3("127.0.0.1", served.port("pop3"), timeout=20)
    try:
        pop.stls(context)
        pop.user(user)
        pop.pass_(PASSWORD)
        _, listing, _ = pop.list()
        if not read:
            return [int(line.split()[1]) for line in listing]
        out = []
        for n in range(1, len(listing) + 1):
            _, lines, _ = pop.retr(n)
            out.append(b"".join(line + b"\r\n" for line in lines))
        return out
    finally:
        pop.quit()


@pytest.mark.parametrize("listener", ["pop3", "pop3s"])
def test_fetchmail_pop3(server: Served, tmp_path: Path, listener: str) -> None:
    address = f"{listener}@example.com"
    sent = messages(listener)
    deliver(server, address, sent)
    log = fetchmail(server, tmp_path, listener, fetchall=True)
    assert f"2 messages for {address}" in log, log
    if listener == "pop3":
        assert "fetchmail: POP3> STLS" in log and "upgrade to TLS succeeded" in log, log
    assert "fetchmail: POP3> PASS *" in log and "fetchmail: POP3> QUIT" in log, log
    assert sorted(p.read_bytes() for p in (tmp_path / "out").iterdir()) == sorted(sent)
    # RETR then QUIT popped them: normal mode has nothing new, recent mode
    # (the "recent:" prefix) still lists both, byte-identical.
    assert pop3_maildrop(server, address, read=False) == []
    assert pop3_maildrop(server, f"recent:{address}", read=True) == sent


@pytest.mark.parametrize("listener", ["imap", "imaps"])
def test_fetchmail_imap(server: Served, tmp_path: Path, listener: str) -> None:
    address = f"{listener}@example.com"
    sent = messages(listener)
    deliver(server, address, sent)
    log = fetchmail(server, tmp_path, listener, fetchall=True)
    assert f"2 messages for {address}" in log, log
    if listener == "imap":
        assert "IMAP> A0001 STARTTLS" in log, log
    assert sorted(p.read_bytes() for p in (tmp_path / "out").iterdir()) == sorted(sent)
    # fetchmail left them \Seen: the next poll (without fetchall) finds nothing.
    for stale in (tmp_path / "out").iterdir():
        stale.unlink()
    log = fetchmail(server, tmp_path, listener, fetchall=False)
    assert f"2 messages (2 seen) for {address}" in log, log
    assert list((tmp_path / "out").iterdir()) == []
    # IMAP reading does not pop: POP3 normal mode still has both.
    assert pop3_maildrop(server, address, read=False) == [len(m) for m in sent]
