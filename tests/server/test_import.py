"""The importer (protokit.server._import) on the store: exact message bytes,
flags and INTERNALDATE from an mbox and a Maildir (Maildir++ folders
included), malformed input, batches and interruption, bounded memory."""

from __future__ import annotations

import os
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from protokit.server import Account, NoSuchAccount, Store
from protokit.server._import import ImportFormatError, ImportResult, detect_format, import_mail

from .helpers import read_all


def stored(store: Store, account: Account, mailbox: str = "INBOX") -> list[bytes]:
    infos = store.fetch(store.mailbox(account.id, mailbox).id)
    return [read_all(store, account.id, i.gm_msgid) for i in infos]


MBOX = (
    b"From alice@example.com Thu Nov 26 17:59:27 2026\n"
    b"Subject: one\n"
    b"Status: RO\n"
    b"X-Status: AF\n"
    b"\n"
    b"body\n"
    b"From the start\n"  # no empty line before it: body, not a separator
    b">From quoted once\n"
    b">>From quoted twice\n"
    b"> From not a quote\n"
    b"\n"
    b"\n"
    b"From bob@example.com Fri Nov 27 01:02:03 +0200 2026\n"
    b"Subject: two\r\n"
    b"\r\n"
    b"crlf kept\r\n"
    b"bare\rcr kept\n"
    b"\n"
    b"From carol@example.com Sat Nov 28 10:00:00 2026 -0500\n"
    b"Subject: three\n"
    b"X-Status: DT\n"
    b"\n"
    b"no final newline"
)
EXPECTED = [
    b"Subject: one\r\nStatus: RO\r\nX-Status: AF\r\n\r\n"
    b"body\r\nFrom the start\r\nFrom quoted once\r\n>From quoted twice\r\n"
    b"> From not a quote\r\n\r\n",
    b"Subject: two\r\n\r\ncrlf kept\r\nbare\rcr kept\r\n",
    b"Subject: three\r\nX-Status: DT\r\n\r\nno final newline",
]


def test_mbox_bytes_flags_and_dates(tmp_path: Path, store: Store, alice: Account) -> None:
    path = tmp_path / "in.mbox"
    path.write_bytes(MBOX)
    assert detect_format(path) == "mbox"
    seen: list[tuple[int, int]] = []
    result = import_mail(
        store, "alice@example.com", path, progress=lambda m, u: seen.append((m, u))
    )
    assert result == ImportResult(
        imported=3,
        stored_bytes=sum(map(len, EXPECTED)),
        total=len(MBOX),
        mailboxes={"INBOX": 3},
        skipped=[],
    )
    assert seen[-1] == (3, len(MBOX)) and [m for m, _ in seen] == [1, 2, 3]
    assert stored(store, alice) == EXPECTED
    infos = store.fetch(store.mailbox(alice.id, "INBOX").id)
    assert [i.flags for i in infos] == [
        ("\\Answered", "\\Flagged", "\\Seen"),
        (),
        ("\\Deleted", "\\Draft"),
    ]
    assert [i.internal_date for i in infos] == [
        datetime(2026, 11, 26, 17, 59, 27, tzinfo=UTC),
        datetime(2026, 11, 27, 1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
    ]
    assert infos[1].internal_date.utcoffset() == timedelta(hours=2)
    # Imported mail is new to POP3 (not popped), like delivered mail.
    assert [e.gm_msgid for e in store.pop3_maildrop(alice.id)] == [1, 2, 3]


def test_mbox_lines_longer_than_a_read(
    tmp_path: Path, store: Store, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("protokit.server._import._MBOX_BLOCK", 64 * 1024)
    # A line longer than a block is read in pieces: a piece that starts with "From " or
    # ">From " is inside a line, neither a separator nor a quote; a CR that
    # ends a piece and the LF that starts the next are one CRLF.
    long_line = b"x" * (64 * 1024 - 1) + b"\r" + b"\nFrom inside\n" + b"y" * 70000 + b"\n"
    after_a_piece = b"z" * (64 * 1024) + b">From not at a line start\n"
    body = b"Subject: long\n\n" + long_line + b"\n" + after_a_piece
    path = tmp_path / "long.mbox"
    path.write_bytes(
        b"From a@b Thu Nov 26 17:59:27 2026\n" + body + b"\nFrom c@d\nSubject: 2\n\n.\n"
    )
    result = import_mail(store, "alice@example.com", path)
    assert result.imported == 2
    assert stored(store, alice) == [
        body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
        b"Subject: 2\r\n\r\n.\r\n",
    ]
    # A From_ line without a date: the message is dated now (the store's clock).
    infos = store.fetch(store.mailbox(alice.id, "INBOX").id)
    assert infos[1].internal_date == datetime.fromtimestamp(1_790_000_000, UTC)


def test_mbox_without_a_leading_from_line(tmp_path: Path, store: Store, alice: Account) -> None:
    path = tmp_path / "bad.mbox"
    path.write_bytes(b"Subject: no separator\n\nbody\n")
    with pytest.raises(ImportFormatError, match="does not start with a 'From ' line"):
        import_mail(store, "alice@example.com", path)
    assert stored(store, alice) == []


def test_empty_mbox(tmp_path: Path, store: Store, alice: Account) -> None:
    path = tmp_path / "empty.mbox"
    path.write_bytes(b"")
    assert import_mail(store, "alice@example.com", path) == ImportResult()
    assert stored(store, alice) == []


def test_unknown_account_and_bad_paths(tmp_path: Path, store: Store, alice: Account) -> None:
    path = tmp_path / "m.mbox"
    path.write_bytes(MBOX)
    with pytest.raises(NoSuchAccount, match=r"no account nobody@example\.com"):
        import_mail(store, "nobody@example.com", path)
    with pytest.raises(ImportFormatError, match="without cur/ or new/: not a Maildir"):
        import_mail(store, "alice@example.com", tmp_path)
    with pytest.raises(ImportFormatError, match="neither a file nor a directory"):
        import_mail(store, "alice@example.com", tmp_path / "missing")
    with pytest.raises(ImportFormatError, match="not a directory: not a Maildir"):
        import_mail(store, "alice@example.com", path, mail_format="maildir")
    with pytest.raises(ImportFormatError, match="is a directory: not an mbox file"):
        import_mail(store, "alice@example.com", tmp_path, mail_format="mbox")
    assert stored(store, alice) == []


def test_oversize_message_skipped(tmp_path: Path, store: Store, alice: Account) -> None:
    big = b"Subject: big\n\n" + b"b" * 200 + b"\n"
    path = tmp_path / "m.mbox"
    path.write_bytes(b"From a\nSubject: 1\n\n1\n\nFrom b\n" + big + b"\nFrom c\nSubject: 3\n\n3\n")
    result = import_mail(store, "alice@example.com", path, max_message_size=100)
    assert result.imported == 2
    assert result.skipped == ["a message from byte 22: the message exceeds 100 octets"]
    assert stored(store, alice) == [b"Subject: 1\r\n\r\n1\r\n", b"Subject: 3\r\n\r\n3\r\n"]


def maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def put(path: Path, data: bytes, mtime: int) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_maildir_flags_dates_folders_and_junk(
    tmp_path: Path, store: Store, alice: Account
) -> None:
    root = maildir(tmp_path / "Maildir")
    put(root / "new" / "1700000300.M1.host", b"Subject: new\n\nunread\n", 1_700_000_300)
    put(root / "cur" / "1700000100.M2.host:2,FRS", b"Subject: old\r\n\r\nread\r\n", 1_700_000_100)
    put(root / "cur" / "1700000200.M3.host:2,DPTa", b"Subject: draft\n\n", 1_700_000_200)
    put(root / "cur" / "1700000250.M4.host", b"Subject: no info\n\nx\n", 1_700_000_250)
    (root / "cur" / ".hidden").write_bytes(b"not a message")  # ignored, as Maildir readers do
    (root / "cur" / "empty:2,S").write_bytes(b"")  # junk: reported
    (root / "new" / "subdir").mkdir()  # junk: reported
    (root / "new" / "dangling").symlink_to(root / "nowhere")  # junk: reported
    (root / "tmp" / "1700000400.M9.host").write_bytes(b"Subject: in delivery\n\n")
    (root / "dovecot-uidlist").write_bytes(b"3 V1 N1\n")
    sent = maildir(root / ".Sent")
    put(sent / "cur" / "1700000500.M5.host:2,S", b"Subject: sent\n\n", 1_700_000_500)
    work = maildir(root / ".Work.Caf&AOk-")
    put(work / "new" / "1700000600.M6.host", b"Subject: cafe\n\n", 1_700_000_600)
    (root / ".not-a-folder").mkdir()
    assert detect_format(root) == "maildir"

    result = import_mail(store, "alice@example.com", root)
    assert result.imported == 6
    assert result.total == 6
    assert result.mailboxes == {"INBOX": 4, "Sent": 1, "Work/Café": 1}
    assert sorted(result.skipped) == [
        "cur/empty:2,S: an empty file",
        "new/dangling: No such file or directory",
        "new/subdir: not a regular file",
    ]
    assert stored(store, alice) == [
        b"Subject: old\r\n\r\nread\r\n",
        b"Subject: draft\r\n\r\n",
        b"Subject: no info\r\n\r\nx\r\n",
        b"Subject: new\r\n\r\nunread\r\n",
    ]
    infos = store.fetch(store.mailbox(alice.id, "INBOX").id)
    assert [i.flags for i in infos] == [
        ("\\Answered", "\\Flagged", "\\Seen"),
        ("\\Deleted", "\\Draft"),
        (),
        (),
    ]
    assert [int(i.internal_date.timestamp()) for i in infos] == [
        1_700_000_100,
        1_700_000_200,
        1_700_000_250,
        1_700_000_300,
    ]
    assert stored(store, alice, "Sent") == [b"Subject: sent\r\n\r\n"]
    assert [i.flags for i in store.fetch(store.mailbox(alice.id, "Sent").id)] == [("\\Seen",)]
    assert stored(store, alice, "Work/Café") == [b"Subject: cafe\r\n\r\n"]


def test_maildir_into_a_named_mailbox(tmp_path: Path, store: Store, alice: Account) -> None:
    root = maildir(tmp_path / "md")
    put(root / "new" / "1.a", b"a\n", 1_700_000_000)
    result = import_mail(store, "alice@example.com", root, mailbox="Archive/2023")
    assert result.mailboxes == {"Archive/2023": 1}
    assert stored(store, alice, "Archive/2023") == [b"a\r\n"]
    assert stored(store, alice) == []


def test_interrupted_import_keeps_whole_batches(
    tmp_path: Path, store: Store, alice: Account
) -> None:
    messages = [b"Subject: %d\n\n" % n + b"line\n" * n for n in range(1, 8)]
    path = tmp_path / "m.mbox"
    path.write_bytes(b"".join(b"From x Thu Nov 26 17:59:27 2026\n" + m + b"\n" for m in messages))

    def stop_after_five(messages_done: int, _units: int) -> None:
        if messages_done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_mail(store, "alice@example.com", path, progress=stop_after_five, batch_messages=2)
    # Two batches of two were committed; the fifth message was not.
    assert stored(store, alice) == [m.replace(b"\n", b"\r\n") for m in messages[:4]]
    assert not list((store.path.parent).glob("tmp*"))


def test_large_mbox_with_bounded_memory(tmp_path: Path, store: Store, alice: Account) -> None:
    path = tmp_path / "large.mbox"
    line = b"0123456789" * 7 + b"\n"
    body = line * 140  # ~10 KB
    with path.open("wb") as fp:
        for n in range(1900):
            fp.write(b"From x Thu Nov 26 17:59:27 2026\nSubject: %d\n\n" % n + body + b"\n")
        fp.write(b"From x Thu Nov 26 17:59:27 2026\nSubject: big\n\n" + line * 30000)
    size = path.stat().st_size
    assert size > 20_000_000
    tracemalloc.start()
    try:
        result = import_mail(store, "alice@example.com", path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.imported == 1901 and result.skipped == []
    assert peak < size // 3, f"peak {peak} bytes for a {size}-byte mbox"
    infos = store.fetch(store.mailbox(alice.id, "INBOX").id)
    assert len(infos) == 1901
    big = read_all(store, alice.id, infos[-1].gm_msgid)
    assert big == b"Subject: big\r\n\r\n" + line.replace(b"\n", b"\r\n") * 30000
    assert read_all(store, alice.id, infos[7].gm_msgid) == (
        b"Subject: 7\r\n\r\n" + body.replace(b"\n", b"\r\n")
    )


CRLF_MBOX = (
    b"From a@b Thu Nov 26 17:59:27 2026\r\n"
    b"Subject: crlf\r\n\r\n"
    b"line\r\n"
    b">From quoted\r\n"
    b"\r\n"
    b"\r\n"
    b"From c@d Thu Nov 26 18:00:00 2026\r\n"
    b"Subject: next\r\n\r\n"
    b"end\r\n"
    b"\r\n"
)
CRLF_EXPECTED = [
    b"Subject: crlf\r\n\r\nline\r\nFrom quoted\r\n\r\n",
    b"Subject: next\r\n\r\nend\r\n",
]


@pytest.mark.parametrize(("data", "expected"), [(MBOX, EXPECTED), (CRLF_MBOX, CRLF_EXPECTED)])
def test_mbox_read_in_blocks_of_any_size(
    tmp_path: Path,
    store: Store,
    alice: Account,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    expected: list[bytes],
) -> None:
    # Every block size (from the longest line's length up: a longer line is
    # passed on in pieces, as the test above checks) gives the same messages:
    # separators, quotes, held empty lines and CRLF pairs across blocks.
    path = tmp_path / "m.mbox"
    path.write_bytes(data)
    inbox = store.mailbox(alice.id, "INBOX").id
    first = None
    for size in [*range(50, 130), 1000]:
        monkeypatch.setattr("protokit.server._import._MBOX_BLOCK", size)
        before = store.mailbox(alice.id, "INBOX").uidnext
        result = import_mail(store, "alice@example.com", path)
        assert (result.imported, result.skipped) == (len(expected), []), size
        infos = [i for i in store.fetch(inbox) if i.uid >= before]
        got = [read_all(store, alice.id, i.gm_msgid) for i in infos]
        assert got == expected, size
        summary = [(i.flags, i.internal_date) for i in infos]
        first = summary if first is None else first
        assert summary == first, size
