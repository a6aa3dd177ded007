"""The server connection: exact replies for every command, limit and error."""

from __future__ import annotations

import pytest

from protokit import NEED_DATA, LocalProtocolError
from protokit.smtp import (
    BadCommand,
    Body,
    ConnectionClosed,
    Extension,
    Hello,
    Help,
    MailFrom,
    MailParams,
    MessageData,
    MessageEnd,
    MessageRejected,
    MessageStart,
    Noop,
    Notify,
    Quit,
    RcptParams,
    RcptTo,
    Reply,
    Reset,
    Ret,
    ServerConfig,
    ServerConnection,
    State,
    Verify,
)
from protokit.wire import BareLineEndingPolicy

from .helpers import TRAILING, chunkings, ehlo_server, reply, run_server

EHLO_REPLY = (
    b"250-localhost Hello c.example\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n"
    b"250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n"
    b"250 ENHANCEDSTATUSCODES\r\n"
)
MAIL = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n"
MAIL_OK = b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"


def after_ehlo(data: bytes, **config: object) -> tuple[list[object], bytes]:
    conn = ehlo_server(**config)
    run = run_server([data], conn)
    return list(run.events), run.output


# -- greeting -----------------------------------------------------------------------


def test_greeting_is_queued_at_construction() -> None:
    assert ServerConnection().data_to_send() == b"220 localhost ESMTP protokit ready\r\n"
    lmtp = ServerConnection(ServerConfig(lmtp=True, hostname="mx.example"))
    assert lmtp.data_to_send() == b"220 mx.example LMTP protokit ready\r\n"
    custom = ServerConnection(ServerConfig(greeting="hi there"))
    assert custom.data_to_send() == b"220 hi there\r\n"


def test_deferred_greeting_waits_for_greet() -> None:
    conn = ServerConnection(ServerConfig(defer_greeting=True))
    assert conn.data_to_send() == b""
    conn.greet(reply(220, None, "welcome"))
    assert conn.data_to_send() == b"220 welcome\r\n"
    with pytest.raises(LocalProtocolError):
        conn.greet()


def test_refusal_answers_only_quit() -> None:
    conn = ServerConnection(ServerConfig(defer_greeting=True))
    conn.refuse()
    run = run_server([b"EHLO c.example\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n"], conn)
    assert run.output == (
        b"554 localhost Service not available\r\n"
        b"503 5.5.1 Bad sequence of commands\r\n503 5.5.1 Bad sequence of commands\r\n"
        b"221 2.0.0 localhost closing connection\r\n"
    )
    assert [type(e) for e in run.events] == [BadCommand, BadCommand, Quit]
    assert conn.state is State.CLOSED


def test_refuse_replaces_an_unsent_greeting_but_not_a_sent_one() -> None:
    conn = ServerConnection()
    conn.refuse(reply(554, None, "go away"))
    assert conn.data_to_send() == b"554 go away\r\n"
    sent = ServerConnection()
    sent.data_to_send()
    with pytest.raises(LocalProtocolError):
        sent.refuse()
    with pytest.raises(LocalProtocolError):
        ServerConnection(ServerConfig(defer_greeting=True)).refuse(reply(250))


# -- EHLO / HELO / LHLO ---------------------------------------------------------------


def test_ehlo_advertises_the_default_extensions() -> None:
    conn = ServerConnection()
    conn.data_to_send()
    run = run_server([b"EHLO c.example\r\n"], conn)
    assert run.output == EHLO_REPLY
    assert run.events == [Hello(verb="EHLO", domain="c.example")]
    assert conn.esmtp and conn.helo == "c.example"


def test_ehlo_lists_only_what_the_config_enables() -> None:
    cfg = ServerConfig(
        hostname="mx",
        extensions=frozenset({Extension.SIZE}),
        max_message_size=1000,
        starttls=True,
        auth_mechanisms=("PLAIN", "SCRAM-SHA-256"),
    )
    conn = ServerConnection(cfg)
    conn.data_to_send()
    out = run_server([b"EHLO c\r\n"], conn).output
    # PLAIN is held back until TLS; STARTTLS is offered.
    assert out == b"250-mx Hello c\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 AUTH SCRAM-SHA-256\r\n"


def test_helo_gets_a_single_line() -> None:
    events, out = after_ehlo(b"HELO other.example\r\n")
    assert out == b"250 localhost Hello other.example\r\n"
    assert events == [Hello(verb="HELO", domain="other.example")]


@pytest.mark.parametrize(
    "line", [b"EHLO\r\n", b"EHLO a b\r\n", b"EHLO -bad\r\n", b"EHLO a..b\r\n", b"HELO [1.2\r\n"]
)
def test_bad_hello_argument_is_501(line: bytes) -> None:
    _, out = after_ehlo(line)
    assert out in (b"501 5.5.4 Syntax: EHLO domain\r\n", b"501 5.5.4 Syntax: HELO domain\r\n")


def test_address_literal_and_underscore_names_are_accepted() -> None:
    for name in (b"[192.0.2.1]", b"[IPv6:2001:db8::1]", b"my_host.local"):
        events, _ = after_ehlo(b"EHLO " + name + b"\r\n")
        assert events == [Hello(verb="EHLO", domain=name.decode())]


def test_lmtp_wants_lhlo_and_smtp_refuses_it() -> None:
    conn = ServerConnection(ServerConfig(lmtp=True))
    conn.data_to_send()
    run = run_server([b"EHLO c\r\nHELO c\r\nLHLO c\r\n"], conn)
    assert run.output.startswith(
        b"500 5.5.1 Command unrecognized\r\n500 5.5.1 Command unrecognized\r\n250-localhost"
    )
    assert run.events[-1] == Hello(verb="LHLO", domain="c")
    _, out = after_ehlo(b"LHLO c\r\n")
    assert out == b"500 5.5.1 Command unrecognized\r\n"


# -- MAIL / RCPT ----------------------------------------------------------------------------


def test_mail_parameters_are_typed() -> None:
    line = (
        b"MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS"
        b" ENVID=QQ+2B1 AUTH=<> X-CUSTOM=v1 FLAG\r\n"
    )
    events, out = after_ehlo(line, auth_mechanisms=("PLAIN",), allow_plaintext_auth=True)
    assert out == b"250 2.1.0 Sender OK\r\n"
    assert events == [
        MailFrom(
            sender="a@example.com",
            params=MailParams(
                size=1000,
                body=Body.EIGHT_BIT_MIME,
                smtputf8=True,
                ret=Ret.HDRS,
                envid="QQ+1",
                auth="",
                extra=(("X-CUSTOM", "v1"), ("FLAG", None)),
            ),
        )
    ]


def test_parameters_of_disabled_extensions_go_to_the_application() -> None:
    events, _ = after_ehlo(
        b"MAIL FROM:<> SIZE=5 RET=FULL\r\n", extensions=frozenset({Extension.PIPELINING})
    )
    assert events == [
        MailFrom(sender="", params=MailParams(extra=(("SIZE", "5"), ("RET", "FULL"))))
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"MAIL FROM:a@b.c", b"501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"),
        (b"MAIL FROM:<a@b.c> SIZE=1 SIZE=2", b"501 5.5.4 Duplicate parameter SIZE"),
        (b"MAIL FROM:<a@b.c> SIZE=x", b"501 5.5.4 SIZE needs a number"),
        (b"MAIL FROM:<a@b.c> BODY=9BIT", b"501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME"),
        (b"MAIL FROM:<a@b.c> SMTPUTF8=yes", b"501 5.5.4 SMTPUTF8 takes no value"),
        (b"MAIL FROM:<a@b.c> RET=ALL", b"501 5.5.4 RET must be FULL or HDRS"),
        (b"MAIL FROM:<a@b.c> ENVID=a+zz", b"501 5.5.4 malformed xtext"),
        (b"MAIL FROM:<a@b.c> SIZE=99999999999", b"552 5.3.4 Message size exceeds fixed maximum"),
        (b"MAIL FROM:<j\xc3\xb6rg@b.c>", b"553 5.6.7 Non-ASCII address requires SMTPUTF8"),
        (b"MAIL FROM:<a@" + b".".join([b"x" * 63] * 5) + b">", b"501 5.1.3 Address too long"),
        (
            b"MAIL FROM:<" + b"x" * 65 + b"@b.c>",
            b"501 5.5.4 Syntax: MAIL FROM:<address> [parameters]",
        ),
        (b"MAIL FROM:<a@b.c> =x", b"501 5.5.4 Malformed parameter"),
    ],
)
def test_mail_errors(line: bytes, expected: bytes) -> None:
    events, out = after_ehlo(line + b"\r\n")
    assert out == expected + b"\r\n"
    assert [type(e) for e in events] == [BadCommand]


def test_utf8_address_with_smtputf8() -> None:
    events, out = after_ehlo(
        "MAIL FROM:<jörg@bücher.example> SMTPUTF8\r\nRCPT TO:<新@例え.jp>\r\n".encode()
    )
    assert out == MAIL_OK
    assert events[0] == MailFrom(sender="jörg@bücher.example", params=MailParams(smtputf8=True))
    assert events[1] == RcptTo(recipient="新@例え.jp", params=RcptParams())


def test_mail_params_after_helo_are_555() -> None:
    conn = ServerConnection()
    out = run_server([b"HELO c\r\nMAIL FROM:<a@b.c> SIZE=10\r\n"], conn).output
    assert out.endswith(b"555 5.5.4 Parameters need EHLO\r\n")


def test_sequence_errors_are_503() -> None:
    conn = ServerConnection()
    conn.data_to_send()
    out = run_server(
        [
            b"MAIL FROM:<a@b.c>\r\nEHLO c\r\nRCPT TO:<a@b.c>\r\nDATA\r\n"
            + MAIL
            + b"MAIL FROM:<>\r\n"
        ],
        conn,
    ).output
    bad = b"503 5.5.1 Bad sequence of commands\r\n"
    assert out == bad + EHLO_REPLY.replace(b"c.example", b"c") + bad + bad + MAIL_OK + bad


def test_rcpt_parameters_are_typed() -> None:
    events, out = after_ehlo(
        b"MAIL FROM:<>\r\nRCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+40x X=1\r\n"
        b"RCPT TO:<Postmaster> NOTIFY=NEVER\r\n"
    )
    assert out == MAIL_OK + b"250 2.1.5 Recipient OK\r\n"
    assert events[1] == RcptTo(
        recipient="b@example.org",
        params=RcptParams(
            notify=frozenset({Notify.FAILURE, Notify.DELAY}),
            orcpt=("rfc822", "b@x"),
            extra=(("X", "1"),),
        ),
    )
    assert events[2] == RcptTo(
        recipient="Postmaster", params=RcptParams(notify=frozenset({Notify.NEVER}))
    )


@pytest.mark.parametrize(
    "params", [b"NOTIFY=NEVER,DELAY", b"NOTIFY=SOMETIMES", b"NOTIFY", b"ORCPT=rfc822", b"ORCPT=;x"]
)
def test_bad_rcpt_parameters_are_501(params: bytes) -> None:
    _, out = after_ehlo(b"MAIL FROM:<>\r\nRCPT TO:<b@c.d> " + params + b"\r\n")
    assert out.startswith(b"250 2.1.0 Sender OK\r\n501 5.5.4 ")


def test_too_many_recipients_is_452() -> None:
    _, out = after_ehlo(
        b"MAIL FROM:<>\r\n" + b"".join(b"RCPT TO:<r%d@x.y>\r\n" % i for i in range(3)),
        max_recipients=2,
    )
    assert out.endswith(b"250 2.1.5 Recipient OK\r\n452 4.5.3 Too many recipients\r\n")


def test_the_application_decides_the_envelope() -> None:
    conn = ehlo_server()
    conn.receive_data(MAIL + b"RCPT TO:<c@example.org>\r\nDATA\r\n")
    assert isinstance(conn.next_event(), MailFrom)
    assert conn.pending == "MailFrom"
    assert conn.next_event() is NEED_DATA  # nothing more until it is answered
    conn.reply()
    assert isinstance(conn.next_event(), RcptTo)
    conn.reply(reply(550, "5.1.1", "No such user"))
    assert isinstance(conn.next_event(), RcptTo)
    conn.send(Reply(code=251, enhanced="2.1.5", lines=("User not local; will forward",)))
    assert conn.next_event() == MessageStart(chunked=False)
    assert conn.data_to_send() == (
        b"250 2.1.0 Sender OK\r\n550 5.1.1 No such user\r\n"
        b"251 2.1.5 User not local; will forward\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    )
    with pytest.raises(LocalProtocolError):
        conn.reply()


def test_rejected_mail_keeps_the_session_outside_a_transaction() -> None:
    conn = ehlo_server()
    conn.receive_data(MAIL)
    conn.next_event()
    conn.reply(reply(550, "5.7.1", "Not you"))
    assert isinstance(conn.next_event(), BadCommand)
    assert conn.data_to_send() == b"550 5.7.1 Not you\r\n503 5.5.1 Bad sequence of commands\r\n"


# -- DATA ---------------------------------------------------------------------------------------


def test_data_streams_the_unstuffed_body_and_asks_for_the_final_reply() -> None:
    session = MAIL + b"DATA\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n.\r\n" + TRAILING
    for label, chunks in chunkings(session):
        conn = ehlo_server()
        run = run_server(chunks, conn)
        assert run.output == (
            MAIL_OK + b"354 End data with <CR><LF>.<CR><LF>\r\n"
            b"250 2.0.0 Message accepted for delivery\r\n250 2.0.0 OK\r\n"
        ), label
        assert run.events[2:] == [
            MessageStart(chunked=False),
            MessageData(data=b"Subject: x\r\n\r\n.dot\r\nbody\r\n"),
            MessageEnd(size=26, recipients=("b@example.org",)),
            Noop(),
        ], label


def test_data_with_arguments_is_501_and_binarymime_needs_bdat() -> None:
    _, out = after_ehlo(MAIL + b"DATA now\r\n")
    assert out == MAIL_OK + b"501 5.5.4 No parameters allowed\r\n"
    _, out = after_ehlo(
        b"MAIL FROM:<a@example.com> BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
    )
    assert out == MAIL_OK + b"503 5.5.1 BINARYMIME requires BDAT\r\n"


def test_message_too_big_is_reported_after_the_terminator() -> None:
    session = MAIL + b"DATA\r\n" + b"0123456789\r\n" * 20 + b".\r\nNOOP\r\n"
    for label, chunks in chunkings(session):
        conn = ehlo_server(max_message_size=100)
        run = run_server(chunks, conn)
        assert run.output == (
            MAIL_OK + b"354 End data with <CR><LF>.<CR><LF>\r\n"
            b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"
        ), label
        rejected = [e for e in run.events if isinstance(e, MessageRejected)]
        assert [r.reason for r in rejected] == ["message too big"]
        assert not any(isinstance(e, MessageEnd) for e in run.events)
        delivered = sum(len(e.data) for e in run.events if isinstance(e, MessageData))
        assert delivered <= 100 + 12 * 3  # delivery stops once the limit is passed


def test_over_long_text_line_rejects_the_message() -> None:
    ok_line = b"x" * 998 + b"\r\n"  # 1000 octets with CRLF: allowed
    long_line = b"x" * 999 + b"\r\n"
    for body, expected in (
        (ok_line * 3, b"250 2.0.0 Message accepted for delivery\r\n"),
        (ok_line + long_line, b"550 5.6.0 Message contains a line longer than allowed\r\n"),
        (
            b"a\r\n" * 400 + long_line + b"b\r\n" * 400,
            b"550 5.6.0 Message contains a line longer than allowed\r\n",
        ),
        (b"x" * 5000, b"550 5.6.0 Message contains a line longer than allowed\r\n"),
    ):
        for label, chunks in chunkings(MAIL + b"DATA\r\n" + body + b"\r\n.\r\n"):
            if label == "bytewise" and len(body) > 3000:
                continue
            run = run_server(chunks, ehlo_server())
            assert run.output.endswith(expected), (label, len(body))


def test_text_line_limit_can_be_raised() -> None:
    body = b"x" * 4000 + b"\r\n"
    run = run_server([MAIL + b"DATA\r\n" + body + b".\r\n"], ehlo_server(max_text_line=5000))
    assert run.output.endswith(b"250 2.0.0 Message accepted for delivery\r\n")
    with pytest.raises(LocalProtocolError):
        ServerConfig(max_text_line=999)


@pytest.mark.parametrize(
    ("policy", "data", "final", "bare"),
    [
        (BareLineEndingPolicy.REJECT, b"a\nb\r\n", None, 1),
        (
            BareLineEndingPolicy.NORMALIZE,
            b"a\r\nb\r\n",
            b"250 2.0.0 Message accepted for delivery",
            1,
        ),
        (
            BareLineEndingPolicy.PRESERVE,
            b"a\nb\r\n",
            b"250 2.0.0 Message accepted for delivery",
            1,
        ),
    ],
)
def test_bare_line_endings_follow_the_policy(
    policy: BareLineEndingPolicy, data: bytes | None, final: bytes | None, bare: int
) -> None:
    conn = ehlo_server(bare_line_ending=policy)
    run = run_server([MAIL + b"DATA\r\na\nb\r\n.\r\n"], conn)
    if final is None:
        assert run.output.endswith(b"550 5.6.0 Message contains bare CR or LF\r\n")
        assert isinstance(run.events[-1], MessageRejected)
        assert run.events[-1].reason == "bare CR or LF"
    else:
        assert run.output.endswith(final + b"\r\n")
        assert run.events[-2:] == [
            MessageData(data=data),
            MessageEnd(size=len(data), recipients=("b@example.org",), bare_line_endings=bare),
        ]


def test_eof_in_data_is_connection_closed() -> None:
    conn = ehlo_server()
    run = run_server([MAIL + b"DATA\r\npartial", b""], conn)
    assert run.events[-2:] == [MessageData(data=b"partial"), ConnectionClosed()]
    assert conn.state is State.CLOSED


# -- BDAT -----------------------------------------------------------------------


def test_bdat_chunks_stream_and_the_last_asks_for_the_final_reply() -> None:
    session = MAIL + b"BDAT 6\r\nQUIT\r\nBDAT 0\r\nBDAT 3 LAST\r\n.\r\n" + TRAILING
    for label, chunks in chunkings(session):
        run = run_server(chunks, ehlo_server())
        assert run.output == MAIL_OK + (
            b"250 2.0.0 6 octets received\r\n250 2.0.0 6 octets received\r\n"
            b"250 2.0.0 Message accepted for delivery\r\n250 2.0.0 OK\r\n"
        ), label
        assert run.events[2:] == [
            MessageStart(chunked=True),
            MessageData(data=b"QUIT\r\n.\r\n"),
            MessageEnd(size=9, recipients=("b@example.org",)),
            Noop(),
        ], label


@pytest.mark.parametrize(
    ("prefix", "config", "expected"),
    [
        (b"", {}, b"503 5.5.1 Bad sequence of commands"),
        (b"MAIL FROM:<a@b.c>\r\n", {}, b"503 5.5.1 Bad sequence of commands"),
        (
            MAIL,
            {"extensions": frozenset({Extension.ENHANCEDSTATUSCODES})},
            b"502 5.5.1 Command not implemented",
        ),
        (
            MAIL,
            {"max_message_size": 10},
            b"552 5.3.4 Message size exceeds fixed maximum message size",
        ),
    ],
)
def test_refused_bdat_octets_are_drained_never_run(
    prefix: bytes, config: dict[str, object], expected: bytes
) -> None:
    payload = b"QUIT\r\nRSET\r\nNOOP\r\n"  # 18 octets that look like commands
    session = prefix + b"BDAT 18 LAST\r\n" + payload + b"HELP\r\n"
    for label, chunks in chunkings(session):
        conn = ehlo_server(**config)
        run = run_server(chunks, conn)
        assert run.output.endswith(expected + b"\r\n214 2.0.0 See RFC 5321\r\n"), label
        kinds = {type(e) for e in run.events}
        assert not kinds & {Quit, Reset, Noop, MessageData}, label
        assert isinstance(run.events[-1], Help)


def test_a_failed_chunk_fails_the_rest_of_the_message() -> None:
    session = MAIL + b"BDAT 4\r\nabcdBDAT 20\r\n" + b"x" * 20 + b"BDAT 2 LAST\r\nzz"
    run = run_server([session], ehlo_server(max_message_size=10))
    assert run.output == MAIL_OK + (
        b"250 2.0.0 4 octets received\r\n"
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
        b"503 5.5.1 Bad sequence of commands\r\n"
    )
    assert isinstance(run.events[4], MessageRejected)


def test_bdat_syntax_error_is_501() -> None:
    for arg in (
        b"BDAT\r\n",
        b"BDAT x\r\n",
        b"BDAT 1 FIRST\r\n",
        b"BDAT -1\r\n",
        b"BDAT 1234567890123456789\r\n",
    ):
        _, out = after_ehlo(MAIL + arg)
        assert out == MAIL_OK + b"501 5.5.4 Syntax: BDAT size [LAST]\r\n"


def test_bdat_in_lmtp_asks_once_per_recipient() -> None:
    conn = ehlo_server(lmtp=True)
    replies = iter([reply(250, "2.0.0", "one"), reply(452, "4.2.2", "full")])

    def answer(c: ServerConnection, ev: object) -> None:
        if isinstance(ev, MessageEnd):
            c.reply(next(replies))
            assert c.pending == "MessageEnd"
            c.reply(next(replies))
        while c.pending:
            c.reply()

    run = run_server([MAIL + b"RCPT TO:<c@example.org>\r\nBDAT 2 LAST\r\nhi"], conn, answer)
    assert run.output.endswith(b"250 2.0.0 one\r\n452 4.2.2 full\r\n")


# -- other commands -----------------------------------------------------------------------------


def test_rset_noop_help_vrfy_quit() -> None:
    conn = ehlo_server()
    run = run_server(
        [
            MAIL + b"RSET\r\nRSET x\r\nNOOP anything\r\nHELP\r\nHELP DATA\r\nVRFY bob\r\nVRFY\r\n"
            b"EXPN list\r\nFOO\r\nQUIT\r\nNOOP\r\n",
            b"",
        ],
        conn,
    )
    assert run.output == MAIL_OK + (
        b"250 2.0.0 Reset state\r\n501 5.5.4 No parameters allowed\r\n250 2.0.0 OK\r\n"
        b"214 2.0.0 See RFC 5321\r\n214 2.0.0 See RFC 5321\r\n"
        b"252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
        b"501 5.5.4 Syntax: VRFY address\r\n502 5.5.1 Command not implemented\r\n"
        b"500 5.5.1 Command unrecognized\r\n221 2.0.0 localhost closing connection\r\n"
    )
    assert [type(e) for e in run.events[2:]] == [
        Reset,
        BadCommand,
        Noop,
        Help,
        Help,
        Verify,
        BadCommand,
        BadCommand,
        BadCommand,
        Quit,
        ConnectionClosed,
    ]
    assert run.events[5] == Help(topic=None) and run.events[6] == Help(topic="DATA")


def test_commands_are_case_insensitive() -> None:
    _, out = after_ehlo(b"mail from:<a@example.com>\r\nrcpt To:<b@example.org>\r\nnoop\r\n")
    assert out == MAIL_OK + b"250 2.0.0 OK\r\n"


def test_command_line_limit_512() -> None:
    ok = b"NOOP " + b"x" * (510 - 5) + b"\r\n"  # 512 octets with CRLF
    long = b"NOOP " + b"x" * (511 - 5) + b"\r\n"
    for label, chunks in chunkings(ok + long + b"x" * 3000 + b"\r\nNOOP\r\n"):
        run = run_server(chunks, ehlo_server())
        assert run.output == (
            b"250 2.0.0 OK\r\n500 5.5.2 Line too long\r\n"
            b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"
        ), label


def test_auth_lines_may_be_12k() -> None:
    conn = ehlo_server(auth_mechanisms=("PLAIN",), allow_plaintext_auth=True)
    token = b"A" * 12272  # "AUTH PLAIN " + token + CRLF: 12285 octets
    run = run_server([b"AUTH PLAIN " + token + b"\r\n"], conn)
    assert run.output == b"535 5.7.8 Authentication credentials invalid\r\n"
    conn = ehlo_server(auth_mechanisms=("PLAIN",), allow_plaintext_auth=True)
    run = run_server([b"AUTH PLAIN " + token + b"AAAA\r\nNOOP\r\n"], conn)  # 12289
    assert run.output == b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"


def test_bare_line_ending_in_a_command_is_refused() -> None:
    _, out = after_ehlo(b"NOOP\nNOOP\rx\r\nNOOP\r\n")
    assert out == (
        b"500 5.5.2 Bare CR or LF in command line\r\n500 5.5.2 Bare CR or LF in command line\r\n"
        b"250 2.0.0 OK\r\n"
    )


def test_pipelined_commands_are_answered_in_order_in_one_batch() -> None:
    conn = ehlo_server()
    conn.receive_data(MAIL + b"RCPT TO:<c@d.e>\r\nDATA\r\nMAIL FROM:<x@y.z>\r\n.\r\nNOOP\r\n")
    events = []
    while (ev := conn.next_event()) is not NEED_DATA:
        events.append(ev)
        while conn.pending:
            conn.reply()
    assert conn.data_to_send() == MAIL_OK + (
        b"250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        b"250 2.0.0 Message accepted for delivery\r\n250 2.0.0 OK\r\n"
    )
    # The MAIL line after DATA is body, never a command.
    assert MessageData(data=b"MAIL FROM:<x@y.z>\r\n") in events
    assert sum(isinstance(e, MailFrom) for e in events) == 1


def test_unanswered_replies_are_bounded() -> None:
    conn = ehlo_server(max_pipelined=3)
    conn.receive_data(b"NOOP\r\n" * 5)
    got = []
    while (ev := conn.next_event()) is not NEED_DATA:
        got.append(ev)
    assert len(got) == 3
    assert conn.data_to_send() == b"250 2.0.0 OK\r\n" * 3
    while (ev := conn.next_event()) is not NEED_DATA:
        got.append(ev)
    assert len(got) == 5


def test_enhanced_codes_follow_the_config() -> None:
    conn = ehlo_server(extensions=frozenset({Extension.PIPELINING}))
    out = run_server([b"NOOP\r\nFOO\r\n"], conn).output
    assert out == b"250 OK\r\n500 Command unrecognized\r\n"


def test_data_after_quit_is_ignored_and_eof_reported_once() -> None:
    conn = ehlo_server()
    run = run_server([b"QUIT\r\nNOOP\r\n", b""], conn)
    assert [type(e) for e in run.events] == [Quit, ConnectionClosed]
    assert conn.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


def test_repr_is_short() -> None:
    assert repr(ServerConnection()) == "<smtp.ServerConnection state=greeting pending=None>"
