"""The POP3 server connection: exact bytes on the wire, exact events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from protokit import NEED_DATA, Secret
from protokit.errors import LocalProtocolError, RemoteProtocolError
from protokit.pop3 import (
    ApopLogin,
    CommandError,
    ConnectionClosed,
    MaildropEntry,
    MessageRequested,
    PasswordLogin,
    ResponseCode,
    SaslAuthenticated,
    SaslFailed,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    StartTLS,
    State,
    UpdateRequested,
    UserReceived,
    apop_digest,
)
from protokit.sasl import Challenge, Failure, Request, ServerMechanism, Step, Success

from .helpers import drain, feed, three_ways

PLAIN_OK = ServerConfig(allow_plaintext_auth=True)
MAILDROP = [
    MaildropEntry(size=120, uid="whqtswO00WBw418f9t5JxYwZ"),
    MaildropEntry(size=200, uid="QhdPYR:00WBw1Ph7x7"),
]


def server(config: ServerConfig = PLAIN_OK) -> ServerConnection:
    s = ServerConnection(config)
    s.data_to_send()
    return s


def logged_in(
    config: ServerConfig = PLAIN_OK, maildrop: list[MaildropEntry] = MAILDROP
) -> ServerConnection:
    s = server(config)
    s.receive_data(b"USER mrose\r\nPASS secret\r\n")
    ev = s.next_event()
    assert ev == PasswordLogin(username="mrose", password=Secret("secret"))
    s.accept_login(maildrop)
    assert (
        s.data_to_send()
        == b"+OK send PASS\r\n+OK mrose's maildrop has 2 messages (320 octets)\r\n"
    )
    assert s.state is State.TRANSACTION
    return s


def exchange(s: ServerConnection, data: bytes) -> tuple[list[Any], bytes]:
    s.receive_data(data)
    return drain(s), s.data_to_send()


def test_constructible_with_no_arguments() -> None:
    s = ServerConnection()
    assert s.data_to_send() == b"+OK POP3 server ready\r\n"
    assert s.next_event() is NEED_DATA
    assert s.state is State.AUTHORIZATION
    assert "mrose" not in repr(s)


def test_apop_greeting_timestamp() -> None:
    s = ServerConnection(ServerConfig(apop=True, apop_timestamp=lambda: "<1.2@host>"))
    assert s.data_to_send() == b"+OK POP3 server ready <1.2@host>\r\n"
    generated = ServerConnection(ServerConfig(apop=True, hostname="example.org"))
    other = ServerConnection(ServerConfig(apop=True, hostname="example.org"))
    assert generated.timestamp is not None and generated.timestamp.endswith("@example.org>")
    assert generated.timestamp != other.timestamp
    with pytest.raises(LocalProtocolError):
        ServerConnection(ServerConfig(apop=True, apop_timestamp=lambda: "no brackets"))


def test_config_accepts_rfc_values() -> None:
    for expire in ("NEVER", "0", "60", "60 USER"):
        assert ServerConfig(expire=expire).expire == expire
    assert ServerConfig(login_delay=900).login_delay == 900


def test_config_validation() -> None:
    for bad in (
        {"max_command_line": 100},
        {"max_pipelined": 0},
        {"max_errors": 0},
        {"sasl_mechanisms": ("BAD NAME",)},
        {"greeting": "two\r\nlines"},
        {"implementation": "x\ny"},
        {"hostname": ""},
        {"expire": "soon"},
        {"expire": "60 USER\r\n"},
        {"login_delay": -1},
    ):
        with pytest.raises(ValueError):
            ServerConfig(**bad)  # type: ignore[arg-type]


# -- AUTHORIZATION ---------------------------------------------------------------------


def test_user_pass_without_tls_is_refused_by_default() -> None:
    s = server(ServerConfig())
    evs, out = exchange(s, b"USER mrose\r\nPASS secret\r\n")
    assert out == b"-ERR USER/PASS needs TLS: use STLS first\r\n-ERR USER first\r\n"
    assert evs == [CommandError(message="USER first")]
    evs, out = exchange(s, b"CAPA\r\n")
    assert b"USER" not in out and b"SASL" not in out


def test_commands_outside_their_state() -> None:
    s = server()
    evs, out = exchange(s, b"STAT\r\nNOOP\r\n")
    assert out == (
        b"-ERR STAT is not valid in the AUTHORIZATION state\r\n"
        b"-ERR NOOP is not valid in the AUTHORIZATION state\r\n"
    )
    assert evs == [
        CommandError(message="STAT is not valid in the AUTHORIZATION state"),
        CommandError(message="NOOP is not valid in the AUTHORIZATION state"),
    ]
    s = logged_in()
    evs, out = exchange(s, b"USER x\r\nSTLS\r\nAUTH PLAIN\r\nUTF8\r\n")
    assert out.count(b"-ERR") == 4 and b"TRANSACTION state" in out
    assert len(evs) == 4


@pytest.mark.parametrize(
    ("code", "line"),
    [
        (ResponseCode.AUTH, b"-ERR [AUTH] authentication failed\r\n"),
        (ResponseCode.IN_USE, b"-ERR [IN-USE] authentication failed\r\n"),
        (ResponseCode.LOGIN_DELAY, b"-ERR [LOGIN-DELAY] authentication failed\r\n"),
        (ResponseCode.SYS_TEMP, b"-ERR [SYS/TEMP] authentication failed\r\n"),
        (ResponseCode.SYS_PERM, b"-ERR [SYS/PERM] authentication failed\r\n"),
        (None, b"-ERR authentication failed\r\n"),
    ],
)
def test_reject_login_response_codes(code: str | None, line: bytes) -> None:
    s = server()
    s.receive_data(b"USER mrose\r\nPASS x\r\n")
    assert isinstance(s.next_event(), PasswordLogin)
    s.reject_login(code=code)
    assert s.data_to_send() == b"+OK send PASS\r\n" + line
    assert s.state is State.AUTHORIZATION
    # The USER must be given again.
    _evs, out = exchange(s, b"PASS x\r\n")
    assert out == b"-ERR USER first\r\n"


def test_response_codes_only_when_offered() -> None:
    s = server(ServerConfig(allow_plaintext_auth=True, capabilities={"USER"}))
    s.receive_data(b"USER mrose\r\nPASS x\r\n")
    s.next_event()
    s.reject_login("locked", code=ResponseCode.IN_USE)
    assert s.data_to_send().endswith(b"\r\n-ERR locked\r\n")
    s = server(ServerConfig(allow_plaintext_auth=True, capabilities={"USER", "RESP-CODES"}))
    s.receive_data(b"USER mrose\r\nPASS x\r\n")
    s.next_event()
    s.reject_login()  # [AUTH] needs AUTH-RESP-CODE
    assert s.data_to_send().endswith(b"\r\n-ERR authentication failed\r\n")


def test_check_user() -> None:
    s = server(ServerConfig(allow_plaintext_auth=True, check_user=True))
    evs, out = exchange(s, b"USER frated\r\nUSER mrose\r\n")
    assert evs == [UserReceived(username="frated")] and out == b""
    s.reject_user("sorry, no mailbox for frated here")
    assert s.data_to_send() == b"-ERR sorry, no mailbox for frated here\r\n"
    assert s.next_event() == UserReceived(username="mrose")
    s.accept_user()
    assert s.data_to_send() == b"+OK send PASS\r\n"


def test_apop() -> None:
    ts = "<1896.697170952@dbc.mtview.ca.us>"
    s = ServerConnection(ServerConfig(apop=True, apop_timestamp=lambda: ts))
    s.data_to_send()
    s.receive_data(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n")
    ev = s.next_event()
    assert isinstance(ev, ApopLogin)
    assert ev.timestamp == ts and ev.verify("tanstaaf") and not ev.verify("tanstaafl")
    assert ev.verify(Secret("tanstaaf"))
    assert "c4c9" not in repr(ev)
    s.accept_login([MaildropEntry(size=369, uid="a")])
    assert s.data_to_send() == b"+OK mrose's maildrop has 1 message (369 octets)\r\n"


def test_apop_not_offered() -> None:
    s = server()
    evs, out = exchange(s, b"APOP mrose " + apop_digest("<x@y>", "p").encode() + b"\r\n")
    assert (evs, out) == ([], b"-ERR APOP is not offered\r\n")


def test_utf8() -> None:
    s = server()
    evs, out = exchange(s, "UTF8\r\nUSER j\u00f6rg\r\nPASS p\u00e4ss\r\n".encode())
    assert out == b"+OK UTF8 enabled\r\n+OK send PASS\r\n"
    assert evs == [PasswordLogin(username="j\u00f6rg", password=Secret("p\u00e4ss"))]
    assert s.utf8
    s = server(ServerConfig(capabilities={"USER"}))
    assert exchange(s, b"UTF8\r\n")[1] == b"-ERR UTF8 is not offered\r\n"


def test_answers_with_nothing_pending() -> None:
    s = server()
    for call in (
        lambda: s.accept_login([]),
        lambda: s.reject_login(),
        lambda: s.accept_user(),
        lambda: s.reject_user(),
        lambda: s.answer_sasl(True),
        lambda: s.send_message_data(b"x"),
        lambda: s.end_message(),
        lambda: s.fail_message(),
        lambda: s.finish_update(),
    ):
        with pytest.raises(LocalProtocolError):
            call()


@pytest.mark.parametrize(
    "bad",
    [
        [MaildropEntry(size=-1, uid="a")],
        [MaildropEntry(size=1, uid="")],
        [MaildropEntry(size=1, uid="has space")],
        [MaildropEntry(size=1, uid="x" * 71)],
        [("not", "an entry")],
    ],
)
def test_accept_login_validates_the_maildrop(bad: list[Any]) -> None:
    s = server()
    s.receive_data(b"USER a\r\nPASS b\r\n")
    s.next_event()
    with pytest.raises(LocalProtocolError):
        s.accept_login(bad)


def test_quit_in_authorization() -> None:
    s = server()
    evs, out = exchange(s, b"QUIT\r\nUSER after\r\n")
    assert evs == [ConnectionClosed()]
    assert out == b"+OK localhost POP3 server signing off\r\n"
    assert s.state is State.CLOSED
    assert s.next_event() == ConnectionClosed()


# -- TRANSACTION and UPDATE --------------------------------------------------------------


def test_transaction_commands() -> None:
    s = logged_in()
    evs, out = exchange(
        s,
        b"STAT\r\nLIST\r\nLIST 2\r\nLIST 3\r\nUIDL\r\nUIDL 1\r\nDELE 1\r\nDELE 1\r\n"
        b"STAT\r\nLIST\r\nLIST 1\r\nUIDL 1\r\nRETR 1\r\nTOP 1 1\r\nRSET\r\nNOOP\r\n",
    )
    assert evs == []
    assert out == (
        b"+OK 2 320\r\n"
        b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"
        b"+OK 2 200\r\n"
        b"-ERR no such message, only 2 messages in maildrop\r\n"
        b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"
        b"+OK 1 whqtswO00WBw418f9t5JxYwZ\r\n"
        b"+OK message 1 deleted\r\n"
        b"-ERR message 1 already deleted\r\n"
        b"+OK 1 200\r\n"
        b"+OK 1 message (200 octets)\r\n2 200\r\n.\r\n"
        b"-ERR message 1 already deleted\r\n"
        b"-ERR message 1 already deleted\r\n"
        b"-ERR message 1 already deleted\r\n"
        b"-ERR message 1 already deleted\r\n"
        b"+OK maildrop has 2 messages (320 octets)\r\n"
        b"+OK\r\n"
    )


def test_empty_maildrop() -> None:
    s = server()
    s.receive_data(b"USER a\r\nPASS b\r\n")
    s.next_event()
    s.accept_login([])
    s.data_to_send()
    evs, out = exchange(s, b"STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nQUIT\r\n")
    assert out == (
        b"+OK 0 0\r\n+OK 0 messages (0 octets)\r\n.\r\n+OK\r\n.\r\n-ERR no such message\r\n"
    )
    assert evs == [UpdateRequested(deleted=(), deleted_uids=(), retrieved=())]


def test_deletions_take_effect_only_at_quit() -> None:
    s = logged_in()
    evs, _ = exchange(s, b"DELE 2\r\n")
    assert evs == []
    # The client goes away without QUIT: no UPDATE.
    s.receive_data(b"")
    assert s.next_event() == ConnectionClosed()
    assert s.state is State.CLOSED

    s = logged_in()
    evs, out = exchange(s, b"DELE 2\r\nRETR 1\r\n")
    assert isinstance(evs[0], MessageRequested)
    s.send_message_data(b"x\r\n")
    s.end_message()
    s.data_to_send()
    evs, out = exchange(s, b"QUIT\r\nNOOP\r\n")
    assert evs == [
        UpdateRequested(deleted=(2,), deleted_uids=("QhdPYR:00WBw1Ph7x7",), retrieved=(1,))
    ]
    assert out == b"" and s.state is State.UPDATE
    s.finish_update()
    assert s.data_to_send() == b"+OK localhost POP3 server signing off (1 message left)\r\n"
    assert s.next_event() == ConnectionClosed()
    assert s.state is State.CLOSED


def test_update_failure() -> None:
    s = logged_in()
    exchange(s, b"DELE 1\r\nDELE 2\r\nQUIT\r\n")
    s.finish_update(ok=False)
    assert s.data_to_send() == b"-ERR [SYS/TEMP] some deleted messages not removed\r\n"
    assert s.next_event() == ConnectionClosed()


def retr(s: ServerConnection, command: bytes) -> MessageRequested:
    s.receive_data(command)
    ev = s.next_event()
    assert isinstance(ev, MessageRequested)
    return ev


def stream(s: ServerConnection, chunks: list[bytes]) -> bytes:
    for c in chunks:
        if not s.message_wanted:
            break
        s.send_message_data(c)
    s.end_message()
    return s.data_to_send()


STUFFING = [
    (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
    (b".starts with a dot\r\n", b"..starts with a dot\r\n.\r\n"),
    (b"x\r\n.\r\n..\r\n.y\r\n", b"x\r\n..\r\n...\r\n..y\r\n.\r\n"),
    (b"no final line end", b"no final line end\r\n.\r\n"),
    (b"bare\nlf\n.dot\n", b"bare\r\nlf\r\n..dot\r\n.\r\n"),
    (b"bare\rcr\r.dot\r", b"bare\r\ncr\r\n..dot\r\n.\r\n"),
    (b"mixed\r\r\n\n.\r\n", b"mixed\r\n\r\n\r\n..\r\n.\r\n"),
    (b"", b".\r\n"),
    (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
]


@pytest.mark.parametrize(("body", "wire"), STUFFING)
def test_retr_dot_stuffs_at_every_chunking(body: bytes, wire: bytes) -> None:
    for cut in range(len(body) + 1):
        s = logged_in()
        ev = retr(s, b"RETR 2\r\n")
        assert ev == MessageRequested(number=2, uid="QhdPYR:00WBw1Ph7x7", size=200, lines=None)
        assert s.data_to_send() == b""  # the status waits for the first chunk
        assert stream(s, [body[:cut], body[cut:]]) == b"+OK 200 octets\r\n" + wire
    s = logged_in()
    retr(s, b"RETR 2\r\n")
    assert stream(s, [body[i : i + 1] for i in range(len(body))]) == b"+OK 200 octets\r\n" + wire


TOP_MESSAGE = b"From: a\r\nSubject: b\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n"


@pytest.mark.parametrize(
    ("lines", "wire"),
    [
        (0, b"From: a\r\nSubject: b\r\n\r\n.\r\n"),
        (1, b"From: a\r\nSubject: b\r\n\r\nline 1\r\n.\r\n"),
        (2, b"From: a\r\nSubject: b\r\n\r\nline 1\r\n..line 2\r\n.\r\n"),
        (3, TOP_MESSAGE.replace(b"\n.", b"\n..") + b".\r\n"),
        (99, TOP_MESSAGE.replace(b"\n.", b"\n..") + b".\r\n"),
    ],
)
def test_top_cut_at_every_chunking(lines: int, wire: bytes) -> None:
    for cut in range(len(TOP_MESSAGE) + 1):
        s = logged_in()
        ev = retr(s, b"TOP 1 %d\r\n" % lines)
        assert ev.lines == lines
        out = stream(s, [TOP_MESSAGE[:cut], TOP_MESSAGE[cut:]])
        assert out == b"+OK\r\n" + wire, cut


def test_top_without_body_or_blank_line() -> None:
    s = logged_in()
    retr(s, b"TOP 1 0\r\n")
    assert (
        stream(s, [b"Subject: only\r\nX: headers"])
        == b"+OK\r\nSubject: only\r\nX: headers\r\n.\r\n"
    )
    s = logged_in()
    retr(s, b"TOP 1 2\r\n")
    assert stream(s, [b"\r\nno headers\r\n", b"second\r\nthird\r\n"]) == (
        b"+OK\r\n\r\nno headers\r\nsecond\r\n.\r\n"
    )


def test_message_wanted_turns_false_after_the_cut() -> None:
    s = logged_in()
    retr(s, b"TOP 1 0\r\n")
    assert s.message_wanted
    s.send_message_data(b"A: b\r\n\r\nbody")
    assert not s.message_wanted
    s.send_message_data(b"more body, dropped")
    s.end_message()
    assert s.data_to_send() == b"+OK\r\nA: b\r\n\r\n.\r\n"
    assert not s.message_wanted


def test_fail_message() -> None:
    s = logged_in()
    retr(s, b"RETR 1\r\n")
    s.fail_message("message vanished", code=ResponseCode.SYS_TEMP)
    assert s.data_to_send() == b"-ERR [SYS/TEMP] message vanished\r\n"
    retr(s, b"RETR 1\r\n")
    s.send_message_data(b"x")
    with pytest.raises(LocalProtocolError):
        s.fail_message()
    s.end_message()
    assert s.data_to_send() == b"+OK 120 octets\r\nx\r\n.\r\n"


def test_pipelined_commands_wait_for_the_application() -> None:
    s = logged_in()
    s.receive_data(b"RETR 1\r\nSTAT\r\nRETR 2\r\nNOOP\r\n")
    assert s.next_event() == MessageRequested(number=1, uid=MAILDROP[0].uid, size=120, lines=None)
    assert s.next_event() is NEED_DATA
    assert s.data_to_send() == b""
    s.send_message_data(b"one\r\n")
    s.end_message()
    assert s.next_event() == MessageRequested(number=2, uid=MAILDROP[1].uid, size=200, lines=None)
    s.end_message()
    assert s.next_event() is NEED_DATA
    assert s.data_to_send() == (
        b"+OK 120 octets\r\none\r\n.\r\n+OK 2 320\r\n+OK 200 octets\r\n.\r\n+OK\r\n"
    )


def test_pipelined_bound() -> None:
    s = server(ServerConfig(allow_plaintext_auth=True, max_pipelined=2))
    s.receive_data(b"USER a\r\nPASS b\r\n")
    assert isinstance(s.next_event(), PasswordLogin)
    s.receive_data(b"NOOP\r\n" * 3000)  # bound: max(2 lines, one 12 KiB AUTH line)
    with pytest.raises(RemoteProtocolError) as info:
        s.next_event()
    assert info.value.reply == b"-ERR too many pipelined commands\r\n"
    assert s.data_to_send().endswith(b"-ERR too many pipelined commands\r\n")
    assert s.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        s.next_event()


# -- framing errors ---------------------------------------------------------------------


def test_line_too_long_is_skipped_then_recovers() -> None:
    data = b"USER " + b"x" * 300 + b"\r\nNOOP\r\nCAPA\r\n"
    for label, chunks in three_ways(data):
        s = server(ServerConfig(allow_plaintext_auth=True, capabilities={"TOP"}))
        evs = feed(s, chunks)
        assert evs == [
            CommandError(message="line too long"),
            CommandError(message="NOOP is not valid in the AUTHORIZATION state"),
        ], label
        assert s.data_to_send() == (
            b"-ERR line too long\r\n"
            b"-ERR NOOP is not valid in the AUTHORIZATION state\r\n"
            b"+OK Capability list follows\r\nTOP\r\n.\r\n"
        ), label


def test_longest_accepted_command_line() -> None:
    s = server()
    _evs, out = exchange(s, b"USER " + b"x" * 250 + b"\r\n")
    assert out == b"+OK send PASS\r\n"
    _evs, out = exchange(s, b"USER " + b"x" * 251 + b"\r\n")
    assert out == b"-ERR line too long\r\n"


def test_bare_line_endings_in_commands() -> None:
    s = server()
    evs, out = exchange(s, b"NOOP\nCAPA\rX\r\nQUIT\r\n")
    assert out == (
        b"-ERR lines must end with CRLF\r\n-ERR lines must end with CRLF\r\n"
        b"+OK localhost POP3 server signing off\r\n"
    )
    assert evs[-1] == ConnectionClosed()


def test_too_many_errors_closes() -> None:
    s = server(ServerConfig(max_errors=3))
    s.receive_data(b"BAD\r\n" * 5)
    assert drain_until_error(s) == 3
    assert (
        s.data_to_send()
        == b"-ERR unknown command\r\n" * 3 + b"-ERR too many bad commands, closing\r\n"
    )
    assert s.state is State.ERROR


def drain_until_error(s: ServerConnection) -> int:
    n = 0

    def run() -> None:
        nonlocal n
        while s.next_event() is not NEED_DATA:
            n += 1

    with pytest.raises(RemoteProtocolError) as info:
        run()
    assert info.value.reply is not None
    return n


def test_http_request_is_refused_quickly_without_reflection() -> None:
    s = server(ServerConfig(max_errors=3))
    s.receive_data(b"GET / HTTP/1.1\r\nHost: evil<script>\r\nX: 1\r\nY: 2\r\n\r\n")
    drain_until_error(s)
    out = s.data_to_send()
    assert b"evil" not in out and b"HTTP" not in out and b"GET" not in out


# -- STLS -------------------------------------------------------------------------------

TLS = ServerConfig(tls_available=True)


def test_stls_then_capabilities_change() -> None:
    s = server(TLS)
    evs, out = exchange(s, b"CAPA\r\n")
    assert b"STLS\r\n" in out and b"USER\r\n" not in out and b"SASL" not in out
    evs, out = exchange(s, b"STLS\r\n")
    assert evs == [StartTLS()] and out == b"+OK Begin TLS negotiation\r\n"
    assert s.state is State.STARTING_TLS
    assert s.next_event() is NEED_DATA
    s.tls_established()
    assert s.tls_active and s.state is State.AUTHORIZATION
    evs, out = exchange(s, b"CAPA\r\nSTLS\r\n")
    assert b"STLS\r\n" not in out.split(b".\r\n")[0]
    assert b"USER\r\n" in out and b"SASL PLAIN\r\n" in out
    assert out.endswith(b"-ERR Command not permitted when TLS active\r\n")


def test_stls_not_offered_and_not_in_transaction() -> None:
    assert exchange(server(), b"STLS\r\n") == ([], b"-ERR STLS is not offered\r\n")
    s = logged_in(ServerConfig(allow_plaintext_auth=True, tls_available=True))
    _evs, out = exchange(s, b"STLS\r\n")
    assert out == b"-ERR STLS is not valid in the TRANSACTION state\r\n"


def test_stls_command_injection_at_every_split() -> None:
    """CVE-2011-0411: "STLS\\r\\nUSER x\\r\\n" in one segment, or split
    anywhere: the USER never runs, before or after the upgrade."""
    data = b"STLS\r\nUSER mrose\r\n"
    for cut in range(1, len(data)):
        s = server(ServerConfig(tls_available=True, allow_plaintext_auth=True, check_user=True))
        events: list[Any] = []
        error: RemoteProtocolError | None = None
        try:
            for chunk in (data[:cut], data[cut:]):
                s.receive_data(chunk)
                events.extend(drain(s))
                if events and isinstance(events[-1], StartTLS) and chunk is data[cut:]:
                    s.tls_established()
                    events.extend(drain(s))
        except RemoteProtocolError as exc:
            error = exc
        assert error is not None, cut
        assert error.reply == b"-ERR command injection after STLS\r\n"
        assert not any(isinstance(e, UserReceived) for e in events), cut
        out = s.data_to_send()
        assert b"send PASS" not in out
        assert s.state is State.ERROR
        with pytest.raises(LocalProtocolError):
            s.tls_established()


def test_stls_injection_detected_at_tls_established() -> None:
    s = server(TLS)
    s.receive_data(b"STLS\r\n")
    assert s.next_event() == StartTLS()
    s.receive_data(b"USER x\r\n")
    with pytest.raises(RemoteProtocolError):
        s.tls_established()
    assert s.state is State.ERROR


# -- AUTH ------------------------------------------------------------------------------


def auth_server(**kw: Any) -> ServerConnection:
    return server(ServerConfig(tls_active=True, **kw))


def test_auth_list() -> None:
    s = auth_server(sasl_mechanisms=("SCRAM-SHA-256", "PLAIN", "SCRAM-SHA-256-PLUS"))
    assert (
        exchange(s, b"AUTH\r\n")[1] == b"+OK methods supported\r\nSCRAM-SHA-256\r\nPLAIN\r\n.\r\n"
    )
    s = server(ServerConfig(sasl_mechanisms=("PLAIN", "CRAM-MD5")))
    assert exchange(s, b"AUTH\r\n")[1] == b"+OK methods supported\r\nCRAM-MD5\r\n.\r\n"


def test_auth_plain_with_initial_response() -> None:
    s = auth_server()
    evs, out = exchange(s, b"AUTH PLAIN AHRlc3QAaHVudGVyMg==\r\n")
    assert out == b"" and len(evs) == 1 and isinstance(evs[0], SaslRequest)
    assert evs[0].mechanism == "PLAIN" and "hunter2" not in repr(evs[0])
    s.answer_sasl(True)
    assert s.next_event() == SaslAuthenticated(mechanism="PLAIN", authcid="test", authzid=None)
    s.accept_login(MAILDROP)
    assert s.data_to_send() == b"+OK test's maildrop has 2 messages (320 octets)\r\n"
    assert (
        exchange(s, b"AUTH PLAIN\r\n")[1] == b"-ERR AUTH is not valid in the TRANSACTION state\r\n"
    )


def test_auth_plain_continuation_and_failure() -> None:
    s = auth_server()
    evs, out = exchange(s, b"AUTH PLAIN\r\n")
    assert (evs, out) == ([], b"+ \r\n")
    evs, out = exchange(s, b"AHRlc3QAdGVzdA==\r\n")
    s.answer_sasl(False)
    ev = s.next_event()
    assert isinstance(ev, SaslFailed) and ev.mechanism == "PLAIN"
    assert "test" not in ev.reason
    assert s.next_event() is NEED_DATA
    assert s.data_to_send() == b"-ERR [AUTH] authentication failed\r\n"
    assert s.state is State.AUTHORIZATION


@pytest.mark.parametrize(
    ("response", "reply", "events"),
    [
        (b"*", b"-ERR authentication cancelled\r\n", [SaslFailed]),
        (b"not base64!", b"-ERR invalid base64 in SASL response\r\n", [CommandError]),
        (b"AHRlc3Q=", b"-ERR [AUTH] authentication failed\r\n", [SaslFailed]),
    ],
)
def test_auth_responses(response: bytes, reply: bytes, events: list[type]) -> None:
    s = auth_server()
    exchange(s, b"AUTH PLAIN\r\n")
    evs, out = exchange(s, response + b"\r\nCAPA\r\n")
    assert [type(e) for e in evs] == events
    if events == [SaslFailed]:
        assert evs[0].mechanism == "PLAIN"
    assert out.startswith(reply) and out[len(reply) :].startswith(b"+OK Capability list follows")


def test_auth_refusals() -> None:
    s = server(ServerConfig())  # no TLS, plaintext not allowed
    assert exchange(s, b"AUTH PLAIN\r\n")[1] == b"-ERR unsupported authentication mechanism\r\n"
    s = auth_server()
    assert (
        exchange(s, b"AUTH KERBEROS_V4\r\n")[1] == b"-ERR unsupported authentication mechanism\r\n"
    )
    # Advertised but unknown to the factory.
    s = auth_server(sasl_mechanisms=("X-UNKNOWN",))
    assert (
        exchange(s, b"AUTH X-UNKNOWN\r\n")[1] == b"-ERR unsupported authentication mechanism\r\n"
    )
    assert exchange(s, b"AUTH PLAIN ===\r\n")[1] == b"-ERR invalid base64 in initial response\r\n"


def test_bearer_token_mechanisms_are_offered_only_under_tls() -> None:
    # RFC 7628 section 3: a bearer token is a reusable secret, like a password.
    config = ServerConfig(sasl_mechanisms=("XOAUTH2", "OAUTHBEARER", "SCRAM-SHA-256"))
    s = server(config)
    assert exchange(s, b"AUTH\r\n")[1] == b"+OK methods supported\r\nSCRAM-SHA-256\r\n.\r\n"
    assert exchange(s, b"AUTH XOAUTH2\r\n")[1] == b"-ERR unsupported authentication mechanism\r\n"
    s = server(replace(config, tls_active=True))
    assert exchange(s, b"AUTH\r\n")[1] == (
        b"+OK methods supported\r\nXOAUTH2\r\nOAUTHBEARER\r\nSCRAM-SHA-256\r\n.\r\n"
    )


def test_an_http_request_closes_and_reflects_nothing() -> None:
    # SECURITY.md (cross-protocol, ALPACA): close quickly, echo no input.
    s = server(PLAIN_OK)
    with pytest.raises(RemoteProtocolError) as info:
        exchange(s, b"GET /<script> HTTP/1.1\r\nHost: x\r\n\r\n")
    assert info.value.reply == b"-ERR not a POP3 client\r\n"
    assert s.data_to_send() == b"-ERR not a POP3 client\r\n"
    s = server(PLAIN_OK)
    # Not HTTP: an ordinary refusal, the session goes on.
    assert exchange(s, b"GET /x\r\n")[1] == b"-ERR unknown command\r\n"


def test_auth_continuation_line_limit() -> None:
    s = auth_server(max_auth_line=300)
    exchange(s, b"AUTH PLAIN\r\n")
    evs, out = exchange(s, b"A" * 400 + b"\r\nNOOP\r\n")
    assert evs[0] == CommandError(message="line too long")
    # One reply ends the AUTH command; NOOP gets its own.
    assert out == (b"-ERR line too long\r\n-ERR NOOP is not valid in the AUTHORIZATION state\r\n")
    s = auth_server()
    exchange(s, b"AUTH PLAIN\r\n")
    evs, out = exchange(s, b"AHRlc3QAdGVzdA==\nCAPA\r\n")
    assert evs == [CommandError(message="lines must end with CRLF")]
    assert out.startswith(b"-ERR lines must end with CRLF\r\n+OK Capability list follows\r\n")
    # Within 12 KiB by default: a long (bad) response is read as one line.
    s = auth_server()
    exchange(s, b"AUTH PLAIN\r\n")
    evs, out = exchange(s, b"AAAA" * 2000 + b"\r\n")
    assert out == b"-ERR [AUTH] authentication failed\r\n"


class EchoMechanism(ServerMechanism):
    """A test mechanism: challenges once, then succeeds with additional data."""

    name = "X-ECHO"

    def _start(self, initial: bytes | None) -> Step:
        return Challenge(data=b"who?")

    def _receive(self, response: bytes) -> Step:
        if response == b"ask":
            return Request()
        return Success(authcid=response.decode(), data=b"bye")

    def _answer(self, request: Request, result: object) -> Step:
        return Success(authcid="asked") if result else Failure(reason="no")


def test_auth_with_a_factory_and_success_data() -> None:
    made: list[tuple[str, bytes | None]] = []

    def factory(name: str, cb: bytes | None) -> ServerMechanism:
        made.append((name, cb))
        return EchoMechanism()

    s = auth_server(sasl_mechanisms=("X-ECHO",), mechanism_factory=factory)
    evs, out = exchange(s, b"AUTH x-echo\r\n")
    assert (evs, out) == ([], b"+ d2hvPw==\r\n") and made == [("X-ECHO", None)]
    evs, out = exchange(s, b"bWU=\r\n")
    assert (evs, out) == ([], b"+ Ynll\r\n")
    evs, out = exchange(s, b"\r\n")
    assert evs == [SaslAuthenticated(mechanism="X-ECHO", authcid="me", authzid=None)]
    # A non-empty answer to the success data is refused.
    s = auth_server(sasl_mechanisms=("X-ECHO",), mechanism_factory=factory)
    exchange(s, b"AUTH X-ECHO\r\n")
    exchange(s, b"bWU=\r\n")
    evs, out = exchange(s, b"bWU=\r\n")
    assert evs == [CommandError(message="expected an empty response")]
    # A request answered through answer_sasl.
    s = auth_server(sasl_mechanisms=("X-ECHO",), mechanism_factory=factory)
    exchange(s, b"AUTH X-ECHO\r\n")
    evs, _ = exchange(s, b"YXNr\r\n")
    assert len(evs) == 1 and isinstance(evs[0], SaslRequest)
    s.answer_sasl(True)
    assert s.next_event() == SaslAuthenticated(mechanism="X-ECHO", authcid="asked", authzid=None)


def test_channel_binding_enables_plus_mechanisms() -> None:
    s = server(
        ServerConfig(tls_available=True, sasl_mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))
    )
    s.receive_data(b"STLS\r\n")
    s.next_event()
    s.tls_established(channel_binding=b"cb")
    s.data_to_send()
    _evs, out = exchange(s, b"AUTH\r\n")
    assert out == b"+OK methods supported\r\nSCRAM-SHA-256-PLUS\r\nSCRAM-SHA-256\r\n.\r\n"
    _evs, out = exchange(s, b"AUTH SCRAM-SHA-256-PLUS\r\n")
    assert out == b"+ \r\n"  # server-first needs the client's first message


def test_peer_close_while_the_application_answers() -> None:
    s = server()
    s.receive_data(b"USER a\r\nPASS b\r\n")
    assert isinstance(s.next_event(), PasswordLogin)
    s.receive_data(b"")
    assert s.next_event() == ConnectionClosed()
    assert s.state is State.CLOSED


SESSION = (
    b"CAPA\r\nUSER mrose\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nTOP 2 0\r\n"
    b"DELE 1\r\nRSET\r\nNOOP\r\nQUIT\r\n"
)
SESSION_REPLIES = (
    b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nPIPELINING\r\n"
    b"UIDL\r\nIMPLEMENTATION protokit\r\nUTF8\r\nAUTH-RESP-CODE\r\n.\r\n"
    b"+OK send PASS\r\n+OK mrose's maildrop has 2 messages (320 octets)\r\n"
    b"+OK 2 320\r\n+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"
    b"+OK 2 QhdPYR:00WBw1Ph7x7\r\n+OK 120 octets\r\n..one\r\n.\r\n+OK\r\nA: b\r\n\r\n.\r\n"
    b"+OK message 1 deleted\r\n+OK maildrop has 2 messages (320 octets)\r\n+OK\r\n"
    b"+OK localhost POP3 server signing off (2 messages left)\r\n"
)


def test_server_reader_three_ways() -> None:
    for label, chunks in three_ways(SESSION, trailing=b"NOOP\r\nGARBAGE\r\n"):
        s = server()
        events: list[Any] = []
        for chunk in chunks:
            s.receive_data(chunk)
            while (ev := s.next_event()) is not NEED_DATA:
                events.append(ev)
                if isinstance(ev, PasswordLogin):
                    s.accept_login(MAILDROP)
                elif isinstance(ev, MessageRequested):
                    s.send_message_data(b".one\r\n" if ev.number == 1 else b"A: b\r\n\r\nbody\r\n")
                    s.end_message()
                elif isinstance(ev, UpdateRequested):
                    s.finish_update()
                elif isinstance(ev, ConnectionClosed):
                    break
        assert s.data_to_send() == SESSION_REPLIES, label
        assert [type(e) for e in events] == [
            PasswordLogin, MessageRequested, MessageRequested, UpdateRequested, ConnectionClosed
        ], label  # fmt: skip


def test_answers_after_the_client_left_are_ignored() -> None:
    s = logged_in()
    s.receive_data(b"DELE 1\r\nQUIT\r\n")
    ev = s.next_event()
    assert isinstance(ev, UpdateRequested) and ev.deleted == (1,)
    s.receive_data(b"")
    assert s.next_event() == ConnectionClosed()
    s.finish_update()  # the application removed message 1 anyway
    assert s.data_to_send() == b"+OK message 1 deleted\r\n"
    s = logged_in()
    s.receive_data(b"RETR 1\r\n")
    assert isinstance(s.next_event(), MessageRequested)
    s.receive_data(b"")
    assert s.next_event() == ConnectionClosed()
    s.send_message_data(b"late")
    s.end_message()
    assert s.data_to_send() == b""


def test_stls_forgets_user_and_utf8() -> None:
    s = server(ServerConfig(tls_available=True, allow_plaintext_auth=True))
    evs, out = exchange(s, b"UTF8\r\nUSER mrose\r\n")
    assert s.utf8
    evs, out = exchange(s, b"STLS\r\n")
    assert evs == [StartTLS()]
    s.tls_established()
    assert not s.utf8
    evs, out = exchange(s, b"PASS secret\r\n")
    assert (evs, out) == ([CommandError(message="USER first")], b"-ERR USER first\r\n")


def test_take_unread_hands_over_commands_pipelined_after_the_login() -> None:
    s = ServerConnection(PLAIN_OK)
    s.data_to_send()
    s.receive_data(b"USER alice\r\nPASS pw\r\nSTAT\r\nRETR 1\r\n")
    assert drain(s) == [PasswordLogin(username="alice", password=Secret("pw"))]
    with pytest.raises(LocalProtocolError, match="being answered"):
        s.take_unread()
    s.accept_login([], text="logged in")
    assert s.data_to_send() == b"+OK send PASS\r\n+OK logged in\r\n"
    assert s.take_unread() == b"STAT\r\nRETR 1\r\n"
    with pytest.raises(LocalProtocolError, match="take_unread"):
        s.receive_data(b"NOOP\r\n")
    with pytest.raises(LocalProtocolError, match="take_unread"):
        s.next_event()
