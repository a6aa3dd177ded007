"""POP3 client: reading RETR replies, protokit against poplib.

The server byte stream holds the replies to 2,000 RETR commands for messages
of 2-200 KB (seeded corpus, lines starting with "." included): "+OK n
octets", the dot-stuffed body, ".".  protokit's ClientConnection issues the
2,000 RETR commands and consumes the stream in 64 KiB chunks, taking every
MessageData event; ``poplib.POP3`` (stdlib) calls ``retr(i)`` 2,000 times on
the same bytes through an in-memory socket.  Both must see the same body
octets.
"""

from __future__ import annotations

import io
import poplib
from collections.abc import Sequence

from protokit import NEED_DATA
from protokit.pop3 import ClientConfig, ClientConnection, MessageData
from protokit.wire import DotStuffer

from ._corpus import rng, text_body
from ._harness import Case, parse_args, run_cases

CHUNK = 64 * 1024
LOGIN = b"+OK POP3 server ready\r\n+OK send PASS\r\n+OK maildrop ready\r\n"


def build_corpus(count: int, seed: int) -> tuple[list[bytes], bytes]:
    """``count`` messages of 2-200 KB cut at line ends from one seeded text
    pool, and the server's RETR replies for them."""
    r = rng(seed)
    pool = text_body(r, 1_000_000)
    starts = [0]
    pos = pool.find(b"\r\n")
    while pos >= 0:
        starts.append(pos + 2)
        pos = pool.find(b"\r\n", pos + 2)
    messages = []
    for _ in range(count):
        size = r.randint(2_000, 200_000)
        begin = starts[r.randrange(len(starts) // 2)]
        end = pool.find(b"\r\n", begin + size) + 2
        if end < 2:
            end = len(pool)
        messages.append(pool[begin:end])
    replies = []
    for m in messages:
        stuffer = DotStuffer()
        replies.append(b"+OK %d octets\r\n" % len(m) + stuffer.write(m) + stuffer.close())
    return messages, b"".join(replies)


def ours(stream: bytes, count: int) -> int:
    client = ClientConnection(ClientConfig(allow_plaintext_auth=True))
    client.user("bench")
    client.pass_("bench")
    for i in range(1, count + 1):
        client.retr(i)
    view = memoryview(stream)
    total = 0
    for start in range(0, len(stream), CHUNK):
        client.receive_data(view[start : start + CHUNK])
        while (ev := client.next_event()) is not NEED_DATA:
            if type(ev) is MessageData:
                total += len(ev.data)
        client.data_to_send()
    return total


class _MemorySocket:
    """Just enough socket for poplib: reads come from the bytes, writes vanish."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))

    def sendall(self, data: bytes) -> None:
        pass


def theirs(stream: bytes, count: int) -> int:
    pop = poplib.POP3.__new__(poplib.POP3)
    pop._debugging = 0
    pop._tls_established = False
    pop.sock = _MemorySocket(stream)  # type: ignore[assignment]
    pop.file = pop.sock.makefile("rb")
    pop.welcome = b"+OK"
    total = 0
    for i in range(1, count + 1):
        _, lines, _ = pop.retr(i)
        total += sum(map(len, lines)) + 2 * len(lines)
    return total


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(argv) if argv is not None else None, __doc__ or "")
    count = 20 if args.quick else 2_000
    messages, replies = build_corpus(count, args.seed)
    expected = sum(map(len, messages))
    ours_stream = LOGIN + replies
    got_ours, got_theirs = ours(ours_stream, count), theirs(replies, count)
    assert got_ours == got_theirs == expected, (got_ours, got_theirs, expected)
    cases = [
        Case(
            f"RETR x {count}, {len(replies) / 1e6:.1f} MB in 64 KiB chunks",
            lambda: ours(ours_stream, count),
            lambda: theirs(replies, count),
            nbytes=expected,
            items=count,
            subject_label="protokit ClientConnection",
            baseline_label="poplib.POP3",
        )
    ]
    run_cases("POP3 client reading RETR replies", cases, rounds=args.rounds)
