"""mbsync (isync), the two-way IMAP <-> Maildir synchroniser developers run
against their mail provider, against ``protokit serve`` (a subprocess):
over IMAPS (993+offset, SCRAM-SHA-256) and STARTTLS (143+offset, LOGIN),
verifying the server's certificate, with ``Patterns *``, ``Create Both``,
``Expunge Both`` and ``SyncState *``.

What mbsync writes is pinned exactly.  A pulled message's file is the
server's bytes (FETCH BODY[], CRLF) with an ``X-TUID: <12 base64 chars>``
line added as the header's last line and every CRLF turned into LF; a pushed
file reaches the server as its bytes with that line added and every LF
turned into CRLF (``as_pulled`` and ``as_pushed`` below).  Flags go both
ways (``:2,FS`` locally gives ``\\Flagged \\Seen`` on the server, and the
server's ``\\Answered`` gives a local ``R``); a local ``T`` with ``Expunge
Both`` removes the message from the server's INBOX (the Gmail label model:
it stays in All Mail); a sync with nothing changed sends no writing command
and leaves the Maildir and every mailbox's MODSEQ as they were."""

from __future__ import annotations

import imaplib
import os
import re
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.clients import run_client
from tests.interop.serve_peers import Served, serving_accounts

PASSWORD = "sync-pw"
USERS = ("pull", "flags", "push", "delete", "tls", "friend")
MAILBOXES = ("INBOX", "All Mail", "Drafts", "Junk", "Sent", "Trash")
TIMEOUT = 20
TUID = re.compile(rb"^X-TUID: ([A-Za-z0-9+/]{12})$", re.MULTILINE)
TUID_LINE = re.compile(rb"^X-TUID: [A-Za-z0-9+/]{12}\r\n", re.MULTILINE)
#: The IMAP commands a sync that changes nothing may send.
READING = re.compile(
    r"AUTHENTICATE SCRAM-SHA-256 \S+|LOGIN <user> <pass>|STARTTLS|CAPABILITY|NAMESPACE"
    r'|LIST "" "\*"|SELECT "[^"]+"|UID FETCH \d+:\d+ \(UID FLAGS\)|CLOSE|LOGOUT'
)


def address(user: str) -> str:
    return f"{user}@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    users = {address(u): PASSWORD for u in USERS}
    with serving_accounts(tmp_path_factory.mktemp("serve-mbsync") / "data", users) as served:
        yield served


# -- the exact relation between the server's bytes and mbsync's files ---------------


def tuid_of(data: bytes) -> bytes:
    """The one X-TUID mbsync put in a message."""
    found = TUID.findall(data.replace(b"\r\n", b"\n"))
    assert len(found) == 1, data
    return bytes(found[0])


def as_pulled(served: bytes, tuid: bytes) -> bytes:
    """The Maildir file mbsync writes for a message the server holds."""
    header, _, body = served.partition(b"\r\n\r\n")
    return (header + b"\r\nX-TUID: " + tuid + b"\r\n\r\n" + body).replace(b"\r\n", b"\n")


def as_pushed(file: bytes, tuid: bytes) -> bytes:
    """What the server holds after mbsync APPENDs a Maildir file (LF)."""
    header, _, body = file.partition(b"\n\n")
    return (header + b"\nX-TUID: " + tuid + b"\n\n" + body).replace(b"\n", b"\r\n")


def subject(data: bytes) -> str:
    found = re.search(rb"^Subject: ([^\r\n]*)", data, re.MULTILINE)
    assert found is not None, data
    return found[1].decode()


# -- the local side -----------------------------------------------------------------


@dataclass(frozen=True)
class Local:
    """One message file: new/ or cur/, its Maildir flags, its bytes."""

    path: Path
    sub: str
    flags: str
    data: bytes


@dataclass
class Mbsync:
    rc: Path
    maildir: Path
    home: Path

    def sync(self) -> list[str]:
        """One ``mbsync -a`` run; the IMAP commands it sent."""
        env = {"PATH": os.environ["PATH"], "HOME": str(self.home)}
        result = run_client(["mbsync", "-c", str(self.rc), "-a", "-Dn"], env=env, timeout=60)
        log = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
        assert result.returncode == 0, log
        assert PASSWORD not in log
        return re.findall(r"^(?:\(\d+ in progress\) )?>>> \d+ ([^\r\n]*)", log, re.MULTILINE)

    def folder(self, name: str) -> dict[str, Local]:
        """The folder's messages by subject."""
        out: dict[str, Local] = {}
        for sub in ("new", "cur"):
            for path in sorted((self.maildir / name / sub).iterdir()):
                _, _, flags = path.name.partition(":2,")
                data = path.read_bytes()
                out[subject(data)] = Local(path, sub, flags, data)
        return out

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the Maildir (messages and mbsync's state)."""
        return {
            str(p.relative_to(self.maildir)): p.read_bytes()
            for p in sorted(self.maildir.rglob("*"))
            if p.is_file()
        }


def mbsync_for(served: Served, tmp_path: Path, user: str, *, starttls: bool = False) -> Mbsync:
    maildir = tmp_path / "mail"
    maildir.mkdir()
    tls = (
        f"Port {served.port('imap')}\nSSLType STARTTLS\nAuthMechs LOGIN"
        if starttls
        else f"Port {served.port('imaps')}\nSSLType IMAPS\nAuthMechs SCRAM-SHA-256"
    )
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount serve\n"
        f"Host localhost\n"  # the certificate names localhost; mbsync ignores IP names
        f"{tls}\n"
        f"User {address(user)}\n"
        f"Pass {PASSWORD}\n"
        f"CertificateFile {served.cafile}\n\n"
        f"IMAPStore remote\nAccount serve\n\n"
        f"MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n"
        f"Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n"
        f"Expunge Both\nSyncState *\n"
    )
    return Mbsync(rc, maildir, tmp_path)


# -- the server side ------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    uid: int
    flags: tuple[str, ...]
    data: bytes


def imaps(served: Served, user: str) -> imaplib.IMAP4_SSL:
    ctx = ssl.create_default_context(cafile=str(served.cafile))
    ctx.check_hostname = False  # we dial 127.0.0.1
    imap = imaplib.IMAP4_SSL("127.0.0.1", served.port("imaps"), ssl_context=ctx, timeout=TIMEOUT)
    imap.login(address(user), PASSWORD)
    return imap


def quoted(mailbox: str) -> str:
    return f'"{mailbox}"'


def remote(served: Served, user: str, mailbox: str) -> dict[str, Remote]:
    """The mailbox's messages by subject (read without setting \\Seen)."""
    imap = imaps(served, user)
    try:
        assert imap.select(quoted(mailbox), readonly=True)[0] == "OK"
        typ, data = imap.uid("SEARCH", "ALL")
        assert typ == "OK"
        if not data[0]:
            return {}
        typ, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        assert typ == "OK"
        out: dict[str, Remote] = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            found = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", head)
            assert found is not None, head
            flags = tuple(found[2].decode().split())
            out[subject(body)] = Remote(int(found[1]), flags, body)
        return out
    finally:
        imap.logout()


def uids(served: Served, user: str, mailbox: str) -> list[int]:
    imap = imaps(served, user)
    try:
        assert imap.select(quoted(mailbox), readonly=True)[0] == "OK"
        typ, data = imap.uid("SEARCH", "ALL")
        assert typ == "OK"
        return [int(n) for n in data[0].split()]
    finally:
        imap.logout()


def server_state(served: Served, user: str) -> dict[str, bytes]:
    """Every mailbox's STATUS: a write anywhere moves HIGHESTMODSEQ."""
    imap = imaps(served, user)
    try:
        out = {}
        for mailbox in MAILBOXES:
            typ, data = imap.status(
                quoted(mailbox), "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
            )
            assert typ == "OK"
            out[mailbox] = data[0]
        return out
    finally:
        imap.logout()


def store_flags(served: Served, user: str, mailbox: str, uid: int, flags: str) -> None:
    imap = imaps(served, user)
    try:
        assert imap.select(quoted(mailbox))[0] == "OK"
        assert imap.uid("STORE", str(uid), "+FLAGS.SILENT", flags)[0] == "OK"
    finally:
        imap.logout()


def deliver(served: Served, user: str, messages: list[bytes]) -> None:
    """Through the MX listener (no authentication) into the user's INBOX."""
    with smtplib.SMTP("127.0.0.1", served.port("smtp"), timeout=TIMEOUT) as smtp:
        for message in messages:
            assert smtp.sendmail("sender@remote.example", [address(user)], message) == {}


def submit(served: Served, user: str, to: str, message: bytes) -> None:
    """Through submission (587, STARTTLS, AUTH): a \\Seen copy in the user's Sent."""
    ctx = ssl.create_default_context(cafile=str(served.cafile))
    ctx.check_hostname = False
    with smtplib.SMTP("127.0.0.1", served.port("submission"), timeout=TIMEOUT) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(address(user), PASSWORD)
        assert smtp.sendmail(address(user), [address(to)], message) == {}


def message(user: str, name: str, body: bytes = b"") -> bytes:
    return (
        f"From: sender@remote.example\r\nTo: {address(user)}\r\nSubject: {name}\r\n"
        f"Message-ID: <{name}.{user}@remote.example>\r\n\r\n"
    ).encode() + (body or f"body of {name}\r\n.leading dot\r\n\r\ntrailing\r\n".encode())


def assert_quiet_sync(served: Served, user: str, mbsync: Mbsync) -> None:
    """A sync with nothing changed on either side reads and writes nothing."""
    before = (mbsync.snapshot(), server_state(served, user))
    commands = mbsync.sync()
    assert [c for c in commands if not READING.fullmatch(c)] == []
    assert (mbsync.snapshot(), server_state(served, user)) == before


# -- the tests ------------------------------------------------------------------------


def test_pull_inbox_and_sent_byte_exact(server: Served, tmp_path: Path) -> None:
    long_lines = (bytes(range(33, 127)) + b"\r\n") * 100
    sent = [message("pull", "one"), message("pull", "two", long_lines)]
    deliver(server, "pull", sent)
    outgoing = message("pull", "sent copy").replace(
        b"From: sender@remote.example", b"From: pull@example.com"
    )
    submit(server, "pull", "friend", outgoing)
    held = remote(server, "pull", "INBOX")
    assert [(r.uid, r.flags, r.data) for r in held.values()] == [
        (1, (), sent[0]),
        (2, (), sent[1]),
    ]
    assert remote(server, "pull", "Sent")["sent copy"] == Remote(1, ("\\Seen",), outgoing)

    mbsync = mbsync_for(server, tmp_path, "pull")
    commands = mbsync.sync()
    assert commands[0].startswith("AUTHENTICATE SCRAM-SHA-256 ")
    assert commands.count("UID FETCH 1 (BODY.PEEK[])") == 3  # INBOX, All Mail, Sent
    assert not any(c.startswith(("APPEND", "UID STORE")) for c in commands), commands

    inbox = mbsync.folder("INBOX")
    assert list(inbox) == ["one", "two"]
    for name, data in zip(inbox, sent, strict=True):
        local = inbox[name]
        assert (local.sub, local.flags) == ("new", "")
        assert re.fullmatch(r"\d+\.\d+_\d+\.[^,]+,U=\d+:2,", local.path.name), local.path.name
        assert local.data == as_pulled(data, tuid_of(local.data))
        assert b"\r" not in local.data
    sent_box = mbsync.folder("Sent")
    assert list(sent_box) == ["sent copy"]
    local = sent_box["sent copy"]
    assert (local.sub, local.flags) == ("cur", "S")
    assert local.data == as_pulled(outgoing, tuid_of(local.data))
    # All Mail holds all three; the submitted copy is \Seen there too.
    all_mail = mbsync.folder("All Mail")
    assert sorted(all_mail) == ["one", "sent copy", "two"]
    assert {n: (m.sub, m.flags) for n, m in all_mail.items()} == {
        "one": ("new", ""),
        "two": ("new", ""),
        "sent copy": ("cur", "S"),
    }
    for name, data in (("one", sent[0]), ("two", sent[1]), ("sent copy", outgoing)):
        assert all_mail[name].data == as_pulled(data, tuid_of(all_mail[name].data))
    for empty in ("Drafts", "Junk", "Trash"):
        assert mbsync.folder(empty) == {}
    # The server is as it was: reading with BODY.PEEK set no flag.
    assert remote(server, "pull", "INBOX") == held
    assert_quiet_sync(server, "pull", mbsync)


def test_flags_both_ways(server: Served, tmp_path: Path) -> None:
    deliver(server, "flags", [message("flags", "starred"), message("flags", "replied")])
    mbsync = mbsync_for(server, tmp_path, "flags")
    mbsync.sync()
    inbox = mbsync.folder("INBOX")
    # Locally: read and starred, as a mail reader files it (cur/, ":2,FS").
    starred = inbox["starred"].path
    starred.rename(starred.parent.parent / "cur" / starred.name.replace(":2,", ":2,FS"))
    # On the server: answered.
    assert remote(server, "flags", "INBOX")["replied"].uid == 2
    store_flags(server, "flags", "INBOX", 2, "(\\Answered)")

    commands = mbsync.sync()
    assert "UID STORE 1 +FLAGS.SILENT (\\Flagged \\Seen)" in commands, commands
    held = remote(server, "flags", "INBOX")
    assert {n: (r.uid, r.flags) for n, r in held.items()} == {
        "starred": (1, ("\\Flagged", "\\Seen")),
        "replied": (2, ("\\Answered",)),
    }
    inbox = mbsync.folder("INBOX")
    assert {n: (m.sub, m.flags) for n, m in inbox.items()} == {
        "starred": ("cur", "FS"),
        "replied": ("cur", "R"),
    }
    assert inbox["replied"].data == as_pulled(held["replied"].data, tuid_of(inbox["replied"].data))
    # Flags belong to the INBOX membership: All Mail's copies have none.
    assert {n: r.flags for n, r in remote(server, "flags", "All Mail").items()} == {
        "starred": (),
        "replied": (),
    }
    assert_quiet_sync(server, "flags", mbsync)


def test_push_new_files(server: Served, tmp_path: Path) -> None:
    mbsync = mbsync_for(server, tmp_path, "push")
    mbsync.sync()  # creates the local folders
    draft = b"From: push@example.com\nSubject: local draft\n\nwritten here\n.leading dot\n\nend\n"
    note = b"From: push@example.com\nSubject: local note\n\nfiled as read\n"
    (mbsync.maildir / "INBOX" / "new" / "1700000000.1_1.host").write_bytes(draft)
    (mbsync.maildir / "Sent" / "cur" / "1700000000.2_1.host:2,S").write_bytes(note)

    commands = mbsync.sync()
    # Each is sent with CRLF and one X-TUID line (22 octets) more.
    sizes = [len(m) + m.count(b"\n") + 22 for m in (draft, note)]
    assert [c for c in commands if c.startswith("APPEND")] == [
        f'APPEND "INBOX" {{{sizes[0]}+}}',
        f'APPEND "Sent" (\\Seen) {{{sizes[1]}+}}',
    ]
    inbox = remote(server, "push", "INBOX")
    assert list(inbox) == ["local draft"]
    assert inbox["local draft"].flags == ()
    assert inbox["local draft"].data == as_pushed(draft, tuid_of(inbox["local draft"].data))
    sent = remote(server, "push", "Sent")
    assert sent["local note"].flags == ("\\Seen",)
    assert sent["local note"].data == as_pushed(note, tuid_of(sent["local note"].data))
    # The local files keep their bytes; mbsync only names its UID in them.
    local = mbsync.folder("INBOX")["local draft"]
    assert (local.path.name, local.data) == ("1700000000.1_1.host,U=1", draft)
    local = mbsync.folder("Sent")["local note"]
    assert (local.path.name, local.data) == ("1700000000.2_1.host,U=1:2,S", note)
    # Both APPENDs landed in All Mail too: INBOX's was pulled down in the
    # same run (INBOX is synced first), Sent's comes with the next one,
    # carrying the X-TUID of the push, replaced by a new one.
    assert list(mbsync.folder("All Mail")) == ["local draft"]
    mbsync.sync()
    all_mail = mbsync.folder("All Mail")
    assert sorted(all_mail) == ["local draft", "local note"]
    for name, held in (("local draft", inbox["local draft"]), ("local note", sent["local note"])):
        pulled = all_mail[name].data
        assert pulled == as_pulled(TUID_LINE.sub(b"", held.data), tuid_of(pulled))
    assert_quiet_sync(server, "push", mbsync)


def test_delete_locally_expunges_both(server: Served, tmp_path: Path) -> None:
    deliver(server, "delete", [message("delete", "keep"), message("delete", "drop")])
    mbsync = mbsync_for(server, tmp_path, "delete")
    mbsync.sync()
    drop = mbsync.folder("INBOX")["drop"].path
    drop.rename(drop.parent.parent / "cur" / (drop.name + "T"))

    commands = mbsync.sync()
    assert "UID STORE 2 +FLAGS.SILENT (\\Deleted)" in commands, commands
    assert uids(server, "delete", "INBOX") == [1]
    assert list(remote(server, "delete", "INBOX")) == ["keep"]
    assert list(mbsync.folder("INBOX")) == ["keep"]
    # Gmail's label model: expunged from INBOX, it is still in All Mail.
    assert uids(server, "delete", "All Mail") == [1, 2]
    assert sorted(mbsync.folder("All Mail")) == ["drop", "keep"]
    assert_quiet_sync(server, "delete", mbsync)


def test_starttls_login(server: Served, tmp_path: Path) -> None:
    sent = [message("tls", "over starttls")]
    deliver(server, "tls", sent)
    mbsync = mbsync_for(server, tmp_path, "tls", starttls=True)
    commands = mbsync.sync()
    assert commands[:3] == ["STARTTLS", "CAPABILITY", "LOGIN <user> <pass>"]
    local = mbsync.folder("INBOX")["over starttls"]
    assert local.data == as_pulled(sent[0], tuid_of(local.data))
    assert_quiet_sync(server, "tls", mbsync)
