"""Shared test helpers: feed the same bytes three ways (whole, byte by byte,
with trailing data) and at arbitrary split points."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def splits(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (clamped and sorted)."""
    points = sorted({max(0, min(len(data), c)) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


def three_ways(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Yield (label, chunks): whole, one byte at a time, and 2-byte-odd chunks."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    yield "pairs", [data[i : i + 2] for i in range(0, len(data), 2)]
