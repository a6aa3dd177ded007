"""The async SMTP/LMTP client against scripted servers over loopback, on
asyncio and trio: the exact bytes it sends (pipelined or not, DATA and BDAT,
DSN, SMTPUTF8), STARTTLS stripping, refusal and response injection before
any credential, capabilities re-read after TLS, AUTH by strength,
per-recipient results, errors before anything is sent, timeouts and
cancellation."""

from __future__ import annotations

import base64
from collections.abc import Awaitable
from typing import Any

import anyio
import pytest

from protokit import RemoteProtocolError
from protokit.net import ConnectionClosed, OperationTimeout, Timeouts, TLSError, TLSMode
from protokit.net._errors import TransportError
from protokit.net._smtp_client import (
    SMTPAuthenticationError,
    SMTPClient,
    SMTPDataError,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseError,
    SMTPSenderRefused,
    connect_smtp,
    open_smtp,
)
from protokit.sasl import PlainClient
from protokit.smtp import Body, Notify, Reply, Ret
from tests.interop.smtp_peers import Peer, certificate_authority, scripted

GREETING = b"220 mx.example ESMTP\r\n"
EHLO = b"EHLO client.example\r\n"
EHLO_PIPE = (
    b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n"
)
EHLO_PLAIN = b"250-mx.example\r\n250 8BITMIME\r\n"
MSG = b"Subject: t\r\n\r\n.dot\r\nlast\r\n"
STUFFED = b"Subject: t\r\n\r\n..dot\r\nlast\r\n.\r\n"


def plain(port: int, **kw: Any) -> Awaitable[SMTPClient]:
    return connect_smtp(
        "127.0.0.1",
        port,
        tls=TLSMode.PLAIN,
        local_hostname="client.example",
        allow_plaintext_auth=True,
        **kw,
    )


def r(code: int, enhanced: str | None, text: str) -> Reply:
    return Reply(code=code, enhanced=enhanced, lines=(text,))


async def test_pipelined_transaction_exact_bytes_and_per_recipient_results() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PIPE)
        envelope = await p.until(b"DATA\r\n")
        assert envelope == (
            b"MAIL FROM:<a@x.example> SIZE=%d\r\nRCPT TO:<b@y.example>\r\n"
            b"RCPT TO:<c@y.example>\r\nDATA\r\n" % len(MSG)
        )
        await p.send(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n")
        assert await p.until(b"\r\n.\r\n") == STUFFED
        await p.send(b"250 2.0.0 queued as X\r\n")
        await p.expect(b"QUIT\r\n", b"221 2.0.0 bye\r\n")

    async with scripted(script) as (port, _):
        client = await plain(port)
        result = await client.send_message(
            MSG, sender="a@x.example", recipients=["b@y.example", "c@y.example"]
        )
        assert await client.quit() == r(221, "2.0.0", "bye")
    queued = r(250, "2.0.0", "queued as X")
    assert result.reply == queued
    assert result.recipients == {
        "b@y.example": queued,
        "c@y.example": r(550, "5.1.1", "no such user"),
    }
    assert result.accepted == ["b@y.example"]
    assert result.refused == {"c@y.example": r(550, "5.1.1", "no such user")}
    assert result.mail_reply == r(250, "2.1.0", "ok")


async def test_without_pipelining_one_command_per_round_trip() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PLAIN)
        assert await p.segment() == b"MAIL FROM:<a@x.example>\r\n"
        await p.send(b"250 ok\r\n")
        assert await p.segment() == b"RCPT TO:<b@y.example>\r\n"
        await p.send(b"250 ok\r\n")
        assert await p.segment() == b"RCPT TO:<c@y.example>\r\n"
        await p.send(b"250 ok\r\n")
        assert await p.segment() == b"DATA\r\n"
        await p.send(b"354 go\r\n")
        assert await p.until(b"\r\n.\r\n") == STUFFED
        await p.send(b"250 done\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        result = await client.send_message(
            MSG, sender="a@x.example", recipients=["b@y.example", "c@y.example"]
        )
    assert result.accepted == ["b@y.example", "c@y.example"]


class _ctx:
    """``async with await _ctx(plain(port))``: QUIT on exit, as open_smtp."""

    def __init__(self, pending: Awaitable[SMTPClient]) -> None:
        self.pending = pending

    def __await__(self) -> Any:
        async def get() -> Any:
            self.client = await self.pending
            return self

        return get().__await__()

    async def __aenter__(self) -> SMTPClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.quit()


async def test_sender_refused_without_pipelining_sends_nothing_more() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PLAIN)
        await p.expect(b"MAIL FROM:<a@x.example>\r\n", b"553 5.7.1 not you\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        with pytest.raises(SMTPSenderRefused) as info:
            await client.send_message(MSG, sender="a@x.example", recipients=["b@y.example"])
    assert info.value.reply == r(553, "5.7.1", "not you")
    assert str(info.value) == "MAIL: 553 5.7.1 not you"


async def test_every_recipient_refused_then_rset() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PIPE)
        await p.until(b"DATA\r\n")
        await p.send(
            b"250 ok\r\n550 5.1.1 unknown\r\n450 4.2.1 later\r\n554 5.5.1 no valid recipients\r\n"
        )
        await p.expect(b"RSET\r\n", b"250 2.0.0 reset\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        with pytest.raises(SMTPRecipientsRefused) as info:
            await client.send_message(
                MSG, sender="a@x.example", recipients=["b@y.example", "c@y.example"]
            )
    assert info.value.refused == {
        "b@y.example": r(550, "5.1.1", "unknown"),
        "c@y.example": r(450, "4.2.1", "later"),
    }


async def test_message_refused_at_the_end_is_a_data_error() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PIPE)
        await p.until(b"DATA\r\n")
        await p.send(b"250 ok\r\n250 ok\r\n354 go\r\n")
        await p.until(b"\r\n.\r\n")
        await p.send(b"554 5.7.1 spam\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        with pytest.raises(SMTPDataError) as info:
            await client.send_message(MSG, sender="a@x.example", recipients=["b@y.example"])
    assert info.value.reply == r(554, "5.7.1", "spam")


async def test_bdat_pipelined_with_binarymime_for_binary_content() -> None:
    data = b"Subject: b\r\n\r\nnul\x00 and bare\nLF\r\n"

    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(
            EHLO,
            b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 SIZE 0\r\n",
        )
        head = b"MAIL FROM:<a@x.example> SIZE=%d BODY=BINARYMIME\r\nRCPT TO:<b@y.example>\r\n" % (
            len(data)
        )
        got = await p.exactly(len(head) + len(b"BDAT %d LAST\r\n" % len(data)) + len(data))
        assert got == head + b"BDAT %d LAST\r\n" % len(data) + data
        await p.send(b"250 ok\r\n250 ok\r\n250 2.0.0 stored\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        result = await client.send_message(data, sender="a@x.example", recipients=["b@y.example"])
    assert result.reply == r(250, "2.0.0", "stored")


async def test_dsn_and_smtputf8_parameters_on_the_wire() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PIPE)
        envelope = await p.until(b"DATA\r\n")
        assert (
            envelope
            == (
                f"MAIL FROM:<ü@x.example> SIZE={len(MSG)} SMTPUTF8 RET=HDRS ENVID=id+2B1\r\n"
                "RCPT TO:<b@y.example> NOTIFY=FAILURE,DELAY\r\nDATA\r\n"
            ).encode()
        )
        await p.send(b"250 ok\r\n250 ok\r\n354 go\r\n")
        await p.until(b"\r\n.\r\n")
        await p.send(b"250 ok\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        await client.send_message(
            MSG,
            sender="ü@x.example",
            recipients=["b@y.example"],
            ret=Ret.HDRS,
            envid="id+1",
            notify=[Notify.DELAY, Notify.FAILURE],
        )


async def test_what_the_server_lacks_is_refused_before_anything_is_sent() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, b"250-mx\r\n250 SIZE 20\r\n")
        await p.quit()

    async with scripted(script) as (port, _), await _ctx(plain(port)) as client:
        with pytest.raises(SMTPNotSupported, match="needs SMTPUTF8"):
            await client.send_message(b"x\r\n", sender="a@x.example", recipients=["ü@y"])
        with pytest.raises(SMTPNotSupported, match=r"exceeds the server's SIZE limit \(20\)"):
            await client.send_message(MSG, sender="a@x.example", recipients=["b@y.example"])
        with pytest.raises(SMTPNotSupported, match="8BITMIME"):
            await client.send_message(b"\xc3\xa9\r\n", sender="", recipients=["b@y.example"])
        with pytest.raises(SMTPNotSupported, match="DSN"):
            await client.send_message(
                b"x\r\n", sender="", recipients=["b@y.example"], ret=Ret.FULL
            )
        with pytest.raises(SMTPNotSupported, match="BINARYMIME"):
            await client.send_message(
                b"x\r\n", sender="", recipients=["b@y.example"], body=Body.BINARYMIME
            )


async def test_lmtp_one_final_reply_per_recipient() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"220 lmtp ready\r\n")
        await p.expect(b"LHLO client.example\r\n", b"250-lmtp\r\n250 PIPELINING\r\n")
        envelope = await p.until(b"DATA\r\n")
        assert envelope == (
            b"MAIL FROM:<>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n"
        )
        await p.send(b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n")
        assert await p.until(b"\r\n.\r\n") == STUFFED
        await p.send(b"250 2.1.5 a delivered\r\n452 4.2.2 c is full\r\n")
        await p.quit()

    async with (
        scripted(script) as (port, _),
        open_smtp(
            "127.0.0.1", port, tls=TLSMode.PLAIN, local_hostname="client.example", lmtp=True
        ) as client,
    ):
        assert client.lmtp
        result = await client.send_message(MSG, sender="", recipients=["a@x", "b@x", "c@x"])
    assert result.recipients == {
        "a@x": r(250, "2.1.5", "a delivered"),
        "b@x": r(550, "5.1.1", "unknown"),
        "c@x": r(452, "4.2.2", "c is full"),
    }
    assert result.accepted == ["a@x"]


async def test_lmtp_nobody_delivered_raises_with_every_reply() -> None:
    async def script(p: Peer) -> None:
        await p.send(b"220 lmtp ready\r\n")
        await p.expect(b"LHLO client.example\r\n", b"250 lmtp\r\n")
        for line in (b"MAIL FROM:<>\r\n", b"RCPT TO:<a@x>\r\n", b"RCPT TO:<b@x>\r\n"):
            await p.expect(line, b"250 ok\r\n")
        await p.expect(b"DATA\r\n", b"354 go\r\n")
        await p.until(b"\r\n.\r\n")
        await p.send(b"452 4.2.2 full\r\n552 5.2.2 over quota\r\n")
        await p.quit()

    async with (
        scripted(script) as (port, _),
        open_smtp(
            "127.0.0.1", port, tls=TLSMode.PLAIN, local_hostname="client.example", lmtp=True
        ) as client,
    ):
        with pytest.raises(SMTPRecipientsRefused) as info:
            await client.send_message(MSG, sender="", recipients=["a@x", "b@x"])
    assert info.value.refused == {
        "a@x": r(452, "4.2.2", "full"),
        "b@x": r(552, "5.2.2", "over quota"),
    }


async def test_simple_commands_exactly() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PLAIN)
        await p.expect(b"VRFY alice\r\n", b"252 2.0.0 maybe\r\n")
        await p.expect(b"NOOP\r\n", b"250 2.0.0 ok\r\n")
        await p.expect(b"RSET\r\n", b"250 2.0.0 reset\r\n")
        await p.expect(b"NOOP\r\n", b"421 4.3.2 going down\r\n")

    async with scripted(script) as (port, _):
        client = await plain(port)
        assert client.greeting == r(220, None, "mx.example ESMTP")
        assert client.ehlo_reply == Reply(code=250, lines=("mx.example", "8BITMIME"))
        assert "8BITMIME" in client.capabilities
        assert await client.vrfy("alice") == r(252, "2.0.0", "maybe")
        assert await client.noop() == r(250, "2.0.0", "ok")
        assert await client.rset() == r(250, "2.0.0", "reset")
        with pytest.raises(SMTPResponseError) as info:
            await client.noop()
        assert info.value.code == 421
        assert await client.quit() is None  # the server had gone


# -- TLS -------------------------------------------------------------------------------------


async def test_starttls_then_capabilities_are_read_again() -> None:
    with certificate_authority() as ca:

        async def script(p: Peer) -> None:
            await p.send(GREETING)
            await p.expect(EHLO, b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")
            await p.expect(b"STARTTLS\r\n", b"220 2.0.0 go ahead\r\n")
            await p.start_tls(ca.server_context())
            # Only LOGIN after TLS: the client must use what it hears now.
            await p.expect(EHLO, b"250-mx\r\n250 AUTH LOGIN\r\n")
            await p.expect(b"AUTH LOGIN\r\n", b"334 VXNlcm5hbWU6\r\n")
            await p.expect(base64.b64encode(b"alice") + b"\r\n", b"334 UGFzc3dvcmQ6\r\n")
            await p.expect(base64.b64encode(b"alicepw") + b"\r\n", b"235 2.7.0 ok\r\n")
            await p.expect(b"QUIT\r\n", b"221 bye\r\n")

        async with (
            scripted(script) as (port, _),
            open_smtp(
                "127.0.0.1",
                port,
                tls=TLSMode.STARTTLS,
                ssl_context=ca.client_context(),
                local_hostname="client.example",
                login=("alice", "alicepw"),
            ) as client,
        ):
            assert client.tls_active and client.authenticated
            assert client.capabilities.auth_mechanisms == {"LOGIN"}


@pytest.mark.parametrize(
    ("ehlo", "starttls_reply", "error"),
    [
        (b"250-mx\r\n250 AUTH PLAIN\r\n", None, "does not offer STARTTLS"),
        (b"250-mx\r\n250 STARTTLS\r\n", b"454 4.7.0 TLS not available\r\n", "refused STARTTLS"),
    ],
)
async def test_starttls_stripped_or_refused_fails_before_credentials(
    ehlo: bytes, starttls_reply: bytes | None, error: str
) -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, ehlo)
        if starttls_reply is not None:
            await p.expect(b"STARTTLS\r\n", starttls_reply)
        assert await p.rest() == b""  # no AUTH, no MAIL, not even QUIT

    async with scripted(script) as (port, _):
        with pytest.raises(TLSError, match=error):
            await connect_smtp(
                "127.0.0.1",
                port,
                local_hostname="client.example",
                login=("alice", "alicepw"),
            )


async def test_starttls_response_injection_is_refused() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, b"250-mx\r\n250 STARTTLS\r\n")
        await p.expect(b"STARTTLS\r\n", b"220 go\r\n250 injected\r\n")
        assert await p.rest() == b""  # no TLS hello, nothing

    async with scripted(script) as (port, _):
        with pytest.raises(RemoteProtocolError, match="after the STARTTLS reply"):
            await connect_smtp("127.0.0.1", port, local_hostname="client.example")


async def test_implicit_tls_on_a_plaintext_port_names_the_mode() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.rest()

    async with scripted(script) as (port, _):
        with pytest.raises(TLSError, match=r"tls=TLSMode\.STARTTLS"):
            await connect_smtp("127.0.0.1", port, tls=TLSMode.IMPLICIT)


async def test_no_greeting_names_implicit_tls() -> None:
    async def script(p: Peer) -> None:
        await p.rest()

    async with scripted(script) as (port, _):
        with pytest.raises(OperationTimeout, match="implicit-TLS port"):
            await connect_smtp("127.0.0.1", port, timeouts=Timeouts(read=0.3))


# -- AUTH ------------------------------------------------------------------------------------


async def test_auth_picks_the_strongest_and_never_plaintext_without_tls() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, b"250-mx\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")
        await p.expect(b"AUTH CRAM-MD5\r\n", b"334 PDEyMzQ1QGxvY2FsaG9zdD4=\r\n")
        answer = await p.line()
        user, _, digest = base64.b64decode(answer).partition(b" ")
        assert user == b"alice" and len(digest) == 32
        await p.send(b"535 5.7.8 nope\r\n")
        assert await p.rest() == b""

    async with scripted(script) as (port, _):
        client = await connect_smtp(
            "127.0.0.1", port, tls=TLSMode.PLAIN, local_hostname="client.example"
        )
        try:
            with pytest.raises(SMTPAuthenticationError) as info:
                await client.login("alice", "alicepw")
            assert info.value.reply == r(535, "5.7.8", "nope")
            assert "alicepw" not in repr(info.value) + str(info.value)
        finally:
            await client.aclose()


async def test_plaintext_mechanisms_only_are_refused_without_tls() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")
        await p.quit()

    async with (
        scripted(script) as (port, _),
        open_smtp("127.0.0.1", port, tls=TLSMode.PLAIN, local_hostname="client.example") as client,
    ):
        with pytest.raises(SMTPNotSupported, match="plaintext mechanisms need TLS"):
            await client.login("alice", "alicepw")


async def test_explicit_mechanism_and_xoauth2_error_reply() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, b"250-mx\r\n250 AUTH PLAIN XOAUTH2\r\n")
        line = await p.line()
        assert line.startswith(b"AUTH XOAUTH2 ")
        assert base64.b64decode(line[13:]) == b"user=alice\x01auth=Bearer tok\x01\x01"
        await p.send(b"334 " + base64.b64encode(b'{"status":"401"}') + b"\r\n")
        await p.expect(b"\r\n", b"535 5.7.8 bad token\r\n")
        await p.expect(
            b"AUTH PLAIN " + base64.b64encode(b"\x00bob\x00pw") + b"\r\n", b"235 ok\r\n"
        )
        await p.quit()

    async with (
        scripted(script) as (port, _),
        open_smtp(
            "127.0.0.1",
            port,
            tls=TLSMode.PLAIN,
            local_hostname="client.example",
            allow_plaintext_auth=True,
        ) as client,
    ):
        with pytest.raises(SMTPAuthenticationError) as info:
            await client.login("alice", token=lambda: "tok")
        assert info.value.sasl_error == {"status": "401"}
        await client.authenticate(PlainClient("bob", "pw"))
        assert client.authenticated


# -- timeouts and cancellation ------------------------------------------------------------------


async def test_read_timeout_per_operation() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PLAIN)
        assert await p.line() == b"NOOP\r\n"
        await p.rest()

    async with scripted(script) as (port, _):
        client = await plain(port, timeouts=Timeouts(read=0.3))
        try:
            with pytest.raises(OperationTimeout, match=r"within 0\.3 s"):
                await client.noop()
        finally:
            await client.aclose()


async def test_cancelled_send_leaves_whole_commands_and_an_unusable_client() -> None:
    got_body = anyio.Event()

    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PIPE)
        await p.until(b"DATA\r\n")
        await p.send(b"250 ok\r\n250 ok\r\n354 go\r\n")
        assert await p.until(b"\r\n.\r\n") == STUFFED
        got_body.set()
        assert await p.rest() == b""  # never a half command after the cancel

    async with scripted(script) as (port, _):
        client = await plain(port)
        async with anyio.create_task_group() as tg:

            async def send() -> None:
                await client.send_message(MSG, sender="a@x.example", recipients=["b@y.example"])

            tg.start_soon(send)
            with anyio.fail_after(5):
                await got_body.wait()
            tg.cancel_scope.cancel()
        with pytest.raises(TransportError, match="cancelled"):
            await client.noop()
        await client.aclose()


async def test_server_closing_mid_session_is_connection_closed() -> None:
    async def script(p: Peer) -> None:
        await p.send(GREETING)
        await p.expect(EHLO, EHLO_PLAIN)
        assert await p.line() == b"NOOP\r\n"  # read, then close without a reply

    async with scripted(script) as (port, _):
        client = await plain(port)
        with pytest.raises(ConnectionClosed):
            await client.noop()
        await client.aclose()
