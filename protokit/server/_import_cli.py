"""``protokit import ADDRESS PATH``: an mbox file or a Maildir into an
account of the development server's store (see ``_import.py``).

Exit codes: 0 every message imported, 1 a failure (no store, no such
account, not an mbox or Maildir, a file that cannot be read) or some
messages skipped (each is named), 2 a usage error, 130 interrupted (the
batches committed so far stay, whole)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

from ._db import DB_FILENAME
from ._import import ImportFormatError, ImportResult, MailFormat, import_mail
from ._store import DEFAULT_DATA_DIR, Store
from ._types import StoreError

# Nothing for the package's API: protokit.cli runs main() by name (DELEGATED).
__all__: list[str] = []

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
_BAR_WIDTH: Final = 30
_REDRAW_EVERY: Final = 0.1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="protokit import",
        description="Import an mbox file or a Maildir into an account's mailbox. Messages keep "
        "their bytes (LF line endings become CRLF; an mbox's '>From ' quoting is undone), "
        "their flags (a Maildir's ':2,' letters S R F T D as \\Seen \\Answered \\Flagged "
        "\\Deleted \\Draft; an mbox's Status: and X-Status: headers) and their date (a "
        "Maildir file's modification time, an mbox From_ line's date) as INTERNALDATE. "
        "Imported messages are new to POP3 and appear in IMAP like delivered ones. A Maildir++ "
        "folder .Name goes into the mailbox Name. The file is read as a stream and committed "
        "in batches, so memory stays small and an interrupted import keeps only whole "
        "messages (running it again imports everything again). It may run while "
        "`protokit serve` runs on the same data directory.",
        epilog="Progress goes to standard error: a bar on a terminal, else one summary line. "
        "Exit codes: 0 every message imported, 1 failure or some messages skipped (each is "
        "named), 2 usage error, 130 interrupted.",
    )
    parser.add_argument("address", metavar="ADDRESS", help="the account, user@domain")
    parser.add_argument(
        "path", metavar="PATH", type=Path, help="an mbox file, or a Maildir (with cur/ and new/)"
    )
    parser.add_argument(
        "--mailbox",
        metavar="NAME",
        default="INBOX",
        help="the mailbox to import into (default: INBOX; created if missing)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"the server's data directory (default: ./{DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--format",
        dest="mail_format",
        choices=["auto", "mbox", "maildir"],
        default="auto",
        help="what PATH is (default: auto: a directory with cur/ or new/ is a Maildir, a "
        "file is an mbox)",
    )
    return parser


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


class _Bar:
    """A one-line progress bar redrawn in place (at most ten times a second)."""

    def __init__(self, stream: TextIO, units: str) -> None:
        self.stream = stream
        self.units = units
        self.total = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.width = 0

    def set_total(self, total: int) -> None:
        self.total = total

    def update(self, messages: int, done: int) -> None:
        now = time.monotonic()
        if now - self.drawn < _REDRAW_EVERY and done < self.total:
            return
        self.drawn = now
        fraction = min(1.0, done / self.total) if self.total else 1.0
        filled = int(fraction * _BAR_WIDTH)
        rate = messages / max(now - self.started, 1e-9)
        if self.units == "bytes":
            amount = f"{_size(done)}/{_size(self.total)}"
        else:
            amount = f"{done}/{self.total} files"
        text = (
            f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {fraction:4.0%} "
            f"{messages} messages  {amount}  {rate:.0f} msg/s"
        )
        self.stream.write("\r" + text.ljust(self.width))
        self.width = len(text)
        self.stream.flush()

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _summary(result: ImportResult, address: str, seconds: float) -> str:
    where = ", ".join(f"{n} into {name}" for name, n in result.mailboxes.items()) or "none"
    rate = result.imported / seconds if seconds > 0 else 0.0
    text = (
        f"imported {result.imported} messages ({_size(result.stored_bytes)}) for {address}: "
        f"{where}; {seconds:.1f} s, {rate:.0f} msg/s"
    )
    if result.skipped:
        text += f"; skipped {len(result.skipped)}"
    return text


def main(
    argv: Sequence[str],
    *,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Run ``protokit import``; returns the exit code."""
    del stdin, stdout  # the import reads PATH and reports on stderr only
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    data_dir: Path = args.data_dir if args.data_dir is not None else Path(DEFAULT_DATA_DIR)
    if not (data_dir / DB_FILENAME).exists():
        print(
            f"protokit import: no store in {data_dir.absolute()} (add a user first)", file=stderr
        )
        return EXIT_FAILURE
    mail_format: MailFormat | None = None if args.mail_format == "auto" else args.mail_format
    bar = (
        _Bar(stderr, "bytes" if mail_format != "maildir" and args.path.is_file() else "files")
        if stderr.isatty()
        else None
    )
    started = time.monotonic()
    result = ImportResult()
    try:
        with Store.open(data_dir) as store:
            result = import_mail(
                store,
                args.address,
                args.path,
                mailbox=args.mailbox,
                mail_format=mail_format,
                progress=None if bar is None else bar.update,
                on_total=None if bar is None else bar.set_total,
            )
    except KeyboardInterrupt:
        if bar is not None:
            bar.clear()
        print("protokit import: interrupted; the batches committed before stay", file=stderr)
        return EXIT_INTERRUPTED
    except (StoreError, ImportFormatError, OSError) as exc:
        if bar is not None:
            bar.clear()
        print(f"protokit import: {exc}", file=stderr)
        return EXIT_FAILURE
    if bar is not None:
        bar.clear()
    for reason in result.skipped:
        print(f"protokit import: skipped {reason}", file=stderr)
    if result.total == 0 and result.imported == 0 and not result.skipped:
        print(f"protokit import: {args.path} holds no messages", file=stderr)
    print(_summary(result, args.address, time.monotonic() - started), file=stderr)
    return EXIT_FAILURE if result.skipped else EXIT_OK
