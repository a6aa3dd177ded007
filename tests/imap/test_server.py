"""The IMAP server connection: exact replies, events, limits and attacks."""

from __future__ import annotations

import tracemalloc

import pytest

from protokit import NEED_DATA
from protokit.errors import LocalProtocolError, RemoteProtocolError
from protokit.imap import (
    Append,
    AuthenticationFailed,
    BodyChunk,
    BodyEnd,
    BodyStart,
    CommandError,
    CommandReceived,
    ConnectionClosed,
    Exists,
    Expunge,
    Fetch,
    FetchCommand,
    IdleDone,
    Noop,
    SaslAuthenticated,
    SaslRequest,
    SequenceSet,
    ServerConfig,
    ServerConnection,
    StartTLSRequested,
    State,
    StreamedLiteral,
    Vanished,
)
from protokit.sasl import TokenResult, ValidateToken, VerifyPassword

from .conn_helpers import events, feed, greeted_server, three_ways


def test_greeting_and_capabilities_by_state() -> None:
    s = ServerConnection()
    assert s.data_to_send() == (
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE ENABLE ID UNSELECT NAMESPACE UIDPLUS"
        b" MOVE LOGINDISABLED] protokit IMAP server ready\r\n"
    )
    t = ServerConnection(ServerConfig(starttls=True, mechanisms=("PLAIN", "SCRAM-SHA-256")))
    assert t.data_to_send().startswith(
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE ENABLE ID UNSELECT NAMESPACE UIDPLUS"
        b" MOVE STARTTLS AUTH=SCRAM-SHA-256 LOGINDISABLED]"
    )
    p = ServerConnection(ServerConfig(preauth=True, greeting_capabilities=False, greeting="hi"))
    assert p.data_to_send() == b"* PREAUTH hi\r\n" and p.state is State.AUTHENTICATED


@pytest.mark.parametrize(("label", "chunks"), three_ways(b"a1 FROB (\r\n", b"a2 NOOP\r\n"))
def test_syntax_error_is_a_bad_and_an_event(label: str, chunks: list[bytes]) -> None:
    s = greeted_server()
    evs = feed(s, chunks)
    assert isinstance(evs[0], CommandError) and evs[0].tag == "a1"
    assert s.data_to_send() == evs[0].reply == b"a1 BAD unclosed '('\r\n"
    if label == "trailing":
        assert evs[1] == CommandReceived(command=Noop(tag="a2"))
    assert s.state is State.NOT_AUTHENTICATED


def test_commands_not_valid_in_state() -> None:
    s = greeted_server()
    evs = feed(s, [b"a1 FETCH 1 FLAGS\r\na2 LOGIN u p\r\na3 SELECT INBOX\r\n"])
    assert [type(e) for e in evs] == [CommandError, CommandError, CommandError]
    assert s.data_to_send() == (
        b"a1 BAD FETCH not allowed now\r\n"
        b"a2 NO [PRIVACYREQUIRED] LOGIN is disabled without TLS\r\n"
        b"a3 BAD SELECT not allowed now\r\n"
    )


def test_pipelined_commands_in_order() -> None:
    s = greeted_server(preauth=True)
    s.receive_data(b"a1 NOOP\r\na2 SELECT INBOX\r\na3 FETCH 1 (FLAGS)\r\n")
    assert s.next_event() == CommandReceived(command=Noop(tag="a1"))
    assert s.next_event() is NEED_DATA  # a1 is not answered yet
    s.complete("OK")
    ev = s.next_event()
    assert isinstance(ev, CommandReceived) and ev.command.tag == "a2"
    s.send(Exists(count=3))
    s.complete("OK", "selected")
    ev = s.next_event()
    assert isinstance(ev, CommandReceived) and isinstance(ev.command, FetchCommand)
    s.send(Fetch(seq=1, flags=()))
    s.complete("OK")
    assert s.data_to_send() == (
        b"a1 OK NOOP completed\r\n* 3 EXISTS\r\na2 OK selected\r\n* 1 FETCH (FLAGS ())\r\n"
        b"a3 OK FETCH completed\r\n"
    )
    with pytest.raises(LocalProtocolError, match="no command"):
        s.complete("OK")


def test_too_many_errors_close() -> None:
    s = greeted_server(max_errors=3)
    with pytest.raises(RemoteProtocolError, match="Too many"):
        feed(s, [b"x\r\n" * 3])
    assert s.data_to_send().endswith(b"* BYE Too many invalid commands\r\n")
    assert s.state is State.ERROR


# -- literals -------------------------------------------------------------------------


def test_synchronizing_literal_gets_plus() -> None:
    s = greeted_server(preauth=True)
    assert feed(s, [b"a1 APPEND INBOX {5}\r\n"]) == []
    assert s.data_to_send() == b"+ Ready for literal data\r\n"
    evs = feed(s, [b"hello\r\n"])
    assert isinstance(evs[0].command, Append) and evs[0].command.messages[0].data == b"hello"


def test_too_large_literal_refused_before_the_bytes() -> None:
    s = greeted_server(preauth=True, max_literal=1000)
    evs = feed(s, [b"a1 APPEND INBOX {1001}\r\n"])
    assert evs == [CommandError(tag="a1", message=evs[0].message, reply=evs[0].reply)]
    assert s.data_to_send() == b"a1 BAD [TOOBIG] Literal too large\r\n"
    # the client sends no literal; its next command is read normally
    assert feed(s, [b"a2 NOOP\r\n"]) == [CommandReceived(command=Noop(tag="a2"))]


def test_too_large_non_synchronizing_literal_closes() -> None:
    s = greeted_server(preauth=True, max_literal=1000)
    with pytest.raises(RemoteProtocolError, match="Literal too large"):
        feed(s, [b"a1 APPEND INBOX {5000+}\r\n"])
    assert s.data_to_send() == (
        b"a1 BAD [TOOBIG] Literal too large\r\n* BYE Literal too large\r\n"
    )


def test_literal_minus_limits_non_synchronizing_literals() -> None:
    s = greeted_server(preauth=True, capabilities=("IMAP4rev1", "LITERAL-"))
    evs = feed(s, [b"a1 APPEND INBOX {4096+}\r\n" + b"x" * 4096 + b"\r\n"])
    assert isinstance(evs[0].command, Append)
    s.complete("OK")
    s.data_to_send()
    with pytest.raises(RemoteProtocolError):
        feed(s, [b"a2 APPEND INBOX {4097+}\r\n"])
    assert s.data_to_send().startswith(b"a2 BAD [TOOBIG]")


def test_20_mb_append_streamed_without_holding_it() -> None:
    s = greeted_server(preauth=True)
    size = 20 * 1024 * 1024
    chunk = bytes(range(256)) * 256  # 64 KiB
    tracemalloc.start()
    try:
        starts = feed(s, [b"a1 APPEND INBOX (\\Seen) {%d}\r\n" % size])
        assert s.data_to_send() == b"+ Ready for literal data\r\n"
        got = 0
        others: list[object] = []
        for _ in range(size // len(chunk)):
            for ev in feed(s, [chunk]):
                if isinstance(ev, BodyChunk):
                    got += len(ev.data)
                else:
                    others.append(ev)
        others.extend(feed(s, [b"\r\n"]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert starts == [BodyStart(length=size, tag="a1", command="APPEND")]
    assert got == size
    assert others[0] == BodyEnd() and len(others) == 2
    cmd = others[1].command  # type: ignore[attr-defined]
    assert isinstance(cmd, Append) and cmd.messages[0].data == StreamedLiteral(size, False)
    assert peak < 2 * 1024 * 1024, peak


# -- STARTTLS -------------------------------------------------------------------------

_ATTACK = b"a STARTTLS\r\nb LOGIN x y\r\n"


def test_starttls_then_capabilities_re_advertised() -> None:
    s = greeted_server(starttls=True)
    assert feed(s, [b"a STARTTLS\r\n"]) == [StartTLSRequested(tag="a")]
    assert s.data_to_send() == b"a OK Begin TLS negotiation now\r\n"
    assert s.state is State.STARTING_TLS and s.unread() == b""
    s.start_tls_done()
    assert s.tls_active and s.state is State.NOT_AUTHENTICATED
    feed(s, [b"c CAPABILITY\r\n"])
    assert s.data_to_send() == (
        b"* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE ENABLE ID UNSELECT NAMESPACE UIDPLUS"
        b" MOVE AUTH=PLAIN\r\nc OK CAPABILITY completed\r\n"
    )
    feed(s, [b"d STARTTLS\r\n"])
    assert s.data_to_send() == b"d BAD STARTTLS not available\r\n"


@pytest.mark.parametrize("cut", range(len(_ATTACK) + 1))
def test_starttls_command_injection_at_every_split(cut: int) -> None:
    s = greeted_server(starttls=True)
    seen: list[object] = []

    def attack() -> None:
        for part in (_ATTACK[:cut], _ATTACK[cut:]):
            if not part:
                continue
            s.receive_data(part)
            seen.extend(events(s))
        s.start_tls_done()

    with pytest.raises(RemoteProtocolError, match="injection"):
        attack()
    assert s.state is State.ERROR
    assert not any(isinstance(e, CommandReceived) for e in seen)
    assert s.data_to_send().endswith(b"* BYE Command injection after STARTTLS\r\n")


# -- AUTHENTICATE -------------------------------------------------------------------------


def _auth_server(**kw: object) -> ServerConnection:
    return greeted_server(tls_active=True, **kw)


def test_authenticate_plain_with_initial_response() -> None:
    s = _auth_server()
    evs = feed(s, [b"a1 AUTHENTICATE PLAIN AHVzZXIAcHc=\r\n"])
    assert isinstance(evs[0], SaslRequest) and isinstance(evs[0].request, VerifyPassword)
    assert evs[0].request.password.expose() == "pw" and "pw" not in repr(evs[0])
    s.answer_sasl(True)
    assert events(s) == [
        SaslAuthenticated(tag="a1", mechanism="PLAIN", authcid="user", authzid=None)
    ]
    s.complete("OK")
    assert s.data_to_send() == b"a1 OK AUTHENTICATE completed\r\n"
    assert s.state is State.AUTHENTICATED
    feed(s, [b"a2 AUTHENTICATE PLAIN AHVzZXIAcHc=\r\n"])
    assert s.data_to_send() == b"a2 BAD AUTHENTICATE not allowed now\r\n"


def test_authenticate_without_initial_response_and_failure() -> None:
    s = _auth_server()
    assert feed(s, [b"a1 AUTHENTICATE PLAIN\r\n"]) == []
    assert s.data_to_send() == b"+ \r\n"
    evs = feed(s, [b"AHVzZXIAd3Jvbmc=\r\n"])
    assert isinstance(evs[0], SaslRequest)
    s.answer_sasl(False)
    evs = events(s)
    assert len(evs) == 1 and isinstance(evs[0], AuthenticationFailed) and evs[0].tag == "a1"
    assert "wrong" not in evs[0].reason
    assert s.data_to_send() == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    assert s.state is State.NOT_AUTHENTICATED


def test_unknown_user_and_wrong_password_look_alike() -> None:
    out = []
    for user in (b"AG5vYm9keQB4\r\n", b"AHVzZXIAd3Jvbmc=\r\n"):
        s = _auth_server()
        feed(s, [b"a1 AUTHENTICATE PLAIN " + user])
        s.answer_sasl(False)
        events(s)
        out.append(s.data_to_send())
    assert out[0] == out[1] == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"*\r\n", b"a1 BAD Authentication cancelled\r\n"),
        (b"!!notbase64\r\n", b"a1 BAD Invalid base64\r\n"),
    ],
)
def test_cancel_and_bad_base64(line: bytes, reply: bytes) -> None:
    s = _auth_server()
    feed(s, [b"a1 AUTHENTICATE PLAIN\r\n"])
    s.data_to_send()
    evs = feed(s, [line, b"a2 NOOP\r\n"])
    assert isinstance(evs[0], AuthenticationFailed) and evs[0].tag == "a1"
    assert evs[1] == CommandReceived(command=Noop(tag="a2"))
    assert s.data_to_send() == reply


def test_plaintext_mechanisms_only_under_tls() -> None:
    s = greeted_server()
    evs = feed(s, [b"a1 AUTHENTICATE PLAIN AHVzZXIAcHc=\r\n"])
    assert isinstance(evs[0], CommandError)
    assert s.data_to_send() == b"a1 NO Unsupported authentication mechanism\r\n"
    ok = greeted_server(allow_plaintext=True)
    assert isinstance(feed(ok, [b"a1 AUTHENTICATE PLAIN AHVzZXIAcHc=\r\n"])[0], SaslRequest)


def test_xoauth2_error_challenge_requires_an_empty_reply() -> None:
    s = _auth_server(mechanisms=("XOAUTH2",))
    ir = b"dXNlcj11QGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHRvawEB"
    evs = feed(s, [b"a1 AUTHENTICATE XOAUTH2 " + ir + b"\r\n"])
    assert isinstance(evs[0].request, ValidateToken)
    s.answer_sasl(TokenResult(valid=False))
    assert events(s) == []
    challenge = s.data_to_send()
    assert challenge.startswith(b"+ eyJ") and challenge.endswith(b"\r\n")
    evs = feed(s, [b"\r\n"])
    assert isinstance(evs[0], AuthenticationFailed)
    assert s.data_to_send() == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


# -- IDLE and updates -----------------------------------------------------------------------


def _selected() -> ServerConnection:
    s = greeted_server(preauth=True)
    feed(s, [b"s SELECT INBOX\r\n"])
    s.complete("OK")
    s.data_to_send()
    return s


def test_idle_pushes_and_done() -> None:
    s = _selected()
    evs = feed(s, [b"i IDLE\r\n"])
    assert isinstance(evs[0], CommandReceived)
    s.push_update(Exists(count=4))
    s.push_update(Expunge(seq=2))
    assert s.data_to_send() == b"+ idling\r\n* 4 EXISTS\r\n* 2 EXPUNGE\r\n"
    assert feed(s, [b"DONE\r\n"]) == [IdleDone(tag="i")]
    assert s.data_to_send() == b"i OK IDLE terminated\r\n"
    feed(s, [b"DONE\r\n"])
    assert s.data_to_send() == b"* BAD DONE without IDLE\r\n"


def test_expunge_waits_for_a_moment_the_rfc_allows() -> None:
    s = _selected()
    s.push_update(Expunge(seq=3))  # no command in progress
    s.push_update(Vanished(uids=SequenceSet.of(7)))
    s.push_update(Vanished(uids=SequenceSet.of(8), earlier=True))
    s.push_update(Exists(count=9))
    assert s.data_to_send() == b"* VANISHED (EARLIER) 8\r\n* 9 EXISTS\r\n"
    feed(s, [b"f FETCH 1 (FLAGS)\r\n"])
    s.push_update(Expunge(seq=4))  # not during FETCH
    s.complete("OK")
    assert s.data_to_send() == b"f OK FETCH completed\r\n"
    feed(s, [b"n NOOP\r\n"])
    s.complete("OK")
    assert s.data_to_send() == (
        b"* 3 EXPUNGE\r\n* VANISHED 7\r\n* 4 EXPUNGE\r\nn OK NOOP completed\r\n"
    )


def test_peer_close() -> None:
    s = greeted_server()
    assert feed(s, [b""]) == [ConnectionClosed()]
    assert s.state is State.CLOSED


_BURST = (
    b"a1 NOOP\r\na2 APPEND INBOX {5}\r\nhello\r\na3 SELECT {5}\r\nINBOX\r\n"
    b"a4 FETCH 1 (FLAGS)\r\na5 LOGOUT\r\n"
)


@pytest.mark.parametrize(("label", "chunks"), three_ways(_BURST, b"garbage after logout\r\n"))
def test_pipelined_burst_read_the_same_however_fed(label: str, chunks: list[bytes]) -> None:
    s = greeted_server(preauth=True)
    got = []
    for chunk in chunks:
        s.receive_data(chunk)
        while (ev := s.next_event()) is not NEED_DATA:
            got.append(ev)
            if isinstance(ev, CommandReceived):
                s.complete("OK")
    assert [e.command.tag for e in got] == ["a1", "a2", "a3", "a4", "a5"]
    assert got[1].command.messages[0].data == b"hello" and got[2].command.mailbox == "INBOX"
    out = s.data_to_send()
    assert out.count(b"+ Ready for literal data\r\n") == 2
    assert out.endswith(b"* BYE Logging out\r\na5 OK LOGOUT completed\r\n")
    assert s.state is State.LOGOUT


def test_pipelined_backlog_is_bounded() -> None:
    s = greeted_server(preauth=True, max_backlog=100)
    feed(s, [b"a1 NOOP\r\n"])
    s.receive_data(b"a2 NOOP\r\n" * 20)
    with pytest.raises(RemoteProtocolError, match="pipelined"):
        s.next_event()
    assert s.data_to_send().endswith(b"* BYE Too many pipelined commands\r\n")
