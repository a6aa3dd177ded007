"""The client connection: reply reader, capabilities, pipelining, DATA,
BDAT, AUTH, STARTTLS and LMTP, with exact bytes on the wire."""

from __future__ import annotations

import pytest

from protokit import NEED_DATA, LocalProtocolError, RemoteProtocolError
from protokit.sasl import PlainClient, ScramSHA256Client, XOAuth2Client
from protokit.smtp import (
    AuthReply,
    Body,
    Capabilities,
    ChunkReply,
    ClientConfig,
    ClientConnection,
    CommandReply,
    ConnectionClosed,
    DataReply,
    Event,
    Greeting,
    HelloReply,
    MailParams,
    MailReply,
    MessageReply,
    Notify,
    RcptParams,
    RcptReply,
    Reply,
    Ret,
    StartTLSReply,
)
from protokit.smtp._parse import ReplyReader, parse_capabilities
from protokit.smtp._types import make_reply
from protokit.wire import ReceiveBuffer, b64encode

from .helpers import chunkings

EHLO_ALL = (
    b"250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
    b"250-STARTTLS\r\n250-AUTH PLAIN XOAUTH2\r\n250-AUTH=LOGIN\r\n250 REQUIRETLS\r\n"
)


def events(conn: ClientConnection, data: bytes = b"") -> list[Event]:
    if data:
        conn.receive_data(data)
    out = []
    while (ev := conn.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


def ready(ehlo: bytes = EHLO_ALL, **config: object) -> ClientConnection:
    c = ClientConnection(ClientConfig(**config))  # type: ignore[arg-type]
    events(c, b"220 mx.example ESMTP\r\n")
    c.ehlo("me.example")
    assert c.data_to_send() == (b"LHLO" if config.get("lmtp") else b"EHLO") + b" me.example\r\n"
    events(c, ehlo)
    return c


# -- the reply reader --------------------------------------------------------------------


def test_reply_reader_three_ways_with_trailing_data() -> None:
    data = b"250-first line\r\n250-2.0.0 second\r\n250 last\r\n"
    for label, chunks in chunkings(data + b"220 next\r\n"):
        reader = ReplyReader()
        buf = ReceiveBuffer()
        got: list[Reply] = []
        for chunk in chunks:
            buf.feed(chunk)
            while (r := reader.read(buf)) is not None:
                got.append(r)
        assert got == [
            make_reply(250, None, ("first line", "2.0.0 second", "last")),
            make_reply(220, None, ("next",)),
        ], label


def test_enhanced_codes_are_split_off_every_line() -> None:
    buf = ReceiveBuffer(b"550-5.1.1 no such\r\n550-5.1.1\r\n550 5.1.1 user\r\n")
    assert ReplyReader().read(buf) == make_reply(550, "5.1.1", ("no such", "", "user"))
    # A code of another class is text.
    buf = ReceiveBuffer(b"250 5.1.1 odd\r\n354 go\r\n250\r\n")
    reader = ReplyReader()
    assert reader.read(buf) == make_reply(250, None, ("5.1.1 odd",))
    assert reader.read(buf) == make_reply(354, None, ("go",))
    assert reader.read(buf) == make_reply(250, None, ("",))


@pytest.mark.parametrize(
    "data",
    [
        b"250-a\r\n251 b\r\n",
        b"25 short\r\n",
        b"650 bad class\r\n",
        b"250x\r\n",
        b"hello\r\n",
        b"250 bare lf\n",
        b"250 " + b"x" * 3000 + b"\r\n",
        b"250-x\r\n" * 300,
    ],
)
def test_reply_reader_errors(data: bytes) -> None:
    reader = ReplyReader()
    buf = ReceiveBuffer(data)

    def read_all() -> None:
        while reader.read(buf) is not None:
            pass

    with pytest.raises(RemoteProtocolError):
        read_all()


def test_reply_writer_refuses_cr_lf_nul() -> None:
    for bad in ("a\rb", "a\nb", "a\x00b"):
        with pytest.raises(LocalProtocolError):
            Reply(code=250, lines=("ok", bad))
        with pytest.raises(LocalProtocolError):
            make_reply(250, None, (bad,)).to_bytes()
    with pytest.raises(LocalProtocolError):
        Reply(code=250, enhanced="5.0.0")
    with pytest.raises(LocalProtocolError):
        Reply(code=199)
    assert Reply(code=250, enhanced="2.0.0", lines=("a", "", "b")).to_bytes() == (
        b"250-2.0.0 a\r\n250-2.0.0\r\n250 2.0.0 b\r\n"
    )
    assert Reply(code=250, lines="x").lines == ("x",)  # type: ignore[arg-type]


# -- capabilities -------------------------------------------------------------------------


def test_capabilities_merge_both_auth_forms() -> None:
    c = ready()
    caps = c.capabilities
    assert caps is not None
    assert caps.auth_mechanisms == {"PLAIN", "XOAUTH2", "LOGIN"}
    assert caps.size == 1000
    assert "pipelining" in caps and "CHUNKING" in caps and "VRFY" not in caps
    odd = parse_capabilities(make_reply(250, None, ("x", "SIZE", "-bad", "X-THING a b")))
    assert odd == Capabilities({"SIZE": (), "X-THING": ("a", "b")})
    assert odd.size is None


def test_helo_fallback_when_ehlo_is_unknown() -> None:
    c = ClientConnection()
    assert events(c, b"220 old.example\r\n") == [
        Greeting(reply=make_reply(220, None, ("old.example",)))
    ]
    c.ehlo()
    assert c.data_to_send() == b"EHLO localhost\r\n"
    assert events(c, b"502 what?\r\n") == []
    assert c.data_to_send() == b"HELO localhost\r\n"
    (ev,) = events(c, b"250 old.example\r\n")
    assert ev == HelloReply(
        reply=make_reply(250, None, ("old.example",)), esmtp=False, capabilities=Capabilities()
    )
    c.mail_from("a@b.example")
    assert c.data_to_send() == b"MAIL FROM:<a@b.example>\r\n"
    with pytest.raises(LocalProtocolError):
        c.rcpt_to("x@y.example", RcptParams(notify=frozenset({Notify.NEVER})))


# -- pipelining ---------------------------------------------------------------------------


def test_without_pipelining_one_command_at_a_time() -> None:
    c = ready(b"250-mx\r\n250 8BITMIME\r\n")
    c.mail_from("a@b.example")
    c.rcpt_to("x@y.example")
    c.rcpt_to("z@y.example")
    c.data()
    assert c.data_to_send() == b"MAIL FROM:<a@b.example>\r\n"
    assert events(c, b"250 ok\r\n") == [MailReply(reply=make_reply(250, None, ("ok",)))]
    assert c.data_to_send() == b"RCPT TO:<x@y.example>\r\n"
    events(c, b"250 ok\r\n")
    assert c.data_to_send() == b"RCPT TO:<z@y.example>\r\n"
    events(c, b"550 no\r\n")
    assert c.data_to_send() == b"DATA\r\n"


def test_with_pipelining_the_envelope_goes_in_one_group() -> None:
    c = ready()
    c.mail_from("a@b.example", MailParams(size=10, body=Body.EIGHT_BIT_MIME))
    c.rcpt_to("x@y.example")
    c.data()
    c.noop()  # waits: DATA ends the group
    assert c.data_to_send() == (
        b"MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<x@y.example>\r\nDATA\r\n"
    )
    got = events(c, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
    assert got == [
        MailReply(reply=make_reply(250, "2.1.0", ("ok",))),
        RcptReply(recipient="x@y.example", reply=make_reply(250, "2.1.5", ("ok",))),
        DataReply(reply=make_reply(354, None, ("go",)), proceed=True),
    ]
    assert c.data_to_send() == b""
    c.send_data(b"Subject: hi\r\n\r\nbody")
    c.end_data()
    assert c.data_to_send() == b"Subject: hi\r\n\r\nbody\r\n.\r\nNOOP\r\n"
    got = events(c, b"250 2.0.0 queued\r\n250 2.0.0 ok\r\n")
    assert got == [
        MessageReply(reply=make_reply(250, "2.0.0", ("queued",))),
        CommandReply(command="NOOP", reply=make_reply(250, "2.0.0", ("ok",))),
    ]


def test_all_recipients_failed_but_354_ends_with_a_lone_dot() -> None:
    c = ready()
    c.mail_from("a@b.example")
    c.rcpt_to("x@y.example")
    c.data()
    c.data_to_send()
    got = events(c, b"250 ok\r\n550 no\r\n354 go ahead\r\n")
    assert got[-1] == DataReply(reply=make_reply(354, None, ("go ahead",)), proceed=False)
    assert c.data_to_send() == b".\r\n"
    with pytest.raises(LocalProtocolError):
        c.send_data(b"x")
    assert events(c, b"554 no valid recipients\r\n") == [
        MessageReply(reply=make_reply(554, None, ("no valid recipients",)))
    ]


# -- DATA -----------------------------------------------------------------------------------


def open_body(c: ClientConnection) -> None:
    c.mail_from("a@b.example")
    c.rcpt_to("x@y.example")
    c.data()
    c.data_to_send()
    events(c, b"250 ok\r\n250 ok\r\n354 go\r\n")


def test_data_is_stuffed_across_chunks_and_normalised() -> None:
    c = ready()
    open_body(c)
    for piece in (b".lead\r\n", b"a\r", b"\n", b".", b"b\nc\rd\r", b"\r\n.", b"\r\n.\r\n", b"end"):
        c.send_data(piece)
    c.end_data()
    assert c.data_to_send() == (b"..lead\r\na\r\n..b\r\nc\r\nd\r\n\r\n..\r\n..\r\nend\r\n.\r\n")


def test_empty_body_and_body_ending_in_crlf() -> None:
    c = ready()
    open_body(c)
    c.end_data()
    assert c.data_to_send() == b".\r\n"
    events(c, b"250 ok\r\n")
    open_body(c)
    c.send_data(b"x\r\n")
    c.end_data()
    assert c.data_to_send() == b"x\r\n.\r\n"


def test_size_is_checked_before_sending() -> None:
    c = ready()
    with pytest.raises(LocalProtocolError):
        c.mail_from("a@b.example", MailParams(size=1001))
    open_body(c)
    c.send_data(b"x" * 1000)
    with pytest.raises(LocalProtocolError):
        c.send_data(b"y")


def test_extension_parameters_need_the_extension() -> None:
    c = ready(b"250-mx\r\n250 PIPELINING\r\n")
    for params in (
        MailParams(size=1),
        MailParams(body=Body.EIGHT_BIT_MIME),
        MailParams(body=Body.BINARYMIME),
        MailParams(smtputf8=True),
        MailParams(ret=Ret.FULL),
        MailParams(envid="x"),
        MailParams(auth=""),
        MailParams(requiretls=True),
    ):
        with pytest.raises(LocalProtocolError):
            c.mail_from("a@b.example", params)
    with pytest.raises(LocalProtocolError):
        c.mail_from("jörg@b.example")
    assert c.data_to_send() == b""


def test_every_parameter_is_written() -> None:
    c = ClientConnection(tls_active=True)
    events(c, b"220 x\r\n")
    c.ehlo("me")
    events(c, EHLO_ALL)
    c.data_to_send()
    c.mail_from(
        "jörg@b.example",
        MailParams(
            size=5,
            body=Body.BINARYMIME,
            smtputf8=True,
            ret=Ret.HDRS,
            envid="id+1=",
            auth="a@b",
            requiretls=True,
            extra=(("X-Y", "1"), ("FLAG", None)),
        ),
    )
    c.rcpt_to(
        "新@例え.jp",
        RcptParams(
            notify=frozenset({Notify.DELAY, Notify.SUCCESS}),
            orcpt=("rfc822", "x+y@z"),
            extra=(("Z", "2"),),
        ),
    )
    assert (
        c.data_to_send()
        == (
            "MAIL FROM:<jörg@b.example> SIZE=5 BODY=BINARYMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3D "
            "AUTH=a@b REQUIRETLS X-Y=1 FLAG\r\n"
            "RCPT TO:<新@例え.jp> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@z Z=2\r\n"
        ).encode()
    )
    with pytest.raises(LocalProtocolError):
        c.data()  # BINARYMIME goes by BDAT


# -- BDAT ---------------------------------------------------------------------------------------


def test_bdat_chunks_are_pipelined_and_answered() -> None:
    c = ready()
    c.mail_from("a@b.example", MailParams(body=Body.BINARYMIME))
    c.rcpt_to("x@y.example")
    c.bdat(b"\x00\r\n.\r\n")
    c.bdat(b"end", last=True)
    assert c.data_to_send() == (
        b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<x@y.example>\r\n"
        b"BDAT 6\r\n\x00\r\n.\r\nBDAT 3 LAST\r\nend"
    )
    got = events(c, b"250 ok\r\n250 ok\r\n250 6 octets\r\n250 done\r\n")
    assert got[2:] == [
        ChunkReply(reply=make_reply(250, None, ("6 octets",)), size=6),
        MessageReply(reply=make_reply(250, None, ("done",))),
    ]


def test_bdat_needs_chunking_and_respects_size() -> None:
    c = ready(b"250-mx\r\n250 SIZE 10\r\n")
    c.mail_from("a@b.example")
    c.rcpt_to("x@y.example")
    with pytest.raises(LocalProtocolError, match="CHUNKING"):
        c.bdat(b"x")
    c = ready()
    c.mail_from("a@b.example")
    c.rcpt_to("x@y.example")
    c.bdat(b"x" * 600)
    with pytest.raises(LocalProtocolError):
        c.bdat(b"x" * 401, last=True)


# -- LMTP ---------------------------------------------------------------------------------------


def test_lmtp_one_final_reply_per_accepted_recipient() -> None:
    c = ready(b"250-lmtp\r\n250 PIPELINING\r\n", lmtp=True)
    c.mail_from("a@b.example")
    for r in ("one@x.example", "two@x.example", "three@x.example"):
        c.rcpt_to(r)
    c.data()
    c.data_to_send()
    events(c, b"250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n")
    c.send_data(b"hi\r\n")
    c.end_data()
    assert c.data_to_send() == b"hi\r\n.\r\n"
    assert events(c, b"250 2.0.0 one ok\r\n452 4.2.2 three full\r\n") == [
        MessageReply(reply=make_reply(250, "2.0.0", ("one ok",)), recipient="one@x.example"),
        MessageReply(reply=make_reply(452, "4.2.2", ("three full",)), recipient="three@x.example"),
    ]
    with pytest.raises(LocalProtocolError):
        c.helo()


# -- AUTH ---------------------------------------------------------------------------------------


def test_auth_plain_with_initial_response() -> None:
    c = ClientConnection(tls_active=True)
    events(c, b"220 x\r\n")
    c.ehlo()
    events(c, EHLO_ALL)
    c.data_to_send()
    c.auth(PlainClient("alice", "pw"))
    assert c.data_to_send() == b"AUTH PLAIN " + b64encode(b"\x00alice\x00pw") + b"\r\n"
    assert events(c, b"235 2.7.0 ok\r\n") == [
        AuthReply(reply=make_reply(235, "2.7.0", ("ok",)), success=True)
    ]
    assert c.authenticated
    with pytest.raises(LocalProtocolError):
        c.auth(PlainClient("alice", "pw"))


def test_long_initial_response_waits_for_the_empty_challenge() -> None:
    c = ClientConnection(tls_active=True)
    events(c, b"220 x\r\n")
    c.ehlo()
    events(c, EHLO_ALL)
    c.data_to_send()
    c.auth(XOAuth2Client("alice@example.com", "t" * 600))
    assert c.data_to_send() == b"AUTH XOAUTH2\r\n"
    assert events(c, b"334 \r\n") == []
    sent = c.data_to_send()
    assert sent.endswith(b"\r\n") and len(sent) > 600
    error = b64encode(b'{"status":"401"}')
    assert events(c, b"334 " + error + b"\r\n") == []
    assert c.data_to_send() == b"\r\n"  # XOAUTH2 answers the error challenge empty
    (ev,) = events(c, b"535 5.7.8 bad token\r\n")
    assert ev == AuthReply(reply=make_reply(535, "5.7.8", ("bad token",)), success=False)


def test_a_bad_challenge_cancels_with_a_star() -> None:
    c = ClientConnection(tls_active=True)
    events(c, b"220 x\r\n")
    c.ehlo()
    events(c, b"250-x\r\n250 AUTH SCRAM-SHA-256\r\n")
    c.data_to_send()
    c.auth(ScramSHA256Client("alice", "pw"))
    assert c.data_to_send().startswith(b"AUTH SCRAM-SHA-256 ")
    assert events(c, b"334 !!notbase64\r\n") == []
    assert c.data_to_send() == b"*\r\n"
    (ev,) = events(c, b"501 5.0.0 cancelled\r\n")
    assert isinstance(ev, AuthReply) and not ev.success and ev.error


def test_auth_checks_before_any_credential_leaves() -> None:
    c = ready()
    with pytest.raises(LocalProtocolError):
        c.auth(PlainClient("alice", "pw"))  # plaintext without TLS
    with pytest.raises(LocalProtocolError):
        c.auth(ScramSHA256Client("alice", "pw"))  # not offered
    assert c.data_to_send() == b""
    ok = ready(allow_plaintext_auth=True)
    ok.auth(PlainClient("alice", "pw"))
    assert ok.data_to_send().startswith(b"AUTH PLAIN ")


# -- STARTTLS ------------------------------------------------------------------------------------


def test_starttls_then_capabilities_are_read_again() -> None:
    c = ready()
    c.starttls()
    assert c.data_to_send() == b"STARTTLS\r\n"
    assert events(c, b"220 2.0.0 go\r\n") == [
        StartTLSReply(reply=make_reply(220, "2.0.0", ("go",)))
    ]
    c.start_tls_done()
    assert c.tls_active and c.capabilities is None
    with pytest.raises(LocalProtocolError):
        c.mail_from("a@b.example")  # EHLO first
    c.ehlo()
    assert c.data_to_send() == b"EHLO localhost\r\n"
    with pytest.raises(LocalProtocolError):
        c.starttls()


def test_pending_plaintext_after_the_starttls_reply() -> None:
    c = ready()
    c.starttls()
    c.data_to_send()
    assert [type(e) for e in events(c, b"220 2.0.0 go\r\n")] == [StartTLSReply]
    assert c.pending_plaintext == b""
    c.receive_data(b"250 injected\r\n")
    assert c.pending_plaintext == b"250 injected\r\n"
    with pytest.raises(RemoteProtocolError):
        c.start_tls_done()


def test_starttls_needs_the_capability() -> None:
    c = ready(b"250-mx\r\n250 PIPELINING\r\n")
    with pytest.raises(LocalProtocolError):
        c.starttls()
    with pytest.raises(LocalProtocolError):
        c.start_tls_done()


# -- odds and ends --------------------------------------------------------------------------------


def test_unsolicited_421_and_other_replies() -> None:
    c = ready()
    (ev,) = events(c, b"421 4.3.2 shutting down\r\n")
    assert ev == CommandReply(command="", reply=make_reply(421, "4.3.2", ("shutting down",)))
    assert c.closed
    c2 = ready()
    with pytest.raises(RemoteProtocolError):
        events(c2, b"250 surprise\r\n")


def test_quit_vrfy_help_rset_and_close() -> None:
    c = ready(b"250 mx\r\n")
    c.vrfy("bob")
    c.help("DATA")
    c.help()
    c.rset()
    c.quit()
    assert c.data_to_send() == b"VRFY bob\r\n"
    events(c, b"252 maybe\r\n")
    assert c.data_to_send() == b"HELP DATA\r\n"
    events(c, b"214 help\r\n")
    assert c.data_to_send() == b"HELP\r\n"
    events(c, b"214 help\r\n")
    assert c.data_to_send() == b"RSET\r\n"
    (ev,) = events(c, b"250 ok\r\n")
    assert ev == CommandReply(command="RSET", reply=make_reply(250, None, ("ok",)))
    assert c.data_to_send() == b"QUIT\r\n"
    (ev,) = events(c, b"221 bye\r\n")
    assert ev == CommandReply(command="QUIT", reply=make_reply(221, None, ("bye",)))
    assert c.closed
    c.receive_data(b"")
    assert events(c) == [ConnectionClosed()]
    with pytest.raises(LocalProtocolError):
        c.noop()


def test_the_client_follows_the_servers_state_table() -> None:
    c = ready()
    with pytest.raises(LocalProtocolError, match="out of sequence"):
        c.bdat(b"x")  # no recipient yet
    c.mail_from("a@b.example")
    with pytest.raises(LocalProtocolError, match="out of sequence"):
        c.data()  # DATA needs a recipient
    with pytest.raises(LocalProtocolError, match="out of sequence"):
        c.starttls()
    with pytest.raises(LocalProtocolError, match="out of sequence"):
        c.auth(PlainClient("u", "p"))
    c.rcpt_to("x@y.example")
    c.bdat(b"part")
    with pytest.raises(LocalProtocolError, match="out of sequence"):
        c.rcpt_to("late@y.example")  # no RCPT between chunks
    c.bdat(b"", last=True)
    c.mail_from("next@b.example")  # the message is done: a new transaction
    c.quit()
    with pytest.raises(LocalProtocolError, match="out of sequence"):
        c.noop()  # nothing after QUIT


def test_transaction_rules_on_the_client() -> None:
    c = ClientConnection()
    with pytest.raises(LocalProtocolError):
        c.mail_from("a@b.example")  # no EHLO yet
    c = ready()
    with pytest.raises(LocalProtocolError):
        c.rcpt_to("a@b.example")
    with pytest.raises(LocalProtocolError):
        c.data()
    c.mail_from("a@b.example")
    with pytest.raises(LocalProtocolError):
        c.mail_from("a@b.example")
    with pytest.raises(LocalProtocolError):
        c.end_data()
    with pytest.raises(LocalProtocolError):
        c.send(object())
    assert "queued" in repr(c)


def test_a_refused_mail_may_be_retried_but_a_refused_data_needs_rset() -> None:
    c = ready()
    c.mail_from("a@b.example")
    c.data_to_send()
    events(c, b"550 5.7.1 not you\r\n")
    c.mail_from("other@b.example")  # no transaction was opened
    c.rcpt_to("x@y.example")
    c.data()
    assert c.data_to_send() == (
        b"MAIL FROM:<other@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n"
    )
    got = events(c, b"250 ok\r\n250 ok\r\n451 4.3.0 try later\r\n")
    assert got[-1] == DataReply(reply=make_reply(451, "4.3.0", ("try later",)), proceed=False)
    with pytest.raises(LocalProtocolError):
        c.mail_from("a@b.example")  # the server's transaction is still open
    c.rset()
    c.mail_from("a@b.example")
    assert c.data_to_send() == b"RSET\r\nMAIL FROM:<a@b.example>\r\n"


def test_close_while_waiting_for_tls_is_reported() -> None:
    c = ready()
    c.starttls()
    c.data_to_send()
    events(c, b"220 go\r\n")
    c.receive_data(b"")
    assert events(c) == [ConnectionClosed()]
    assert c.closed
