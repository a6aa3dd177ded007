"""The server connection's APPEND announcement: the application accepts or
refuses an APPEND message literal before its octets are read."""

from __future__ import annotations

import datetime as dt

import pytest

from protokit.errors import LocalProtocolError
from protokit.imap import (
    Append,
    AppendAnnounced,
    BodyEnd,
    BodyStart,
    CommandError,
    CommandReceived,
    Flag,
    Noop,
    ResponseCode,
    SequenceSet,
    StreamedLiteral,
)

from .conn_helpers import events, feed, greeted_server, three_ways


def announcement(**kw: object) -> AppendAnnounced:
    values: dict[str, object] = {
        "tag": "a1",
        "mailbox": "INBOX",
        "flags": None,
        "date": None,
        "size": 5,
        "synchronizing": True,
        "binary": False,
    }
    values.update(kw)
    return AppendAnnounced(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "chunks"),
    three_ways(b'a1 APPEND "Drafts" (\\Seen $X) "01-Feb-2024 10:00:00 +0100" {5}\r\n', b"x"),
)
def test_synchronizing_append_is_announced_before_plus(label: str, chunks: list[bytes]) -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    evs = feed(s, chunks)
    date = dt.datetime(2024, 2, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert evs == [announcement(mailbox="Drafts", flags=(Flag("\\Seen"), Flag("$X")), date=date)]
    # nothing goes out until the application answers; nothing more is read
    assert s.data_to_send() == b""
    assert events(s) == []
    s.accept_append()
    assert s.data_to_send() == b"+ Ready for literal data\r\n"
    evs = feed(s, [b"hello\r\n"] if label != "trailing" else [b"ello\r\n"])
    cmd = evs[0].command
    assert isinstance(cmd, Append) and cmd.mailbox == "Drafts"
    assert cmd.messages[0].data == (b"hello" if label != "trailing" else b"xello")


def test_refused_synchronizing_append_never_reads_the_literal() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND Nope {5}\r\n"]) == [announcement(mailbox="Nope")]
    s.refuse_append("Mailbox does not exist", ResponseCode(name="TRYCREATE"))
    assert s.data_to_send() == b"a1 NO [TRYCREATE] Mailbox does not exist\r\n"
    # the client sends no literal: its next line is its next command
    assert feed(s, [b"a2 NOOP\r\n"]) == [CommandReceived(command=Noop(tag="a2"))]


def test_refused_non_synchronizing_append_is_drained_then_answered() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    evs = feed(s, [b"a1 APPEND INBOX (\\Seen) {5+}\r\nhel"])
    assert evs == [announcement(flags=(Flag("\\Seen"),), synchronizing=False)]
    s.refuse_append("Over quota", ResponseCode(name="OVERQUOTA"))
    assert s.data_to_send() == b""  # the octets are on their way: read them first
    assert feed(s, [b"lo\r\na2 NOOP\r\n"]) == [CommandReceived(command=Noop(tag="a2"))]
    assert s.data_to_send() == b"a1 NO [OVERQUOTA] Over quota\r\n"


def test_refused_streamed_non_synchronizing_append_drains_every_chunk() -> None:
    s = greeted_server(preauth=True, announce_append=True, stream_threshold=10)
    s.data_to_send()
    evs = feed(s, [b"a1 APPEND INBOX {100+}\r\n"])
    assert evs == [announcement(size=100, synchronizing=False)]
    s.refuse_append()
    assert feed(s, [b"x" * 60, b"y" * 40, b"\r\n"]) == []
    assert s.data_to_send() == b"a1 NO APPEND refused\r\n"


def test_accepted_streamed_append_streams_as_before() -> None:
    s = greeted_server(preauth=True, announce_append=True, stream_threshold=10)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND INBOX {20}\r\n"]) == [announcement(size=20)]
    s.accept_append()
    assert s.data_to_send() == b"+ Ready for literal data\r\n"
    evs = feed(s, [b"x" * 20 + b"\r\n"])
    assert evs[0] == BodyStart(length=20, tag="a1", command="APPEND")
    assert evs[-2] == BodyEnd()
    cmd = evs[-1].command
    assert isinstance(cmd, Append) and cmd.messages[0].data == StreamedLiteral(20, False)


def test_literal_mailbox_name_is_not_announced() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND {5}\r\n"]) == []
    assert s.data_to_send() == b"+ Ready for literal data\r\n"
    assert feed(s, [b"Trash {3}\r\n"]) == [announcement(mailbox="Trash", size=3)]


def test_multiappend_refusing_the_second_message() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND INBOX {2}\r\n"]) == [announcement(size=2)]
    s.accept_append()
    assert feed(s, [b"ab (\\Flagged) {3}\r\n"]) == [
        announcement(size=3, flags=(Flag("\\Flagged"),))
    ]
    s.refuse_append("Too many", ResponseCode(name="LIMIT"))
    assert s.data_to_send() == b"+ Ready for literal data\r\na1 NO [LIMIT] Too many\r\n"
    assert feed(s, [b"a2 NOOP\r\n"]) == [CommandReceived(command=Noop(tag="a2"))]


def test_binary_literal8_announced() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND INBOX ~{4}\r\n"]) == [announcement(size=4, binary=True)]
    s.accept_append()
    evs = feed(s, [b"\x00\x01\x02\x03\r\n"])
    assert evs[0].command.messages[0].data == b"\x00\x01\x02\x03"


def test_answering_without_an_announcement_is_our_error() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    with pytest.raises(LocalProtocolError, match="no APPEND literal"):
        s.accept_append()
    with pytest.raises(LocalProtocolError, match="no APPEND literal"):
        s.refuse_append()


def test_pipelined_commands_wait_for_the_answer() -> None:
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    evs = feed(s, [b"a1 APPEND INBOX {3+}\r\nabc\r\na2 NOOP\r\n"])
    assert evs == [announcement(size=3, synchronizing=False)]
    s.accept_append()
    evs = events(s)
    assert isinstance(evs[0].command, Append) and len(evs) == 1
    s.complete("OK", code=ResponseCode(name="APPENDUID", value=(1, SequenceSet.parse("1"))))
    assert events(s) == [CommandReceived(command=Noop(tag="a2"))]
    assert s.data_to_send() == b"a1 OK [APPENDUID 1 1] APPEND completed\r\n"


def test_refused_append_is_not_parsed_after_its_literal() -> None:
    # The refusal stands whatever follows the literal: nothing is parsed.
    s = greeted_server(preauth=True, announce_append=True)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND INBOX {3+}\r\n"]) == [announcement(size=3, synchronizing=False)]
    s.refuse_append()
    assert feed(s, [b"abc junk (\r\n"]) == []
    assert s.data_to_send() == b"a1 NO APPEND refused\r\n"


def test_over_long_line_after_a_refused_literal_gets_the_bad() -> None:
    s = greeted_server(preauth=True, announce_append=True, max_line=100)
    s.data_to_send()
    assert feed(s, [b"a1 APPEND INBOX {3+}\r\n"]) == [announcement(size=3, synchronizing=False)]
    s.refuse_append()
    evs = feed(s, [b"abc" + b"x" * 200 + b"\r\n"])
    assert [type(e) for e in evs] == [CommandError] and evs[0].tag == "a1"
    assert s.data_to_send() == evs[0].reply


def test_append_before_login_is_not_announced() -> None:
    s = greeted_server(announce_append=True, allow_plaintext=True)
    assert feed(s, [b"a1 APPEND INBOX {5}\r\n"]) == []
    assert s.data_to_send() == b"+ Ready for literal data\r\n"
    evs = feed(s, [b"hello\r\n"])
    assert [type(e) for e in evs] == [CommandError]
    assert s.data_to_send() == b"a1 BAD APPEND not allowed now\r\n"
