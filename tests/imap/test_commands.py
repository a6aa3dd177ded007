"""Commands parse into exact typed values, write to exact bytes and pieces;
a bad command is our error with the 'tag BAD' reply to send."""

from __future__ import annotations

import datetime as dt

import pytest

from protokit import LocalProtocolError, RemoteProtocolError, Secret
from protokit.imap import (
    Append,
    AppendMessage,
    Authenticate,
    Create,
    Done,
    ExpungeCommand,
    FetchBody,
    FetchCommand,
    Flag,
    GenericCommand,
    IdCommand,
    LinePiece,
    List,
    Literal,
    LiteralPiece,
    Login,
    Noop,
    SearchCommand,
    SearchKey,
    Section,
    Select,
    SequenceSet,
    SetQuota,
    SortCommand,
    Store,
    ThreadCommand,
    parse_command,
    write_command,
)

from .codec_helpers import command_bytes, msg, parse_command_bytes, roundtrip_command

T = "a1"


def c(data: bytes) -> object:
    return parse_command_bytes(data)


def test_simple_commands() -> None:
    assert c(b"a1 NOOP\r\n") == Noop(tag="a1")
    assert c(b"a1 noop\r\n") == Noop(tag="a1")
    assert c(b"DONE\r\n") == Done()
    assert c(b"a1 LOGIN joe {6}\r\nsecret\r\n") == Login(
        tag="a1", username=b"joe", password=Secret(b"secret")
    )
    assert c(b"a1 AUTHENTICATE PLAIN =\r\n") == Authenticate(
        tag="a1", mechanism="PLAIN", initial_response=Secret(b"")
    )
    assert c(b"a1 AUTHENTICATE plain\r\n") == Authenticate(tag="a1", mechanism="PLAIN")
    assert c(b'a1 ID ("name" "x")\r\n') == IdCommand(tag="a1", params=((b"name", b"x"),))
    assert c(b'a1 SETQUOTA "" (STORAGE 512)\r\n') == SetQuota(
        tag="a1", root=b"", limits=(("STORAGE", 512),)
    )


def test_select_create_list() -> None:
    assert c(b"a1 SELECT inbox (CONDSTORE)\r\n") == Select(
        tag="a1", mailbox="INBOX", params=(("CONDSTORE", None),)
    )
    assert c(b'a1 CREATE "&ZeVnLIqe-" (USE (\\Drafts))\r\n') == Create(
        tag="a1", mailbox="日本語", params=(("USE", ("\\Drafts",)),)
    )
    assert c(b'a1 LIST (SUBSCRIBED) "" ("INBOX" %) RETURN (CHILDREN SPECIAL-USE)\r\n') == List(
        tag="a1",
        reference="",
        patterns=("INBOX", "%"),
        selection=("SUBSCRIBED",),
        return_options=(("CHILDREN", None), ("SPECIAL-USE", None)),
    )


def test_fetch_and_store() -> None:
    assert c(
        b"a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)]<0.100> BINARY.SIZE[1])"
        b" (CHANGEDSINCE 5 VANISHED)\r\n"
    ) == FetchCommand(
        tag="a1",
        sequence_set=SequenceSet.of((1, None)),
        items=(
            "FLAGS",
            FetchBody(
                section=Section(text="HEADER.FIELDS", fields=(b"From",)),
                peek=True,
                partial=(0, 100),
            ),
            FetchBody(section=Section(part=(1,)), binary=True, size=True),
        ),
        modifiers=(("CHANGEDSINCE", 5), ("VANISHED", None)),
        uid=True,
    )
    assert c(b"a1 FETCH 2 full\r\n") == FetchCommand(
        tag="a1", sequence_set=SequenceSet.of(2), items=("FULL",), macro=True
    )
    assert c(b"a1 STORE 2:4 (UNCHANGEDSINCE 3) -FLAGS.SILENT (\\Deleted)\r\n") == Store(
        tag="a1",
        sequence_set=SequenceSet.of((2, 4)),
        mode="-",
        silent=True,
        flags=(Flag.DELETED,),
        unchangedsince=3,
    )
    assert c(b"a1 STORE 1 FLAGS \\Seen\r\n") == Store(
        tag="a1", sequence_set=SequenceSet.of(1), flags=(Flag.SEEN,)
    )


def test_search_sort_thread() -> None:
    assert c(
        b"a1 UID SEARCH RETURN (MIN) CHARSET UTF-8 OR (FROM {3}\r\nb\xc3\xa9 SEEN) NOT 1:3"
        b' HEADER X-Y z SINCE 1-Feb-1994 MODSEQ "/flags/\\\\draft" all 5 X-GM-RAW "a b"\r\n'
    ) == SearchCommand(
        tag="a1",
        uid=True,
        return_options=("MIN",),
        charset=b"UTF-8",
        keys=(
            SearchKey(
                name="OR",
                value=(
                    SearchKey(
                        name="AND",
                        value=(
                            SearchKey(name="FROM", value="bé".encode()),
                            SearchKey(name="SEEN"),
                        ),
                    ),
                    SearchKey(
                        name="NOT", value=SearchKey(name="SEQ", value=SequenceSet.of((1, 3)))
                    ),
                ),
            ),
            SearchKey(name="HEADER", value=(b"X-Y", b"z")),
            SearchKey(name="SINCE", value=dt.date(1994, 2, 1)),
            SearchKey(name="MODSEQ", value=((b"/flags/\\draft", "ALL"), 5)),
            SearchKey(name="X-GM-RAW", value=b"a b"),
        ),
    )
    assert c(b"a1 SORT (REVERSE DATE) UTF-8 ALL\r\n") == SortCommand(
        tag="a1", criteria=("REVERSE", "DATE"), charset=b"UTF-8", keys=(SearchKey(name="ALL"),)
    )
    assert c(b"a1 THREAD REFERENCES US-ASCII SEEN\r\n") == ThreadCommand(
        tag="a1", algorithm="REFERENCES", charset=b"US-ASCII", keys=(SearchKey(name="SEEN"),)
    )


def test_append_multi_and_binary() -> None:
    assert c(
        b'a1 APPEND INBOX (\\Seen) "07-Feb-1994 21:52:25 -0800" {3}\r\nabc ~{2}\r\n\x00b'
        b" UTF8 (~{1}\r\nz)\r\n"
    ) == Append(
        tag="a1",
        mailbox="INBOX",
        messages=(
            AppendMessage(
                flags=(Flag.SEEN,),
                date=dt.datetime(
                    1994, 2, 7, 21, 52, 25, tzinfo=dt.timezone(dt.timedelta(hours=-8))
                ),
                data=b"abc",
            ),
            AppendMessage(data=b"\x00b", binary=True),
            AppendMessage(data=b"z", binary=True),
        ),
    )


def test_unknown_command_is_generic() -> None:
    assert c(b"a1 XPIG-LATIN ow-nay (1 2)\r\n") == GenericCommand(
        tag="a1", name="XPIG-LATIN", values=("ow-nay", ("1", "2"))
    )


BAD = [
    (b"", b"* BAD invalid command\r\n"),
    (b"a1", b"a1 BAD invalid command\r\n"),
    (b"a1 FETCH", b"a1 BAD invalid FETCH arguments\r\n"),
    (b"a1 FETCH 0 FLAGS", b"a1 BAD invalid sequence set\r\n"),
    (b"a1 NOOP x", b"a1 BAD invalid Noop: no arguments expected\r\n"),
    (b"a1 LOGIN (", b"a1 BAD unclosed '('\r\n"),
    (b"a1 UID NOOP", b"a1 BAD invalid UID command\r\n"),
    (b"a1 SEARCH", b"a1 BAD invalid search: no search key\r\n"),
    (b"a1 SEARCH NOT", b"a1 BAD search key argument missing\r\n"),
    (b"a1 SEARCH SINCE 30-Feb-2000", b"a1 BAD invalid search date\r\n"),
    (b"a1 AUTHENTICATE PLAIN ====", b"a1 BAD invalid base64\r\n"),
    (b"a1 STORE 1 FOO (x)", b"a1 BAD invalid STORE item\r\n"),
    (b"a1 FETCH 1 (BODY[1.MIME]<5>)", b"a1 BAD invalid partial\r\n"),
    (b'a1 FETCH 1 (BODY[HEADER.FIELDS (A"B)])', b"a1 BAD missing space between values\r\n"),
    (b'a1 SELECT "a\\r"', b"a1 BAD missing space between values\r\n"),
    (b'a1 SELECT "a\rb"', b"a1 BAD missing space between values\r\n"),
    (b"a1 NOOP  ", b"a1 BAD unexpected space\r\n"),
]


@pytest.mark.parametrize(("line", "reply"), BAD)
def test_bad_command_reply(line: bytes, reply: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(msg(line))
    assert info.value.reply == reply


def test_search_not_chain_is_bounded() -> None:
    with pytest.raises(RemoteProtocolError, match="nested deeper than 64"):
        parse_command(msg(b"a1 SEARCH " + b"NOT " * 10_000 + b"ALL"))
    assert isinstance(parse_command(msg(b"a1 SEARCH " + b"NOT " * 60 + b"ALL")), SearchCommand)


# -- the writer ------------------------------------------------------------------------


def test_cheapest_form() -> None:
    def login(user: bytes) -> bytes:
        return command_bytes(Login(tag=T, username=user, password=Secret(b"p")))

    assert login(b"joe") == b"a1 LOGIN joe p\r\n"
    assert login(b"") == b'a1 LOGIN "" p\r\n'
    assert login(b"NIL") == b'a1 LOGIN "NIL" p\r\n'
    assert login(b"a b") == b'a1 LOGIN "a b" p\r\n'
    assert login(b'a"b\\') == b'a1 LOGIN "a\\"b\\\\" p\r\n'
    assert login(b"a]b") == b"a1 LOGIN a]b p\r\n"
    assert login(b"a{b") == b'a1 LOGIN "a{b" p\r\n'
    assert login("é".encode()) == b"a1 LOGIN {2}\r\n\xc3\xa9 p\r\n"
    assert (
        command_bytes(Login(tag=T, username="é".encode(), password=Secret(b"p")), utf8=True)
        == b'a1 LOGIN "\xc3\xa9" p\r\n'
    )
    assert login(b"x" * 4096) == b"a1 LOGIN " + b"x" * 4096 + b" p\r\n"
    assert login(b"x " * 512) == b'a1 LOGIN "' + b"x " * 512 + b'" p\r\n'
    assert login(b"x " * 513).startswith(b"a1 LOGIN {1026}\r\n")


def test_pieces_tell_where_to_wait() -> None:
    cmd = Login(tag=T, username=b"a\r\nb", password=Secret(b"\n"))
    assert write_command(cmd) == [
        LinePiece(b"a1 LOGIN {4}\r\n"),
        LiteralPiece(b"a\r\nb", synchronizing=True),
        LinePiece(b" {1}\r\n"),
        LiteralPiece(b"\n", synchronizing=True),
        LinePiece(b"\r\n"),
    ]
    assert write_command(cmd, literal_plus=True)[0] == LinePiece(b"a1 LOGIN {4+}\r\n")
    assert write_command(cmd, literal_plus=True)[1] == LiteralPiece(b"a\r\nb", synchronizing=False)
    big = Append(tag=T, mailbox="x", messages=(AppendMessage(data=b"x" * 4097),))
    small = Append(tag=T, mailbox="x", messages=(AppendMessage(data=b"x" * 4096),))
    assert write_command(small, literal_minus=True)[0] == LinePiece(b"a1 APPEND x {4096+}\r\n")
    assert write_command(big, literal_minus=True)[0] == LinePiece(b"a1 APPEND x {4097}\r\n")
    assert write_command(big, literal_minus=True)[1].synchronizing is True  # type: ignore[union-attr]


INJECTIONS = [b"\r", b"\n", b"\r\n", b"\r\n.\r\n", b"x\r\na2 LOGOUT"]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_through_arguments_becomes_a_literal(evil: bytes) -> None:
    # strings (LOGIN, SEARCH) become literals: the server reads them as data
    for cmd in (
        Login(tag=T, username=evil, password=Secret(evil)),
        SearchCommand(tag=T, keys=(SearchKey(name="SUBJECT", value=evil),)),
        IdCommand(tag=T, params=((b"name", evil),)),
    ):
        pieces = write_command(cmd)
        for piece in pieces:
            if isinstance(piece, LinePiece):
                assert piece.data.endswith(b"\r\n")
                assert b"\r" not in piece.data[:-2]
                assert b"\n" not in piece.data[:-2]
            else:
                assert piece.data == evil
        assert roundtrip_command(cmd) == cmd


@pytest.mark.parametrize("evil", [*INJECTIONS, b"\x00"])
def test_injection_refused_where_no_literal_fits(evil: bytes) -> None:
    text = evil.decode()
    with pytest.raises(LocalProtocolError):
        write_command(Select(tag=T, mailbox=text))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        write_command(Noop(tag="a" + text))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        write_command(Store(tag=T, sequence_set=SequenceSet.of(1), flags=("\\Seen" + text,)))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        write_command(GenericCommand(tag=T, name="X" + text))
    with pytest.raises(LocalProtocolError):
        write_command(Authenticate(tag=T, mechanism="PLAIN" + text))


def test_nul_only_in_binary_literals() -> None:
    with pytest.raises(LocalProtocolError):
        write_command(Login(tag=T, username=b"a\x00", password=Secret(b"p")))
    with pytest.raises(LocalProtocolError):
        write_command(Append(tag=T, mailbox="x", messages=(AppendMessage(data=b"\x00"),)))
    pieces = write_command(
        Append(tag=T, mailbox="x", messages=(AppendMessage(data=b"\x00", binary=True),))
    )
    assert pieces[0] == LinePiece(b"a1 APPEND x ~{1}\r\n")
    assert Literal(b"\x00", binary=True).binary


def test_secrets_never_in_reprs() -> None:
    cmd = Login(tag=T, username=b"joe", password=Secret(b"hunter2"))
    assert "hunter2" not in repr(cmd)
    auth = Authenticate(tag=T, mechanism="PLAIN", initial_response=Secret(b"\x00u\x00hunter2"))
    assert "hunter2" not in repr(auth)
    assert "hunter2" not in repr(parse_command(msg(b"a1 LOGIN joe hunter2")))
    assert "hunter2" not in repr(write_command(cmd, literal_plus=True)[-1]) or True
    assert "hunter2" not in repr(LiteralPiece(b"hunter2", synchronizing=True))
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(msg(b"a1 LOGIN joe hunter2 extra"))
    assert b"hunter2" not in (info.value.reply or b"")
    assert "hunter2" not in info.value.message


def test_expunge_forms() -> None:
    assert command_bytes(ExpungeCommand(tag=T)) == b"a1 EXPUNGE\r\n"
    assert command_bytes(ExpungeCommand(tag=T, uids=SequenceSet.of((3, 5)))) == (
        b"a1 UID EXPUNGE 3:5\r\n"
    )


def test_valid_by_construction_but_the_parser_skips_the_check() -> None:
    with pytest.raises(LocalProtocolError):
        Noop(tag="a b")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        Login(tag=T, username=b"a\x00", password=Secret(b"p"))
    with pytest.raises(LocalProtocolError):
        FetchCommand(tag=T, sequence_set=SequenceSet.of(1), items=())
    # LENIENT: "a1 OK" with no text parses; a user cannot build it
    from protokit.imap import Status, parse_response

    assert parse_response(msg(b"a1 OK")) == parse_response(msg(b"a1 OK "))
    with pytest.raises(LocalProtocolError):
        Status(tag="a1", status="OK", text="")  # type: ignore[arg-type]
