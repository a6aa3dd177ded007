"""IMAP over loopback: protokit's async IMAP client against imapclient
(IMAPClient on imaplib, synchronous), fetching the same messages from a
private Dovecot in the same run.

2,000 messages of 5-50 KB (seeded) are delivered into Dovecot's Maildir
before timing.  Each pass is one session: connect, LOGIN, EXAMINE INBOX,
``UID FETCH`` of (UID FLAGS BODY.PEEK[]) in batches of 250 UIDs as a user
would, every body read whole, LOGOUT.  ``--quick``: 20 messages.  Needs
Dovecot (tests/interop/peers.py starts and stops it); traffic to 127.0.0.1 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import anyio
from imapclient import IMAPClient as ImapClientPeer

from protokit.imap import FetchBody
from protokit.net import TLSMode, open_imap

from ._corpus import rng, text_body
from ._harness import Case, parse_args, run_cases

BATCH = 250
ITEMS = ["UID", "FLAGS", FetchBody(peek=True)]


def _batches(uids: Sequence[int]) -> list[Sequence[int]]:
    return [uids[i : i + BATCH] for i in range(0, len(uids), BATCH)]


def ours(port: int, uids: Sequence[int]) -> int:
    async def fetch() -> int:
        total = 0
        async with open_imap("127.0.0.1", port, tls=TLSMode.PLAIN, allow_plaintext_auth=True) as c:
            await c.login("alice", "alicepw")
            await c.examine("INBOX")
            for batch in _batches(uids):
                async for msg in c.fetch(batch, ITEMS):
                    total += len(await msg.read())
        return total

    return anyio.run(fetch)


def theirs(port: int, uids: Sequence[int]) -> int:
    c = ImapClientPeer("127.0.0.1", port, ssl=False, timeout=30)
    try:
        c.login("alice", "alicepw")
        c.select_folder("INBOX", readonly=True)
        total = 0
        for batch in _batches(uids):
            for data in c.fetch(list(batch), [b"UID", b"FLAGS", b"BODY.PEEK[]"]).values():
                total += len(data[b"BODY[]"])
    except BaseException:
        c.shutdown()
        raise
    c.logout()
    return total


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(argv) if argv is not None else None, __doc__ or "")
    count = 20 if args.quick else 2_000
    rounds = args.rounds or (1 if args.quick else 5)
    r = rng(args.seed)
    messages = [
        b"Subject: message %d\r\n\r\n" % i + text_body(r, r.randint(5 * 1024, 50 * 1024))
        for i in range(count)
    ]
    expected = sum(map(len, messages))

    from tests.interop.peers import dovecot
    from tests.interop.pop3_peers import deliver_maildir

    with ExitStack() as stack:
        try:
            d = stack.enter_context(dovecot())
        except BaseException as exc:  # pytest's Skipped (no Dovecot) is a BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            msg = f"bench_net_imap needs Dovecot (tests/run.sh installs it): {exc}"
            raise SystemExit(msg) from None
        deliver_maildir(d, "alice", messages)
        uids = list(range(1, count + 1))
        # Correctness, and Dovecot's index and cache warmed for both.
        assert ours(d.imap, uids) == theirs(d.imap, uids) == expected
        run_cases(
            "IMAP client over loopback",
            [
                Case(
                    f"UID FETCH (UID FLAGS BODY.PEEK[]) x {count} (5-50 KB) from Dovecot",
                    lambda: ours(d.imap, uids),
                    lambda: theirs(d.imap, uids),
                    nbytes=expected,
                    items=count,
                    subject_label="protokit IMAPClient",
                    baseline_label="imapclient",
                )
            ],
            rounds=rounds,
        )
