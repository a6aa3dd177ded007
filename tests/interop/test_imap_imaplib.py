"""Python's imaplib against our IMAP server (its blocking calls run in a
worker thread while the server runs in the test's event loop): IMAP4 with
STARTTLS and IMAP4_SSL; login, list, select, append, search, fetch, store,
copy, expunge, logout, with the exact responses imaplib hands back."""

from __future__ import annotations

import imaplib
from pathlib import Path

import pytest

from tests.interop.imap_server_peers import (
    MSG1,
    MSG2,
    OurServer,
    in_thread,
    make_backend,
    our_imap_server,
)

MSG3 = b"From: dan@example.org\r\nSubject: three\r\n\r\nthird\r\n"


def connect(srv: OurServer, mode: str) -> imaplib.IMAP4:
    ctx = srv.client_context()
    if mode == "ssl":
        return imaplib.IMAP4_SSL("127.0.0.1", srv.implicit, ssl_context=ctx, timeout=10)
    m = imaplib.IMAP4("127.0.0.1", srv.plain, timeout=10)
    assert m.starttls(ssl_context=ctx) == ("OK", [None])  # imaplib drops the text
    return m


def session(srv: OurServer, mode: str) -> list[object]:
    m = connect(srv, mode)
    seen: list[object] = [m.capabilities]
    seen.append(m.login("alice", "alicepw"))
    seen.append(m.list())
    seen.append(m.list('""', "T*"))
    typ, data = m.select("INBOX")
    seen.append((typ, list(data)))
    seen.append(m.append("INBOX", r"(\Flagged)", None, MSG3))
    seen.append(m.search(None, "ALL"))
    seen.append(m.search(None, "SUBJECT", "two"))
    seen.append(m.search(None, "FLAGGED"))
    seen.append(m.fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])"))
    seen.append(m.fetch("2", "(BODY[HEADER.FIELDS (SUBJECT)])"))
    seen.append(m.uid("FETCH", "3", "(FLAGS RFC822.HEADER)"))
    seen.append(m.store("1", "+FLAGS", r"(\Deleted)"))
    seen.append(m.copy("2", "Trash"))
    seen.append(m.copy("2", "Nowhere"))
    seen.append(m.expunge())
    seen.append(m.uid("SEARCH", "ALL"))
    seen.append(m.status("Trash", "(MESSAGES UIDNEXT UNSEEN)"))
    seen.append(m.logout())
    return seen


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
async def test_imaplib_session(tmp_path: Path, mode: str) -> None:
    backend = make_backend()
    inbox = backend.uidvalidity("alice")
    trash = backend.uidvalidity("alice", "Trash")
    async with our_imap_server(tmp_path, backend) as srv:
        seen = await in_thread(lambda: session(srv, mode))
    caps = (
        "IMAP4REV1", "LITERAL+", "SASL-IR", "IDLE", "ENABLE", "ID", "UNSELECT", "NAMESPACE",
        "UIDPLUS", "MOVE", "CONDSTORE", "SPECIAL-USE", "LIST-STATUS", "ESEARCH", "X-GM-EXT-1",
        "AUTH=PLAIN", "AUTH=OAUTHBEARER", "AUTH=XOAUTH2",
    )  # fmt: skip
    assert seen == [
        caps,
        ("OK", [b"Logged in"]),
        (
            "OK",
            [
                b'(\\HasNoChildren) "/" INBOX',
                b'(\\HasNoChildren \\Drafts) "/" Drafts',
                b'(\\HasNoChildren \\Sent) "/" Sent',
                b'(\\HasNoChildren \\Trash) "/" Trash',
                b'(\\HasNoChildren \\Junk) "/" Junk',
            ],
        ),
        ("OK", [b'(\\HasNoChildren \\Trash) "/" Trash']),
        ("OK", [b"2"]),
        ("OK", [b"[APPENDUID %d 3] APPEND completed" % inbox]),
        ("OK", [b"1 2 3"]),
        ("OK", [b"2"]),
        ("OK", [b"3"]),
        (
            "OK",
            [
                (b"1 (UID 1 FLAGS () RFC822.SIZE %d BODY[] {%d}" % (len(MSG1), len(MSG1)), MSG1),
                b")",
                (b"2 (UID 2 FLAGS () RFC822.SIZE %d BODY[] {%d}" % (len(MSG2), len(MSG2)), MSG2),
                b")",
                (
                    b"3 (UID 3 FLAGS (\\Flagged) RFC822.SIZE %d BODY[] {%d}"
                    % (len(MSG3), len(MSG3)),
                    MSG3,
                ),
                b")",
            ],
        ),
        # not a PEEK: \Seen is set and reported
        (
            "OK",
            [
                (b"2 (FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {16}", b"Subject: two\r\n\r\n"),
                b")",
            ],
        ),
        (
            "OK",
            [
                (
                    b"3 (UID 3 FLAGS (\\Flagged) RFC822.HEADER {41}",
                    b"From: dan@example.org\r\nSubject: three\r\n\r\n",
                ),
                b")",
            ],
        ),
        ("OK", [b"1 (FLAGS (\\Deleted))"]),
        ("OK", [b"[COPYUID %d 2 1] COPY completed" % trash]),
        ("NO", [b"[TRYCREATE] Mailbox does not exist"]),
        ("OK", [b"1"]),
        ("OK", [b"2 3"]),
        ("OK", [b"Trash (MESSAGES 1 UIDNEXT 2 UNSEEN 0)"]),
        ("BYE", [b"Logging out"]),
    ]
    # what the server holds afterwards
    assert [(u, d, f) for u, d, f in backend.messages("alice")] == [
        (2, MSG2, {"\\Seen"}),
        (3, MSG3, {"\\Flagged"}),
    ]
    assert backend.messages("alice", "Trash") == [(1, MSG2, {"\\Seen"})]


def wrong_password(srv: OurServer) -> str:
    m = connect(srv, "ssl")
    try:
        m.login("alice", "nope")
    except imaplib.IMAP4.error as exc:
        return str(exc)
    finally:
        m.shutdown()
    return "no error"


async def test_imaplib_wrong_password(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend()) as srv:
        assert await in_thread(lambda: wrong_password(srv)) == (
            "b'[AUTHENTICATIONFAILED] Authentication failed'"
        )


def plaintext_login(srv: OurServer) -> tuple[tuple[str, ...], str]:
    m = imaplib.IMAP4("127.0.0.1", srv.plain, timeout=10)
    try:
        m.login("alice", "alicepw")
    except imaplib.IMAP4.error as exc:
        return m.capabilities, str(exc)
    finally:
        m.shutdown()
    return m.capabilities, "no error"


async def test_imaplib_no_login_before_tls(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend()) as srv:
        caps, error = await in_thread(lambda: plaintext_login(srv))
    assert caps[-2:] == ("STARTTLS", "LOGINDISABLED")
    # imaplib sends LOGIN anyway; the server answers NO without reading on
    assert error == "b'[PRIVACYREQUIRED] LOGIN is disabled without TLS'"
