"""Helpers for the codec tests: frame bytes with the real framer (whole, byte
by byte, with trailing data), build messages by hand, and turn writer pieces
back into bytes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protokit import NEED_DATA
from protokit.imap import (
    LinePiece,
    LiteralPiece,
    Piece,
    parse_command,
    parse_response,
    write_command,
    write_response,
)
from protokit.imap._framer import BadMessage, Framer, LiteralAnnounced, Message

SPEC = Path(__file__).resolve().parents[2] / "spec" / "imap" / "examples"


def msg(*fragments: Any) -> Message:
    """A Message built by hand: line, literal, line, ..., line."""
    return Message(fragments=tuple(fragments))


def frame(chunks: Iterable[bytes], *, server: bool) -> list[Any]:
    """Feed ``chunks`` to a framer, accepting every synchronizing literal;
    return the Message and BadMessage events in order."""
    framer = Framer(server=server)
    out: list[Any] = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            ev = framer.next_event()
            if ev is NEED_DATA:
                break
            if isinstance(ev, LiteralAnnounced):
                if server and ev.synchronizing:
                    framer.accept_literal()
                continue
            if isinstance(ev, Message | BadMessage):
                out.append(ev)
    return out


def three_ways(data: bytes) -> list[list[bytes]]:
    return [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        [data[i : i + 7] for i in range(0, len(data), 7)],
    ]


def one_message(data: bytes, *, server: bool) -> Message:
    """Frame ``data`` three ways (and once followed by trailing data); check
    every way gives the same single message, and return it."""
    results = [frame(chunks, server=server) for chunks in three_ways(data)]
    for r in results:
        assert r == results[0]
    assert len(results[0]) == 1, results[0]
    m = results[0][0]
    assert isinstance(m, Message), m
    extra = b"a1 NOOP\r\n" if server else b"* 1 EXISTS\r\n"
    trailing = frame([data + extra], server=server)
    assert trailing[0] == m
    return m


def pieces_bytes(pieces: list[Piece]) -> bytes:
    out = b""
    for p in pieces:
        assert isinstance(p, LinePiece | LiteralPiece)
        out += p.data
    return out


def command_bytes(cmd: Any, **kw: Any) -> bytes:
    return pieces_bytes(write_command(cmd, **kw))


def parse_command_bytes(data: bytes, **kw: Any) -> Any:
    return parse_command(one_message(data, server=True), **kw)


def parse_response_bytes(data: bytes, **kw: Any) -> Any:
    return parse_response(one_message(data, server=False), **kw)


def roundtrip_command(cmd: Any, **kw: Any) -> Any:
    data = command_bytes(cmd, **kw)
    return parse_command(one_message(data, server=True), utf8=kw.get("utf8", False))


def roundtrip_response(resp: Any, **kw: Any) -> Any:
    data = write_response(resp, **kw)
    return parse_response(one_message(data, server=False), **kw)


def examples(name: str) -> list[tuple[str, bytes]]:
    """The entries of spec/imap/examples/<name>: (direction, bytes)."""
    out: list[tuple[str, list[str]]] = []
    for line in (SPEC / name).read_text(encoding="utf-8").split("\n"):
        if line.startswith("#") or (not line.strip() and not line.startswith("   ")):
            continue
        if line.startswith(("C: ", "S: ")):
            out.append((line[0], [line[3:]]))
        elif line.startswith("   "):
            out[-1][1].append(line[3:])
        else:
            raise AssertionError(f"bad example line: {line!r}")
    return [(d, ("\r\n".join(lines) + "\r\n").encode("utf-8")) for d, lines in out]
