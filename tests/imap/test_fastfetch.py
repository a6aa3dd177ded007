"""The FETCH fast path agrees with the generic parser: whenever it returns a
value, the generic path returns the same value; and it does take the common
shapes (otherwise it would be dead weight)."""

from __future__ import annotations

import dataclasses
import pickle
import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protokit import RemoteProtocolError
from protokit.imap import Address, Disposition, Fetch, Flag, write_response
from protokit.imap._fastfetch import fast_fetch, maker
from protokit.imap._fetch import build_fetch
from protokit.imap._grammar import RESPONSE_START
from protokit.imap._responses import Deferred
from protokit.imap._tokens import tokenize

from .codec_strategies import fetches
from .test_parse_response import BODYSTRUCTURE, ENVELOPE_LINE
from .test_roundtrip import _split

_ANNOUNCED = re.compile(rb"\{([0-9]+)\+?\}$")


def both(fragments: tuple[Any, ...]) -> tuple[Fetch | None, Any]:
    m = RESPONSE_START.match(fragments[0])
    assert m is not None
    seq = int(m.group(3))
    fast = fast_fetch(seq, fragments, m.end(), 64)
    try:
        generic: Any = build_fetch(seq, tokenize(fragments, m.end()), False)
    except RemoteProtocolError as exc:
        generic = exc
    return fast, generic


COMMON = [
    b"* 1 FETCH (UID 5 FLAGS (\\Seen $Junk) RFC822.SIZE 44827)",
    b'* 2 FETCH (INTERNALDATE "17-Jul-1996 02:44:25 -0700" MODSEQ (12) X-GM-MSGID 1)',
    b"* 3 FETCH (FLAGS ())",
    ENVELOPE_LINE.split(b" MODSEQ")[0] + b")",
    BODYSTRUCTURE.rstrip(b"\r\n").replace(
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 640 (NIL "Fwd" NIL NIL NIL NIL NIL NIL NIL NIL)'
        b' ("IMAGE" "PNG" NIL NIL NIL "BASE64" 10) 12 "md5" ("ATTACHMENT" ("FILENAME" "a.eml"))'
        b' ("EN" "DE") "http://x" (1 "ext"))',
        b'("IMAGE" "PNG" ("NAME" {5}\r\nx.png) NIL NIL "BASE64" 10 NIL ("INLINE" NIL) "EN")',
    ),
    # body-fld-param as a list of one pair, of two and NIL, in a part, a
    # multipart and a disposition (the patterns read a list of one pair into
    # groups of their own, any other raw), and the extension data of a part
    # cut after each of its four fields
    b'* 4 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "UTF-8" "FORMAT" "flowed") NIL NIL'
    b' "7BIT" 1 2 "md5")("APPLICATION" "PDF" ("NAME" "r.pdf") NIL NIL "BASE64" 3 NIL'
    b' ("ATTACHMENT" ("FILENAME" "r.pdf" "SIZE" "3")))("IMAGE" "PNG" NIL NIL NIL "BASE64" 3'
    b' NIL ("INLINE" ("FILENAME" "p.png")) NIL)("AUDIO" "OGG" ("A" "B") NIL NIL "BASE64" 5'
    b' NIL ("ATTACHMENT" NIL) ("EN" "FR") "loc") "MIXED" ("BOUNDARY" "b" "TYPE" "x") NIL NIL'
    b" NIL))",
    # multiparts of two parts (read in one match), and of a part and a
    # multipart or three parts (read one part at a time)
    b'* 5 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2)(("TEXT" "PLAIN" NIL NIL'
    b' NIL "7BIT" 1 2 NIL NIL NIL NIL)("TEXT" "HTML" ("CHARSET" "UTF-8") NIL NIL "BASE64" 3 4'
    b' "md5" ("INLINE" NIL) "EN" "loc") "ALTERNATIVE" ("BOUNDARY" "x") NIL NIL NIL)'
    b' "MIXED" ("BOUNDARY" "y" "TYPE" "z") ("INLINE" ("A" "B")) ("EN" "DE") "l"))',
    b'* 5 FETCH (BODY (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2)("TEXT" "PLAIN" NIL NIL'
    b' NIL "7BIT" 1 2)("IMAGE" "PNG" NIL NIL NIL "BASE64" 3) "MIXED"))',
    # sender and reply-to: another list than from, from's very text (which
    # the patterns match by backreference), NIL after a list, a list that
    # starts with from's text
    b'* 5 FETCH (ENVELOPE ("d" "s" (("A" NIL "a" "h")) (("S" NIL "s" "h")) (("A" NIL "a" "h"))'
    b' (("A" NIL "a" "h")("B" NIL "b" "h")) NIL NIL NIL "<m>"))',
    b'* 6 FETCH (ENVELOPE ("d" "s" (("A" NIL "a" "h")) (("A" NIL "a" "h")) NIL NIL'
    b' (("A" NIL "a" "h")) NIL NIL "<m>"))',
    b'* 7 FETCH (ENVELOPE ("d" "s" (("A" NIL "a" "h")) (("A" NIL "a" "h")("B" NIL "b" "h"))'
    b' (("A" NIL "a" "hh")) NIL NIL NIL NIL "<m>"))',
]


# escapes (in quoted strings and in literals the fast path inlines), an
# odd date-time, the extension data read apart
UNUSUAL = [
    b'* 1 FETCH (FLAGS (\\Seen) ENVELOPE ("d" "a \\"quoted\\" \\\\ subj" (("N \\"x\\"" NIL'
    b' "u" "h")) (("N \\"x\\"" NIL "u" "h")) NIL NIL NIL NIL NIL "<m>") BODYSTRUCTURE ("TEXT"'
    b' "PLAIN" ("NAME" "a\\\\b") NIL NIL "7BIT" 1 2 NIL ("ATTACHMENT" ("FILENAME" "q\\"x"))'
    b' ("EN" "D\\"E") "l\\\\oc"))',
    b'* 1 FETCH (ENVELOPE (NIL {5}\r\na"b\\c NIL NIL NIL (({3}\r\nx"y NIL "u" "h")("a" NIL "b"'
    b' "c")) NIL NIL NIL NIL) UID 4)',
    b'* 1 FETCH (INTERNALDATE " 5-mar-2024 01:02:03 -0130" UID 3)',
    b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2)("IMAGE" "PNG" NIL NIL'
    b' NIL "BASE64" 3 NIL NIL) "MIXED" NIL ("INLINE" NIL) "EN" "loc"))',
    b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2)("IMAGE" "PNG" NIL NIL'
    b' NIL "BASE64" 3 NIL NIL) "MIXED"))',
    # a list of one pair with escapes, in a part, its disposition and a
    # multipart
    b'* 1 FETCH (BODYSTRUCTURE (("APPLICATION" "PDF" ("NAME" "r\\"1.pdf") NIL NIL "BASE64" 3'
    b' NIL ("ATTACHMENT" ("FILENAME" "r\\\\1.pdf")) NIL "loc") "MIXED" ("BOUNDARY" "a\\"b")))',
    # items out of the usual order (read one at a time after the first
    # ones, which are read together), and the last of them before ")"
    b"* 1 FETCH (RFC822.SIZE 4 UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    b' FLAGS (\\Seen) INTERNALDATE "01-Jan-2024 00:00:00 +0000")',
    b"* 1 FETCH (UID 5 X-GM-MSGID 3 X-GM-THRID 4 MODSEQ (7))",
    b"* 1 FETCH (UID 5 FLAGS (\\Seen))",
    # the only escape in the last string: the escape-free patterns read every
    # item before it, then fail, and the message is read again with escapes
    b'* 1 FETCH (UID 7 FLAGS (\\Seen) ENVELOPE ("d" "s" NIL NIL NIL NIL NIL NIL NIL "<m>")'
    b' BODYSTRUCTURE ("TEXT" "PLAIN" ("NAME" "a\\\\b") NIL NIL "7BIT" 1 2))',
]


@pytest.mark.parametrize("line", COMMON + UNUSUAL)
def test_fast_path_is_taken_and_agrees(line: bytes) -> None:
    fragments = _split(line.rstrip(b"\r\n") + b"\r\n").fragments
    fast, generic = both(fragments)
    assert fast is not None
    assert fast == generic


@pytest.mark.parametrize("line", COMMON + UNUSUAL)
def test_deferred_items_are_built_on_access_and_kept(line: bytes) -> None:
    # ENVELOPE, BODYSTRUCTURE and BODY are built on first access: nothing a
    # caller can reach (attributes, repr, pickling, replace) shows the
    # Deferred, and the value built is kept
    fragments = _split(line.rstrip(b"\r\n") + b"\r\n").fragments
    fast, generic = both(fragments)
    assert fast is not None
    assert repr(fast) == repr(generic)
    assert hash(fast) == hash(generic)
    again, _ = both(fragments)
    assert pickle.loads(pickle.dumps(again)) == generic
    again, _ = both(fragments)
    assert dataclasses.replace(again, seq=again.seq) == generic
    for name in ("envelope", "bodystructure", "body"):
        value = getattr(fast, name)
        assert not isinstance(value, Deferred)
        assert value == getattr(generic, name)
        assert getattr(fast, name) is value


FALLBACK = [
    b"* 1 FETCH (uid 5)",  # lower case
    b"* 1 FETCH (UID 5 X-NEW 1)",  # unknown item
    b"* 1 FETCH (FLAGS (NIL))",  # NIL is no flag: the generic path says so
    b"* 1 FETCH (FLAGS (\\Seen  \\Answered))",
    b"* 1 FETCH (UID 5 )",  # a space before ")"
    b"* 1 FETCH (UID 5 FLAGS (\\Seen) RFC822.SIZE 9999999999999999999)",
    b"* 1 FETCH (RFC822.SIZE 9999999999999999999)",  # above 2**63
    b'* 1 FETCH (INTERNALDATE "31-Feb-2024 01:02:03 +0000")',  # no such day
    b'* 1 FETCH (BODY ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1))',  # text without lines
    # a backslash that is no escape, in each kind of string the escape-free
    # patterns read (their strings take any octet but the quote, and the
    # message is refused afterwards), before and after FLAGS' backslashes
    b'* 1 FETCH (ENVELOPE ("d" "a\\b" NIL NIL NIL NIL NIL NIL NIL "<m>") FLAGS (\\Seen))',
    b'* 1 FETCH (FLAGS (\\Seen) ENVELOPE ("d" "s" (("N" NIL "u\\" "h")) NIL NIL NIL NIL'
    b' NIL NIL "<m>"))',
    b'* 1 FETCH (FLAGS (\\Seen) BODYSTRUCTURE ("TEXT" "PLAIN" ("NAME" "a\\b") NIL NIL "7BIT"'
    b" 1 2))",
    b'* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2 NIL ("INLINE" NIL) "\\"))',
    # read without escapes, a string that ends at an escaped quote (and an
    # envelope of ten fields); read with them, no envelope
    b'* 1 FETCH (ENVELOPE ("d" "a\\" NIL NIL NIL NIL NIL NIL NIL "<m>"))',
    # CR, LF and NUL in a string (a message not from our framer)
    b'* 1 FETCH (ENVELOPE ("d" "a\rb" NIL NIL NIL NIL NIL NIL NIL "<m>"))',
    b'* 1 FETCH (ENVELOPE ("d" "a\nb" NIL NIL NIL NIL NIL NIL NIL "<m>"))',
    b'* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL "a\x00" "7BIT" 1 2))',
]


@pytest.mark.parametrize("line", FALLBACK)
def test_fast_path_falls_back(line: bytes) -> None:
    fast, _ = both((line,))
    assert fast is None


@settings(max_examples=300)
@given(fetches())
def test_written_fetches_agree(f: Fetch) -> None:
    fragments = _split(write_response(f)).fragments
    fast, generic = both(fragments)
    assert generic == f
    if fast is not None:
        assert fast == f


@settings(max_examples=500)
@given(st.sampled_from(COMMON), st.data())
def test_mutated_fetches_agree(base: bytes, data: Any) -> None:
    raw = bytearray(base)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(10, len(raw) - 1))
        if data.draw(st.booleans()):
            raw[i] = data.draw(st.sampled_from(b'()"\\ 0123456789NILX\x00'))
        else:
            del raw[i]
    try:
        fragments = _split(bytes(raw) + b"\r\n").fragments
    except (AssertionError, ValueError):
        return  # the mutation broke the literal layout: not a message
    if not RESPONSE_START.match(fragments[0]):
        return
    fast, generic = both(fragments)
    if fast is not None:
        assert fast == generic


# INTERNALDATE as the fast path reads it (ISO 8601 through
# datetime.fromisoformat when the day has two digits or a space and one,
# the date's ISO form cached: the cases run in order in one process, so most
# dates after the first 16-Mar-2024 take the cache, and the one-digit and
# space-padded forms of 5-Dec-1999 follow its two-digit form, where 7-Jan-2001
# is space-padded first) against DATE_TIME's reading: the same instant, or
# the generic path's error
@pytest.mark.parametrize(
    "date",
    [
        b"16-Mar-2024 11:26:22 +0100",
        b"05-Dec-1999 00:00:00 -0000",
        b" 5-Dec-1999 23:59:59 +0000",
        b"5-Dec-1999 23:59:59 +0000",
        b"29-Feb-2024 12:00:00 -1230",
        b"16-mar-2024 11:26:22 +0100",
        b"16-MAR-2024 11:26:22 +0100",
        b"16-Mar-2024 11:26:22 +0060",
        b"16-Mar-2024 11:26:22 +0099",
        b"16-Mar-2024 11:26:22 +2359",
        b"16-Mar-2024 11:26:22 +2400",
        b"29-Feb-2023 12:00:00 +0000",
        b"16-Mar-2024 24:00:00 +0000",
        b"16-Mar-2024 11:60:00 +0000",
        b"16-Mar-0000 11:26:22 +0100",
        b" 7-Jan-2001 10:00:00 +0000",
        b"07-Jan-2001 10:00:00 +0000",
    ],
)
def test_internaldate_agrees(date: bytes) -> None:
    line = b'* 1 FETCH (INTERNALDATE "' + date + b'" UID 3)'
    fast, generic = both((line,))
    if isinstance(generic, RemoteProtocolError):
        assert fast is None
    else:
        assert fast == generic
        assert fast is not None and fast.internaldate is not None
        assert fast.internaldate.utcoffset() == generic.internaldate.utcoffset()


def test_benchmark_corpus_agrees_whole_and_mutated() -> None:
    # the realistic responses of benchmark (a) (ENVELOPE with non-ASCII
    # literals, nested BODYSTRUCTURE with a boundary and an attachment's
    # file name in each), whole and with up to three octets changed or
    # removed: the fast path reads every whole one, and whatever it reads
    # it reads as the generic path does
    from benchmarks.bench_imap_parse import corpus, to_message

    messages = [to_message(p).fragments for p in corpus(7, 300)]
    for fragments in messages:
        fast, generic = both(fragments)
        assert fast is not None
        assert fast == generic
    r = random.Random(5)
    taken = 0
    for _ in range(3000):
        frags = list(r.choice(messages))
        k = r.randrange(0, len(frags), 2)
        raw = bytearray(frags[k])
        for _ in range(r.randint(1, 3)):
            i = r.randrange(min(10, len(raw) - 1), len(raw))
            if r.random() < 0.6:
                raw[i] = r.choice(b'()"\\ 0123456789NILXT\x00')
            else:
                del raw[i]
        frags[k] = bytes(raw)
        # the framer hands on only messages whose literals match their
        # announcements, and a first line that starts a response
        if any(
            (m := _ANNOUNCED.search(frags[j])) is None or int(m.group(1)) != len(frags[j + 1])
            for j in range(0, len(frags) - 1, 2)
        ) or not RESPONSE_START.match(frags[0]):
            continue
        fast, generic = both(tuple(frags))
        if fast is not None:
            taken += 1
            assert fast == generic
    assert taken > 500


# the deepest shapes the fast path reads: a part whose disposition has
# parameters (three levels below its own "("), in multiparts nested
# ``levels`` deep, the innermost of two parts (read in one match) or three
# (one at a time); an address in an envelope
_DEEP_PART = b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2 NIL ("INLINE" ("FILENAME" "a")))'
_HTML_PART = b'("TEXT" "HTML" NIL NIL NIL "7BIT" 3 4)'


def _nested(levels: int, parts: int) -> bytes:
    body = b"(" + _DEEP_PART + _HTML_PART * (parts - 1) + b' "ALTERNATIVE")'
    for _ in range(levels):
        body = b"(" + body + _DEEP_PART + b' "MIXED")'
    return b"* 1 FETCH (BODYSTRUCTURE " + body + b")"


@pytest.mark.parametrize("max_depth", range(1, 11))
@pytest.mark.parametrize(
    "line",
    [
        b"* 1 FETCH (BODYSTRUCTURE " + _DEEP_PART + b")",
        b'* 1 FETCH (ENVELOPE (NIL NIL (("N" NIL "m" "h")) NIL NIL NIL NIL NIL NIL NIL))',
        *[_nested(levels, parts) for levels in range(4) for parts in (2, 3)],
    ],
)
def test_nesting_limit_is_the_generic_paths(line: bytes, max_depth: int) -> None:
    # each shape nests exactly as deep as the fast path allows for: it reads
    # the message exactly when the generic path would, and never one that
    # the generic path refuses as nested too deep
    start = RESPONSE_START.match(line).end()  # type: ignore[union-attr]
    fast = fast_fetch(1, (line,), start, max_depth)
    generic: Any
    try:
        generic = build_fetch(1, tokenize((line,), start, max_depth=max_depth), False)
    except RemoteProtocolError as exc:
        generic = exc
    if isinstance(generic, RemoteProtocolError):
        assert f"nesting deeper than {max_depth}" in str(generic)
        assert fast is None
    else:
        assert fast == generic


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (Address, {"name": b"N", "adl": None, "mailbox": b"m", "host": b"h"}),
        (Disposition, {"type": b"INLINE", "params": ((b"A", b"B"),)}),
        (Fetch, {"seq": 3, "uid": 9, "flags": (Flag.SEEN,), "envelope": None}),
    ],
)
def test_maker_builds_exactly_the_class(cls: Any, kwargs: dict[str, Any]) -> None:
    # what the fast path builds is indistinguishable from the class's own
    # constructor: same type, equal, same hash, frozen, pickled the same
    expected = cls(**kwargs)
    values = [getattr(expected, f.name) for f in dataclasses.fields(cls)]
    made = maker(cls)(*values)
    assert type(made) is cls
    assert made == expected
    assert hash(made) == hash(expected)
    assert pickle.loads(pickle.dumps(made)) == expected
    assert not hasattr(made, "__dict__")
    name = dataclasses.fields(cls)[1].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(made, name)
