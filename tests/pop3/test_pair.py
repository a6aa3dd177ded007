"""Our client against our server: every command, a random maildrop read back
byte-identical, and random bytes into the server."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from protokit import NEED_DATA
from protokit.errors import RemoteProtocolError
from protokit.pop3 import (
    Capabilities,
    ClientConfig,
    ConnectionClosed,
    Err,
    Greeting,
    ListResult,
    MechanismList,
    MessageData,
    MessageEnd,
    MessageStart,
    Ok,
    ServerConfig,
    ServerConnection,
    StartTLS,
    StatResult,
    UidlResult,
    octet_count,
    parse_command,
)
from protokit.sasl import PlainClient

from .helpers import MailApp, Pair, merge_data

MESSAGES = [
    b"Subject: one\r\n\r\n.leading dot\r\nbody\r\n",
    b"Subject: two\r\nX-A: b\r\n\r\nl1\r\n.\r\nl3\r\n",
    b"Subject: three\r\n\r\nlast\r\n",
]


def bodies(events: list[Any]) -> list[bytes]:
    out: list[bytes] = []
    current: list[bytes] | None = None
    for ev in events:
        if isinstance(ev, MessageStart):
            current = []
        elif isinstance(ev, MessageData):
            assert current is not None
            current.append(ev.data)
        elif isinstance(ev, MessageEnd):
            assert current is not None
            out.append(b"".join(current))
            assert ev.size == len(out[-1])
            current = None
    return out


def test_every_command_user_pass() -> None:
    pair = Pair(MailApp(MESSAGES, chunk=5))
    c = pair.client
    c.capa()
    c.utf8()
    c.user("alice")
    c.pass_("wonderland")
    c.stat()
    c.list_()
    c.list_(2)
    c.uidl()
    c.uidl(3)
    c.retr(1)
    c.top(2, 1)
    c.dele(1)
    c.retr(1)
    c.rset()
    c.dele(3)
    c.noop()
    c.quit()
    events = pair.pump()
    streamed = (MessageData, MessageStart, MessageEnd)
    assert [type(e) for e in events if not isinstance(e, streamed)] == [
        Greeting, Capabilities, Ok, Ok, Ok, StatResult, ListResult, ListResult, UidlResult,
        UidlResult, Ok, Err, Ok, Ok, Ok, Ok, ConnectionClosed,
    ]  # fmt: skip
    sizes = [octet_count(m) for m in MESSAGES]
    assert StatResult(count=3, size=sum(sizes)) in events
    assert ListResult(entries=tuple(enumerate(sizes, 1))) in events
    assert UidlResult(entries=((3, "uid2"),)) in events
    assert bodies(events) == [MESSAGES[0], b"Subject: two\r\nX-A: b\r\n\r\nl1\r\n"]
    assert pair.app.deleted == (3,)
    assert events[-2] == Ok(
        command="QUIT", text="localhost POP3 server signing off (2 messages left)"
    )
    assert pair.server.state.value == pair.client.state.value == "CLOSED"


def test_every_command_apop_auth_stls() -> None:
    # APOP.
    pair = Pair(MailApp(MESSAGES), server_config=ServerConfig(apop=True))
    pair.pump()  # the greeting carries the timestamp
    pair.client.apop("alice", "wonderland")
    pair.client.stat()
    events = pair.pump()
    assert events == [
        Ok(command="APOP", text="alice's maildrop has 3 messages (95 octets)"),
        StatResult(count=3, size=95),
    ]
    # STLS, then AUTH list and AUTH PLAIN under TLS.
    pair = Pair(
        MailApp(MESSAGES),
        server_config=ServerConfig(tls_available=True),
        client_config=ClientConfig(),
    )
    c = pair.client
    c.capa()
    c.stls()
    events = pair.pump()
    assert isinstance(events[1], Capabilities) and "STLS" in events[1]
    assert events[2] == StartTLS()
    assert pair.app.events[-1] == StartTLS()
    assert pair.server.state.value == pair.client.state.value == "STARTING_TLS"
    pair.server.tls_established()
    c.tls_established()
    c.capa()
    c.auth_list()
    c.auth(PlainClient("alice", "wonderland"))
    c.list_()
    c.quit()
    events = pair.pump()
    assert isinstance(events[0], Capabilities) and "STLS" not in events[0]
    assert events[0].sasl_mechanisms == ("PLAIN",)
    assert events[1] == MechanismList(mechanisms=("PLAIN",))
    assert events[2] == Ok(command="AUTH", text="alice's maildrop has 3 messages (95 octets)")
    assert isinstance(events[3], ListResult)
    assert isinstance(events[-1], ConnectionClosed)
    # A wrong password, via SASL, is an Err with the AUTH code.
    pair = Pair(MailApp(MESSAGES), server_config=ServerConfig(tls_active=True))
    pair.client.auth(PlainClient("alice", "wrong"))
    assert pair.pump()[1] == Err(command="AUTH", text="authentication failed", code="AUTH")


def test_pipelined_session() -> None:
    pair = Pair(MailApp(MESSAGES, chunk=3))
    c = pair.client
    c.capa()
    pair.pump()
    assert c.pipelining
    c.user("alice")
    c.pass_("wonderland")
    for n in (1, 2, 3):
        c.retr(n)
        c.dele(n)
    c.quit()
    before = len(pair.wire_c2s)
    events = pair.pump()
    # Everything after CAPA went out in one write.
    assert bytes(pair.wire_c2s[before:]).count(b"\r\n") == 9
    assert bodies(events) == MESSAGES
    assert pair.app.deleted == (1, 2, 3)


# -- properties --------------------------------------------------------------------------

_line = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_dotted = st.one_of(_line, _line.map(lambda b: b"." + b), st.just(b"."), st.just(b".."))
_crlf_message = st.lists(_dotted, max_size=12).map(lambda ls: b"".join(x + b"\r\n" for x in ls))


@given(
    st.lists(_crlf_message, max_size=6),
    st.integers(1, 64),
    st.sampled_from([None, 1, 7, 4096]),
)
def test_random_maildrop_comes_back_byte_identical(
    messages: list[bytes], chunk: int, max_chunk: int | None
) -> None:
    pair = Pair(
        MailApp(messages, chunk=chunk),
        client_config=ClientConfig(allow_plaintext_auth=True, max_chunk=max_chunk),
    )
    c = pair.client
    c.user("alice")
    c.pass_("wonderland")
    c.list_()
    for n in range(1, len(messages) + 1):
        c.retr(n)
    c.quit()
    events = pair.pump()
    listing = next(e for e in events if isinstance(e, ListResult))
    assert listing.entries == tuple((i, len(m)) for i, m in enumerate(messages, 1))
    assert bodies(events) == messages


def _normalized(message: bytes) -> bytes:
    out = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    return out if not out or out.endswith(b"\r\n") else out + b"\r\n"


@given(st.lists(st.binary(max_size=60), min_size=1, max_size=4), st.integers(1, 16))
def test_any_bytes_come_back_with_crlf_line_endings(messages: list[bytes], chunk: int) -> None:
    pair = Pair(MailApp(messages, chunk=chunk))
    c = pair.client
    c.user("alice")
    c.pass_("wonderland")
    c.list_()
    for n in range(1, len(messages) + 1):
        c.retr(n)
    events = merge_data(pair.pump())
    got = bodies(events)
    assert got == [_normalized(m) for m in messages]
    listing = next(e for e in events if isinstance(e, ListResult))
    assert [size for _, size in listing.entries] == [len(b) for b in got]


def _server_with_app() -> tuple[ServerConnection, MailApp]:
    return ServerConnection(
        ServerConfig(allow_plaintext_auth=True, apop=True, max_errors=1000)
    ), MailApp(MESSAGES)


def _run(server: ServerConnection, app: MailApp, data: bytes) -> bytes:
    server.data_to_send()
    try:
        server.receive_data(data)
        server.receive_data(b"")
        while (ev := server.next_event()) is not NEED_DATA:
            if isinstance(ev, ConnectionClosed):
                break
            if isinstance(ev, StartTLS):
                server.tls_established()
                continue
            app.handle(server, ev)
    except RemoteProtocolError as exc:
        reply = exc.reply
        assert reply is not None
        assert reply.startswith(b"-ERR ")
    return server.data_to_send()


@given(st.binary(max_size=400))
def test_random_bytes_get_err_replies_and_our_errors_only(data: bytes) -> None:
    server, app = _server_with_app()
    out = _run(server, app, data)
    lines = data.split(b"\r\n")[:-1]
    valid = False
    for line in lines:
        try:
            parse_command(line)
            valid = True
        except RemoteProtocolError:
            pass
    if not valid:
        assert all(x.startswith(b"-ERR ") for x in out.split(b"\r\n")[:-1]), out


_tokens = st.sampled_from(
    [
        b"USER alice", b"PASS wonderland", b"PASS x", b"APOP alice " + b"0" * 32, b"AUTH",
        b"AUTH PLAIN", b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=", b"*", b"=", b"CAPA", b"STLS",
        b"STAT", b"LIST", b"LIST 1", b"LIST 9", b"RETR 1", b"RETR 2", b"TOP 3 0", b"UIDL",
        b"UIDL 2", b"DELE 1", b"RSET", b"NOOP", b"UTF8", b"QUIT", b"", b"\xff\x00", b"A" * 300,
    ]
)  # fmt: skip
_ends = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b" "])


@given(st.lists(st.tuples(_tokens, _ends), max_size=30), st.integers(1, 50))
def test_random_command_streams_only_raise_our_errors(
    parts: list[tuple[bytes, bytes]], chunk: int
) -> None:
    data = b"".join(a + b for a, b in parts)
    server, app = _server_with_app()
    server.data_to_send()
    try:
        for i in range(0, len(data), chunk):
            server.receive_data(data[i : i + chunk])
            while (ev := server.next_event()) is not NEED_DATA:
                if isinstance(ev, ConnectionClosed):
                    return
                app.handle(server, ev)
    except RemoteProtocolError as exc:
        reply = exc.reply
        assert reply is not None
    out = server.data_to_send()
    for line in out.split(b"\r\n")[:-1]:
        assert b"wonderland" not in line


def test_scram_sha_256_through_both_connections() -> None:
    """A multi-step mechanism: client-first, server-first, client-final, and
    the server-final sent as a challenge answered with an empty line."""
    from protokit.sasl import (
        LookupScramCredentials,
        ScramSHA256Client,
        derive_scram_credentials,
    )

    creds = derive_scram_credentials("SHA-256", "wonderland", salt=b"s" * 16, iterations=4096)
    app = MailApp(MESSAGES)

    def handle(server: ServerConnection, ev: Any) -> None:
        from protokit.pop3 import SaslRequest

        if isinstance(ev, SaslRequest):
            assert isinstance(ev.request, LookupScramCredentials)
            server.answer_sasl(creds if ev.request.authcid == "alice" else None)
        else:
            app.handle(server, ev)

    for password, ok in (("wonderland", True), ("wrong", False)):
        pair = Pair(
            app,
            server_config=ServerConfig(tls_active=True, sasl_mechanisms=("SCRAM-SHA-256",)),
            handle=handle,
        )
        pair.client.auth(ScramSHA256Client("alice", password))
        pair.client.stat()
        events = pair.pump()
        c2s = bytes(pair.wire_c2s)
        assert c2s.startswith(b"AUTH SCRAM-SHA-256 biws")
        if ok:
            assert events[1] == Ok(
                command="AUTH", text="alice's maildrop has 3 messages (95 octets)"
            )
            assert events[2] == StatResult(count=3, size=95)
            # client-first, client-final, then the empty answer to server-final
            assert c2s.split(b"\r\n")[2:] == [b"", b"STAT", b""]
        else:
            assert events[1] == Err(command="AUTH", text="authentication failed", code="AUTH")
            assert b"wrong" not in c2s and b"wonderland" not in bytes(pair.wire_s2c)
