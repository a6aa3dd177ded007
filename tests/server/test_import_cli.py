"""``protokit import`` on the command line: --help, exit codes, the progress
bar on a terminal and the summary line otherwise; and end to end, the
imported messages read back through POP3 (poplib with STLS) and IMAP
(imaplib) from ``protokit serve``."""

from __future__ import annotations

import imaplib
import io
import os
import poplib
import re
import ssl
import subprocess
from pathlib import Path

import pytest

from protokit.cli import main as protokit_main
from protokit.server import Store
from protokit.server._import_cli import main
from tests.interop.serve_peers import (
    make_data_dir,
    protokit_command,
    run,
    serving,
)

from .test_import import EXPECTED, MBOX

SUMMARY = re.compile(
    r"imported (\d+) messages \((\d+) B\) for alice@example\.com: (.*); \d+\.\d s, \d+ msg/s"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def call(*argv: str, stderr: io.StringIO | None = None) -> tuple[int, str]:
    err = io.StringIO() if stderr is None else stderr
    code = main(list(argv), stdin=io.StringIO(), stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path / "data", {"alice@example.com": "alice-pw"})


def test_help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal's width
    assert call("--help")[0] == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: protokit import [-h] [--mailbox NAME] [--data-dir DIR]")
    words = " ".join(out.split())
    for text in (
        "ADDRESS the account, user@domain",
        "PATH an mbox file, or a Maildir (with cur/ and new/)",
        "--format {auto,mbox,maildir}",
        "an interrupted import keeps only whole messages",
        "Exit codes: 0 every message imported, 1 failure or some messages skipped (each is "
        "named), 2 usage error, 130 interrupted.",
    ):
        assert text in words
    # protokit import --help goes to the same parser.
    err = io.StringIO()
    assert protokit_main(["import", "--help"], stdin=io.StringIO(), stdout=err, stderr=err) == 0
    assert capsys.readouterr().out == out


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert call()[0] == 2
    assert "the following arguments are required: ADDRESS, PATH" in capsys.readouterr().err
    assert call("a@b", "x", "--format", "mh")[0] == 2
    assert "invalid choice: 'mh'" in capsys.readouterr().err


def test_failures(tmp_path: Path, data_dir: Path) -> None:
    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(MBOX)
    assert call("alice@example.com", str(mbox), "--data-dir", str(tmp_path / "none")) == (
        1,
        f"protokit import: no store in {tmp_path / 'none'} (add a user first)\n",
    )
    assert call("nobody@example.com", str(mbox), "--data-dir", str(data_dir)) == (
        1,
        "protokit import: no account nobody@example.com\n",
    )
    bad = tmp_path / "bad.mbox"
    bad.write_bytes(b"Subject: x\n\nno From_ line\n")
    assert call("alice@example.com", str(bad), "--data-dir", str(data_dir)) == (
        1,
        "protokit import: not an mbox file: it does not start with a 'From ' line\n",
    )
    assert call("alice@example.com", str(tmp_path / "gone"), "--data-dir", str(data_dir)) == (
        1,
        f"protokit import: {tmp_path / 'gone'} is neither a file nor a directory\n",
    )
    with Store.open(data_dir) as store:
        assert store.fetch(store.mailbox(1, "INBOX").id) == []


def test_empty_mbox_and_summary_line(tmp_path: Path, data_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    code, err = call("alice@example.com", str(empty), "--data-dir", str(data_dir))
    lines = err.splitlines()
    assert (code, lines[0]) == (0, f"protokit import: {empty} holds no messages")
    m = SUMMARY.fullmatch(lines[1])
    assert m is not None and m.groups() == ("0", "0", "none") and len(lines) == 2


def test_maildir_with_junk_names_what_it_skipped(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "1.a:2,S").write_bytes(b"Subject: ok\n\n")
    (root / "cur" / "2.b").write_bytes(b"")
    code, err = call("alice@example.com", str(root), "--data-dir", str(data_dir))
    lines = err.splitlines()
    assert code == 1
    assert lines[0] == "protokit import: skipped cur/2.b: an empty file"
    assert lines[1].endswith("; skipped 1")
    m = SUMMARY.fullmatch(lines[1].removesuffix("; skipped 1"))
    assert m is not None and m.groups() == ("1", "15", "1 into INBOX")


def test_progress_bar_on_a_terminal(tmp_path: Path, data_dir: Path) -> None:
    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(MBOX)
    terminal = Terminal()
    code, err = call("alice@example.com", str(mbox), "--data-dir", str(data_dir), stderr=terminal)
    assert code == 0
    drawn, _, final = err.rpartition("\r")
    # The bar was drawn at 100% with the message count, then cleared; the
    # summary line stays.
    assert re.search(
        rf"\r\[#{{30}}\] 100% 3 messages  {len(MBOX)} B/{len(MBOX)} B  \d+ msg/s", drawn
    )
    m = SUMMARY.fullmatch(final.rstrip("\n"))
    assert m is not None and m.groups() == ("3", str(sum(map(len, EXPECTED))), "3 into INBOX")
    # Not a terminal: the summary line alone.
    code, err = call("alice@example.com", str(mbox), "--data-dir", str(data_dir))
    assert code == 0 and "\r" not in err and SUMMARY.fullmatch(err.rstrip("\n"))


def test_imported_mail_through_pop3_and_imap(tmp_path: Path, data_dir: Path) -> None:
    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(MBOX)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        protokit_command("import", "alice@example.com", str(mbox), "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert run(protokit_command("user", "list", "--data-dir", str(data_dir))).returncode == 0
    with serving(data_dir) as served:
        context = ssl.create_default_context(cafile=str(served.cafile))
        pop = poplib.POP3("127.0.0.1", served.port("pop3"), timeout=20)
        try:
            pop.stls(context)
            pop.user("alice@example.com")
            pop.pass_("alice-pw")
            # POP3 sizes and sends a bare CR as CRLF (one in the second
            # message), and ends the last line of the third, which has no line end.
            assert pop.stat() == (3, sum(map(len, EXPECTED)) + 1)
            sent = [
                EXPECTED[0],
                EXPECTED[1].replace(b"bare\rcr", b"bare\r\ncr"),
                EXPECTED[2] + b"\r\n",
            ]
            for n, expected in enumerate(sent, 1):
                _, lines, _ = pop.retr(n)
                assert b"".join(line + b"\r\n" for line in lines) == expected
        finally:
            pop.quit()
        imap = imaplib.IMAP4("127.0.0.1", served.port("imap"), timeout=20)
        try:
            imap.starttls(context)
            imap.login("alice@example.com", "alice-pw")
            imap.select("INBOX", readonly=True)
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            assert typ == "OK"
            bodies = [part[1] for part in data if isinstance(part, tuple)]
            assert bodies == EXPECTED
            heads = [part[0] for part in data if isinstance(part, tuple)]
            assert b"FLAGS (\\Answered \\Flagged \\Seen)" in heads[0]
            assert b'INTERNALDATE "26-Nov-2026 17:59:27 +0000"' in heads[0]
            assert b"FLAGS ()" in heads[1]
            assert b'INTERNALDATE "27-Nov-2026 01:02:03 +0200"' in heads[1]
            assert b"FLAGS (\\Deleted \\Draft)" in heads[2]
            assert b'INTERNALDATE "28-Nov-2026 10:00:00 -0500"' in heads[2]
        finally:
            imap.logout()
        code, _, err = served.stop()
        assert code == 0, err


def test_interrupted_import_exit_code(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C during the import (after the second one-message batch was
    # committed): exit 130; the committed batches stay, the third message
    # was never stored.
    import protokit.server._import as importer

    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(MBOX)
    real = importer.import_mail

    def interrupted(*args: object, **kwargs: object) -> object:
        def progress(messages: int, _units: int) -> None:
            if messages == 2:
                raise KeyboardInterrupt

        kwargs.update(progress=progress, batch_messages=1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("protokit.server._import_cli.import_mail", interrupted)
    assert call("alice@example.com", str(mbox), "--data-dir", str(data_dir)) == (
        130,
        "protokit import: interrupted; the batches committed before stay\n",
    )
    with Store.open(data_dir) as store:
        infos = store.fetch(store.mailbox(1, "INBOX").id)
        assert [b"".join(store.read_message(1, i.gm_msgid)) for i in infos] == EXPECTED[:2]
