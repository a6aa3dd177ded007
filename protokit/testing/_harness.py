"""The machinery the fuzz entry points share: cutting an input into a chunk
plan and a payload, feeding a payload whole and chunked, and the
invariant checks.  Standard library only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError

__all__ = ["InvariantViolation", "Outcome", "chunk", "merge", "split_input"]

#: Octets at the start of a fuzz input that choose the chunk sizes.
HEADER = 2


class InvariantViolation(AssertionError):
    """A fuzz invariant does not hold: a bug in protokit, not in the input."""


def split_input(data: bytes) -> tuple[tuple[int, ...], bytes]:
    """``(sizes, payload)``: the first two octets are two chunk sizes used in
    turn (0 means "the rest at once"), the rest is the payload."""
    head, payload = data[:HEADER], data[HEADER:]
    sizes = tuple(head) if len(head) == HEADER else (0,)
    return sizes, payload


def chunk(payload: bytes, sizes: Sequence[int]) -> list[bytes]:
    """Cut ``payload`` into pieces of the given sizes, in turn."""
    out: list[bytes] = []
    i = 0
    turn = 0
    while i < len(payload):
        size = sizes[turn % len(sizes)]
        turn += 1
        if size == 0:
            out.append(payload[i:])
            break
        out.append(payload[i : i + size])
        i += size
    return out


def merge(events: Sequence[Any], data_type: type | tuple[type, ...]) -> list[Any]:
    """Join runs of data events (``ev.data``) so chunkings compare equal.
    Each run becomes one ``("data", bytes)`` tuple."""
    out: list[Any] = []
    for ev in events:
        if isinstance(ev, data_type):
            if out and isinstance(out[-1], tuple) and out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + getattr(ev, "data", b""))
            else:
                out.append(("data", bytes(getattr(ev, "data", b""))))
        else:
            out.append(ev)
    return out


@dataclass
class Outcome:
    """What one run produced: the events (data runs merged), the bytes
    written, and the protocol error that ended it (class name and message)."""

    events: list[Any] = field(default_factory=list)
    output: bytes = b""
    error: tuple[str, str] | None = None


def protocol_error(exc: ProtocolError) -> tuple[str, str]:
    return (type(exc).__name__, exc.message)


def same_for_every_chunking(
    name: str, data: bytes, run: Callable[[list[bytes]], Outcome]
) -> Outcome:
    """Run ``data``'s payload whole and in its chunk plan; both must agree."""
    sizes, payload = split_input(data)
    whole = run([payload] if payload else [])
    if sizes != (0,):
        cut = run(chunk(payload, sizes))
        if cut != whole:
            raise InvariantViolation(
                f"{name}: chunks {sizes} changed the outcome:\n"
                f"  whole: {whole!r}\n  cut:   {cut!r}"
            )
    return whole


def bounded(name: str, held: int, limit: int) -> None:
    """Memory invariant: ``held`` buffered octets never pass ``limit``."""
    if held > limit:
        raise InvariantViolation(f"{name}: {held} octets buffered, limit {limit}")


def tls_handoff(outcome: Outcome, event_type: type) -> Outcome:
    """Make a run that reached the TLS hand-off compare equal however it was
    chunked.  Whether commands pipelined behind STARTTLS/STLS were already
    received when it was accepted depends on the chunking: if they were, the
    server refuses the upgrade as an injection (CVE-2011-0411); if not, it
    hands off.  Both end the plaintext session: the final event or error and
    the reply line to STARTTLS are replaced by one ``("tls",)`` marker."""
    injected = outcome.error is not None and "STARTTLS" in outcome.error[1].upper().replace(
        "STLS", "STARTTLS"
    )
    if outcome.events and isinstance(outcome.events[-1], event_type):
        outcome.events.pop()
    elif not injected:
        return outcome
    lines = outcome.output.split(b"\r\n")
    outcome.output = b"\r\n".join([*lines[:-2], b""])  # drop the last reply line
    outcome.events.append(("tls",))
    outcome.error = None
    return outcome
