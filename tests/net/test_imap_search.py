"""protokit.net.search_matches, the SEARCH matcher both IMAP backends use,
over a third-party message type that implements SearchableMessage."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from protokit.imap import Flag, SearchKey, SequenceSet
from protokit.net import SearchableMessage, search_matches

DATA = b"Subject: Hello\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\nSome Body\r\n"


@dataclass
class Message:
    uid: int
    flags: set[str] = field(default_factory=set)
    internaldate: _dt.datetime = _dt.datetime(2026, 3, 1, tzinfo=_dt.UTC)
    modseq: int = 7
    gm_msgid: int | None = 11
    gm_thrid: int | None = 12
    size: int = len(DATA)

    def has_keyword(self, keyword: str) -> bool:
        return keyword.casefold() in {f.casefold() for f in self.flags}

    def has_label(self, label: bytes) -> bool:
        return label == b"Work"

    def header(self, name: str) -> str:
        return {"subject": "Hello", "date": "Mon, 02 Mar 2026 09:00:00 +0000"}.get(
            name.casefold(), ""
        )

    def contains(self, needle: bytes, *, body_only: bool) -> bool:
        data = DATA.partition(b"\r\n\r\n")[2] if body_only else DATA
        return needle.lower() in data.lower()


def key(name: str, value: object = None) -> SearchKey:
    return SearchKey(name=name, value=value)


def matches(k: SearchKey, msg: SearchableMessage, now: float = 0.0) -> bool:
    return search_matches(k, msg, seq=2, view=[3, 5, 9], now=now)


def test_a_third_party_message_is_searched() -> None:
    msg = Message(uid=5, flags={"\\Seen", "$Work"})
    assert matches(key("SEEN"), msg)
    assert not matches(key("UNSEEN"), msg)
    assert matches(key("KEYWORD", Flag("$work")), msg)
    assert matches(key("UID", SequenceSet.of((4, None))), msg)
    assert matches(key("SEQ", SequenceSet.of(2)), msg)
    assert not matches(key("SEQ", SequenceSet.of((3, None))), msg)
    assert matches(key("SUBJECT", b"hell"), msg)
    assert matches(key("HEADER", (b"Subject", b"LO")), msg)
    assert matches(key("BODY", b"some body"), msg)
    assert not matches(key("BODY", b"subject"), msg)
    assert matches(key("TEXT", b"subject"), msg)
    assert matches(key("SENTON", _dt.date(2026, 3, 2)), msg)
    assert matches(key("BEFORE", _dt.date(2026, 3, 2)), msg)
    assert matches(key("MODSEQ", (None, 7)), msg)
    assert matches(key("X-GM-LABELS", b"Work"), msg)
    assert matches(key("X-GM-THRID", 12), msg)
    now = msg.internaldate.timestamp() + 60
    assert matches(key("OLDER", 30), msg, now) and not matches(key("YOUNGER", 30), msg, now)
    assert matches(key("OR", (key("DRAFT"), key("NOT", key("NEW")))), msg)
    assert not matches(key("AND", (key("SEEN"), key("RECENT"))), msg)
