"""The async POP3 client against scripted servers over loopback, on asyncio
and trio: the exact bytes it sends, STLS stripping and response injection,
commit-on-QUIT as an explicit choice, streams, pipelining, the XOAUTH2 error
path and the greeting's failure modes."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Awaitable

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSStream

from protokit import LocalProtocolError, RemoteProtocolError
from protokit.net import (
    ConnectionClosed,
    OperationTimeout,
    POP3AuthenticationError,
    POP3Client,
    POP3Error,
    Timeouts,
    TLSError,
    TLSMode,
    connect_pop3,
    open_pop3,
    wrap_pop3_stream,
)
from protokit.pop3 import ClientConfig
from tests.net.scripted import Peer, scripted

CAPS = b"+OK\r\nUSER\r\nUIDL\r\nTOP\r\nSASL PLAIN XOAUTH2\r\n.\r\n"
CAPS_STLS = b"+OK\r\nSTLS\r\nUIDL\r\n.\r\n"
CAPS_PIPE = b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n"


def plain(port: int, **kw: object) -> Awaitable[POP3Client]:
    return connect_pop3(
        "127.0.0.1",
        port,
        tls=TLSMode.PLAIN,
        allow_plaintext_auth=True,
        **kw,  # type: ignore[arg-type]
    )


async def test_commands_and_replies_exactly() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready <1.2@host>\r\n")
        await p.expect(b"CAPA\r\n", CAPS)
        await p.expect(b"USER alice\r\n", b"+OK\r\n")
        await p.expect(b"PASS pass word\r\n", b"+OK 2 messages\r\n")
        await p.expect(b"STAT\r\n", b"+OK 2 300\r\n")
        await p.expect(b"LIST\r\n", b"+OK\r\n1 100\r\n2 200\r\n.\r\n")
        await p.expect(b"LIST 2\r\n", b"+OK 2 200\r\n")
        await p.expect(b"UIDL\r\n", b"+OK\r\n1 aa\r\n2 bb\r\n.\r\n")
        await p.expect(b"UIDL 1\r\n", b"+OK 1 aa\r\n")
        await p.expect(b"RETR 1\r\n", b"+OK 100 octets\r\nSubject: x\r\n\r\n..dot\r\n.\r\n")
        await p.expect(b"TOP 2 0\r\n", b"+OK\r\nSubject: y\r\n\r\n.\r\n")
        await p.expect(b"DELE 1\r\n", b"+OK deleted\r\n")
        await p.expect(b"RSET\r\n", b"+OK reset\r\n")
        await p.expect(b"NOOP\r\n", b"+OK\r\n")
        await p.expect(b"DELE 9\r\n", b"-ERR no such message\r\n")
        await p.expect(b"QUIT\r\n", b"+OK bye\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, _):
        c = await plain(port)
        assert c.greeting.text == "ready <1.2@host>"
        assert c.greeting.timestamp == "<1.2@host>"
        caps = await c.capa()
        assert caps.sasl_mechanisms == ("PLAIN", "XOAUTH2")
        assert await c.login("alice", "pass word") == "2 messages"
        assert (await c.stat()).count == 2
        assert await c.list() == {1: 100, 2: 200}
        assert await c.list(2) == 200
        assert await c.uidl() == {1: "aa", 2: "bb"}
        assert await c.uidl(1) == "aa"
        assert await c.retr_bytes(1) == b"Subject: x\r\n\r\n.dot\r\n"
        assert await c.top_bytes(2, 0) == b"Subject: y\r\n\r\n"
        assert await c.dele(1) == "deleted"
        assert await c.rset() == "reset"
        assert await c.noop() == ""
        with pytest.raises(POP3Error) as info:
            await c.dele(9)
        assert str(info.value) == "DELE: -ERR no such message"
        assert await c.quit() == "bye"


async def test_stls_required_but_not_offered_sends_no_credentials() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"CAPA\r\n", CAPS)
        assert await p.rest() == b""

    async with scripted(script) as (port, peers):
        with pytest.raises(TLSError) as info:
            await connect_pop3("127.0.0.1", port)
        assert str(info.value) == (
            "the server does not offer STLS: refusing to continue without TLS"
        )
    assert peers[0].received == b"CAPA\r\n"


async def test_stls_refused_is_a_hard_error() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"CAPA\r\n", CAPS_STLS)
        await p.expect(b"STLS\r\n", b"-ERR not now\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, peers):
        with pytest.raises(TLSError) as info:
            await connect_pop3("127.0.0.1", port)
        assert str(info.value) == (
            "the server refused STLS (not now): refusing to continue without TLS"
        )
    assert peers[0].received == b"CAPA\r\nSTLS\r\n"


async def test_credentials_refused_before_tls_when_tls_is_required() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, peers):
        stream = await anyio.connect_tcp("127.0.0.1", port)

        c = await wrap_pop3_stream(stream, config=ClientConfig(require_tls=True))
        with pytest.raises(LocalProtocolError, match="USER before TLS is refused"):
            await c.login("alice", "pw")
        await c.aclose()
    assert peers[0].received == b""


async def test_response_injection_after_stls_ok() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"CAPA\r\n", CAPS_STLS)
        await p.expect(b"STLS\r\n", b"+OK begin\r\n+OK injected\r\n")
        await p.rest()

    async with scripted(script) as (port, _):
        with pytest.raises(RemoteProtocolError, match="response injection"):
            await connect_pop3("127.0.0.1", port)


def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


async def test_capabilities_are_read_again_after_stls() -> None:
    ca = trustme.CA()
    server_ctx = tls_server_context(ca)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"CAPA\r\n", b"+OK\r\nSTLS\r\nSASL EVIL\r\n.\r\n")
        await p.expect(b"STLS\r\n", b"+OK begin\r\n")
        tls = await TLSStream.wrap(p.stream, server_side=True, ssl_context=server_ctx)
        q = Peer(tls)
        await q.expect(b"CAPA\r\n", b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n")
        await q.expect(b"AUTH PLAIN AGFsaWNlAHB3\r\n", b"+OK welcome\r\n")
        await q.rest()

    async with (
        scripted(script) as (port, _),
        open_pop3("127.0.0.1", port, ssl_context=client_ctx, server_hostname="localhost") as c,
    ):
        assert c.tls_active
        assert c.capabilities is not None
        assert c.capabilities.sasl_mechanisms == ("PLAIN",)
        assert c.channel_binding is not None and len(c.channel_binding) == 32
        assert await c.auth("alice", password="pw") == "PLAIN"


async def test_exit_without_commit_sends_no_quit_and_commit_sends_quit() -> None:
    async def no_commit(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        await p.expect(b"DELE 1\r\n", b"+OK\r\n")
        assert await p.rest() == b""

    async with (
        scripted(no_commit) as (port, _),
        open_pop3("127.0.0.1", port, tls=TLSMode.PLAIN, allow_plaintext_auth=True) as c,
    ):
        await c.login("a", "b")
        await c.dele(1)

    async def commit(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        await p.expect(b"DELE 1\r\n", b"+OK\r\n")
        await p.expect(b"QUIT\r\n", b"+OK bye\r\n")
        assert await p.rest() == b""

    async with (
        scripted(commit) as (port, _),
        open_pop3(
            "127.0.0.1", port, tls=TLSMode.PLAIN, allow_plaintext_auth=True, commit=True
        ) as c,
    ):
        await c.login("a", "b")
        await c.dele(1)


async def test_an_exception_in_the_block_never_commits() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        await p.expect(b"DELE 1\r\n", b"+OK\r\n")
        assert await p.rest() == b""

    async def session(port: int) -> None:
        async with open_pop3(
            "127.0.0.1", port, tls=TLSMode.PLAIN, allow_plaintext_auth=True, commit=True
        ) as c:
            await c.login("a", "b")
            await c.dele(1)
            raise KeyError("boom")

    async with scripted(script) as (port, _):
        with pytest.raises(KeyError):
            await session(port)


async def test_an_abandoned_stream_is_drained_before_the_next_command() -> None:
    body = b"line\r\n" * 20000

    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        await p.expect(b"RETR 1\r\n", b"+OK\r\n" + body + b".\r\n")
        await p.expect(b"STAT\r\n", b"+OK 1 120000\r\n")
        await p.expect(b"RETR 1\r\n", b"-ERR gone\r\n")
        await p.rest()

    async with scripted(script) as (port, _):
        c = await plain(port)
        await c.login("a", "b")
        stream = c.retr(1)
        first = await stream.__anext__()
        assert body.startswith(first) and len(first) < len(body)
        assert (await c.stat()).size == 120000
        with pytest.raises(LocalProtocolError, match="abandoned"):
            await stream.__anext__()
        with pytest.raises(POP3Error) as info:
            async with c.retr(1):
                pass
        assert (info.value.command, info.value.text) == ("RETR", "gone")
        await c.aclose()


async def test_retr_many_pipelines_only_when_offered() -> None:
    async def pipelined(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"CAPA\r\n", CAPS_PIPE)
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        # All three RETRs arrive before any reply is sent.
        assert [await p.line() for _ in range(3)] == [b"RETR 1\r\n", b"RETR 2\r\n", b"RETR 3\r\n"]
        await p.send(b"".join(b"+OK\r\nm%d\r\n.\r\n" % i for i in (1, 2, 3)))
        await p.rest()

    async with scripted(pipelined) as (port, _):
        c = await plain(port)
        await c.capa()
        await c.login("a", "b")
        got = [item async for item in c.retr_many([1, 2, 3])]
        assert got == [(1, b"m1\r\n"), (2, b"m2\r\n"), (3, b"m3\r\n")]
        await c.aclose()

    async def lockstep(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        for i in (1, 2):
            assert await p.line() == b"RETR %d\r\n" % i
            assert p.buf == b""  # nothing pipelined behind it
            await p.send(b"+OK\r\nm%d\r\n.\r\n" % i)
        await p.rest()

    async with scripted(lockstep) as (port, _):
        c = await plain(port)
        await c.login("a", "b")
        got = [item async for item in c.retr_many([1, 2])]
        assert got == [(1, b"m1\r\n"), (2, b"m2\r\n")]
        await c.aclose()


XOAUTH2_ERROR = b'{"status":"401","schemes":"bearer","scope":"mail"}'


async def test_xoauth2_error_challenge_is_answered_then_err_raised() -> None:
    ir = base64.b64encode(b"user=alice\x01auth=Bearer tok\x01\x01")

    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(
            b"AUTH XOAUTH2 " + ir + b"\r\n", b"+ " + base64.b64encode(XOAUTH2_ERROR) + b"\r\n"
        )
        await p.expect(b"\r\n", b"-ERR [AUTH] Authentication failed.\r\n")
        await p.rest()

    async with scripted(script) as (port, _):
        c = await plain(port)
        with pytest.raises(POP3AuthenticationError) as info:
            await c.auth("alice", token="tok", mechanisms=["XOAUTH2"])
        assert str(info.value) == "AUTH: -ERR [AUTH] Authentication failed."
        assert info.value.sasl_error == {"status": "401", "schemes": "bearer", "scope": "mail"}
        assert "tok" not in repr(info.value) and "tok" not in str(info.value)
        await c.aclose()


async def test_greeting_err_and_silence_and_early_close() -> None:
    async def refuses(p: Peer) -> None:
        await p.send(b"-ERR [SYS/TEMP] busy\r\n")
        await p.rest()

    async with scripted(refuses) as (port, _):
        with pytest.raises(POP3Error) as info:
            await plain(port)
        assert (info.value.code, info.value.text) == ("SYS/TEMP", "busy")
        assert str(info.value) == "greeting: -ERR [SYS/TEMP] busy"

    async def silent(p: Peer) -> None:
        await p.rest()

    async with scripted(silent) as (port, _):
        with pytest.raises(OperationTimeout) as t:
            await connect_pop3(
                "127.0.0.1",
                port,
                timeouts=Timeouts(read=0.3),
                ssl_context=ssl.create_default_context(),
            )
        assert str(t.value) == (
            f"127.0.0.1:{port} sent no greeting within 0.3 s: if this is an implicit-TLS "
            "port (465, 993, 995), connect with tls=TLSMode.IMPLICIT"
        )

    async def closes(p: Peer) -> None:
        pass

    async with scripted(closes) as (port, _):
        with pytest.raises(ConnectionClosed):
            await plain(port)


async def test_plaintext_mechanisms_need_tls_or_an_explicit_choice() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, peers):
        c = await connect_pop3("127.0.0.1", port, tls=TLSMode.PLAIN)
        with pytest.raises(LocalProtocolError, match="no usable SASL mechanism among PLAIN"):
            await c.auth("alice", password="pw", mechanisms=["PLAIN"])
        with pytest.raises(LocalProtocolError, match="USER/PASS without TLS"):
            await c.login("alice", "pw")
        await c.aclose()
    assert peers[0].received == b""


async def test_apop_sends_the_digest() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n")
        # RFC 1939 section 7's example.
        await p.expect(
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", b"+OK maildrop has 1\r\n"
        )
        await p.rest()

    async with scripted(script) as (port, _):
        c = await plain(port)
        assert await c.apop("mrose", "tanstaaf") == "maildrop has 1"
        await c.aclose()


async def test_server_closing_mid_session_is_connection_closed() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        assert await p.line() == b"STAT\r\n"

    async with scripted(script) as (port, _):
        c = await plain(port)
        await c.login("a", "b")
        with pytest.raises(ConnectionClosed):
            await c.stat()
        with pytest.raises(ConnectionClosed, match="the POP3 session is over"):
            await c.noop()
        await c.aclose()


async def test_retr_many_error_midway_then_the_session_goes_on() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"+OK ready\r\n")
        await p.expect(b"CAPA\r\n", CAPS_PIPE)
        await p.expect(b"USER a\r\n", b"+OK\r\n")
        await p.expect(b"PASS b\r\n", b"+OK\r\n")
        assert [await p.line() for _ in range(3)] == [b"RETR 1\r\n", b"RETR 9\r\n", b"RETR 2\r\n"]
        await p.send(b"+OK\r\none\r\n.\r\n-ERR no such message\r\n+OK\r\ntwo\r\n.\r\n")
        await p.expect(b"NOOP\r\n", b"+OK still here\r\n")
        await p.rest()

    async with scripted(script) as (port, _):
        c = await plain(port)
        await c.capa()
        await c.login("a", "b")
        got: list[tuple[int, bytes]] = []

        async def collect() -> None:
            async for item in c.retr_many([1, 9, 2]):
                got.append(item)  # noqa: PERF401 - keeps what came before the error

        with pytest.raises(POP3Error) as info:
            await collect()
        assert got == [(1, b"one\r\n")]
        assert (info.value.command, info.value.text) == ("RETR", "no such message")
        # The third reply is read and dropped before NOOP goes out.
        assert await c.noop() == "still here"
        await c.aclose()
