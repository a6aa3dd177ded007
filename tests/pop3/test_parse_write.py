"""Command and reply parsing and writing: exact bytes, exact errors,
argument injection refused, and what we write we parse back equal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit import Secret
from protokit.errors import LocalProtocolError, RemoteProtocolError
from protokit.pop3 import (
    Apop,
    Auth,
    Capa,
    Command,
    Dele,
    List,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
    Utf8,
    apop_digest,
    octet_count,
    parse_command,
    write_command,
)
from protokit.pop3._parse import (
    parse_capability,
    parse_scan_listing,
    parse_stat,
    parse_status,
    parse_uidl_listing,
)
from protokit.pop3._write import err_line, multiline, ok_line


def _eq(a: Command, b: Command) -> bool:
    # Secrets compare by value; dataclass equality handles the rest.
    return a == b


@pytest.mark.parametrize(
    ("line", "cmd"),
    [
        (b"USER mrose", User(name="mrose")),
        (b"user mrose", User(name="mrose")),
        (b"PASS secret", Pass(password=Secret("secret"))),
        (b"PASS with  spaces ", Pass(password=Secret("with  spaces "))),
        (
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
            Apop(name="mrose", digest=Secret("c4c9334bac560ecc979e58001b3e22fb")),
        ),
        (
            b"APOP mrose C4C9334BAC560ECC979E58001B3E22FB",
            Apop(name="mrose", digest=Secret("c4c9334bac560ecc979e58001b3e22fb")),
        ),
        (b"AUTH", Auth()),
        (b"AUTH plain", Auth(mechanism="PLAIN")),
        (b"AUTH PLAIN =", Auth(mechanism="PLAIN", initial_response=Secret(b""))),
        (
            b"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=",
            Auth(mechanism="PLAIN", initial_response=Secret(b"test\x00test\x00test")),
        ),
        (b"CAPA", Capa()),
        (b"STLS", Stls()),
        (b"STAT", Stat()),
        (b"STAT ", Stat()),
        (b"LIST", List()),
        (b"LIST 2", List(msg=2)),
        (b"RETR 1", Retr(msg=1)),
        (b"TOP 1 0", Top(msg=1, lines=0)),
        (b"UIDL", Uidl()),
        (b"UIDL 9999999999", Uidl(msg=9999999999)),
        (b"DELE 3", Dele(msg=3)),
        (b"RSET", Rset()),
        (b"NOOP", Noop()),
        (b"QUIT", Quit()),
        (b"UTF8", Utf8()),
        ("USER j\u00f6rg".encode(), User(name="j\u00f6rg")),
    ],
)
def test_parse_command(line: bytes, cmd: Command) -> None:
    assert _eq(parse_command(line), cmd)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"", b"-ERR unknown command\r\n"),
        (b"XY", b"-ERR unknown command\r\n"),
        (b"FROB", b"-ERR unknown command\r\n"),
        (b"GET / HTTP/1.1", b"-ERR unknown command\r\n"),
        (b" STAT", b"-ERR unknown command\r\n"),
        (b"STAT 1", b"-ERR STAT takes no argument\r\n"),
        (b"LIST 1 2", b"-ERR LIST takes at most one argument\r\n"),
        (b"LIST 0", b"-ERR invalid message number\r\n"),
        (b"LIST -1", b"-ERR invalid message number\r\n"),
        (b"LIST 12345678901", b"-ERR invalid message number\r\n"),
        (b"RETR", b"-ERR RETR needs a message number\r\n"),
        (b"RETR  1", b"-ERR RETR needs a message number\r\n"),
        (b"TOP 1", b"-ERR TOP needs a message number and a line count\r\n"),
        (b"TOP 1 x", b"-ERR invalid number\r\n"),
        (b"USER", b"-ERR USER needs one name\r\n"),
        (b"USER a b", b"-ERR USER needs one name\r\n"),
        (b"USER a\x00b", b"-ERR invalid user name\r\n"),
        (b"USER \xff", b"-ERR user name is not valid UTF-8\r\n"),
        (b"PASS", b"-ERR PASS needs a password\r\n"),
        (b"PASS a\x00b", b"-ERR PASS needs a password\r\n"),
        (b"APOP mrose 1234", b"-ERR invalid APOP digest\r\n"),
        (b"APOP mrose", b"-ERR APOP needs a name and a digest\r\n"),
        (b"AUTH PLAIN abc", b"-ERR invalid base64 in initial response\r\n"),
        (b"AUTH PLAIN a b", b"-ERR invalid AUTH arguments\r\n"),
        (b"AUTH PL@IN", b"-ERR invalid AUTH arguments\r\n"),
    ],
)
def test_parse_command_errors(line: bytes, reply: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(line)
    assert info.value.reply == reply


@pytest.mark.parametrize(
    ("cmd", "wire"),
    [
        (User(name="mrose"), b"USER mrose\r\n"),
        (Pass(password=Secret("a secret")), b"PASS a secret\r\n"),
        (
            Apop(name="mrose", digest=Secret("c4c9334bac560ecc979e58001b3e22fb")),
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
        ),
        (Auth(), b"AUTH\r\n"),
        (Auth(mechanism="plain"), b"AUTH PLAIN\r\n"),
        (Auth(mechanism="PLAIN", initial_response=Secret(b"")), b"AUTH PLAIN =\r\n"),
        (Auth(mechanism="X", initial_response=Secret(b"\x00a")), b"AUTH X AGE=\r\n"),
        (List(), b"LIST\r\n"),
        (List(msg=7), b"LIST 7\r\n"),
        (Top(msg=1, lines=0), b"TOP 1 0\r\n"),
        (Uidl(msg=2), b"UIDL 2\r\n"),
        (Retr(msg=1), b"RETR 1\r\n"),
        (Dele(msg=1), b"DELE 1\r\n"),
        (Capa(), b"CAPA\r\n"),
        (Stls(), b"STLS\r\n"),
        (Stat(), b"STAT\r\n"),
        (Rset(), b"RSET\r\n"),
        (Noop(), b"NOOP\r\n"),
        (Quit(), b"QUIT\r\n"),
        (Utf8(), b"UTF8\r\n"),
    ],
)
def test_write_command(cmd: Command, wire: bytes) -> None:
    assert write_command(cmd) == wire


INJECTIONS = ["\r", "\n", "\x00", "\r\n.\r\n", "a\r\nDELE 1", "x\nQUIT", " ", "\t", ""]


@pytest.mark.parametrize("bad", INJECTIONS)
def test_user_and_apop_names_refuse_injection(bad: str) -> None:
    for cmd in (
        User(name=f"ab{bad}" if bad else ""),
        Apop(name=f"ab{bad}" if bad else "", digest=Secret("0" * 32)),
    ):
        with pytest.raises(LocalProtocolError) as info:
            write_command(cmd)
        assert "ab" not in info.value.message


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "\r\n.\r\n", "pw\r\nDELE 1", "\x7f", ""])
def test_pass_refuses_control_characters_and_never_echoes(bad: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        write_command(Pass(password=Secret(f"hunter2{bad}" if bad else "")))
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value)


@pytest.mark.parametrize(
    "cmd",
    [
        Apop(name="a", digest=Secret("C4C9334BAC560ECC979E58001B3E22FB")),
        Apop(name="a", digest=Secret("c4c9")),
        Auth(mechanism="PL AIN"),
        Auth(mechanism="PLAIN\r\n"),
        Auth(mechanism="A" * 21),
        Auth(initial_response=Secret(b"x")),
        Auth(mechanism="PLAIN", initial_response=Secret(b"x" * 200)),
        List(msg=0),
        Retr(msg=-1),
        Dele(msg=10_000_000_000),
        Top(msg=1, lines=-1),
        Retr(msg=True),
        User(name="x" * 251),
        User(name="j\u00f6rg"),
    ],
)
def test_write_command_refuses(cmd: Command) -> None:
    with pytest.raises(LocalProtocolError):
        write_command(cmd)


def test_utf8_names_after_utf8() -> None:
    assert write_command(User(name="j\u00f6rg"), utf8=True) == "USER j\u00f6rg\r\n".encode()
    assert write_command(Pass(password=Secret("p\u00e4ss")), utf8=True) == (
        "PASS p\u00e4ss\r\n".encode()
    )
    with pytest.raises(LocalProtocolError):
        write_command(Pass(password=Secret("p\u00e4ss")))


def test_command_line_limit_is_255_with_crlf() -> None:
    assert len(write_command(User(name="x" * 248))) == 255
    with pytest.raises(LocalProtocolError):
        write_command(User(name="x" * 249))


_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
_passwords = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
)
_nums = st.integers(1, 9_999_999_999)
_commands = st.one_of(
    st.builds(User, name=_names),
    st.builds(Pass, password=st.builds(Secret, _passwords)),
    st.builds(
        Apop,
        name=_names,
        digest=st.builds(Secret, st.text("0123456789abcdef", min_size=32, max_size=32)),
    ),
    st.builds(Auth, mechanism=st.none()),
    st.builds(
        Auth,
        mechanism=st.from_regex(r"[A-Z0-9_-]{1,20}", fullmatch=True),
        initial_response=st.none() | st.builds(Secret, st.binary(max_size=100)),
    ),
    st.builds(List, msg=st.none() | _nums),
    st.builds(Uidl, msg=st.none() | _nums),
    st.builds(Retr, msg=_nums),
    st.builds(Dele, msg=_nums),
    st.builds(Top, msg=_nums, lines=st.integers(0, 9_999_999_999)),
    st.sampled_from([Capa(), Stls(), Stat(), Rset(), Noop(), Quit(), Utf8()]),
)


@given(_commands)
def test_what_we_write_we_parse_back_equal(cmd: Command) -> None:
    wire = write_command(cmd)
    assert wire.endswith(b"\r\n") and len(wire) <= 255
    assert wire.count(b"\n") == 1
    assert _eq(parse_command(wire[:-2]), cmd)


@given(st.binary(max_size=300))
def test_parse_command_raises_only_our_error(line: bytes) -> None:
    reply = None
    try:
        parse_command(line)
    except RemoteProtocolError as exc:
        reply = exc.reply
    else:
        return
    assert reply is not None and reply.startswith(b"-ERR ")
    assert reply.endswith(b"\r\n") and reply.count(b"\n") == 1


# -- replies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        (b"+OK", (True, None, "")),
        (b"+OK ", (True, None, "")),
        (b"+OK 2 320", (True, None, "2 320")),
        (b"-ERR [IN-USE] locked", (False, "IN-USE", "locked")),
        (b"-ERR [SYS/TEMP] try later", (False, "SYS/TEMP", "try later")),
        (b"-ERR [sys/perm]gone", (False, "SYS/PERM", "gone")),
        (b"-ERR [AUTH]", (False, "AUTH", "")),
        (b"-ERR [not a code", (False, None, "[not a code")),
        (b"-ERR [a]b]", (False, "A", "b]")),
        (b"+OK caf\xc3\xa9 \xff", (True, None, "caf\u00e9 \ufffd")),
    ],
)
def test_parse_status(line: bytes, parsed: tuple[bool, str | None, str]) -> None:
    assert parse_status(line) == parsed


@pytest.mark.parametrize("line", [b"", b"OK", b"+ok", b"+OKAY", b"-ERRor", b"* OK", b"+"])
def test_parse_status_errors(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_status(line)


def test_listing_parsers() -> None:
    assert parse_stat("2 320") == (2, 320)
    assert parse_stat("2 320 extra") == (2, 320)
    assert parse_scan_listing(b"1 120") == (1, 120)
    assert parse_scan_listing(b"1 120 more info") == (1, 120)
    assert parse_uidl_listing(b"2 QhdPYR:00WBw1Ph7x7") == (2, "QhdPYR:00WBw1Ph7x7")
    assert parse_capability(b"sasl PLAIN  LOGIN ") == ("SASL", ("PLAIN", "LOGIN"))
    assert parse_capability(b"TOP") == ("TOP", ())
    for bad in (b"1", b"a 1", b"1 -2", b"1  2"):
        with pytest.raises(RemoteProtocolError):
            parse_scan_listing(bad)
    for bad in (b"1", b"1 " + b"x" * 71, b"1 a b", b"x y"):
        with pytest.raises(RemoteProtocolError):
            parse_uidl_listing(bad)
    for bad in (b"", b".TOP", b" TOP"):
        with pytest.raises(RemoteProtocolError):
            parse_capability(bad)
    with pytest.raises(RemoteProtocolError):
        parse_stat("two")


def test_reply_writers() -> None:
    assert ok_line() == b"+OK\r\n"
    assert ok_line("2 320") == b"+OK 2 320\r\n"
    assert err_line("locked", "IN-USE") == b"-ERR [IN-USE] locked\r\n"
    assert err_line("", "AUTH") == b"-ERR [AUTH]\r\n"
    assert multiline([b"a", b".b", b"."]) == b"a\r\n..b\r\n..\r\n.\r\n"
    assert multiline([]) == b".\r\n"
    for bad in ("a\r\nb", "a\nb", "a\x00", "[fake] code"):
        with pytest.raises(LocalProtocolError):
            ok_line(bad)
    with pytest.raises(LocalProtocolError):
        err_line("x", "BAD]CODE")
    with pytest.raises(LocalProtocolError):
        ok_line("x" * 600)
    with pytest.raises(LocalProtocolError):
        multiline([b"a\r\n.\r\n"])


def test_apop_digest_and_octet_count() -> None:
    # RFC 1939 section 7's example.
    assert (
        apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf")
        == "c4c9334bac560ecc979e58001b3e22fb"
    )
    assert apop_digest("<1896.697170952@dbc.mtview.ca.us>", Secret("tanstaaf")).startswith("c4c9")
    assert octet_count(b"a\r\nb\r\n") == 6
    assert octet_count(b"a\nb\rc\r\n") == 9
    assert octet_count(b"no end") == 8
    assert octet_count(b"cr end\r") == 8
    assert octet_count(b"") == 0


def test_reprs_hide_secrets() -> None:
    for cmd in (
        Pass(password=Secret("hunter2")),
        Apop(name="u", digest=Secret("c4c9334bac560ecc979e58001b3e22fb")),
        Auth(mechanism="PLAIN", initial_response=Secret(b"\x00u\x00hunter2")),
    ):
        assert "hunter2" not in repr(cmd) and "c4c9" not in repr(cmd)
        assert "[REDACTED]" in repr(cmd)
