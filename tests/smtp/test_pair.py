"""Our client connected to our server, for every extension and mechanism."""

from __future__ import annotations

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    ClientMechanism,
    CramMD5Client,
    LoginClient,
    LookupPassword,
    LookupScramCredentials,
    OAuthBearerClient,
    PlainClient,
    ScramSHA256Client,
    TokenResult,
    ValidateToken,
    VerifyPassword,
    XOAuth2Client,
    derive_scram_credentials,
)
from protokit.smtp import (
    Authenticated,
    AuthReply,
    AuthRequest,
    Body,
    ClientConfig,
    ClientConnection,
    DataReply,
    Event,
    HelloReply,
    MailFrom,
    MailParams,
    MessageData,
    MessageEnd,
    MessageReply,
    Notify,
    RcptParams,
    RcptReply,
    RcptTo,
    Ret,
    ServerConfig,
    ServerConnection,
    StartTLS,
    StartTLSReply,
)

from .helpers import Pair, reply

SCRAM = derive_scram_credentials("SHA-256", "pw", salt=b"salt" * 4, iterations=4096)


def app(conn: ServerConnection, ev: Event) -> None:
    if isinstance(ev, AuthRequest):
        r = ev.request
        if isinstance(r, VerifyPassword):
            conn.answer_auth(r.authcid == "alice" and r.password.expose() == "pw")
        elif isinstance(r, LookupPassword):
            conn.answer_auth(Secret("pw") if r.authcid == "alice" else None)
        elif isinstance(r, LookupScramCredentials):
            conn.answer_auth(SCRAM if r.authcid == "alice" else None)
        elif isinstance(r, ValidateToken):
            conn.answer_auth(TokenResult(valid=r.token.expose() == "tok", identity="alice"))
        return
    if isinstance(ev, RcptTo) and ev.recipient.startswith("nobody"):
        conn.reply(reply(550, "5.1.1", "No such user"))
    elif isinstance(ev, MessageEnd) and conn.config.lmtp:
        for rcpt in ev.recipients:
            conn.reply(reply(250, "2.0.0", f"{rcpt} ok"))
    while conn.pending is not None and conn.pending != "AuthRequest":
        conn.reply()


def pair(body: bytes | None = None, client: ClientConfig | None = None, **server: object) -> Pair:
    def send_body(c: ClientConnection) -> None:
        if body is not None:
            c.send_data(body)
            c.end_data()

    p = Pair(
        ClientConnection(client),
        ServerConnection(ServerConfig(**server)),  # type: ignore[arg-type]
        app,
        send_body,
    )
    p.greet()
    return p


def received(p: Pair) -> bytes:
    return b"".join(e.data for e in p.server_events if isinstance(e, MessageData))


def test_a_plain_message_with_pipelining() -> None:
    body = b"Subject: hi\r\n\r\n.leading dot\r\nlast\r\n"
    p = pair(body)
    caps = p.client.capabilities
    assert caps is not None and "PIPELINING" in caps
    p.client.mail_from("a@example.com")
    p.client.rcpt_to("b@example.org")
    p.client.rcpt_to("nobody@example.org")
    p.client.data()
    first = p.client.data_to_send()
    assert first.count(b"\r\n") == 4  # the envelope in one group
    p.server.receive_data(first)
    events = p.pump()
    assert [type(e) for e in events] == [
        type(events[0]),
        RcptReply,
        RcptReply,
        DataReply,
        MessageReply,
    ]
    assert events[2].reply.code == 550  # type: ignore[attr-defined]
    assert received(p) == body
    end = [e for e in p.server_events if isinstance(e, MessageEnd)]
    assert end == [MessageEnd(size=len(body), recipients=("b@example.org",))]


def test_size_both_sides() -> None:
    p = pair(b"x\r\n", max_message_size=100)
    assert p.client.capabilities is not None and p.client.capabilities.size == 100
    p.client.mail_from("a@example.com", MailParams(size=3))
    p.client.rcpt_to("b@example.org")
    p.client.data()
    p.pump()
    assert next(e for e in p.server_events if isinstance(e, MailFrom)).params.size == 3
    with pytest.raises(LocalProtocolError):
        p.client.mail_from("a@example.com", MailParams(size=101))


def test_8bitmime_and_smtputf8() -> None:
    body = "Subject: café\r\n\r\nüber 日本語\r\n".encode()
    p = pair(body)
    p.client.mail_from("jörg@bücher.example", MailParams(body=Body.EIGHT_BIT_MIME, smtputf8=True))
    p.client.rcpt_to("新@例え.jp")
    p.client.data()
    p.pump()
    mail = next(e for e in p.server_events if isinstance(e, MailFrom))
    assert mail.sender == "jörg@bücher.example"
    assert mail.params == MailParams(body=Body.EIGHT_BIT_MIME, smtputf8=True)
    assert [e.recipient for e in p.server_events if isinstance(e, RcptTo)] == ["新@例え.jp"]
    assert received(p) == body


def test_chunking_with_binarymime_is_byte_identical() -> None:
    payload = bytes(range(256)) * 4 + b"\r\n.\r\n\n.\r\x00"
    p = pair()
    p.client.mail_from("a@example.com", MailParams(body=Body.BINARYMIME))
    p.client.rcpt_to("b@example.org")
    p.client.bdat(payload[:100])
    p.client.bdat(payload[100:])
    p.client.bdat(b"", last=True)
    events = p.pump()
    assert received(p) == payload
    assert isinstance(events[-1], MessageReply) and events[-1].reply.code == 250


def test_dsn_parameters_round_trip() -> None:
    p = pair(b"x\r\n")
    mail = MailParams(ret=Ret.HDRS, envid="QQ 314159+=")
    rcpt = RcptParams(notify=frozenset({Notify.SUCCESS, Notify.FAILURE}), orcpt=("rfc822", "b@x"))
    p.client.mail_from("a@example.com", mail)
    p.client.rcpt_to("b@example.org", rcpt)
    p.client.data()
    p.pump()
    assert next(e for e in p.server_events if isinstance(e, MailFrom)).params == mail
    assert next(e for e in p.server_events if isinstance(e, RcptTo)).params == rcpt


def test_enhanced_status_codes_reach_the_client() -> None:
    p = pair()
    p.client.mail_from("a@example.com")
    p.client.rcpt_to("nobody@example.org")
    events = p.pump()
    assert [e.reply.enhanced for e in events] == ["2.1.0", "5.1.1"]  # type: ignore[attr-defined]


def test_starttls_then_auth_and_requiretls() -> None:
    p = pair(
        b"x\r\n",
        starttls=True,
        auth_mechanisms=("PLAIN",),
        requiretls=True,
    )
    caps = p.client.capabilities
    assert caps is not None and "STARTTLS" in caps and not caps.auth_mechanisms
    p.client.starttls()
    events = p.pump()
    assert isinstance(events[-1], StartTLSReply) and events[-1].reply.code == 220
    assert p.server_events[-1] == StartTLS()
    p.server.start_tls_done()
    p.client.start_tls_done()
    p.client.ehlo("client.example")
    (hello,) = p.pump()
    assert isinstance(hello, HelloReply) and hello.capabilities is not None
    assert hello.capabilities.auth_mechanisms == {"PLAIN"}
    assert "REQUIRETLS" in hello.capabilities and "STARTTLS" not in hello.capabilities
    p.client.auth(PlainClient("alice", "pw"))
    assert p.pump() == [AuthReply(reply=p.client_events[-1].reply, success=True)]  # type: ignore[attr-defined]
    p.client.mail_from("a@example.com", MailParams(requiretls=True))
    p.client.rcpt_to("b@example.org")
    p.client.data()
    p.pump()
    mail = [e for e in p.server_events if isinstance(e, MailFrom)][-1]
    assert mail.params.requiretls


MECHANISMS: list[tuple[str, ClientMechanism]] = [
    ("PLAIN", PlainClient("alice", "pw")),
    ("LOGIN", LoginClient("alice", "pw")),
    ("CRAM-MD5", CramMD5Client("alice", "pw")),
    ("SCRAM-SHA-256", ScramSHA256Client("alice", "pw")),
    ("XOAUTH2", XOAuth2Client("alice", "tok")),
    ("OAUTHBEARER", OAuthBearerClient("alice", "tok", host="mx", port=587)),
]


@pytest.mark.parametrize(("name", "mech"), MECHANISMS, ids=[m[0] for m in MECHANISMS])
def test_every_mechanism_authenticates(name: str, mech: ClientMechanism) -> None:
    p = pair(auth_mechanisms=(name,), allow_plaintext_auth=True)
    client = ClientConnection(ClientConfig(allow_plaintext_auth=True))
    p = Pair(client, p.server, app)
    p.server = ServerConnection(ServerConfig(auth_mechanisms=(name,), allow_plaintext_auth=True))
    p.greet()
    p.client.auth(mech)
    events = p.pump()
    assert isinstance(events[-1], AuthReply) and events[-1].success, events
    assert events[-1].reply.code == 235
    assert any(isinstance(e, Authenticated) and e.authcid == "alice" for e in p.server_events)
    assert p.server.authenticated == "alice"


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "XOAUTH2"])
def test_every_mechanism_fails_cleanly(name: str) -> None:
    mechs = {
        "PLAIN": PlainClient("alice", "bad"),
        "LOGIN": LoginClient("alice", "bad"),
        "CRAM-MD5": CramMD5Client("alice", "bad"),
        "SCRAM-SHA-256": ScramSHA256Client("alice", "bad"),
        "XOAUTH2": XOAuth2Client("alice", "bad"),
    }
    p = Pair(
        ClientConnection(ClientConfig(allow_plaintext_auth=True)),
        ServerConnection(ServerConfig(auth_mechanisms=(name,), allow_plaintext_auth=True)),
        app,
    )
    p.greet()
    p.client.auth(mechs[name])
    events = p.pump()
    assert isinstance(events[-1], AuthReply) and not events[-1].success
    assert events[-1].reply.code == 535
    assert p.server.authenticated is None


def test_lmtp_pair_gets_one_reply_per_recipient() -> None:
    p = Pair(
        ClientConnection(ClientConfig(lmtp=True)),
        ServerConnection(ServerConfig(lmtp=True)),
        app,
        lambda c: (c.send_data(b"hi\r\n"), c.end_data()),  # type: ignore[func-returns-value]
    )
    p.greet()
    p.client.mail_from("a@example.com")
    for r in ("one@x.example", "nobody@x.example", "two@x.example"):
        p.client.rcpt_to(r)
    p.client.data()
    events = p.pump()
    finals = [e for e in events if isinstance(e, MessageReply)]
    assert [(e.recipient, e.reply.lines[0]) for e in finals] == [
        ("one@x.example", "one@x.example ok"),
        ("two@x.example", "two@x.example ok"),
    ]
    p.client.mail_from("a@example.com")
    p.client.rcpt_to("three@x.example")
    p.client.bdat(b"chunk", last=True)
    finals = [e for e in p.pump() if isinstance(e, MessageReply)]
    assert [e.recipient for e in finals] == ["three@x.example"]


def test_many_messages_in_one_session() -> None:
    p = pair()
    for i in range(20):
        p.client.mail_from(f"s{i}@example.com")
        p.client.rcpt_to(f"r{i}@example.org")
        p.client.bdat(b"message %d\r\n" % i, last=True)
    p.client.quit()
    events = p.pump()
    assert sum(isinstance(e, MessageReply) for e in events) == 20
    assert p.client.closed
    assert sum(isinstance(e, MessageEnd) for e in p.server_events) == 20
