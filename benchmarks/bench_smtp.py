"""The SMTP server connection parsing a pipelined client stream, against
aiosmtpd's ``SMTP`` protocol fed the same bytes in the same run.

The stream: EHLO once, then MAIL / RCPT / DATA / dot-stuffed body per message
(10,000 messages of 1-50 KB; ``--quick``: 50), then QUIT, fed in 64 KiB
chunks.  Both servers accept everything; both must accept every message.

aiosmtpd is driven through an in-memory asyncio transport (no sockets):
``connection_made`` with a transport that collects writes and honours
``pause_reading``, then ``data_received`` per chunk, letting the event loop
run the protocol's task until it asks for more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

from protokit import NEED_DATA
from protokit.smtp import MailFrom, MessageData, MessageEnd, RcptTo, ServerConnection
from protokit.wire import DotStuffer

from ._corpus import rng, text_body
from ._harness import Case, parse_args, run_cases

CHUNK = 64 * 1024


def build_stream(seed: int, messages: int) -> tuple[bytes, int]:
    """The client's bytes and the total body size (before stuffing)."""
    r = rng(seed)
    parts = [b"EHLO client.example\r\n"]
    body_bytes = 0
    for i in range(messages):
        body = text_body(r, r.randint(1_000, 50_000))
        body_bytes += len(body)
        stuffer = DotStuffer()
        parts.append(b"MAIL FROM:<sender%d@example.com>\r\n" % i)
        parts.append(b"RCPT TO:<rcpt%d@example.org>\r\n" % i)
        parts.append(b"DATA\r\n")
        parts.append(stuffer.write(body))
        parts.append(stuffer.close())
    parts.append(b"QUIT\r\n")
    return b"".join(parts), body_bytes


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- protokit ---------------------------------------------------------------------


def run_protokit(chunks: Sequence[bytes]) -> tuple[int, int]:
    """Returns (messages accepted, body bytes received)."""
    conn = ServerConnection()
    conn.data_to_send()
    accepted = 0
    received = 0
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            t = type(ev)
            if t is MessageData:
                received += len(cast(MessageData, ev).data)
            elif t is MessageEnd:
                accepted += 1
                conn.reply()
            elif t is MailFrom or t is RcptTo:
                conn.reply()
        conn.data_to_send()
    return accepted, received


# -- aiosmtpd -----------------------------------------------------------------------


class _Handler:
    def __init__(self) -> None:
        self.messages = 0
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.received += len(envelope.content)
        return "250 OK"


class _Transport(asyncio.Transport):
    """Collects writes; remembers whether the protocol paused reading."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.paused = False
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 2525) if name == "peername" else default

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_reading(self) -> bool:
        return not self.paused

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


async def _drive_aiosmtpd(chunks: Sequence[bytes], handler: _Handler) -> bytes:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    proto = SMTP(handler, hostname="bench.example", loop=loop, data_size_limit=None)
    transport = _Transport()
    proto.connection_made(transport)
    for chunk in chunks:
        proto.data_received(chunk)
        await asyncio.sleep(0)
        while transport.paused:
            await asyncio.sleep(0)
    while not transport.closed:
        await asyncio.sleep(0)
    proto.connection_lost(None)
    task = proto._handler_coroutine
    if task is not None:
        await asyncio.wait([task], timeout=5)
    return bytes(transport.written)


def run_aiosmtpd(chunks: Sequence[bytes]) -> tuple[int, int]:
    handler = _Handler()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_drive_aiosmtpd(chunks, handler))
    finally:
        loop.close()
    return handler.messages, handler.received


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, description=__doc__ or "")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    messages = 50 if args.quick else 10_000
    stream, body_bytes = build_stream(args.seed, messages)
    chunks = chunks_of(stream, CHUNK)
    # Both must accept every message, with every body byte, before timing.
    ours = run_protokit(chunks)
    theirs = run_aiosmtpd(chunks)
    if ours != (messages, body_bytes):
        raise SystemExit(f"protokit accepted {ours}, expected {(messages, body_bytes)}")
    if theirs[0] != messages:
        raise SystemExit(f"aiosmtpd accepted {theirs[0]} messages, expected {messages}")
    print(
        f"stream: {len(stream):,} bytes, {messages:,} messages, {len(chunks):,} chunks of 64 KiB;"
        f" both accepted {messages:,} messages"
    )
    run_cases(
        "SMTP server: pipelined stream",
        [
            Case(
                name=f"{messages:,} messages of 1-50 KB in 64 KiB chunks",
                subject=lambda: run_protokit(chunks),
                baseline=lambda: run_aiosmtpd(chunks),
                nbytes=len(stream),
                items=messages,
                baseline_label="aiosmtpd SMTP",
            )
        ],
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
