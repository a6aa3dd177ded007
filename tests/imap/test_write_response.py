"""Every response type writes to exact bytes (the canonical form: items in a
fixed order, the cheapest string form, literals inline)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from protokit import LocalProtocolError
from protokit.imap import (
    Address,
    BodySection,
    Capability,
    ContinuationRequest,
    Envelope,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    Flag,
    Flags,
    Framer,
    GenericResponse,
    Id,
    ListResponse,
    Message,
    MultiPart,
    Namespace,
    NamespaceEntry,
    Quota,
    QuotaResource,
    QuotaRoot,
    Recent,
    ResponseCode,
    Search,
    Section,
    SequenceSet,
    SinglePart,
    Status,
    StatusResponse,
    Thread,
    Vanished,
    parse_response,
    write_response,
)

TZ = dt.timezone(dt.timedelta(hours=2))
TEXT = SinglePart(type=b"TEXT", subtype=b"PLAIN", encoding=b"7BIT", size=3, lines=1)

CASES = [
    (Status(tag="a1", status="OK", text="done"), b"a1 OK done\r\n"),
    (
        Status(tag=None, status="NO", code=ResponseCode(name="UIDNEXT", value=5), text="x"),
        b"* NO [UIDNEXT 5] x\r\n",
    ),
    (
        Status(
            tag="a",
            status="OK",
            code=ResponseCode(
                name="COPYUID", value=(9, SequenceSet.of(1), SequenceSet.of((2, 3)))
            ),
            text="ok",
        ),
        b"a OK [COPYUID 9 1 2:3] ok\r\n",
    ),
    (ContinuationRequest(data=b"go ahead"), b"+ go ahead\r\n"),
    (Capability(capabilities=("IMAP4rev2", "IDLE")), b"* CAPABILITY IMAP4rev2 IDLE\r\n"),
    (Exists(count=3), b"* 3 EXISTS\r\n"),
    (Recent(count=0), b"* 0 RECENT\r\n"),
    (Expunge(seq=4), b"* 4 EXPUNGE\r\n"),
    (Flags(flags=(Flag.SEEN, Flag("$Junk"))), b"* FLAGS (\\Seen $Junk)\r\n"),
    (
        ListResponse(kind="LIST", attributes=("\\Noselect",), delimiter="/", mailbox="台北 &x"),
        b'* LIST (\\Noselect) "/" "&U,BTFw- &-x"\r\n',
    ),
    (
        StatusResponse(mailbox="INBOX", items=(("MESSAGES", 2),)),
        b"* STATUS INBOX (MESSAGES 2)\r\n",
    ),
    (Search(ids=(1, 5), modseq=7), b"* SEARCH 1 5 (MODSEQ 7)\r\n"),
    (Thread(threads=((1,), (2, (3,), (4, 5)))), b"* THREAD (1)(2 (3)(4 5))\r\n"),
    (
        ESearch(tag="t", uid=True, items=(("ALL", SequenceSet.of((1, 3))), ("COUNT", 3))),
        b'* ESEARCH (TAG "t") UID ALL 1:3 COUNT 3\r\n',
    ),
    (Vanished(uids=SequenceSet.of(4, 6), earlier=True), b"* VANISHED (EARLIER) 4,6\r\n"),
    (
        Namespace(personal=(NamespaceEntry(prefix=b"", delimiter="/"),)),
        b'* NAMESPACE (("" "/")) NIL NIL\r\n',
    ),
    (Id(params=((b"name", b"x"), (b"os", None))), b'* ID ("name" "x" "os" NIL)\r\n'),
    (
        Quota(root=b"", resources=(QuotaResource(name="STORAGE", usage=1, limit=9),)),
        b'* QUOTA "" (STORAGE 1 9)\r\n',
    ),
    (QuotaRoot(mailbox="INBOX", roots=(b"",)), b'* QUOTAROOT INBOX ""\r\n'),
    (GenericResponse(name="XY", values=("a", b"b c", None, ("1",))), b'* XY a "b c" NIL (1)\r\n'),
    (
        Fetch(
            seq=2,
            uid=9,
            flags=(),
            internaldate=dt.datetime(2024, 3, 1, 9, 5, 0, tzinfo=TZ),
            envelope=Envelope(
                subject="é".encode(),
                from_=(Address(name=b"A", mailbox=b"a", host=b"h"), Address(mailbox=b"b")),
            ),
            bodystructure=MultiPart(parts=(TEXT, TEXT), subtype=b"MIXED"),
            sections=(BodySection(section=Section(part=(1,)), origin=0, data=b"a\r\nb"),),
            gm_labels=(b"\\Inbox", b"x y"),
        ),
        b'* 2 FETCH (UID 9 FLAGS () INTERNALDATE "01-Mar-2024 09:05:00 +0200" ENVELOPE'
        b' (NIL {2}\r\n\xc3\xa9 (("A" NIL "a" "h")(NIL NIL "b" NIL)) NIL NIL NIL NIL NIL NIL NIL)'
        b' BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 3 1)("TEXT" "PLAIN" NIL NIL NIL'
        b' "7BIT" 3 1) "MIXED") BODY[1]<0> {4}\r\na\r\nb X-GM-LABELS (\\Inbox "x y"))\r\n',
    ),
]


@pytest.mark.parametrize(("value", "wire"), CASES)
def test_exact_bytes(value: object, wire: bytes) -> None:
    assert write_response(value) == wire  # type: ignore[arg-type]


def test_utf8_mode_writes_utf8_quoted() -> None:
    r = ListResponse(kind="LIST", attributes=(), delimiter="/", mailbox="台北")
    assert write_response(r, utf8=True) == '* LIST () "/" "台北"\r\n'.encode()


INVALID = [
    lambda: Status(tag=None, status="OK", text=""),
    lambda: Status(tag="a", status="BYE", text="x"),
    lambda: Status(tag="a b", status="OK", text="x"),
    lambda: Status(tag=None, status="OK", text="a\r\nb"),
    lambda: Status(tag=None, status="OK", text="[ALERT] fake code"),
    lambda: Status(tag=None, status="OK", code=ResponseCode(name="X", value=b"a]b"), text="x"),
    lambda: Fetch(seq=1),
    lambda: Fetch(seq=0, uid=1),
    # message sequence numbers and counts end at 2^32 - 1 (nz-number, number)
    lambda: Fetch(seq=2**32, uid=1),
    lambda: Expunge(seq=2**32),
    lambda: Expunge(seq=0),
    lambda: Exists(count=2**32),
    lambda: Recent(count=2**32),
    lambda: Fetch(seq=1, other=(("BAD NAME", None),)),
    lambda: Capability(capabilities=("A B",)),
    lambda: Flags(flags=("\\Se en",)),  # type: ignore[arg-type]
    lambda: ListResponse(kind="LIST", attributes=(), delimiter="//", mailbox="x"),  # type: ignore[arg-type]
    lambda: ListResponse(kind="LIST", attributes=(), delimiter="/", mailbox="a\r\nb"),  # type: ignore[arg-type]
    lambda: Search(ids=(0,)),
    lambda: Thread(threads=((),)),
    lambda: Fetch(seq=1, bodystructure=MultiPart(parts=(), subtype=b"MIXED")),
    lambda: Fetch(seq=1, envelope=Envelope(to=())),
]


@pytest.mark.parametrize("build", INVALID)
def test_invalid_values_are_refused_at_construction(build: Any) -> None:
    # valid by construction: building the value already raises
    with pytest.raises(LocalProtocolError):
        build()


@pytest.mark.parametrize(
    ("charsets", "wire"),
    [
        ((b"]",), b'* OK [BADCHARSET ("]")] x\r\n'),
        ((b"UTF-8", b"[x"), b'* OK [BADCHARSET (UTF-8 "[x")] x\r\n'),
        ((b"a]b", b"US-ASCII"), b'* OK [BADCHARSET ("a]b" US-ASCII)] x\r\n'),
    ],
)
def test_badcharset_names_with_brackets_are_quoted(
    charsets: tuple[bytes, ...], wire: bytes
) -> None:
    # charset = atom / quoted: an astring's "]" ended the code (found by
    # hypothesis in test_response_round_trip)
    resp = Status(
        tag=None, status="OK", code=ResponseCode(name="BADCHARSET", value=charsets), text="x"
    )
    assert write_response(resp) == wire
    framer = Framer(server=False)
    framer.feed(wire)
    message = framer.next_event()
    assert isinstance(message, Message)
    assert parse_response(message) == resp


def test_esearch_tag_must_be_ascii() -> None:
    # Found by the fuzzing work: this escaped as UnicodeEncodeError.
    import pytest

    from protokit.errors import LocalProtocolError
    from protokit.imap import ESearch

    with pytest.raises(LocalProtocolError, match="an ESEARCH tag is ASCII"):
        ESearch(tag="é")
