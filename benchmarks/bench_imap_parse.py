# ruff: noqa: UP031 - %-templates mirror the wire format they generate
"""Issue 6, benchmarks (a) and (c): parsing IMAP responses into typed values.

(a) 20,000 realistic FETCH responses (FLAGS, UID, INTERNALDATE, RFC822.SIZE,
    ENVELOPE with some non-ASCII subjects and names sent as literals, and a
    nested BODYSTRUCTURE), seeded.  protokit parses each framed message with
    ``parse_response`` into typed values; the peer, imapclient 4.1's
    ``parse_fetch_response``, gets the same responses split the way imaplib
    splits them (``_untagged_response``'s list of lines and
    ``(line, literal)`` tuples), exactly what ``IMAPClient.fetch`` hands it.
    Target: at least 10x imapclient.  A second case adds our framing
    (bytes in, typed values out) to show what the framer costs on top.
    protokit's fast path checks ENVELOPE and BODYSTRUCTURE in full at parse
    time but builds their objects on first access; imapclient builds
    everything at once, so a third case also reads both from every
    response (every object built), for a like-for-like figure.
(c) One command answered by N responses, N from 250 to 2,000 (the full
    size of the issue): the per-response cost must stay flat (no hidden
    quadratic behaviour in the framer or the parser).
"""

from __future__ import annotations

import random
import time
from typing import Any

from protokit import NEED_DATA
from protokit.imap import Fetch, parse_response
from protokit.imap._framer import Framer, Message

from ._corpus import rng, words
from ._harness import Case, parse_args, run_cases

_NAMES = ("Terry Gray", "John Klensin", "Ana Ruiz", "Mary Smith", "Wei Chen", "Raj Patel")
_NON_ASCII_NAMES = ("Zoë Müller", "Jörg Ström", "李 雷", "Ηλίας Παππάς")
_ASCII_WORDS = [w for w in words.__globals__["_WORDS"] if w.isascii()]
_HOSTS = ("cac.washington.edu", "example.com", "mail.example.org", "CNRI.Reston.VA.US")


def _string(text: str) -> str | bytes:
    """A string as the server would send it: quoted when ASCII, else a
    literal (returned as its bytes; the assembler cuts the line there)."""
    raw = text.encode("utf-8")
    if raw.isascii() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    return raw


def _address(r: random.Random) -> list[str | bytes]:
    user = r.choice(("gray", "klensin", "ana", "zoe", "joerg", "li"))
    name = r.choice(_NON_ASCII_NAMES if r.random() < 0.05 else _NAMES)
    return ["(", _string(name), ' NIL "%s" "%s")' % (user, r.choice(_HOSTS))]


def _subject(r: random.Random) -> str:
    """Mostly ASCII (encoded words are ASCII); one in ten is raw UTF-8."""
    if r.random() < 0.1:
        return words(r, r.randint(2, 9)).capitalize()
    return " ".join(r.choice(_ASCII_WORDS) for _ in range(r.randint(2, 9))).capitalize()


def _bodystructure(r: random.Random) -> str:
    text = '("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" %d %d NIL NIL NIL NIL)'
    html = '("TEXT" "HTML" ("CHARSET" "UTF-8") NIL NIL "BASE64" %d %d NIL NIL NIL NIL)'
    att = (
        '("APPLICATION" "PDF" ("NAME" "report-%d.pdf") NIL NIL "BASE64" %d NIL'
        ' ("ATTACHMENT" ("FILENAME" "report-%d.pdf")) NIL NIL)'
    )
    alt = '(%s%s "ALTERNATIVE" ("BOUNDARY" "b1_%d") NIL NIL NIL)' % (
        text % (r.randint(100, 9000), r.randint(3, 200)),
        html % (r.randint(100, 20000), r.randint(3, 300)),
        r.randint(1, 10**6),
    )
    if r.random() < 0.5:
        return alt
    n = r.randint(1, 10**4)
    return '(%s%s "MIXED" ("BOUNDARY" "b0_%d") NIL NIL NIL)' % (
        alt,
        att % (n, r.randint(1000, 500000), n),
        n,
    )


def fetch_response(r: random.Random, seq: int) -> list[Any]:
    """One FETCH response as wire parts: str lines (without CRLF, ending with
    the literal announcement) and bytes literals, alternating."""
    date = "%s, %d %s 2024 %02d:%02d:%02d +0000" % (
        r.choice(("Mon", "Tue", "Wed", "Thu", "Fri")),
        r.randint(1, 28),
        r.choice(("Jan", "Feb", "Mar", "Apr")),
        r.randint(0, 23),
        r.randint(0, 59),
        r.randint(0, 59),
    )
    tokens: list[str | bytes] = [
        '* %d FETCH (UID %d FLAGS (%s) INTERNALDATE "%02d-Mar-2024 %02d:%02d:%02d +0100"'
        ' RFC822.SIZE %d ENVELOPE ("%s" '
        % (
            seq,
            seq + 1000,
            " ".join(r.sample(("\\Seen", "\\Answered", "\\Flagged", "$Junk", "$Label1"), 2)),
            r.randint(1, 28),
            r.randint(0, 23),
            r.randint(0, 59),
            r.randint(0, 59),
            r.randint(2000, 900000),
            date,
        ),
        _string(_subject(r)),
    ]
    frm = _address(r)
    for _ in range(3):
        tokens += [" (", *frm, ")"]
    tokens.append(" (")
    for _ in range(r.randint(1, 3)):
        tokens += _address(r)
    tokens.append(")")
    tokens.append(' NIL NIL NIL "<%d.%d@example.com>")' % (r.randint(1, 10**9), seq))
    tokens.append(" BODYSTRUCTURE " + _bodystructure(r) + ")")
    parts: list[Any] = []
    line = ""
    for t in tokens:
        if isinstance(t, bytes):
            parts += [line + "{%d}" % len(t), t]
            line = ""
        else:
            line += t
    parts.append(line)
    return parts


def corpus(seed: int, count: int) -> list[list[Any]]:
    r = rng(seed)
    return [fetch_response(r, n) for n in range(1, count + 1)]


def to_bytes(parts: list[Any]) -> bytes:
    out = []
    for i, p in enumerate(parts):
        if i % 2:
            out.append(p)
        else:
            raw = p.encode("ascii")
            out.append(raw + b"\r\n")
    return b"".join(out)


def to_message(parts: list[Any]) -> Message:
    return Message(
        fragments=tuple(p.encode("ascii") if not i % 2 else p for i, p in enumerate(parts))
    )


def to_imaplib(parts: list[Any]) -> list[Any]:
    """What imaplib's ``_untagged_response(typ, dat, "FETCH")`` returns for
    this response: the text after "* " up to each literal announcement paired
    with the literal, then the final line."""
    lines = [p.encode("ascii") for p in parts[0::2]]
    lits = parts[1::2]
    first = lines[0][2:].replace(b" FETCH ", b" ", 1)  # b"12 (UID ..."
    lines[0] = first
    out: list[Any] = []
    for k, lit in enumerate(lits):
        out.append((lines[k], lit))
    out.append(lines[-1])
    return out


def ours_parse(messages: list[Message]) -> int:
    n = 0
    for m in messages:
        parse_response(m)
        n += 1
    return n


def ours_parse_and_read(messages: list[Message]) -> int:
    """Parse, and read ENVELOPE and BODYSTRUCTURE (building every object the
    fast path defers to first access)."""
    n = 0
    for m in messages:
        f = parse_response(m)
        if type(f) is Fetch:
            f.envelope  # noqa: B018 - the read builds it
            f.bodystructure  # noqa: B018
        n += 1
    return n


def ours_frame_and_parse(stream: bytes) -> int:
    framer = Framer(server=False)
    framer.feed(stream)
    n = 0
    while True:
        ev = framer.next_event()
        if ev is NEED_DATA:
            break
        if type(ev) is Message:
            parse_response(ev)
            n += 1
    return n


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, __doc__ or "")
    try:
        from imapclient.response_parser import parse_fetch_response
    except ImportError:  # pragma: no cover - the peer is a test dependency
        parse_fetch_response = None

    count = 500 if args.quick else 20_000
    items = corpus(args.seed, count)
    messages = [to_message(p) for p in items]
    stream = b"".join(to_bytes(p) for p in items)
    imaplib_data: list[Any] = [x for p in items for x in to_imaplib(p)]
    with_literals = sum(1 for p in items if len(p) > 1)

    # sanity: both sides read the same UIDs
    ours = [parse_response(m) for m in messages[:50]]
    if parse_fetch_response is not None:
        theirs = parse_fetch_response(
            [x for p in items[:50] for x in to_imaplib(p)], normalise_times=True, uid_is_key=True
        )
        assert sorted(theirs) == [f.uid for f in ours]  # type: ignore[union-attr]

    baseline = (
        (lambda: parse_fetch_response(imaplib_data, True, True))
        if parse_fetch_response is not None
        else None
    )
    cases = [
        Case(
            f"(a) {count:,} FETCH responses ({with_literals:,} with literals) -> typed values",
            lambda: ours_parse(messages),
            baseline,
            nbytes=len(stream),
            items=count,
            baseline_label="imapclient 4.1 parse_fetch_response",
        ),
        Case(
            f"(a) the same, every ENVELOPE and BODYSTRUCTURE read (all {count:,} built)",
            lambda: ours_parse_and_read(messages),
            baseline,
            nbytes=len(stream),
            items=count,
            subject_label="protokit, values read",
            baseline_label="imapclient 4.1 parse_fetch_response",
        ),
        Case(
            f"(a) the same, bytes in: framer + parser ({len(stream) / 1e6:.1f} MB)",
            lambda: ours_frame_and_parse(stream),
            baseline,
            nbytes=len(stream),
            items=count,
            subject_label="protokit framer+parser",
            baseline_label="imapclient 4.1 parse_fetch_response",
        ),
    ]
    run_cases("IMAP response parsing", cases, rounds=args.rounds)

    # (c) one command answered by N responses: the cost per response is flat
    print("== (c) one command answered by N responses: cost per response")
    sizes = (50, 100, 200) if args.quick else (250, 500, 1000, 2000)
    big = corpus(args.seed + 1, sizes[-1])
    for n in sizes:
        data = b"".join(to_bytes(p) for p in big[:n]) + b"a1 OK FETCH completed\r\n"
        best = min(_timed(lambda d=data: ours_frame_and_parse(d)) for _ in range(3))
        print(f"   {n:>6,} responses: {best / n * 1e6:8.2f} us per response (CPU time)")
    print()


def _timed(fn: Any) -> float:
    # CPU time: on a shared machine, wall time per response is noise
    t = time.process_time()
    fn()
    return time.process_time() - t
