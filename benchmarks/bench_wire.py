"""protokit.wire's hot paths against the naive code they replace.

- ReceiveBuffer.extract_line against ``buf += data`` / ``buf.find(b"\\r\\n", 0)``
  with re-slicing, the pattern that turns quadratic when data trickles in;
- DotUnstuffer against ``buf += data`` / ``buf.find(b"\\r\\n.\\r\\n", 0)``, the
  classic end-of-DATA search from the start on every read.

Each is fed whole, in 64 KiB chunks, and one byte at a time, and the report
ends with cost per byte at growing sizes: flat for protokit (linear cost),
growing for the naive code (quadratic).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from protokit.wire import BareLineEndingPolicy, DotUnstuffer, ReceiveBuffer

from ._corpus import rng, text_body
from ._harness import CLOCKS, Case, parse_args, run_cases

CHUNK = 64 * 1024
MB = 1_000_000


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- receive buffer: lines ----------------------------------------------------


def ours_lines(chunks: Sequence[bytes]) -> int:
    buf = ReceiveBuffer()
    n = 0
    for c in chunks:
        buf.feed(c)
        while buf.extract_line(1000) is not None:
            n += 1
    return n


def naive_lines(chunks: Sequence[bytes]) -> int:
    buf = b""
    n = 0
    for c in chunks:
        buf += c
        while True:
            i = buf.find(b"\r\n", 0)
            if i < 0:
                break
            buf = buf[i + 2 :]
            n += 1
    return n


# -- dot-unstuffing -----------------------------------------------------------


def ours_unstuff(chunks: Sequence[bytes]) -> int:
    buf = ReceiveBuffer()
    reader = DotUnstuffer(BareLineEndingPolicy.REJECT)
    total = 0
    for c in chunks:
        buf.feed(c)
        total += len(reader.read(buf))
        if reader.done:
            break
    assert reader.done
    return total


def naive_unstuff(chunks: Sequence[bytes]) -> int:
    buf = b""
    for c in chunks:
        buf += c
        end = buf.find(b"\r\n.\r\n", 0)
        if end >= 0:
            body = buf[: end + 2].replace(b"\r\n..", b"\r\n.")
            if body.startswith(b".."):
                body = body[1:]
            return len(body)
    raise AssertionError("no terminator")


def stuffed_message(size: int, seed: int) -> bytes:
    body = text_body(rng(seed), size)
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


_clock: Callable[[], float] = time.perf_counter


def per_byte_ns(fn: Callable[[], object], nbytes: int, repeat: int = 3) -> float:
    best = min(_timed(fn) for _ in range(repeat))
    return best / nbytes * 1e9


def _timed(fn: Callable[[], object]) -> float:
    t = _clock()
    fn()
    return _clock() - t


def main(argv: list[str] | None = None) -> None:
    global _clock
    args = parse_args(argv, __doc__ or "")
    _clock = CLOCKS[args.clock]
    size = 200_000 if args.quick else 10 * MB
    small = 8_000 if args.quick else 32_000  # naive byte-at-a-time is quadratic
    big = stuffed_message(size, args.seed)
    tiny = stuffed_message(small, args.seed)
    lines_big = big[:-3]
    lines_tiny = tiny[:-3]
    whole, chunked = [big], chunks_of(big, CHUNK)
    bytewise_tiny = chunks_of(tiny, 1)

    mb = len(big) / MB
    cases = [
        Case(
            f"lines, {mb:.1f} MB in 64 KiB chunks",
            lambda: ours_lines(chunks_of(lines_big, CHUNK)),
            lambda: naive_lines(chunks_of(lines_big, CHUNK)),
            nbytes=len(lines_big),
            baseline_label="naive bytes+=/find",
        ),
        Case(
            f"lines, {len(lines_tiny) / 1000:.0f} KB one byte at a time",
            lambda: ours_lines(chunks_of(lines_tiny, 1)),
            lambda: naive_lines(chunks_of(lines_tiny, 1)),
            nbytes=len(lines_tiny),
            baseline_label="naive bytes+=/find",
        ),
        Case(
            f"dot-unstuff, {mb:.1f} MB whole",
            lambda: ours_unstuff(whole),
            lambda: naive_unstuff(whole),
            nbytes=len(big),
            baseline_label="naive bytes+=/find",
        ),
        Case(
            f"dot-unstuff, {mb:.1f} MB in 64 KiB chunks",
            lambda: ours_unstuff(chunked),
            lambda: naive_unstuff(chunked),
            nbytes=len(big),
            baseline_label="naive bytes+=/find",
        ),
        Case(
            f"dot-unstuff, {len(tiny) / 1000:.0f} KB one byte at a time",
            lambda: ours_unstuff(bytewise_tiny),
            lambda: naive_unstuff(bytewise_tiny),
            nbytes=len(tiny),
            baseline_label="naive bytes+=/find",
        ),
    ]
    run_cases("protokit.wire", cases, rounds=args.rounds)

    # Cost per byte as the input grows: linear code stays flat.
    print(f"== cost per byte as input grows (best of 3, ns/byte, {args.clock} clock)")
    sizes = [MB // 20, MB // 10] if args.quick else [MB, 2 * MB, 5 * MB, 10 * MB]
    print(f"   {'size':>10} {'ours whole':>12} {'ours 64K':>12} {'naive 64K':>12}")
    for s in sizes:
        msg = stuffed_message(s, args.seed)
        w, c = [msg], chunks_of(msg, CHUNK)
        print(
            f"   {len(msg):>10,} {per_byte_ns(lambda: ours_unstuff(w), len(msg)):>12.2f}"
            f" {per_byte_ns(lambda: ours_unstuff(c), len(msg)):>12.2f}"
            f" {per_byte_ns(lambda: naive_unstuff(c), len(msg)):>12.2f}"
        )
    bsizes = [4_000, 16_000] if args.quick else [50_000, 200_000, 1 * MB]
    print(f"   {'size':>10} {'ours 1-byte':>12} {'naive 1-byte':>12}")
    for s in bsizes:
        msg = stuffed_message(s, args.seed)
        b = chunks_of(msg, 1)
        naive = (
            f"{per_byte_ns(lambda: naive_unstuff(b), len(msg), 1):>12.2f}"
            if len(msg) <= 64_000
            else f"{'(too slow)':>12}"
        )
        ours = per_byte_ns(lambda: ours_unstuff(b), len(msg), 1)
        print(f"   {len(msg):>10,} {ours:>12.2f} {naive}")
    w = [big]
    whole_ns = per_byte_ns(lambda: ours_unstuff(w), len(big))
    sample = stuffed_message(min(size, MB), args.seed)
    sb = chunks_of(sample, 1)
    byte_ns = per_byte_ns(lambda: ours_unstuff(sb), len(sample), 1)
    print(
        f"   dot-unstuff per-byte cost, one byte at a time / whole: {byte_ns / whole_ns:,.0f}x"
        f" ({byte_ns:.1f} ns vs {whole_ns:.2f} ns per byte)"
    )
    print()


if __name__ == "__main__":
    main()
