"""Every crash the fuzzers found, as a regression test: the input file's
bytes, fed to its entry point, now pass every invariant."""

from __future__ import annotations

import pytest

from protokit import RemoteProtocolError
from protokit.imap import (
    ESearch,
    FetchCommand,
    ListResponse,
    Select,
    parse_command,
    parse_response,
)
from protokit.imap._framer import Message
from protokit.testing.fuzz import ENTRY_POINTS

CRASHES = [
    # An 8-bit ESEARCH correlator parsed with U+FFFD, then the writer raised
    # UnicodeEncodeError (not a protocol error) writing it back.
    ("imap_response_parser", b'\x00\x00* ESEARCH (TAG "A\xf783") ALL 2,10:11\r\n'),
    # NIL as an ESEARCH return-data name parsed as the atom "NIL", which the
    # writer refuses to send (it would read back as nil).
    ("imap_response_parser", b'\x00\x00* ESEARCH (TAG "A283") NIL 2,10:11\r\n'),
    # A FETCH modifier name outside tagged-ext-label ("&") was accepted; the
    # writer refused to send it back.
    (
        "imap_server_framer",
        b"\x00\x00=100 UID FETCH 1:* (FLAGS) (CHANGEDSINC&E 12&345 VANISHED.)\r\n",
    ),
    # A 20-digit parameter value above number64 became an int the writer
    # refused to send.
    (
        "imap_server_framer",
        b"\x07\x02A03 SELECT INBOX (QRESYNC (67890007 20050715194045045000 41,43:211))\r\n",
    ),
    # "NIL" as a command name became a GenericCommand the writer refused.
    ("imap_server_framer", b"\x00\x00a024\\IO\nD NIL\r\n"),
    # A LIST extended-item tag the ListResponse constructor refused escaped
    # from the parser as a LocalProtocolError.
    (
        "imap_response_parser",
        b'\x00\x00* LIST (\\NonExistent) "/" "Bar" ("(HILDINFO" ("SUBSCRIBED"))\r\n',
    ),
    # An empty thread "()" parsed; the writer refused to send it back.
    ("imap_response_parser", b"\x00\x00* THREAD (1)()\r\n"),
    ("imap_response_parser", b"\x00\x00* THREAD (1 ())\r\n"),
    # "* OK" with no text parses (RFC 9051); the writer keeps RFC 3501's rule:
    # LENIENT-STATUS-NO-TEXT, not a failure of the round trip.
    ("imap_response_parser", b"\x00\x00* OK\r\na1 OK\r\n"),
    # An 8-bit hierarchy delimiter parsed as U+FFFD, written back as "?".
    ("imap_response_parser", b'\x00\x00* LIST (\\Subscribed) "\xff" "Fruit/Peach"\r\n'),
    # "* NIL" became a GenericResponse named NIL, which the writer refused.
    ("imap_response_parser", b"\x07\x02* ID NIL\r\n* NIL\r\n* ID NIL\r\n"),
    # A LIST extended-item tag that is no atom ("O*DNAME") was written bare
    # and did not parse back.
    (
        "imap_response_parser",
        b'\x07\x02* LIST (\\HasNoChildren) "/" "Tofu" ("O*DNAME" ("Cheese"))\r\n',
    ),
    # "NIL" where only an atom fits (a capability) parsed as the word "NIL",
    # which the writer refused everywhere.  Found by CI's five-second run.
    (
        "imap_response_parser",
        b"\x00\x00* CAPABILITY IMAP4rev1 SIL NIL NIL NIL TARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
        b"abcd OK CAPABILITY completed\r\n",
    ),
    ("imap_server_framer", b"\x00\x00a ENABLE NIL\r\n"),
    # "* 1 NIL" was a GenericResponse named NIL, though "* NIL" is refused.
    ("imap_response_parser", b"\x00\x00* 1 NIL\r\n"),
    # RFC822.TEXT NIL (an nstring) left the FETCH with no item to write.
    ("imap_response_parser", b"\x00\x00* 5 FETCH (RFC822.TEXT NIL)\r\n"),
]


@pytest.mark.parametrize(("name", "data"), CRASHES)
def test_crash_input_now_passes(name: str, data: bytes) -> None:
    ENTRY_POINTS[name](data)


def test_esearch_correlator_must_be_ascii() -> None:
    with pytest.raises(RemoteProtocolError, match="ESEARCH correlator"):
        parse_response(Message(fragments=(b'* ESEARCH (TAG "A\xf783") ALL 2',)))
    ok = parse_response(Message(fragments=(b'* ESEARCH (TAG "A283") ALL 2',)))
    assert isinstance(ok, ESearch)
    assert ok.tag == "A283"


def test_esearch_nil_name_is_a_syntax_error() -> None:
    with pytest.raises(RemoteProtocolError, match="ESEARCH response"):
        parse_response(Message(fragments=(b"* ESEARCH NIL 2",)))


def test_parameter_names_follow_tagged_ext_label() -> None:
    with pytest.raises(RemoteProtocolError, match="FETCH modifiers"):
        parse_command(Message(fragments=(b"a FETCH 1 (FLAGS) (CHANGEDSINC&E 1)",)))
    ok = parse_command(Message(fragments=(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",)))
    assert isinstance(ok, FetchCommand)
    assert ok.modifiers == (("CHANGEDSINCE", 1), ("VANISHED", None))


def test_a_parameter_number_above_number64_stays_as_sent() -> None:
    cmd = parse_command(Message(fragments=(b"a SELECT INBOX (X 99999999999999999999 Y 5)",)))
    assert isinstance(cmd, Select)
    assert cmd.params[1] == ("Y", 5)
    assert cmd.params[0][1] != 99999999999999999999


def test_nil_is_no_command_name() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(Message(fragments=(b"D NIL",)))
    assert info.value.reply == b"D BAD invalid command name\r\n"


def test_a_list_response_the_constructor_refuses_is_the_peers_error() -> None:
    line = b'* LIST (\\NonExistent) "/" "Bar" ("(HILDINFO" ("SUBSCRIBED"))'
    with pytest.raises(RemoteProtocolError, match=r"LIST response|mbox-list-extended"):
        parse_response(Message(fragments=(line,)))


def test_an_empty_thread_is_a_syntax_error() -> None:
    for line in (b"* THREAD (1)()", b"* THREAD (1 ())"):
        with pytest.raises(RemoteProtocolError, match="THREAD response"):
            parse_response(Message(fragments=(line,)))


def test_an_8bit_hierarchy_delimiter_is_a_syntax_error() -> None:
    with pytest.raises(RemoteProtocolError, match="hierarchy delimiter"):
        parse_response(Message(fragments=(b'* LIST () "\xff" INBOX',)))


def test_nil_is_no_response_name() -> None:
    with pytest.raises(RemoteProtocolError, match="response name"):
        parse_response(Message(fragments=(b"* NIL",)))


@pytest.mark.parametrize("item", ["RFC822", "RFC822.HEADER", "RFC822.TEXT"])
def test_an_rfc822_item_sent_as_nil_is_kept_and_written_back(item: str) -> None:
    from protokit.imap import Fetch, write_response

    for line, uid in ((b"* 5 FETCH (%s NIL)", None), (b"* 5 FETCH (UID 9 %s NIL)", 9)):
        raw = line % item.encode()
        f = parse_response(Message(fragments=(raw,)))
        assert f == Fetch(seq=5, uid=uid, other=((item, None),))
        assert write_response(f) == raw + b"\r\n"
    f = parse_response(Message(fragments=(b"* 5 FETCH (%s {2}" % item.encode(), b"hi", b")")))
    assert isinstance(f, Fetch)
    assert f.other == ()
    assert getattr(f, item.lower().replace(".", "_")) == b"hi"


def test_nil_is_no_numbered_response_name() -> None:
    with pytest.raises(RemoteProtocolError, match="response name"):
        parse_response(Message(fragments=(b"* 1 NIL",)))


# Where the grammar takes only an atom, NIL is that atom: it parses as the word
# "NIL" and is written back bare.
NIL_ATOM_COMMANDS = [
    b"a ENABLE NIL",
    b"a AUTHENTICATE NIL",
    b"a COMPRESS NIL",
    b"a STATUS x (NIL)",
    b'a LIST (NIL) "" x',
    b"a SEARCH RETURN (NIL) ALL",
    b"a SORT (NIL) UTF-8 ALL",
    b"a THREAD NIL UTF-8 ALL",
    b"a SETQUOTA x (NIL 1)",
]
NIL_ATOM_RESPONSES = [
    b"* CAPABILITY IMAP4rev2 NIL",
    b"* ENABLED NIL",
    b"* OK [CAPABILITY NIL] x",
    b"* OK [NIL] x",
    b"* OK [NIL 1] x",
]


@pytest.mark.parametrize("line", NIL_ATOM_COMMANDS)
def test_nil_as_the_atom_of_a_command_round_trips(line: bytes) -> None:
    from protokit.imap import LinePiece, write_command

    pieces = write_command(parse_command(Message(fragments=(line,))))
    assert pieces == [LinePiece(data=line + b"\r\n")]


@pytest.mark.parametrize("line", NIL_ATOM_RESPONSES)
def test_nil_as_the_atom_of_a_response_round_trips(line: bytes) -> None:
    from protokit.imap import write_response

    assert write_response(parse_response(Message(fragments=(line,)))) == line + b"\r\n"


def test_nil_stays_nil_where_a_value_is_generic() -> None:
    # A generic value (here an ID parameter) keeps "NIL" and nil apart: the
    # word cannot be written there, since it would read back as nil.
    from protokit import LocalProtocolError
    from protokit.imap import GenericResponse, write_response

    with pytest.raises(LocalProtocolError, match="not a valid atom: 'NIL'"):
        write_response(GenericResponse(name="X", values=("NIL",)))


def test_list_extended_item_tags_are_atoms() -> None:
    bad = b'* LIST () "/" Tofu ("O*DNAME" ("Cheese"))'
    with pytest.raises(RemoteProtocolError, match="mbox-list-extended"):
        parse_response(Message(fragments=(bad,)))
    good = parse_response(Message(fragments=(b'* LIST () "/" Tofu ("OLDNAME" ("Cheese"))',)))
    assert isinstance(good, ListResponse)
    assert good.extended == (("OLDNAME", (b"Cheese",)),)


def test_a_token_that_spells_part_of_the_redaction_marker_is_no_leak() -> None:
    # Found by the ten-minute sasl_server_xoauth2 run: the token "ecre" is a
    # substring of "Secret('[REDACTED]')", which the leak check took for a leak.
    import base64

    from protokit.testing.fuzz import ENTRY_POINTS

    ENTRY_POINTS["sasl_server_xoauth2"](
        base64.b64decode("AQAndXNlcj1yAWF1dGg9QmVhcmVyIGVjcmUBAQ==")
    )


def test_a_token_that_spells_part_of_a_field_name_is_no_leak() -> None:
    # Found by the ten-minute sasl_server_xoauth2 run: the token "ser=" is a
    # substring of "user=" in ValidateToken's repr, which the old leak check
    # (a search of the repr's text) took for a leak.
    import base64

    from protokit.testing.fuzz import ENTRY_POINTS

    ENTRY_POINTS["sasl_server_xoauth2"](
        base64.b64decode("A/gmdXNlcj11c2VyAWF1dGg9QmVhcmVyIHNlcj0BAQ==")
    )


def test_the_leak_check_still_finds_a_secret_in_a_repr() -> None:
    # The check must not have become one that cannot fail: a step whose repr
    # shows its Secret field, and a Failure that repeats a password.
    from dataclasses import dataclass

    from protokit.sasl import Failure, Request
    from protokit.testing._fuzz_sasl import _check_step
    from protokit.testing._harness import InvariantViolation
    from protokit.wire import Secret

    @dataclass(frozen=True)
    class Leaky(Request):
        password: Secret[str]

        def __repr__(self) -> str:
            return f"Leaky({self.password.expose()!r})"

    with pytest.raises(InvariantViolation, match="repr"):
        _check_step("TEST", [], Leaky(password=Secret("hunter2")))
    with pytest.raises(InvariantViolation, match="Failure reason"):
        _check_step("TEST", ["hunter2"], Failure(reason="bad password hunter2"))
    # Fixed text is not a leak, even when a token spells part of it.
    _check_step("TEST", ["authentication fail"], Failure(reason="PLAIN: authentication failed"))


def test_a_badcharset_charset_with_8bit_bytes_is_refused_both_ways() -> None:
    # Found by a ten-minute imap_response_parser run: a quoted charset with
    # 8-bit bytes parsed, was written back as a literal (a charset is an atom
    # or a quoted string, never a literal), and that did not parse.
    import base64

    from protokit import LocalProtocolError
    from protokit.imap import ResponseCode, Status, write_response

    crash = (
        "AABhIE5PIFtCQURDSEFSU0VUIChURi0yICJLT0kpLVLGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbG"
        "xsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGIildIENoYSBOTyBb"
        "QkF0ImQNCg=="
    )
    ENTRY_POINTS["imap_response_parser"](base64.b64decode(crash))
    with pytest.raises(RemoteProtocolError, match="BADCHARSET code"):
        parse_response(Message(fragments=(b'a NO [BADCHARSET ("KOI8-\xc6")] no',)))
    good = parse_response(Message(fragments=(b'a NO [BADCHARSET (UTF-8 "X Y")] no',)))
    assert isinstance(good, Status)
    assert good.code == ResponseCode(name="BADCHARSET", value=(b"UTF-8", b"X Y"))
    # Status is valid by construction (building it runs the writer's check),
    # so no such response can be made, let alone written as a literal.
    code = ResponseCode(name="BADCHARSET", value=(b"KOI8-\xc6",))
    with pytest.raises(LocalProtocolError, match="not a charset name"):
        write_response(Status(tag="a", status="NO", code=code, text="no"))
