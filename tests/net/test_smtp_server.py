"""serve_smtp over loopback, on asyncio and trio: exact replies on the wire,
pipelining, the in-memory backend's storage, STARTTLS and its command
injection, implicit TLS, AUTH paths, timeouts, overload, graceful shutdown,
backend failures, LMTP per-recipient replies, and our own client end to end
(SCRAM, CRAM-MD5, XOAUTH2, EmailMessage with Bcc)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from email.message import EmailMessage

import anyio
import anyio.abc
import pytest
from anyio.streams.tls import TLSStream

from protokit.net import Listener, ServerLimits, TLSMode, build_v1, build_v2
from protokit.net._smtp_backend import (
    Envelope,
    InMemorySMTPBackend,
    MessageSink,
    SMTPBackend,
    SMTPSession,
)
from protokit.net._smtp_client import SMTPAuthenticationError, open_smtp
from protokit.net._smtp_server import serve_smtp
from protokit.sasl import CramMD5Client, ScramSHA256Client
from protokit.smtp import MailParams, RcptParams, Reply, ServerConfig
from tests.interop.smtp_peers import make_backend, our_smtp_server
from tests.net.wire import LineWire, connected

LOOPBACK = ServerConfig(
    hostname="mx.test",
    auth_mechanisms=("SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2"),
    allow_plaintext_auth=True,
)
EHLO_REPLY = (
    b"250-mx.test Hello c.example\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
)
MSG = b"Subject: one\r\n\r\nfirst\r\n.dot\r\n"


class Wire(LineWire):
    """A raw client: send bytes, read exact replies."""

    async def ehlo(self) -> bytes:
        return await self.ask(b"EHLO c.example\r\n", b"\r\n250 ") + await self.line()


def raw(port: int) -> AsyncIterator[Wire]:
    return connected(port, Wire)


async def test_exact_session_and_the_message_stored() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, LOOPBACK) as srv:
        async for w in raw(srv.plain):
            assert await w.line() == b"220 mx.test ESMTP protokit ready\r\n"
            assert await w.ehlo() == EHLO_REPLY + (
                b"250-STARTTLS\r\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN XOAUTH2\r\n"
            )
            assert await w.ask(b"MAIL FROM:<a@x.example> SIZE=30\r\n") == (
                b"250 2.1.0 Sender OK\r\n"
            )
            assert await w.ask(b"RCPT TO:<b@y.example>\r\n") == b"250 2.1.5 Recipient OK\r\n"
            assert await w.ask(b"DATA\r\n") == b"354 End data with <CR><LF>.<CR><LF>\r\n"
            await w.stream.send(b"Subject: one\r\n\r\nfirst\r\n..dot\r\n")
            assert await w.ask(b".\r\n") == b"250 2.0.0 Message accepted\r\n"
            assert await w.ask(b"VRFY alice\r\n") == (
                b"252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
            )
            assert await w.ask(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"
            assert await w.ask(b"QUIT\r\n") == b"221 2.0.0 mx.test closing connection\r\n"
            assert await w.eof() == b""
    [m] = backend.messages
    assert (m.sender, m.recipients, m.data, m.user, m.tls) == (
        "a@x.example",
        ("b@y.example",),
        MSG,
        None,
        False,
    )
    assert m.mail_params == MailParams(size=30)


async def test_pipelined_burst_gets_every_reply_in_order() -> None:
    backend = make_backend(local_recipients=["b@y.example"])
    async with our_smtp_server(backend, LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.stream.send(
                b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<nobody@y.example>\r\n"
                b"RCPT TO:<B@y.example>\r\nDATA\r\nhi\r\n.\r\n"
                b"MAIL FROM:<>\r\nRCPT TO:<b@y.example>\r\nBDAT 4 LAST\r\nbdatQUIT\r\n"
            )
            out = await w.eof()
            assert out.split(b"\r\n", 1)[1].startswith(b"250-PIPELINING")
            assert out[out.index(b"250 AUTH") :] == (
                b"250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN XOAUTH2\r\n"
                b"250 2.1.0 Sender OK\r\n550 5.1.1 No such user here\r\n"
                b"250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                b"250 2.0.0 Message accepted\r\n"
                b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.0.0 Message accepted\r\n"
                b"221 2.0.0 mx.test closing connection\r\n"
            )
    assert [(m.sender, m.recipients, m.data) for m in backend.messages] == [
        ("a@x", ("B@y.example",), b"hi\r\n"),
        ("", ("b@y.example",), b"bdat"),
    ]


@pytest.mark.parametrize(
    "burst",
    [b"STARTTLS\r\nNOOP\r\n", b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n"],
)
async def test_starttls_command_injection_closes_and_never_answers(burst: bytes) -> None:
    async with our_smtp_server(make_backend(), LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.ehlo()
            await w.stream.send(burst)
            assert await w.eof() == (
                b"421 4.7.0 mx.test Commands pipelined after STARTTLS, closing connection\r\n"
            )


async def test_starttls_and_implicit_tls_sessions() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, replace(LOOPBACK, allow_plaintext_auth=False)) as srv:
        async for w in raw(srv.plain):
            await w.line()
            assert (await w.ehlo()).endswith(
                b"250-STARTTLS\r\n250 AUTH SCRAM-SHA-256 CRAM-MD5\r\n"
            )
            assert await w.ask(b"STARTTLS\r\n") == b"220 2.0.0 Ready to start TLS\r\n"
            w.stream = await TLSStream.wrap(
                w.stream, hostname="localhost", ssl_context=srv.client_context()
            )
            after = await w.ehlo()
            assert b"STARTTLS" not in after
            assert after.endswith(b"250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN XOAUTH2\r\n")
            plain_ir = base64.b64encode(b"\x00alice\x00alicepw")
            assert await w.ask(b"AUTH PLAIN " + plain_ir + b"\r\n") == (
                b"235 2.7.0 Authentication successful\r\n"
            )
        stream = await anyio.connect_tcp(
            "127.0.0.1", srv.implicit, tls=True, ssl_context=srv.client_context(),
            tls_hostname="localhost",
        )  # fmt: skip
        try:
            w = Wire(stream)
            assert await w.line() == b"220 mx.test ESMTP protokit ready\r\n"
            assert b"STARTTLS" not in await w.ehlo()
        finally:
            await anyio.aclose_forcefully(stream)


async def test_unknown_user_and_wrong_password_look_alike() -> None:
    async with our_smtp_server(make_backend(), LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.ehlo()
            for creds in (b"\x00alice\x00wrong", b"\x00nobody\x00alicepw"):
                assert await w.ask(b"AUTH PLAIN " + base64.b64encode(creds) + b"\r\n") == (
                    b"535 5.7.8 Authentication credentials invalid\r\n"
                )


async def test_idle_timeout_says_421_and_closes() -> None:
    async with our_smtp_server(make_backend(), LOOPBACK, idle_timeout=0.3) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.stream.send(b"EHLO c.exa")  # a command trickling in counts too
            assert await w.eof() == (b"421 4.4.2 Timeout waiting for data, closing connection\r\n")


async def test_connection_limit_answers_421() -> None:
    limits = ServerLimits(max_connections=1)
    async with our_smtp_server(make_backend(), LOOPBACK, limits=limits) as srv:
        async for first in raw(srv.plain):
            assert (await first.line()).startswith(b"220 ")
            async for second in raw(srv.plain):
                assert await second.eof() == b"421 4.3.2 Too many connections, try again later\r\n"
            assert await first.ask(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"


async def test_shutdown_says_421_to_connected_clients() -> None:
    backend = make_backend()
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_smtp(
                backend, [Listener(name="p")], config=LOOPBACK, task_status=task_status
            )
        )
        stream = await anyio.connect_tcp("127.0.0.1", info.port("p"))
        w = Wire(stream)
        await w.line()
        assert await w.ask(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"
        tg.cancel_scope.cancel()
    async with stream:
        assert await w.eof() == b"421 4.3.2 Server shutting down, try again later\r\n"


class _SlowSink:
    def __init__(self, entered: anyio.Event, release: anyio.Event, stored: list[bytes]) -> None:
        self.entered, self.release, self.stored = entered, release, stored
        self.parts: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self.parts.append(chunk)

    async def finish(self) -> Reply | Sequence[Reply]:
        self.entered.set()
        await self.release.wait()
        self.stored.append(b"".join(self.parts))
        return Reply(code=250, enhanced="2.0.0", lines=("Stored",))

    async def abort(self) -> None:
        pass


async def test_shutdown_lets_a_store_under_way_finish_and_answers_it() -> None:
    entered, release = anyio.Event(), anyio.Event()
    stored: list[bytes] = []

    class SlowBackend(InMemorySMTPBackend):
        async def open_message(self, session: SMTPSession, envelope: Envelope) -> MessageSink:
            return _SlowSink(entered, release, stored)

    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_smtp(
                SlowBackend(), [Listener(name="p")], config=LOOPBACK, task_status=task_status
            )
        )
        stream = await anyio.connect_tcp("127.0.0.1", info.port("p"))
        w = Wire(stream)
        await w.line()
        await w.stream.send(b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@x>\r\nDATA\r\n")
        await w.read_until(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        await w.stream.send(b"body\r\n.\r\n")
        with anyio.fail_after(5):
            await entered.wait()
        tg.cancel_scope.cancel()  # shutdown while the message is being stored
        release.set()
    async with stream:
        assert await w.eof() == (
            b"250 2.0.0 Stored\r\n421 4.3.2 Server shutting down, try again later\r\n"
        )
    assert stored == [b"body\r\n"]


class _FailingSink:
    async def write(self, chunk: bytes) -> None:
        pass

    async def finish(self) -> Reply | Sequence[Reply]:
        raise OSError("disk full")

    async def abort(self) -> None:
        pass


class FailingBackend(InMemorySMTPBackend):
    async def rcpt_to(
        self, session: SMTPSession, envelope: Envelope, recipient: str, params: RcptParams
    ) -> Reply | None:
        if recipient.startswith("boom"):
            raise RuntimeError("backend bug")
        return None

    async def open_message(self, session: SMTPSession, envelope: Envelope) -> MessageSink:
        return _FailingSink()


async def test_backend_failures_are_451_and_the_session_goes_on() -> None:
    backend: SMTPBackend = FailingBackend()
    assert isinstance(backend, SMTPBackend)
    async with our_smtp_server(backend, LOOPBACK) as srv:  # type: ignore[arg-type]
        async for w in raw(srv.plain):
            await w.line()
            await w.ehlo()
            await w.stream.send(b"MAIL FROM:<>\r\nRCPT TO:<boom@x>\r\nRCPT TO:<ok@x>\r\nDATA\r\n")
            assert await w.read_until(b"354 End data with <CR><LF>.<CR><LF>\r\n") == (
                b"250 2.1.0 Sender OK\r\n451 4.3.0 Temporary failure, try again later\r\n"
                b"250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            )
            assert (
                await w.ask(b"x\r\n.\r\n") == b"451 4.3.0 Temporary failure, try again later\r\n"
            )
            assert await w.ask(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"


async def test_lmtp_replies_once_per_recipient() -> None:
    backend = make_backend()
    backend.full_mailboxes.add("full@x")
    config = ServerConfig(hostname="lmtp.test", lmtp=True)
    async with our_smtp_server(backend, config) as srv:
        async for w in raw(srv.plain):
            assert await w.line() == b"220 lmtp.test LMTP protokit ready\r\n"
            assert await w.ask(b"EHLO c\r\n") == b"500 5.5.1 Command unrecognized\r\n"
            await w.stream.send(b"LHLO c\r\n")
            await w.read_until(b"\r\n250 ")
            await w.line()
            await w.stream.send(
                b"MAIL FROM:<>\r\nRCPT TO:<a@x>\r\nRCPT TO:<full@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
            )
            await w.read_until(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            assert await w.ask(b"hi\r\n.\r\n", b"Delivered\r\n") == (b"250 2.1.5 Delivered\r\n")
            assert await w.read_until(b"Delivered\r\n") == (
                b"452 4.2.2 Mailbox full\r\n250 2.1.5 Delivered\r\n"
            )
    [m] = backend.messages
    assert m.recipients == ("a@x", "b@x")


# -- our client end to end ------------------------------------------------------------------


async def test_our_client_every_mechanism_over_starttls() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, LOOPBACK) as srv:
        for login, user in [
            (("alice", "alicepw"), "alice"),  # SCRAM-SHA-256, the strongest offered
            (CramMD5Client("bob", "bobpw"), "bob"),
            (("alice", lambda: "token-for-alice"), "alice"),  # XOAUTH2
        ]:
            async with open_smtp(
                "127.0.0.1",
                srv.plain,
                ssl_context=srv.client_context(),
                login=login,  # type: ignore[arg-type]
            ) as client:
                assert client.tls_active and client.authenticated
                await client.send_message(MSG, sender="a@x.example", recipients=["b@y.example"])
            assert backend.messages[-1].user == user
            assert backend.messages[-1].tls
        with pytest.raises(SMTPAuthenticationError) as info:
            async with open_smtp(
                "127.0.0.1",
                srv.implicit,
                tls=TLSMode.IMPLICIT,
                ssl_context=srv.client_context(),
                login=ScramSHA256Client("alice", "wrong"),
            ):
                pass
        assert info.value.reply.code == 535


async def test_our_client_email_message_with_bcc_and_lmtp_results() -> None:
    backend = make_backend()
    msg = EmailMessage()
    msg["From"] = "Alice <alice@x.example>"
    msg["To"] = "bob@y.example"
    msg["Cc"] = "carol@y.example"
    msg["Bcc"] = "secret@z.example"
    msg["Subject"] = "hello"
    msg.set_content("line one\n.line two\n")
    async with (
        our_smtp_server(backend, LOOPBACK) as srv,
        open_smtp(
            "127.0.0.1", srv.plain, ssl_context=srv.client_context(), login=("bob", "bobpw")
        ) as client,
    ):
        result = await client.send_message(msg)
    assert result.accepted == ["bob@y.example", "carol@y.example", "secret@z.example"]
    [m] = backend.messages
    assert m.sender == "alice@x.example"
    assert b"secret@z.example" not in m.data and b"Bcc" not in m.data
    assert m.data.endswith(b"\r\n\r\nline one\r\n.line two\r\n")


@pytest.mark.parametrize("version", [1, 2])
async def test_proxy_protocol_gives_the_backend_the_real_client(version: int) -> None:
    seen: list[tuple[tuple[str, int], str | None]] = []

    class Recording(InMemorySMTPBackend):
        async def mail_from(
            self, session: SMTPSession, sender: str, params: MailParams
        ) -> Reply | None:
            seen.append((session.peer, session.helo))
            return None

    header = (build_v1 if version == 1 else build_v2)(("203.0.113.7", 40000), ("127.0.0.1", 25))
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_smtp(
                Recording(),
                [Listener(name="p", proxy_protocol=True)],
                config=LOOPBACK,
                task_status=task_status,
            )
        )
        async for w in raw(info.port("p")):
            await w.stream.send(header + b"EHLO c.example\r\n")
            assert await w.line() == b"220 mx.test ESMTP protokit ready\r\n"
            await w.read_until(b"\r\n250 ")
            await w.line()
            assert await w.ask(b"MAIL FROM:<>\r\n") == b"250 2.1.0 Sender OK\r\n"
        tg.cancel_scope.cancel()
    assert seen == [(("203.0.113.7", 40000), "c.example")]


async def test_our_client_sendmail_smtplib_shape() -> None:
    backend = make_backend(local_recipients=["bob@y.example"])
    async with (
        our_smtp_server(backend, LOOPBACK) as srv,
        open_smtp(
            "127.0.0.1", srv.implicit, tls=TLSMode.IMPLICIT, ssl_context=srv.client_context()
        ) as client,
    ):
        refused = await client.sendmail("a@x.example", ["bob@y.example", "eve@y.example"], MSG)
    assert refused == {
        "eve@y.example": Reply(code=550, enhanced="5.1.1", lines=("No such user here",))
    }
    assert [(m.recipients, m.data, m.tls) for m in backend.messages] == [
        (("bob@y.example",), MSG, True)
    ]


@pytest.mark.parametrize("chunking", [True, False])
async def test_our_client_a_large_message_by_bdat_chunks_or_data(chunking: bool) -> None:
    # 1 MiB with lines starting with dots: four BDAT chunks of 256 KiB, or a
    # dot-stuffed DATA body written in pieces.
    line = b".a line that starts with a dot and is otherwise plain text...\r\n"
    big = b"Subject: big\r\n\r\n" + line * (1024 * 1024 // len(line))
    backend = make_backend()
    async with (
        our_smtp_server(backend, LOOPBACK) as srv,
        open_smtp(
            "127.0.0.1", srv.implicit, tls=TLSMode.IMPLICIT, ssl_context=srv.client_context()
        ) as client,
    ):
        result = await client.send_message(
            big, sender="a@x.example", recipients=["b@y.example"], chunking=chunking
        )
    assert result.reply == Reply(code=250, enhanced="2.0.0", lines=("Message accepted",))
    [m] = backend.messages
    assert m.data == big
    assert m.mail_params.size == len(big)
