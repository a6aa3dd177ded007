"""Core values are valid by construction; modified UTF-7 both ways; dates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit import LocalProtocolError
from protokit.imap import (
    Atom,
    Flag,
    Literal,
    Mailbox,
    SearchKey,
    Section,
    SequenceSet,
    Tag,
    decode_mutf7,
    encode_mutf7,
)
from protokit.imap._types import format_date, format_datetime, parse_date, parse_datetime


@pytest.mark.parametrize("good", ["a1", "A001", "x.y-z", "[tag]", "~*"[0], "a" * 256])
def test_tag_accepts(good: str) -> None:
    assert Tag(good) == good


@pytest.mark.parametrize(
    "bad", ["", "a b", "a+", "*", "a\r\n", "a\x00", "(a", 'a"', "a%", "a{", "é", "a" * 257]
)
def test_tag_refuses(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        Tag(bad)


@pytest.mark.parametrize("bad", ["", "a b", "a]", "a\\", "a*", "a%", "a(", "a\r", "\x7f"])
def test_atom_refuses(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        Atom(bad)


def test_flag() -> None:
    assert Flag("\\Seen") == Flag.SEEN == "\\Seen"
    assert Flag("$Junk") == "$Junk"
    assert Flag("\\*") == "\\*"
    for bad in ("", "\\", "a b", "\\Se en", "a\r\nb", "\\\\x", "(x"):
        with pytest.raises(LocalProtocolError):
            Flag(bad)


def test_mailbox_inbox_is_case_insensitive_and_injection_is_refused() -> None:
    assert Mailbox("inbox") == "INBOX"
    assert Mailbox("InBoX.sub") == "InBoX.sub"
    for bad in ("a\rb", "a\nb", "a\x00b", "\ud800"):
        with pytest.raises(LocalProtocolError):
            Mailbox(bad)


def test_sequence_set() -> None:
    s = SequenceSet.of(1, (3, 5), (7, None), "*")
    assert s.to_bytes() == b"1,3:5,7:*,*"
    assert str(s) == "1,3:5,7:*,*"
    assert SequenceSet.parse("1,3:5,7:*,*") == s
    assert SequenceSet.parse("$") == SequenceSet(saved=True)
    assert SequenceSet.parse("$").to_bytes() == b"$"
    for bad in ("", "0", "1:", ":1", "1,,2", "a", "4294967296", "$,1", "1 2"):
        with pytest.raises(ValueError, match="not a sequence set"):
            SequenceSet.parse(bad)
    for ranges in ((), ((0, 1),), ((1, 2**32),), ((True, 1),), ((1,),)):
        with pytest.raises(LocalProtocolError):
            SequenceSet(ranges)  # type: ignore[arg-type]


def test_literal_refuses_nul_unless_binary() -> None:
    with pytest.raises(LocalProtocolError):
        Literal(b"a\x00b")
    assert Literal(b"a\x00b", binary=True).data == b"a\x00b"
    assert repr(Literal(b"secret")) == "<literal of 6 octets>"


def test_section_validation() -> None:
    assert Section(part=(1, 2), text="MIME").part == (1, 2)
    for kw in (
        {"text": "MIME"},
        {"text": "HEADER.FIELDS"},
        {"text": "HEADER", "fields": (b"From",)},
        {"text": "BOGUS"},
        {"part": (0,)},
        {"text": "HEADER.FIELDS", "fields": (b"Fr]om",)},
        {"text": "HEADER.FIELDS", "fields": (b"From\r\n",)},
    ):
        with pytest.raises(LocalProtocolError):
            Section(**kw)  # type: ignore[arg-type]


def test_search_key_validation() -> None:
    assert SearchKey(name="SEEN").value is None
    for name, value in (
        ("SEEN", 1),
        ("FROM", "str not bytes"),
        ("SINCE", dt.datetime(2020, 1, 1)),
        ("LARGER", -1),
        ("KEYWORD", Flag("\\Seen")),
        ("NOPE", None),
        ("OR", (SearchKey(name="ALL"),)),
    ):
        with pytest.raises(LocalProtocolError):
            SearchKey(name=name, value=value)


# RFC 3501 section 5.1.3's example, and RFC 2152-style edge cases
MUTF7 = [
    ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("&", b"&-"),
    ("a&b", b"a&-b"),
    ("Entwürfe", b"Entw&APw-rfe"),
    ("", b""),
    ("😀", b"&2D3eAA-"),
]


@pytest.mark.parametrize(("text", "raw"), MUTF7)
def test_mutf7_both_ways(text: str, raw: bytes) -> None:
    assert encode_mutf7(text) == raw
    assert decode_mutf7(raw) == text


@pytest.mark.parametrize(
    "bad",
    [b"&", b"&Jjo", b"&Jjo!-", b"&AGE-", b"\xc3\xa9", b"&U,BTFw", b"&2D0-", b"&AA-", b"&A-"],
)
def test_mutf7_refuses(bad: bytes) -> None:
    with pytest.raises(ValueError):
        decode_mutf7(bad)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_mutf7_round_trip(text: str) -> None:
    assert decode_mutf7(encode_mutf7(text)) == text
    assert encode_mutf7(text).isascii()


def test_datetime() -> None:
    d = parse_datetime(b"17-Jul-1996 02:44:25 -0700")
    assert d == dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=dt.timezone(-dt.timedelta(hours=7)))
    assert parse_datetime(b" 7-Jul-1996 02:44:25 +0000") == dt.datetime(
        1996, 7, 7, 2, 44, 25, tzinfo=dt.UTC
    )
    assert d is not None
    assert format_datetime(d) == b"17-Jul-1996 02:44:25 -0700"
    for bad in (b"32-Jul-1996 02:44:25 -0700", b"17-Foo-1996 02:44:25 -0700", b"17-Jul-1996"):
        assert parse_datetime(bad) is None
    with pytest.raises(LocalProtocolError):
        format_datetime(dt.datetime(2020, 1, 1))  # naive


def test_date() -> None:
    assert parse_date(b"1-Feb-1994") == dt.date(1994, 2, 1)
    assert format_date(dt.date(1994, 2, 1)) == b"1-Feb-1994"
    assert parse_date(b"30-Feb-1994") is None
