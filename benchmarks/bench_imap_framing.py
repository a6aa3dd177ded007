"""Issue 6, benchmark (b): framing FETCH BODY[] responses.

2,000 ``* n FETCH (UID u BODY[] {size}`` responses with literals of 2-200 KB
(seeded), fed to the client-role framer in 64 KiB chunks, against the
cheapest thing that could produce the same pieces: slicing the whole stream
into the same lines and literals at offsets known in advance (one bytes
copy per byte, no searching at all).  Target: at least 0.7x of it.

Two framer settings are measured: the default (literals above 64 KiB are
handed on as chunk events, most of them without a copy) and every literal
held in memory (each literal's bytes joined into one ``bytes``).  The report
ends with the per-byte cost of feeding one byte at a time against whole, on
a smaller sample.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from functools import partial

from protokit import NEED_DATA
from protokit.imap._framer import Framer, LiteralChunk, Message

from ._corpus import rng, text_body
from ._harness import Case, parse_args, run_cases

CHUNK = 64 * 1024
MB = 1_000_000


def corpus(r: random.Random, count: int, low: int, high: int) -> tuple[bytes, list[int]]:
    """The response stream, and the (start, end) offsets of every line and
    literal in it, flattened."""
    pool = text_body(r, 1 << 20)
    parts: list[bytes] = []
    offsets: list[int] = []
    at = 0
    for n in range(1, count + 1):
        size = r.randint(low, high)
        start = r.randrange(len(pool) - size)
        body = pool[start : start + size]
        line = b"* %d FETCH (UID %d BODY[] {%d}" % (n, 1000 + n, size)
        for piece, sep in ((line, b"\r\n"), (body, b""), (b")", b"\r\n")):
            offsets += [at, at + len(piece)]
            parts += [piece, sep]
            at += len(piece) + len(sep)
    return b"".join(parts), offsets


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def frame(chunks: Sequence[bytes], stream_threshold: int = 64 * 1024) -> int:
    """Frame every chunk; return the number of responses."""
    framer = Framer(server=False, stream_threshold=stream_threshold)  # client role
    messages = 0
    streamed = 0
    for chunk in chunks:
        framer.feed(chunk)
        while (event := framer.next_event()) is not NEED_DATA:
            if type(event) is LiteralChunk:
                streamed += len(event.data)
            elif type(event) is Message:
                messages += 1
    assert not framer.mid_message
    return messages


def slice_pieces(data: bytes, offsets: Sequence[int]) -> int:
    """The baseline: cut the same pieces out of the stream, offsets known.

    Each piece is dropped once cut, as the framer's consumer drops each event
    (keeping them all would make the baseline pay for fresh memory).
    """
    pieces = 0
    for i in range(0, len(offsets), 2):
        piece = data[offsets[i] : offsets[i + 1]]
        pieces += 1
    del piece
    return pieces // 3


def per_byte_ns(fn: Callable[[], object], nbytes: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best / nbytes * 1e9


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, __doc__ or "")
    count = 20 if args.quick else 2000
    data, offsets = corpus(rng(args.seed), count, 2_000, 200_000)
    chunks = chunks_of(data, CHUNK)
    assert frame(chunks) == count == slice_pieces(data, offsets)
    mb = len(data) / MB
    cases = [
        Case(
            f"{count} FETCH BODY[] (2-200 KB), {mb:.1f} MB in 64 KiB chunks, streaming > 64 KiB",
            lambda: frame(chunks),
            lambda: slice_pieces(data, offsets),
            nbytes=len(data),
            items=count,
            baseline_label="bytes slices, offsets known",
        ),
        Case(
            f"{count} FETCH BODY[] (2-200 KB), {mb:.1f} MB in 64 KiB chunks, all held in memory",
            lambda: frame(chunks, stream_threshold=1 << 20),
            lambda: slice_pieces(data, offsets),
            nbytes=len(data),
            items=count,
            baseline_label="bytes slices, offsets known",
        ),
    ]
    run_cases("IMAP framing (issue 6, benchmark b)", cases, rounds=args.rounds)

    # One byte at a time against whole, on a smaller sample.
    small_count = 5 if args.quick else 50
    small, _ = corpus(rng(args.seed + 1), small_count, 2_000, 20_000)
    bytewise = chunks_of(small, 1)
    whole = [small]
    whole_ns = per_byte_ns(lambda: frame(whole), len(small))
    byte_ns = per_byte_ns(lambda: frame(bytewise), len(small), 1)
    print(f"== one byte at a time vs whole ({small_count} responses, {len(small):,} bytes)")
    print(f"   whole          {whole_ns:10.3f} ns/byte")
    print(f"   one at a time  {byte_ns:10.1f} ns/byte  ({byte_ns / whole_ns:,.0f}x)")
    print()

    # Linear cost: one byte at a time, per byte, as a line or a literal grows.
    print("== one byte at a time, as the message grows (ns/byte; flat means linear)")
    print(f"   {'size':>10} {'long line':>12} {'held literal':>14}")
    for size in [1_000, 4_000] if args.quick else [4_000, 16_000, 60_000]:
        line = [b"a%d" % i for i in range(size // 2)]
        long_line = b" ".join(line)[:size] + b"\r\n"
        literal = b"* 1 FETCH (BODY[] {%d}\r\n" % size + b"x" * size + b")\r\n"
        lb, tb = chunks_of(long_line, 1), chunks_of(literal, 1)
        line_ns = per_byte_ns(partial(frame, lb), len(long_line), 1)
        lit_ns = per_byte_ns(partial(frame, tb), len(literal), 1)
        print(f"   {size:>10,} {line_ns:>12.1f} {lit_ns:>14.1f}")
    print()


if __name__ == "__main__":
    main()
