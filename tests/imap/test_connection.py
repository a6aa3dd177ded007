"""A ClientConnection talking to a ServerConnection: every command and
extension end to end."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from protokit.errors import LocalProtocolError
from protokit.imap import (
    Append,
    AppendMessage,
    BodyChunk,
    BodySection,
    BodyStart,
    Check,
    ClientConnection,
    Close,
    CommandReceived,
    Completed,
    CompressionStarted,
    CompressRequested,
    Copy,
    Create,
    Delete,
    Enable,
    Exists,
    ExpungeCommand,
    Fetch,
    FetchBody,
    FetchCommand,
    Flag,
    GetQuota,
    GetQuotaRoot,
    IdCommand,
    IdleStarted,
    List,
    ListResponse,
    Lsub,
    Mailbox,
    Move,
    NamespaceCommand,
    Rename,
    SaslRequest,
    SearchCommand,
    SearchKey,
    Select,
    SequenceSet,
    ServerConfig,
    ServerConnection,
    StartTLSRequested,
    State,
    StatusCommand,
    Store,
    StreamedLiteral,
    Subscribe,
    TLSUpgradeReady,
    Unselect,
    Unsubscribe,
    Untagged,
)
from protokit.sasl import (
    LookupScramCredentials,
    PlainClient,
    ScramSHA256Client,
    TokenResult,
    ValidateToken,
    XOAuth2Client,
    derive_scram_credentials,
)

from .conn_helpers import Pair, default_app


def _logged_in(**cfg: Any) -> Pair:
    caps = cfg.pop("capabilities", ServerConfig().capabilities)
    pair = Pair(
        ClientConnection(allow_plaintext=True),
        ServerConnection(ServerConfig(allow_plaintext=True, capabilities=caps, **cfg)),
    )
    pair.pump()
    pair.client.login("user", "pw")
    pair.pump()
    assert pair.client.state is State.AUTHENTICATED is pair.server.state
    pair.take()
    return pair


def _selected(**cfg: Any) -> Pair:
    pair = _logged_in(**cfg)
    pair.client.select("INBOX")
    pair.pump()
    assert pair.client.state is State.SELECTED is pair.server.state
    pair.take()
    return pair


T = "A9"
_S = SequenceSet.of((1, 3))
_CASES = [
    Create(tag=T, mailbox=Mailbox("Drafts/Ünïcode")),
    Delete(tag=T, mailbox=Mailbox("old")),
    Rename(tag=T, mailbox=Mailbox("a"), new_name=Mailbox("b")),
    Subscribe(tag=T, mailbox=Mailbox("a")),
    Unsubscribe(tag=T, mailbox=Mailbox("a")),
    List(tag=T, reference=Mailbox(""), patterns=(Mailbox("*"),)),
    Lsub(tag=T, reference=Mailbox(""), pattern=Mailbox("%")),
    StatusCommand(tag=T, mailbox=Mailbox("INBOX"), items=("MESSAGES", "UIDNEXT")),
    NamespaceCommand(tag=T),
    IdCommand(tag=T, params=((b"name", b"protokit"),)),
    GetQuota(tag=T, root=b""),
    GetQuotaRoot(tag=T, mailbox=Mailbox("INBOX")),
    Check(tag=T),
    SearchCommand(tag=T, keys=(SearchKey(name="UNSEEN"),), uid=True),
    FetchCommand(tag=T, sequence_set=_S, items=("FLAGS", FetchBody(peek=True))),
    Store(tag=T, sequence_set=_S, mode="+", flags=(Flag("\\Seen"),), silent=True, uid=True),
    Copy(tag=T, sequence_set=_S, mailbox=Mailbox("Archive")),
    Move(tag=T, sequence_set=_S, mailbox=Mailbox("Archive"), uid=True),
    ExpungeCommand(tag=T, uids=_S),
    ExpungeCommand(tag=T),
    Append(
        tag=T,
        mailbox=Mailbox("INBOX"),
        messages=(AppendMessage(flags=(Flag("\\Seen"),), data=b"Subject: x\r\n\r\nhi\r\n"),),
    ),
    Unselect(tag=T),
    Close(tag=T),
]


@pytest.mark.parametrize("command", _CASES, ids=lambda c: type(c).__name__)
def test_every_command_arrives_equal(command: Any) -> None:
    pair = _selected()
    handle = pair.client.send(command)
    pair.pump()
    received = [e.command for e in pair.server_events if isinstance(e, CommandReceived)]
    assert received[-1] == command
    assert pair.take() == [Completed(handle=handle, response=handle.response)]
    assert handle.ok
    want = State.AUTHENTICATED if isinstance(command, Unselect | Close) else State.SELECTED
    assert pair.client.state is want is pair.server.state


def test_literal_refused_by_the_server_is_never_sent() -> None:
    pair = _logged_in(max_literal=100, capabilities=("IMAP4rev1",))
    h = pair.client.append("INBOX", b"x" * 101)
    pair.pump()
    assert [w for w in pair.wire if w[0] == "C"][-1] == ("C", b"A2 APPEND INBOX {101}\r\n")
    assert pair.take()[0].response.status == "BAD"
    assert h.response.code.name == "TOOBIG"
    h2 = pair.client.append("INBOX", b"y" * 100)
    pair.pump()
    assert h2.ok
    assert pair.server_events[-1].command.messages[0].data == b"y" * 100


def test_append_with_and_without_literal_plus() -> None:
    for caps, plus in ((("IMAP4rev1",), False), (("IMAP4rev1", "LITERAL+"), True)):
        pair = _logged_in(capabilities=caps)
        pair.client.append("INBOX", b"hello")
        pair.pump()
        client_lines = [d for side, d in pair.wire if side == "C"]
        if plus:
            assert client_lines[-1] == b"A2 APPEND INBOX {5+}\r\nhello\r\n"
        else:
            assert client_lines[-2:] == [b"A2 APPEND INBOX {5}\r\n", b"hello\r\n"]
            assert ("S", b"+ Ready for literal data\r\n") in pair.wire


def test_streamed_append_and_fetch_both_ways() -> None:
    pair = _selected()
    size = 300_000
    body = bytes(range(1, 256)) * (size // 255) + b"x" * (size % 255)
    h = pair.client.append_stream("INBOX", size)
    pair.pump()  # "+" arrives (LITERAL+ is advertised by default: no wait)
    for i in range(0, size, 65536):
        pair.client.append_data(h, body[i : i + 65536])
        pair.pump()
    pair.client.append_end(h)
    pair.pump()
    chunks = b"".join(e.data for e in pair.server_events if isinstance(e, BodyChunk))
    assert chunks == body and h.ok

    def app(server: ServerConnection, ev: Any) -> None:
        if isinstance(ev, CommandReceived) and isinstance(ev.command, FetchCommand):
            section = BodySection(section=FetchBody().section, data=body)
            server.send(Fetch(seq=1, uid=5, sections=(section,)))
        default_app(server, ev)

    pair.app = app
    pair.take()
    pair.client.issue(FetchCommand, sequence_set=SequenceSet.of(1), items=("UID", FetchBody()))
    pair.pump()
    evs = pair.take()
    head = Fetch(seq=1, uid=5, sections=(BodySection(section=FetchBody().section, data=None),))
    assert evs[0] == BodyStart(length=size, command="FETCH", seq=1, head=head)
    assert b"".join(e.data for e in evs if isinstance(e, BodyChunk)) == body
    fetch = evs[-2].response
    assert fetch.uid == 5 and fetch.sections[0].data == StreamedLiteral(size, False)
    with pytest.raises(LocalProtocolError, match="NUL"):
        pair.client.append_data(pair.client.append_stream("INBOX", 1), b"\x00")


def test_authenticate_plain_both_ways_with_and_without_sasl_ir() -> None:
    for caps in (("IMAP4rev1", "SASL-IR"), ("IMAP4rev1",)):
        pair = Pair(
            ClientConnection(tls_active=True),
            ServerConnection(ServerConfig(tls_active=True, capabilities=caps)),
        )
        pair.pump()
        h = pair.client.authenticate(PlainClient("user", "pw"))
        pair.pump()
        assert h.ok and pair.server.state is State.AUTHENTICATED
        first = next(d for s, d in pair.wire if s == "C")
        assert first == (
            b"A1 AUTHENTICATE PLAIN AHVzZXIAcHc=\r\n"
            if "SASL-IR" in caps
            else b"A1 AUTHENTICATE PLAIN\r\n"
        )


def test_scram_sha_256_both_ways() -> None:
    creds = derive_scram_credentials("SHA-256", "pencil", b"salt" * 4, 4096)

    def app(server: ServerConnection, ev: Any) -> None:
        if isinstance(ev, SaslRequest):
            assert isinstance(ev.request, LookupScramCredentials)
            server.answer_sasl(creds)
        else:
            default_app(server, ev)

    pair = Pair(
        ClientConnection(tls_active=True),
        ServerConnection(ServerConfig(tls_active=True, mechanisms=("SCRAM-SHA-256",))),
        app,
    )
    pair.pump()
    h = pair.client.authenticate(ScramSHA256Client("user", "pencil"))
    pair.pump()
    assert h.ok and pair.client.state is State.AUTHENTICATED
    # the server-final message went as a challenge, answered by an empty line
    assert ("C", b"\r\n") in pair.wire


def test_xoauth2_bad_token_error_path() -> None:
    def app(server: ServerConnection, ev: Any) -> None:
        if isinstance(ev, SaslRequest):
            assert isinstance(ev.request, ValidateToken)
            server.answer_sasl(TokenResult(valid=False))
        else:
            default_app(server, ev)

    pair = Pair(
        ClientConnection(tls_active=True),
        ServerConnection(ServerConfig(tls_active=True, mechanisms=("XOAUTH2",))),
        app,
    )
    pair.pump()
    h = pair.client.authenticate(XOAuth2Client("u@example.com", "expired"))
    pair.pump()
    assert h.response.status == "NO" and h.response.code.name == "AUTHENTICATIONFAILED"
    assert [d for s, d in pair.wire if s == "C"][-1] == b"\r\n"
    assert pair.client.state is State.NOT_AUTHENTICATED


def test_starttls_then_login() -> None:
    pair = Pair(ClientConnection(require_tls=True), ServerConnection(ServerConfig(starttls=True)))
    pair.pump()
    pair.client.starttls()
    pair.pump()
    assert any(isinstance(e, TLSUpgradeReady) for e in pair.take())
    assert any(isinstance(e, StartTLSRequested) for e in pair.server_events)
    pair.server.start_tls_done()
    pair.client.start_tls_done()
    pair.client.capability()
    pair.pump()
    assert pair.client.has("AUTH=PLAIN") and not pair.client.has("STARTTLS")
    pair.client.login("user", "pw")
    pair.pump()
    assert pair.client.state is State.AUTHENTICATED is pair.server.state


def test_idle_with_updates() -> None:
    pair = _selected(capabilities=("IMAP4rev1", "IDLE"))
    h = pair.client.idle()
    pair.pump()
    assert pair.take() == [IdleStarted(handle=h)]
    pair.server.push_update(Exists(count=7))
    pair.pump()
    assert pair.take() == [Untagged(response=Exists(count=7))]
    pair.client.done()
    pair.pump()
    evs = pair.take()
    assert evs[0].handle is h and h.ok


def test_enable_utf8_both_ways() -> None:
    pair = _logged_in(capabilities=("IMAP4rev1", "ENABLE", "UTF8=ACCEPT", "CONDSTORE"))
    pair.client.issue(Enable, capabilities=("UTF8=ACCEPT", "CONDSTORE"))
    pair.pump()
    assert pair.client.enabled == frozenset({"UTF8=ACCEPT", "CONDSTORE"}) == pair.server.enabled
    assert pair.client.utf8 and pair.server.utf8
    pair.take()

    def app(server: ServerConnection, ev: Any) -> None:
        if isinstance(ev, CommandReceived) and isinstance(ev.command, List):
            server.send(
                ListResponse(kind="LIST", attributes=(), delimiter="/", mailbox=Mailbox("Grüße"))
            )
        default_app(server, ev)

    pair.app = app
    pair.client.issue(List, reference=Mailbox(""), patterns=(Mailbox("Grü*"),))
    pair.pump()
    assert ("C", b'A3 LIST "" "Gr\xc3\xbc*"\r\n') in pair.wire
    assert pair.take()[0].response.mailbox == "Grüße"


def test_compress_deflate_both_ways() -> None:
    pair = _logged_in(capabilities=("IMAP4rev1", "COMPRESS=DEFLATE"))
    h = pair.client.compress()
    pair.pump()
    assert any(isinstance(e, CompressionStarted) and e.handle is h for e in pair.take())
    assert any(isinstance(e, CompressRequested) for e in pair.server_events)
    # from here the bytes are deflated (RFC 4978: raw deflate, no zlib header)
    c_out, s_out = zlib.compressobj(wbits=-15), zlib.compressobj(wbits=-15)
    c_in, s_in = zlib.decompressobj(wbits=-15), zlib.decompressobj(wbits=-15)
    pair.client.noop()
    wire = c_out.compress(pair.client.data_to_send()) + c_out.flush(zlib.Z_SYNC_FLUSH)
    pair.server.receive_data(s_in.decompress(wire))
    ev = pair.server.next_event()
    assert isinstance(ev, CommandReceived)
    pair.server.complete("OK")
    wire = s_out.compress(pair.server.data_to_send()) + s_out.flush(zlib.Z_SYNC_FLUSH)
    pair.client.receive_data(c_in.decompress(wire))
    assert pair.client.next_event().response.status == "OK"  # type: ignore[union-attr]


def test_logout() -> None:
    pair = _selected()
    pair.client.logout()
    pair.pump()
    assert pair.client.state is State.LOGOUT is pair.server.state
    assert pair.wire[-1] == ("S", b"* BYE Logging out\r\nA3 OK LOGOUT completed\r\n")


def test_pipelined_commands_answered_in_order() -> None:
    pair = _selected()
    handles = [pair.client.noop() for _ in range(5)]
    pair.client.issue(Select, mailbox=Mailbox("Other"))
    pair.pump()
    tags = [e.handle.tag for e in pair.take()]
    assert tags == [h.tag for h in handles] + ["A8"]
