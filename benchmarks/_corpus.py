"""Seeded corpus generation: the same seed gives the same bytes on every run."""

from __future__ import annotations

import random

__all__ = ["rng", "text_body", "words"]

_WORDS = (
    "the quick brown fox jumps over lazy dog mail server message header body "
    "protocol literal envelope recipient sender subject reply forward archive "
    "über naïve café résumé 日本語 почта"
).split()


def rng(seed: int) -> random.Random:
    return random.Random(seed)


def words(r: random.Random, n: int) -> str:
    return " ".join(r.choice(_WORDS) for _ in range(n))


def text_body(r: random.Random, size: int, *, dot_lines: float = 0.02) -> bytes:
    """About ``size`` bytes of CRLF-terminated text lines of 1-76 bytes.

    A fraction ``dot_lines`` of lines start with "." (so dot-stuffing is
    exercised), and the body always ends with CRLF.
    """
    parts: list[bytes] = []
    total = 0
    while total < size:
        line = words(r, r.randint(1, 12)).encode("utf-8")[: r.randint(1, 76)]
        if r.random() < dot_lines:
            line = b"." + line
        line += b"\r\n"
        parts.append(line)
        total += len(line)
    return b"".join(parts)
