"""Responses parse into exact typed values; leniencies are named and tested;
errors are RemoteProtocolError."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from protokit import RemoteProtocolError
from protokit.imap import (
    Address,
    BodySection,
    Capability,
    ContinuationRequest,
    Disposition,
    Enabled,
    Envelope,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    Flag,
    Flags,
    GenericResponse,
    Id,
    ListResponse,
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
    Sort,
    Status,
    StatusResponse,
    Thread,
    Vanished,
    parse_response,
    write_response,
)
from protokit.imap._framer import StreamedLiteral

from .codec_helpers import msg, parse_response_bytes

UTC = dt.UTC


def p(data: bytes) -> object:
    return parse_response_bytes(data)


def test_status_responses() -> None:
    assert p(b"a1 OK done\r\n") == Status(tag="a1", status="OK", text="done")
    assert p(b"* BYE bye\r\n") == Status(tag=None, status="BYE", text="bye")
    assert p(b"* PREAUTH [ALERT] hi\r\n") == Status(
        tag=None, status="PREAUTH", code=ResponseCode(name="ALERT"), text="hi"
    )
    assert p("a2 NO [TRYCREATE] pas là\r\n".encode()) == Status(
        tag="a2", status="NO", code=ResponseCode(name="TRYCREATE"), text="pas là"
    )


CODES = [
    (b"[UIDNEXT 4392]", "UIDNEXT", 4392),
    (b"[UIDVALIDITY 3857529045]", "UIDVALIDITY", 3857529045),
    (b"[UNSEEN 12]", "UNSEEN", 12),
    (b"[HIGHESTMODSEQ 715194045007]", "HIGHESTMODSEQ", 715194045007),
    (b"[APPENDLIMIT 257890]", "APPENDLIMIT", 257890),
    (b"[CAPABILITY IMAP4rev1 IDLE]", "CAPABILITY", ("IMAP4rev1", "IDLE")),
    (b"[PERMANENTFLAGS (\\Deleted \\*)]", "PERMANENTFLAGS", (Flag.DELETED, Flag("\\*"))),
    (b"[PERMANENTFLAGS ()]", "PERMANENTFLAGS", ()),
    (b'[BADCHARSET (UTF-8 "KOI8-R")]', "BADCHARSET", (b"UTF-8", b"KOI8-R")),
    (b"[BADCHARSET]", "BADCHARSET", ()),
    (b"[APPENDUID 38505 3955]", "APPENDUID", (38505, SequenceSet.of(3955))),
    (
        b"[COPYUID 38505 304,319:320 3956:3958]",
        "COPYUID",
        (38505, SequenceSet.of(304, (319, 320)), SequenceSet.of((3956, 3958))),
    ),
    (b"[MODIFIED 7,9]", "MODIFIED", SequenceSet.of(7, 9)),
    (b"[NOMODSEQ]", "NOMODSEQ", None),
    (b"[CLOSED]", "CLOSED", None),
    (b"[READ-WRITE]", "READ-WRITE", None),
    (b"[read-only]", "READ-ONLY", None),
    (b'[X-FOO a "b]" c]', "X-FOO", b'a "b]" c'),
    (b"[X-BAR]", "X-BAR", None),
]


@pytest.mark.parametrize(("raw", "name", "value"), CODES)
def test_response_codes(raw: bytes, name: str, value: object) -> None:
    r = p(b"* OK " + raw + b" text\r\n")
    assert r == Status(
        tag=None, status="OK", code=ResponseCode(name=name, value=value), text="text"
    )
    assert p(write_response(r)) == r  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        b"[UIDNEXT x]",
        b"[UIDNEXT]",
        b"[APPENDUID 1]",
        b"[COPYUID 1 2]",
        b"[MODIFIED]",
        b"[UNCLOSED",
    ],
)
def test_bad_response_codes(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        p(b"* OK " + bad + b" text\r\n")


def test_lenient_code_without_text_and_bare_plus_and_lowercase() -> None:
    # LENIENT-CODE-NO-TEXT, LENIENT-BARE-PLUS, LENIENT-LOWERCASE
    assert p(b"a ok [READ-WRITE]\r\n") == Status(
        tag="a", status="OK", code=ResponseCode(name="READ-WRITE"), text=""
    )
    assert p(b"+\r\n") == ContinuationRequest(data=b"")
    assert p(b"+ \r\n") == ContinuationRequest(data=b"")
    assert p(b"+ YmFzZTY0\r\n") == ContinuationRequest(data=b"YmFzZTY0")
    assert p(b"* 3 exists\r\n") == Exists(count=3)
    # the writer never reproduces them
    assert write_response(ContinuationRequest(data=b"")) == b"+ \r\n"
    assert write_response(Status(tag=None, status="OK", code=ResponseCode(name="ALERT"))) == (
        b"* OK [ALERT] \r\n"
    )


def test_lenient_trailing_space() -> None:
    assert p(b"* SEARCH 1 2 \r\n") == Search(ids=(1, 2))
    assert p(b"* 3 EXISTS \r\n") == Exists(count=3)
    assert p(b"* FLAGS (\\Seen) \r\n") == Flags(flags=(Flag.SEEN,))


def test_mailbox_data() -> None:
    assert p(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n") == Capability(
        capabilities=("IMAP4rev1", "AUTH=PLAIN")
    )
    assert p(b"* ENABLED CONDSTORE\r\n") == Enabled(capabilities=("CONDSTORE",))
    assert p(b"* 172 EXISTS\r\n") == Exists(count=172)
    assert p(b"* 1 RECENT\r\n") == Recent(count=1)
    assert p(b"* 44 EXPUNGE\r\n") == Expunge(seq=44)
    assert p(b'* LIST (\\HasNoChildren) "." INBOX.Sent ("CHILDINFO" ("SUBSCRIBED"))\r\n') == (
        ListResponse(
            kind="LIST",
            attributes=("\\HasNoChildren",),
            delimiter=".",
            mailbox="INBOX.Sent",
            extended=(("CHILDINFO", (b"SUBSCRIBED",)),),
        )
    )
    assert p(b"* LSUB () NIL inbox\r\n") == ListResponse(
        kind="LSUB", attributes=(), delimiter=None, mailbox="INBOX"
    )
    assert p(b'* LIST () "\\\\" "&ZeVnLIqe-"\r\n') == ListResponse(
        kind="LIST", attributes=(), delimiter="\\", mailbox="日本語"
    )
    assert p(b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n") == StatusResponse(
        mailbox="blurdybloop", items=(("MESSAGES", 231), ("UIDNEXT", 44292))
    )
    assert p(b"* SEARCH\r\n") == Search(ids=())
    assert p(b"* SEARCH 2 5 (MODSEQ 917162500)\r\n") == Search(ids=(2, 5), modseq=917162500)
    assert p(b"* SORT 5 3\r\n") == Sort(ids=(5, 3))
    assert p(b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n") == Thread(
        threads=((2,), (3, 6, (4, 23), (44, 7, 96)))
    )
    assert p(b'* ESEARCH (TAG "A282") UID MIN 2 ALL 1:3,5 X-FOO (1 2)\r\n') == ESearch(
        tag="A282",
        uid=True,
        items=(("MIN", 2), ("ALL", SequenceSet.of((1, 3), 5)), ("X-FOO", ("1", "2"))),
    )
    assert p(b"* VANISHED (EARLIER) 41,43:116\r\n") == Vanished(
        uids=SequenceSet.of(41, (43, 116)), earlier=True
    )
    assert p(b"* VANISHED 405\r\n") == Vanished(uids=SequenceSet.of(405))
    assert p(b"* FLAGS (\\Answered $Junk)\r\n") == Flags(flags=(Flag.ANSWERED, Flag("$Junk")))


def test_namespace_id_quota() -> None:
    assert p(b'* NAMESPACE (("" "/")("#mh/" "/" "X-P" ("A" "B"))) NIL (("S." "."))\r\n') == (
        Namespace(
            personal=(
                NamespaceEntry(prefix=b"", delimiter="/"),
                NamespaceEntry(
                    prefix=b"#mh/", delimiter="/", extensions=((b"X-P", (b"A", b"B")),)
                ),
            ),
            other=None,
            shared=(NamespaceEntry(prefix=b"S.", delimiter="."),),
        )
    )
    assert p(b'* ID ("name" "Cyrus" "os" NIL)\r\n') == Id(
        params=((b"name", b"Cyrus"), (b"os", None))
    )
    assert p(b"* ID NIL\r\n") == Id(params=None)
    assert p(b'* QUOTA "" (STORAGE 10 512 MESSAGE 1 2)\r\n') == Quota(
        root=b"",
        resources=(
            QuotaResource(name="STORAGE", usage=10, limit=512),
            QuotaResource(name="MESSAGE", usage=1, limit=2),
        ),
    )
    assert p(b'* QUOTAROOT INBOX "" x\r\n') == QuotaRoot(mailbox="INBOX", roots=(b"", b"x"))


ENVELOPE_LINE = (
    b'* 12 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700"'
    b' RFC822.SIZE 4286 ENVELOPE ("Wed, 17 Jul 1996" {7}\r\nGr\xc3\xbc\xc3\x9fe'
    b' (("Terry Gray" NIL "gray" "cac.washington.edu")) NIL NIL'
    b' ((NIL NIL "imap" "cac.washington.edu")(NIL NIL "grp" NIL)(NIL NIL NIL NIL))'
    b' NIL NIL NIL "<B27397@cac>") MODSEQ (12) X-GM-MSGID 1278455344230334865'
    b' X-GM-LABELS (\\Inbox "Muy Importante" work) X-NEW (1 "a" NIL))\r\n'
)


def test_fetch_every_simple_item() -> None:
    r = p(ENVELOPE_LINE)
    gray = Address(name=b"Terry Gray", mailbox=b"gray", host=b"cac.washington.edu")
    assert r == Fetch(
        seq=12,
        uid=7,
        flags=(Flag.SEEN,),
        internaldate=dt.datetime(
            1996, 7, 17, 2, 44, 25, tzinfo=dt.timezone(dt.timedelta(hours=-7))
        ),
        rfc822_size=4286,
        envelope=Envelope(
            date=b"Wed, 17 Jul 1996",
            subject="Grüße".encode(),
            from_=(gray,),
            to=(
                Address(mailbox=b"imap", host=b"cac.washington.edu"),
                Address(mailbox=b"grp"),
                Address(),
            ),
            message_id=b"<B27397@cac>",
        ),
        modseq=12,
        gm_msgid=1278455344230334865,
        gm_labels=(b"\\Inbox", b"Muy Importante", b"work"),  # LENIENT-GMAIL-LABELS
        other=(("X-NEW", ("1", b"a", None)),),
    )


@pytest.mark.parametrize(
    ("line", "seq"),
    [
        (b"* 12 FETCH (UID 7)\r\n", 12),  # as servers write it
        (b"* 012 FETCH (UID 7)\r\n", 12),  # a leading zero
        (b"* 12 fetch (UID 7)\r\n", 12),  # the name in another case
        (b"* 12 Fetch (uid 7)\r\n", 12),
        (b"* 4294967295 FETCH (UID 7)\r\n", 2**32 - 1),
    ],
)
def test_fetch_numbered_however_written(line: bytes, seq: int) -> None:
    assert p(line) == Fetch(seq=seq, uid=7)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"* 0 FETCH (UID 7)\r\n", "invalid FETCH response"),
        (b"* 12 FETCH ()\r\n", "invalid FETCH response"),
        (b"* 12 FETCH  (UID 7)\r\n", "unexpected space"),
        (b"* 12 FETCH UID 7\r\n", "invalid FETCH response"),
        (b"* 12345678901 FETCH (UID 7)\r\n", "not an IMAP response"),
        # nz-number ends at 2^32 - 1
        (b"* 4294967296 FETCH (UID 7)\r\n", "invalid FETCH response"),
        (b"* 9999999999 FETCH (UID 7 FLAGS (\\Seen))\r\n", "invalid FETCH response"),
    ],
)
def test_fetch_bad_start(line: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=f"^{error}$"):
        p(line)


def test_fetch_sections_and_binary() -> None:
    r = p(
        b"* 1 FETCH (BODY[HEADER.FIELDS (From To)]<0> {5}\r\nab\r\nc BODY[1.2.MIME] NIL"
        b' BINARY[2] ~{3}\r\na\x00b BINARY.SIZE[2] 3 RFC822.TEXT "x" BODY[] "")\r\n'
    )
    assert r == Fetch(
        seq=1,
        sections=(
            BodySection(
                section=Section(text="HEADER.FIELDS", fields=(b"From", b"To")),
                origin=0,
                data=b"ab\r\nc",
            ),
            BodySection(section=Section(part=(1, 2), text="MIME"), data=None),
            BodySection(section=Section(part=(2,)), data=b"a\x00b", binary=True),
            BodySection(section=Section(), data=b""),
        ),
        binary_sizes=(((2,), 3),),
        rfc822_text=b"x",
    )
    assert p(write_response(r)) == r  # type: ignore[arg-type]


def test_fetch_streamed_literal_stand_in() -> None:
    lit = StreamedLiteral(length=100000, binary=False)
    r = parse_response(msg(b"* 1 FETCH (UID 3 BODY[] {100000}", lit, b")"))
    assert r == Fetch(seq=1, uid=3, sections=(BodySection(section=Section(), data=lit),))


BODYSTRUCTURE = (
    b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23'
    b' NIL NIL NIL NIL)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 640 (NIL "Fwd" NIL NIL NIL NIL'
    b' NIL NIL NIL NIL) ("IMAGE" "PNG" NIL NIL NIL "BASE64" 10) 12 "md5"'
    b' ("ATTACHMENT" ("FILENAME" "a.eml")) ("EN" "DE") "http://x" (1 "ext")) "MIXED"'
    b' ("BOUNDARY" "b") NIL "FR"))\r\n'
)


def test_bodystructure_nested_with_extensions() -> None:
    r = p(BODYSTRUCTURE)
    assert isinstance(r, Fetch)
    assert r.bodystructure == MultiPart(
        parts=(
            SinglePart(
                type=b"TEXT",
                subtype=b"PLAIN",
                params=((b"CHARSET", b"US-ASCII"),),
                encoding=b"7BIT",
                size=1152,
                lines=23,
                extension_count=4,
            ),
            SinglePart(
                type=b"MESSAGE",
                subtype=b"RFC822",
                encoding=b"7BIT",
                size=640,
                envelope=Envelope(subject=b"Fwd"),
                body=SinglePart(type=b"IMAGE", subtype=b"PNG", encoding=b"BASE64", size=10),
                lines=12,
                md5=b"md5",
                disposition=Disposition(type=b"ATTACHMENT", params=((b"FILENAME", b"a.eml"),)),
                language=(b"EN", b"DE"),
                location=b"http://x",
                extensions=(("1", b"ext"),),
                extension_count=5,
            ),
        ),
        subtype=b"MIXED",
        params=((b"BOUNDARY", b"b"),),
        language=(b"FR",),
        extension_count=3,
    )
    assert p(write_response(r)) == r


def test_unknown_responses_are_generic() -> None:
    assert p(b"* XPIG-LATIN ow-nay (1 {2}\r\nab)\r\n") == GenericResponse(
        name="XPIG-LATIN", values=("ow-nay", ("1", b"ab"))
    )
    assert p(b"* 5 XTHING\r\n") == GenericResponse(name="XTHING", number=5)


BAD = [
    b"",
    b"hello",
    b"* ",
    b"* 1 FETCH",
    b"* 1 FETCH ()",
    b"* 1 FETCH (UID)",
    b"* 1 FETCH (UID x)",
    b"* 0 FETCH (UID 1)",
    b"* 1 FETCH (FLAGS (\\Seen)",
    b"* 1 FETCH (FLAGS \\Seen)",
    b"* 1 FETCH (ENVELOPE (NIL))",
    b'* 1 FETCH (BODYSTRUCTURE ("TEXT"))',
    b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1)))',
    b'* 1 FETCH (INTERNALDATE "yesterday")',
    b"* 1 FETCH (BODY[HEADER.FIELDS ()] NIL)",
    b"* 1 FETCH (BODY[MIME] NIL)",
    b"* 1 FETCH (BINARY[TEXT] NIL)",
    b"* 1 FETCH (MODSEQ 5)",
    b"* SEARCH 0",
    b"* SEARCH x",
    b"* 0 EXPUNGE",
    b'* LIST () "//" x',
    b"* LIST ()",
    b"* STATUS x (MESSAGES)",
    b"* FLAGS (\\Se\\en)",
    b"* OK \x00",
    b"a1 PREAUTH x",
    b"a1 MAYBE x",
    b"* NAMESPACE (()) NIL NIL",
    b"* ESEARCH ALL x",
    b"* VANISHED (LATER) 1",
    b"* THREAD 1",
    b'* LIST () "/" "a\r"',
    b"* QUOTA x (STORAGE 1)",
]


@pytest.mark.parametrize("line", BAD)
def test_bad_responses_raise_our_error(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_response(msg(line))


def test_max_depth() -> None:
    deep = b"* X " + b"(" * 64 + b")" * 64
    assert isinstance(parse_response(msg(deep)), GenericResponse)
    with pytest.raises(RemoteProtocolError, match="nesting deeper than 64"):
        parse_response(msg(b"* X " + b"(" * 65 + b")" * 65))
    with pytest.raises(RemoteProtocolError, match="nesting deeper than 8"):
        parse_response(msg(b"* X " + b"(" * 9 + b")" * 9), max_depth=8)


def test_max_depth_holds_for_fetch() -> None:
    # the FETCH fast path keeps the limit too: an address is 4 deep (msg-att,
    # ENVELOPE, the list, the address)
    envelope = b'* 1 FETCH (ENVELOPE (NIL NIL (("N" NIL "m" "h")) NIL NIL NIL NIL NIL NIL NIL))'
    assert parse_response(msg(envelope), max_depth=4).envelope.from_[0].mailbox == b"m"  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError, match="nesting deeper than 3"):
        parse_response(msg(envelope), max_depth=3)
    body = b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 2)("TEXT" "HTML"'
    body += b' NIL NIL NIL "7BIT" 1 2 NIL ("INLINE" ("FILENAME" "a"))) "ALTERNATIVE"))'
    assert parse_response(msg(body), max_depth=5).bodystructure.subtype == b"ALTERNATIVE"  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError, match="nesting deeper than 4"):
        parse_response(msg(body), max_depth=4)


def test_lenient_nil_where_a_string_belongs() -> None:
    # LENIENT-NIL-STRING: NIL for body type, subtype, encoding or a parameter
    # reads as an empty string; LENIENT-ATOM-STRING: a bare 7BIT likewise
    r = p(b'* 1 FETCH (BODY (NIL "PLAIN" ("CHARSET" NIL) NIL NIL 7BIT 5))\r\n')
    assert r == Fetch(
        seq=1,
        body=SinglePart(
            type=b"", subtype=b"PLAIN", params=((b"CHARSET", b""),), encoding=b"7BIT", size=5
        ),
    )
    # the writer never reproduces them: it writes the strings
    assert write_response(r) == (  # type: ignore[arg-type]
        b'* 1 FETCH (BODY ("" "PLAIN" ("CHARSET" "") NIL NIL "7BIT" 5))\r\n'
    )


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"* 0 EXISTS\r\n", Exists(count=0)),
        (b"* 4294967295 EXISTS\r\n", Exists(count=2**32 - 1)),
        (b"* 4294967295 RECENT\r\n", Recent(count=2**32 - 1)),
        (b"* 4294967295 EXPUNGE\r\n", Expunge(seq=2**32 - 1)),
        (b"* 4294967296 EXISTS\r\n", "invalid EXISTS response"),
        (b"* 4294967296 RECENT\r\n", "invalid RECENT response"),
        (b"* 4294967296 EXPUNGE\r\n", "invalid EXPUNGE response"),
        (b"* 0 EXPUNGE\r\n", "invalid EXPUNGE response"),
    ],
)
def test_numbers_end_at_two_to_the_32(line: bytes, value: Any) -> None:
    # number and nz-number are 32-bit: a larger one is refused, not kept
    if isinstance(value, str):
        with pytest.raises(RemoteProtocolError, match=f"^{value}$"):
            p(line)
    else:
        assert p(line) == value
