"""The IMAP client connection: exact bytes out, exact events in."""

from __future__ import annotations

import pytest

from protokit.errors import LocalProtocolError, RemoteProtocolError
from protokit.imap import (
    BodyChunk,
    BodyEnd,
    BodySection,
    BodyStart,
    ClientConnection,
    Completed,
    CompressionStarted,
    ConnectionClosed,
    Continued,
    Exists,
    Fetch,
    FetchBody,
    FetchCommand,
    Greeting,
    IdleStarted,
    Section,
    SequenceSet,
    State,
    Status,
    StreamedLiteral,
    TLSUpgradeReady,
    UnexpectedContinuation,
    Untagged,
)
from protokit.sasl import PlainClient, ScramSHA256Client, XOAuth2Client

from .conn_helpers import authed_client, events, feed, greeted_client, three_ways


def test_greetings() -> None:
    c = ClientConnection()
    assert c.state is State.GREETING
    evs = feed(c, [b"* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"])
    assert evs == [
        Greeting(response=Status(tag=None, status="OK", code=evs[0].response.code, text="hi"))
    ]
    assert c.state is State.NOT_AUTHENTICATED
    assert c.capabilities == frozenset({"IMAP4REV1", "IDLE"})
    p = ClientConnection()
    feed(p, [b"* PREAUTH ok\r\n"])
    assert p.state is State.AUTHENTICATED and p.capabilities is None
    b = ClientConnection()
    feed(b, [b"* BYE busy\r\n", b""])
    assert b.state is State.CLOSED
    bad = ClientConnection()
    bad.receive_data(b"* 3 EXISTS\r\n")
    with pytest.raises(RemoteProtocolError, match="did not greet"):
        events(bad)
    assert bad.state is State.ERROR


def test_tags_handles_and_completions() -> None:
    c = greeted_client()
    h1 = c.noop()
    h2 = c.capability()
    assert (h1.tag, h2.tag) == ("A1", "A2")
    assert c.data_to_send() == b"A1 NOOP\r\nA2 CAPABILITY\r\n"
    evs = feed(c, [b"* CAPABILITY IMAP4rev1 LITERAL+\r\nA2 OK c\r\nA1 NO n\r\n"])
    assert [type(e) for e in evs] == [Untagged, Completed, Completed]
    assert evs[1].handle is h2 and evs[1].ok and h2.ok
    assert evs[2].handle is h1 and not evs[2].ok and h1.response.status == "NO"
    assert c.has("LITERAL+")
    c.receive_data(b"A9 OK who\r\n")
    with pytest.raises(RemoteProtocolError, match="no command in progress"):
        events(c)


def test_state_checked_against_pipelined_commands() -> None:
    c = greeted_client()
    fetch = FetchCommand(tag=c.next_tag(), sequence_set=SequenceSet.of(1), items=("FLAGS",))
    with pytest.raises(LocalProtocolError, match="FETCH is not valid"):
        c.send(fetch)
    c2 = greeted_client(allow_plaintext=True)
    c2.login("u", "p")
    c2.select("INBOX")
    c2.send(FetchCommand(tag=c2.next_tag(), sequence_set=SequenceSet.of(1), items=("FLAGS",)))
    assert c2.data_to_send() == b"A1 LOGIN u p\r\nA2 SELECT INBOX\r\nA3 FETCH 1 (FLAGS)\r\n"
    with pytest.raises(LocalProtocolError, match="already in use"):
        c2.send(FetchCommand(tag="A3", sequence_set=SequenceSet.of(1), items=("FLAGS",)))


# -- literals -----------------------------------------------------------------------


@pytest.mark.parametrize(("label", "chunks"), three_ways(b"* 4 EXISTS\r\n* OK still here\r\n"))
def test_untagged_data_while_waiting_for_plus(label: str, chunks: list[bytes]) -> None:
    c = authed_client(allow_plaintext=True)
    h = c.append("INBOX", b"hello")
    after = c.noop()
    assert c.data_to_send() == b"A1 APPEND INBOX {5}\r\n"
    assert c.waiting_for_continuation() is h
    evs = feed(c, chunks)
    assert [type(e) for e in evs] == [Untagged, Untagged]
    assert evs[0].response == Exists(count=4)
    assert c.data_to_send() == b""  # still waiting: nothing else goes either
    assert feed(c, [b"+ go ahead\r\n"]) == [Continued(handle=h, data=b"go ahead")]
    assert c.data_to_send() == b"hello\r\nA2 NOOP\r\n"
    assert not after.done


@pytest.mark.parametrize("status", [b"NO", b"BAD"])
def test_no_instead_of_plus_means_the_literal_is_never_sent(status: bytes) -> None:
    c = authed_client()
    h = c.append("INBOX", b"secret body")
    c.noop()
    assert c.data_to_send() == b"A1 APPEND INBOX {11}\r\n"
    evs = feed(c, [b"A1 " + status + b" [TOOBIG] too big\r\n"])
    assert evs[0].handle is h and evs[0].response.status == status.decode()
    assert c.waiting_for_continuation() is None
    assert c.data_to_send() == b"A2 NOOP\r\n"
    # a late "+" releases nothing
    assert feed(c, [b"+ \r\n"]) == [UnexpectedContinuation(data=b"")]
    assert c.data_to_send() == b""


def test_literal_plus_on_append_and_literal_minus_boundary() -> None:
    c = authed_client("IMAP4rev1 LITERAL+")
    c.append("INBOX", b"x" * 5000)
    assert c.data_to_send() == b"A1 APPEND INBOX {5000+}\r\n" + b"x" * 5000 + b"\r\n"
    m = authed_client("IMAP4rev1 LITERAL-")
    m.append("INBOX", b"y" * 4096)
    assert m.data_to_send() == b"A1 APPEND INBOX {4096+}\r\n" + b"y" * 4096 + b"\r\n"
    m.append("INBOX", b"z" * 4097)
    assert m.data_to_send() == b"A2 APPEND INBOX {4097}\r\n"
    none = authed_client()
    none.append("INBOX", b"w")
    assert none.data_to_send() == b"A1 APPEND INBOX {1}\r\n"


def test_streamed_append() -> None:
    c = authed_client()
    h = c.append_stream("INBOX", 10, flags=("\\Seen",))
    c.append_data(h, b"01234")
    assert c.data_to_send() == b"A1 APPEND INBOX (\\Seen) {10}\r\n"
    feed(c, [b"+ ok\r\n"])
    c.append_data(h, b"56789")
    with pytest.raises(LocalProtocolError, match="more APPEND data"):
        c.append_data(h, b"!")
    c.append_end(h)
    assert c.data_to_send() == b"0123456789\r\n"
    short = authed_client("IMAP4rev1 LITERAL+")
    h2 = short.append_stream("INBOX", 3)
    short.append_data(h2, b"ab")
    with pytest.raises(LocalProtocolError, match="1 announced octets"):
        short.append_end(h2)
    assert short.data_to_send() == b"A1 APPEND INBOX {3+}\r\nab"


def test_unexpected_continuation_is_an_event() -> None:
    c = greeted_client()
    assert feed(c, [b"+ hello\r\n"]) == [UnexpectedContinuation(data=b"hello")]
    assert c.state is State.NOT_AUTHENTICATED


# -- SASL -----------------------------------------------------------------------------


def test_authenticate_with_sasl_ir() -> None:
    c = greeted_client("IMAP4rev1 SASL-IR AUTH=PLAIN", tls_active=True)
    h = c.authenticate(PlainClient("user", "pw"))
    assert c.data_to_send() == b"A1 AUTHENTICATE PLAIN AHVzZXIAcHc=\r\n"
    with pytest.raises(LocalProtocolError, match="before AUTHENTICATE completes"):
        c.noop()
    assert feed(c, [b"A1 OK [CAPABILITY IMAP4rev1 IDLE] welcome\r\n"])[0].handle is h
    assert c.state is State.AUTHENTICATED and c.capabilities == frozenset({"IMAP4REV1", "IDLE"})


@pytest.mark.parametrize(
    ("caps", "sasl_ir"), [("IMAP4rev1 AUTH=PLAIN", True), ("IMAP4rev1 SASL-IR AUTH=PLAIN", False)]
)
def test_authenticate_without_sasl_ir(caps: str, sasl_ir: bool) -> None:
    c = greeted_client(caps, tls_active=True, sasl_ir=sasl_ir)
    c.authenticate(PlainClient("user", "pw"))
    assert c.data_to_send() == b"A1 AUTHENTICATE PLAIN\r\n"
    assert feed(c, [b"+ \r\n"]) == []
    assert c.data_to_send() == b"AHVzZXIAcHc=\r\n"
    evs = feed(c, [b"A1 OK done\r\n"])
    assert evs[0].ok and c.state is State.AUTHENTICATED


def test_xoauth2_error_challenge_answered_with_an_empty_line() -> None:
    c = greeted_client("IMAP4rev1 SASL-IR AUTH=XOAUTH2", tls_active=True)
    c.authenticate(XOAuth2Client("u@example.com", "tok"))
    line = c.data_to_send()
    assert line.startswith(b"A1 AUTHENTICATE XOAUTH2 dXNlcj11QGV4YW1wbGUuY29tAWF1dGg9QmVhcmVy")
    # {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}
    challenge = (
        b"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29v"
        b"Z2xlLmNvbS8ifQ=="
    )
    assert feed(c, [b"+ " + challenge + b"\r\n"]) == []
    assert c.data_to_send() == b"\r\n"
    evs = feed(c, [b"A1 NO [AUTHENTICATIONFAILED] invalid credentials\r\n"])
    assert not evs[0].ok and c.state is State.NOT_AUTHENTICATED


def test_bad_challenges_cancel_and_fail() -> None:
    c = greeted_client("IMAP4rev1 AUTH=PLAIN", tls_active=True)
    c.authenticate(PlainClient("user", "pw"))
    c.data_to_send()
    with pytest.raises(RemoteProtocolError, match="not valid base64"):
        feed(c, [b"+ !!!\r\n"])
    assert c.data_to_send() == b"*\r\n"
    s = greeted_client("IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256", tls_active=True)
    s.authenticate(ScramSHA256Client("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO"))
    assert (
        s.data_to_send()
        == b"A1 AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n"
    )
    with pytest.raises(RemoteProtocolError, match="SCRAM-SHA-256"):
        feed(
            s,
            [
                b"+ "
                + b"cj1ub3RteW5vbmNlLHM9VzIyWmFKMFNOWTdzb0VzVUVqYjZnUT09LGk9NDA5Ng=="
                + b"\r\n"
            ],
        )
    assert s.data_to_send() == b"*\r\n" and s.state is State.ERROR


def test_plaintext_credentials_need_tls_or_permission() -> None:
    c = greeted_client("IMAP4rev1 AUTH=PLAIN")
    with pytest.raises(LocalProtocolError, match="without TLS"):
        c.login("u", "p")
    with pytest.raises(LocalProtocolError, match="without TLS"):
        c.authenticate(PlainClient("u", "p"))
    d = greeted_client("IMAP4rev1 LOGINDISABLED", allow_plaintext=True)
    with pytest.raises(LocalProtocolError, match="LOGINDISABLED"):
        d.login("u", "p")
    e = greeted_client("IMAP4rev1", tls_active=True)
    with pytest.raises(LocalProtocolError, match="does not offer PLAIN"):
        e.authenticate(PlainClient("u", "p"))
    assert c.data_to_send() == d.data_to_send() == e.data_to_send() == b""


# -- IDLE, COMPRESS, ENABLE -------------------------------------------------------------


def test_idle_and_done() -> None:
    c = greeted_client("IMAP4rev1 IDLE", allow_plaintext=True)
    c.login("u", "p")
    c.data_to_send()
    feed(c, [b"A1 OK in\r\n"])
    h = c.idle()
    with pytest.raises(LocalProtocolError, match="no IDLE"):
        c.done()
    assert c.data_to_send() == b"A2 IDLE\r\n"
    evs = feed(c, [b"+ idling\r\n* 5 EXISTS\r\n"])
    assert evs == [IdleStarted(handle=h), Untagged(response=Exists(count=5))]
    c.done()
    assert c.data_to_send() == b"DONE\r\n"
    evs = feed(c, [b"A2 OK IDLE terminated\r\n"])
    assert evs[0].handle is h and evs[0].ok
    c.noop()
    assert c.data_to_send() == b"A3 NOOP\r\n"


def test_compress_tells_where_compression_begins() -> None:
    c = greeted_client("IMAP4rev1 COMPRESS=DEFLATE", allow_plaintext=True)
    c.login("u", "p")
    feed(c, [b"A1 OK in\r\n"])
    h = c.compress()
    assert c.data_to_send() == b"A1 LOGIN u p\r\nA2 COMPRESS DEFLATE\r\n"
    with pytest.raises(LocalProtocolError):
        c.noop()
    evs = feed(c, [b"A2 OK DEFLATE active\r\n\x78\x9c\x01\x02"])
    assert evs[0].handle is h
    assert evs[1] == CompressionStarted(handle=h, mechanism="DEFLATE", pending=b"\x78\x9c\x01\x02")
    c.noop()  # the caller now compresses what it sends
    assert c.data_to_send() == b"A3 NOOP\r\n"


def test_enable_utf8_changes_what_is_written_and_parsed() -> None:
    c = greeted_client("IMAP4rev1 ENABLE UTF8=ACCEPT", allow_plaintext=True)
    c.login("u", "p")
    feed(c, [b"A1 OK in\r\n"])
    c.select("Entwürfe")
    assert c.data_to_send().endswith(b"A2 SELECT Entw&APw-rfe\r\n")
    feed(c, [b"A2 NO nope\r\n"])
    c.enable("UTF8=ACCEPT")
    feed(c, [b"* ENABLED UTF8=ACCEPT\r\nA3 OK\r\n"])
    assert c.enabled == frozenset({"UTF8=ACCEPT"}) and c.utf8
    c.select("Entwürfe")
    assert c.data_to_send() == b'A3 ENABLE UTF8=ACCEPT\r\nA4 SELECT "Entw\xc3\xbcrfe"\r\n'
    evs = feed(c, [b'* LIST () "/" "Entw\xc3\xbcrfe"\r\n'])
    assert evs[0].response.mailbox == "Entwürfe"


# -- FETCH streaming ----------------------------------------------------------------------

_BIG = b"0123456789" * 10000  # 100,000 octets: above the 64 KiB threshold


@pytest.mark.parametrize(
    ("label", "chunks"),
    [
        (label, chunks)
        for label, chunks in three_ways(
            b"* 7 FETCH (UID 9 BODY[] {100000}\r\n" + _BIG + b")\r\n", b"A3 OK done\r\n"
        )
        if label != "bytewise"
    ]
    + [
        (
            "8k",
            [
                (b"* 7 FETCH (UID 9 BODY[] {100000}\r\n" + _BIG + b")\r\n")[i : i + 8192]
                for i in range(0, 100040, 8192)
            ],
        )
    ],
)
def test_fetch_bodies_stream(label: str, chunks: list[bytes]) -> None:
    c = greeted_client(allow_plaintext=True)
    c.login("u", "p")
    c.select("INBOX")
    h = c.send(
        FetchCommand(tag=c.next_tag(), sequence_set=SequenceSet.of(7), items=("UID", FetchBody()))
    )
    feed(c, [b"A1 OK\r\nA2 OK\r\n"])
    evs = feed(c, chunks)
    head = Fetch(seq=7, uid=9, sections=(BodySection(section=Section(), data=None),))
    assert evs[0] == BodyStart(length=100000, command="FETCH", seq=7, head=head)
    body = b"".join(e.data for e in evs if isinstance(e, BodyChunk))
    assert body == _BIG
    tail = [e for e in evs if not isinstance(e, BodyChunk)]
    assert tail[1] == BodyEnd()
    fetch = tail[2].response
    assert isinstance(fetch, Fetch) and fetch.seq == 7 and fetch.uid == 9
    assert fetch.sections == (
        BodySection(section=fetch.sections[0].section, data=StreamedLiteral(100000, False)),
    )
    if label == "trailing":
        assert tail[3].handle is h
    assert max(len(e.data) for e in evs if isinstance(e, BodyChunk)) <= 100000


@pytest.mark.parametrize(
    ("first", "head"),
    [
        (
            b"* 3 FETCH (UID 12 FLAGS (\\Seen) BINARY[] ~{70000}\r\n",
            Fetch(
                seq=3,
                uid=12,
                flags=("\\Seen",),
                sections=(BodySection(section=Section(), data=None, binary=True),),
            ),
        ),
        (
            b"* 3 FETCH (BODY[1] {70000+}\r\n",
            Fetch(seq=3, sections=(BodySection(section=Section(part=(1,)), data=None),)),
        ),
        (
            b"* 3 FETCH (BODY[TEXT] {70000}\r\n",
            Fetch(seq=3, sections=(BodySection(section=Section(text="TEXT"), data=None),)),
        ),
        # the body is the second literal: the first line ends inside a list
        (b"* 3 FETCH (X-GM-LABELS ({3}\r\nabc) BODY[] {70000}\r\n", None),
    ],
)
def test_a_streamed_fetch_body_names_the_items_before_it(first: bytes, head: Fetch | None) -> None:
    c = greeted_client(allow_plaintext=True)
    c.login("u", "p")
    c.select("INBOX")
    c.send(FetchCommand(tag=c.next_tag(), sequence_set=SequenceSet.of(3), items=("UID",)))
    feed(c, [b"A1 OK\r\nA2 OK\r\n"])
    evs = feed(c, [first])
    starts = [e for e in evs if isinstance(e, BodyStart)]
    assert starts == [
        BodyStart(length=70000, binary=first.count(b"~{") == 1, command="FETCH", seq=3, head=head)
    ]


# -- STARTTLS ------------------------------------------------------------------------------

_INJECTED = b"A1 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"


def test_starttls_hand_off_and_capabilities_reread() -> None:
    c = greeted_client("IMAP4rev1 STARTTLS LOGINDISABLED", require_tls=True)
    feed(c, [b"* OK [ALERT] pre-TLS alert\r\n"])
    h = c.starttls()
    with pytest.raises(LocalProtocolError):
        c.noop()
    assert c.data_to_send() == b"A1 STARTTLS\r\n"
    evs = feed(c, [b"A1 OK begin TLS\r\n"])
    assert evs == [Completed(handle=h, response=evs[0].response), TLSUpgradeReady(handle=h)]
    assert c.state is State.STARTING_TLS and c.capabilities is None
    c.start_tls_done()
    assert c.tls_active and c.state is State.NOT_AUTHENTICATED and c.capabilities is None
    c.capability()
    assert c.data_to_send() == b"A2 CAPABILITY\r\n"
    feed(c, [b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK\r\n"])
    assert c.capabilities == frozenset({"IMAP4REV1", "AUTH=PLAIN"})
    c.login("u", "p")


@pytest.mark.parametrize("cut", range(len(b"A1 OK begin TLS\r\n"), len(_INJECTED) + 1))
def test_response_injection_after_starttls_ok(cut: int) -> None:
    c = greeted_client("IMAP4rev1 STARTTLS")
    c.starttls()
    c.data_to_send()

    def receive_then_handshake() -> None:
        feed(c, [_INJECTED[:cut], _INJECTED[cut:]])
        c.start_tls_done()

    with pytest.raises(RemoteProtocolError, match="response injection"):
        receive_then_handshake()
    assert c.state is State.ERROR


def test_starttls_stripping_is_a_hard_failure() -> None:
    missing = greeted_client("IMAP4rev1 AUTH=PLAIN", require_tls=True, allow_plaintext=True)
    with pytest.raises(LocalProtocolError, match="does not offer STARTTLS"):
        missing.starttls()
    with pytest.raises(LocalProtocolError, match="TLS is required"):
        missing.authenticate(PlainClient("u", "p"))
    with pytest.raises(LocalProtocolError, match="TLS is required"):
        missing.login("u", "p")
    refused = greeted_client("IMAP4rev1 STARTTLS", require_tls=True, allow_plaintext=True)
    refused.starttls()
    assert refused.data_to_send() == b"A1 STARTTLS\r\n"
    feed(refused, [b"A1 NO not now\r\n"])
    with pytest.raises(LocalProtocolError, match="TLS is required"):
        refused.login("u", "p")
    assert refused.data_to_send() == b""
    pre = ClientConnection(require_tls=True)
    pre.receive_data(b"* PREAUTH welcome\r\n")
    with pytest.raises(RemoteProtocolError, match="PREAUTH"):
        events(pre)


def test_bye_and_close() -> None:
    c = greeted_client()
    c.logout()
    assert c.data_to_send() == b"A1 LOGOUT\r\n"
    evs = feed(c, [b"* BYE bye\r\nA1 OK done\r\n", b""])
    assert [type(e) for e in evs] == [Untagged, Completed, ConnectionClosed]
    assert c.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        c.noop()


def test_no_secret_in_reprs() -> None:
    c = greeted_client(allow_plaintext=True)
    h = c.login("user", "hunter2")
    assert "hunter2" not in repr(h) + repr(c)
    m = PlainClient("user", "hunter2")
    assert "hunter2" not in repr(m)


def test_unread_holds_what_follows_the_last_event() -> None:
    conn = ClientConnection()
    conn.receive_data(b"* OK hi\r\n* 1 EXISTS\r\n* 2 EXI")
    assert isinstance(conn.next_event(), Greeting)
    assert conn.unread() == b"* 1 EXISTS\r\n* 2 EXI"
