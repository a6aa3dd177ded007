"""The server connection sends a FETCH body in pieces (start_fetch_body,
send_fetch_data, end_fetch_body): exact bytes, and the client reads them."""

from __future__ import annotations

import pytest

from protokit.errors import LocalProtocolError
from protokit.imap import (
    BodySection,
    Fetch,
    Framer,
    Message,
    Section,
    ServerConnection,
    StreamedLiteral,
    parse_response,
)

from .conn_helpers import feed, greeted_server


def fetching(command: bytes = b"b UID FETCH 1 (UID BODY.PEEK[])\r\n") -> ServerConnection:
    s = greeted_server(preauth=True)
    feed(s, [b"a SELECT INBOX\r\n"])
    s.complete("OK")
    feed(s, [command])
    s.data_to_send()
    return s


def test_streamed_body_exact_bytes() -> None:
    s = fetching()
    section = BodySection(section=Section(), data=StreamedLiteral(10, False))
    s.start_fetch_body(Fetch(seq=3, uid=7, flags=(), modseq=9, sections=(section,)))
    s.send_fetch_data(b"hello")
    s.send_fetch_data(b" wor")
    s.send_fetch_data(b"d")
    s.end_fetch_body()
    s.complete("OK")
    assert s.data_to_send() == (
        b"* 3 FETCH (UID 7 FLAGS () MODSEQ (9) BODY[] {10}\r\nhello word)\r\n"
        b"b OK UID FETCH completed\r\n"
    )


def test_streamed_section_alone_with_origin_and_literal8() -> None:
    s = fetching(b"b FETCH 1 BINARY.PEEK[1]<0.4>\r\n")
    part = BodySection(
        section=Section(part=(1,)), origin=0, binary=True, data=StreamedLiteral(4, True)
    )
    s.start_fetch_body(Fetch(seq=1, sections=(part,)))
    s.send_fetch_data(b"\x00\x01\x02\x03")
    s.end_fetch_body()
    assert s.data_to_send() == b"* 1 FETCH (BINARY[1]<0> ~{4}\r\n\x00\x01\x02\x03)\r\n"


def test_other_sections_are_written_first() -> None:
    s = fetching()
    header = BodySection(section=Section(text="HEADER"), data=b"A: b\r\n\r\n")
    body = BodySection(section=Section(text="TEXT"), data=StreamedLiteral(2, False))
    s.start_fetch_body(Fetch(seq=1, sections=(body, header)))
    s.send_fetch_data(b"hi")
    s.end_fetch_body()
    assert s.data_to_send() == (
        b"* 1 FETCH (BODY[HEADER] {8}\r\nA: b\r\n\r\n BODY[TEXT] {2}\r\nhi)\r\n"
    )


def test_misuse_is_our_error() -> None:
    s = fetching()
    one = BodySection(section=Section(), data=StreamedLiteral(2, False))
    with pytest.raises(LocalProtocolError, match="exactly one"):
        s.start_fetch_body(
            Fetch(seq=1, uid=1, sections=(BodySection(section=Section(), data=b"x"),))
        )
    s.start_fetch_body(Fetch(seq=1, sections=(one,)))
    with pytest.raises(LocalProtocolError, match="more octets"):
        s.send_fetch_data(b"abc")
    s.send_fetch_data(b"a")
    with pytest.raises(LocalProtocolError, match="not complete"):
        s.end_fetch_body()
    with pytest.raises(LocalProtocolError, match="not complete"):
        s.complete("OK")
    with pytest.raises(LocalProtocolError, match="only while answering FETCH"):
        s.start_fetch_body(Fetch(seq=1, sections=(one,)))
    idle = greeted_server(preauth=True)
    with pytest.raises(LocalProtocolError, match="only while answering FETCH"):
        idle.start_fetch_body(Fetch(seq=1, sections=(one,)))


def test_a_client_framer_reads_the_streamed_body() -> None:
    s = fetching()
    section = BodySection(section=Section(), data=StreamedLiteral(5, False))
    s.start_fetch_body(Fetch(seq=1, uid=1, sections=(section,)))
    s.send_fetch_data(b"hello")
    s.end_fetch_body()
    framer = Framer(server=False)
    framer.feed(s.data_to_send())
    message = framer.next_event()
    assert isinstance(message, Message)
    assert parse_response(message) == Fetch(
        seq=1, uid=1, sections=(BodySection(section=Section(), data=b"hello"),)
    )
