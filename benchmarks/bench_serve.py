"""``protokit serve`` with its SQLite store (WAL, synchronous=FULL: every
250 waits for a durable commit, shared by concurrent sessions) against
aiosmtpd keeping messages in memory, both driven by bench_smtp_server's
pipelining raw-socket client over loopback: messages of 10 KB delivered to
a local account through the MX listener (plaintext, no AUTH: the same wire
work for both servers), at 1 and 50 concurrent connections.  Reported:
messages/s and server CPU per message.  The store does strictly more (a
durable write per group commit), so the ratio shows the price of
durability, not a like-for-like race.  ``--quick``: 50 messages, 5
connections.  Only 127.0.0.1; the server and its data directory are removed
at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ._harness import parse_args
from .bench_smtp_server import (
    ROOT,
    Sample,
    Server,
    build_message,
    measure,
    report,
    start_server,
)

RECIPIENT = "rcpt@server.example"
START_TIMEOUT = 30.0


def _free_offset() -> int:
    from tests.interop.serve_peers import free_offset

    return free_offset()


def start_serve(data_dir: Path) -> Server:
    from protokit.server import Store
    from tests.interop.serve_peers import wait_for_ports

    with Store.open(data_dir) as store:
        store.add_account(RECIPIENT, "bench-pw")
    offset = _free_offset()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "protokit.cli", "serve", "--data-dir", str(data_dir),
            "--port-offset", str(offset), "--log-level", "warning",
        ],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_ports([25 + offset], proc, time.monotonic() + START_TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return Server("protokit serve", proc, 25 + offset)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv, description=__doc__ or "")
    messages = 50 if args.quick else 1000
    wide = 5 if args.quick else 50
    body = build_message(args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="protokit-bench-serve-"))
    servers: dict[str, Server] = {}
    try:
        servers["protokit"] = start_serve(data_dir / "data")
        servers["aiosmtpd"] = start_server("aiosmtpd")
        for s in servers.values():  # warm up: imports, first connections
            measure(s, min(wide, 5), 10, body)
        loads = [("one pipelining connection", 1), (f"{wide} concurrent connections", wide)]
        samples: dict[tuple[str, str], list[Sample]] = {}
        for r in range(args.rounds):
            for title, conns in loads:
                order = list(servers.items())
                if r % 2:
                    order.reverse()
                for name, s in order:
                    samples.setdefault((title, name), []).append(measure(s, conns, messages, body))
        print(
            f"== protokit serve (SQLite store, durable 250) vs aiosmtpd (in memory): "
            f"{messages:,} messages of {len(body):,} bytes to {RECIPIENT} over loopback "
            f"({args.rounds} round{'s' if args.rounds != 1 else ''}, medians)"
        )
        print(
            "   (the rows say 'serve_smtp': here it is protokit serve's MX listener on the store)"
        )
        for title, _ in loads:
            report(
                f"{title}, {messages:,} messages",
                messages,
                samples[(title, "protokit")],
                samples[(title, "aiosmtpd")],
            )
        print()
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
