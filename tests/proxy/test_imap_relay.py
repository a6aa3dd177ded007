"""The IMAP relay byte for byte, against scripted upstreams: literals (a
synchronizing one held until the upstream's "+"), pipelining, capability
rewriting, commands answered locally, an upstream BYE, an upstream that just
closes, and STARTTLS injection on both sides."""

from __future__ import annotations

import base64
import functools
import logging
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from anyio.streams.tls import TLSStream

from protokit.imap import ServerConfig
from protokit.net import InMemoryIMAPBackend, Listener, TLSMode, serve_imap
from protokit.net._imap_server import DEFAULT_CAPABILITIES
from protokit.sasl import TokenResult
from protokit.wire import Secret
from tests.interop.peers import free_port, make_cert

from .conftest import (
    LOCAL_PASSWORD,
    Peer,
    StaticTokens,
    fake_login,
    running_proxy,
    scripted_account,
    scripted_upstream,
)

XOAUTH2_LINE = (
    b"P1 AUTHENTICATE XOAUTH2 "
    + base64.b64encode(b"user=alice@example.com\x01auth=Bearer tok-1\x01\x01")
    + b"\r\n"
)


async def connect(port: int) -> Peer:
    return Peer(await anyio.connect_tcp("127.0.0.1", port))


async def test_literals_pipelining_capabilities_and_local_answers(tmp_path: Path) -> None:
    async def script(up: Peer) -> None:
        assert await fake_login(up) == XOAUTH2_LINE
        # Pipelined behind the LOGIN, forwarded once logged in.
        assert await up.line() == b"b NOOP\r\n"
        await up.send(b"b OK NOOP done\r\n")
        # A synchronizing literal: the line, then nothing until our "+",
        # although the client sent the octets at once.
        assert await up.line() == b"c APPEND INBOX {5}\r\n"
        await up.nothing_within(0.3)
        await up.send(b"+ go ahead\r\n")
        assert await up.exactly(7) == b"hello\r\n"
        await up.send(b"c OK APPEND done\r\n")
        # LITERAL+: straight through.
        assert await up.exactly(26) == b"d APPEND INBOX {3+}\r\nabc\r\n"
        await up.send(b"d OK APPEND done\r\n")
        # Refused before "+": no octets follow.
        assert await up.line() == b"e APPEND Nope {4}\r\n"
        await up.send(b"e NO [TRYCREATE] no such mailbox\r\n")
        assert await up.line() == b"f CAPABILITY\r\n"
        await up.send(
            b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=XOAUTH2 COMPRESS=DEFLATE IDLE\r\n"
            b"f OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 IDLE] done\r\n"
        )
        # The LOGIN after login never comes here; the NOOP behind it does.
        assert await up.line() == b"g NOOP\r\n"
        await up.send(b"* 3 FETCH (BODY[] {4}\r\nab\r\n)\r\ng OK done\r\n")
        await up.send(b"* BYE [EXPIRED] The access token expired\r\n")

    tokens = StaticTokens()
    async with (
        scripted_upstream(script) as (up_port, errors),
        running_proxy(scripted_account(up_port), tokens, tmp_path) as info,
        await connect(info.port("work")) as c,
    ):
        assert await c.line() == (
            b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN AUTH=LOGIN] "
            b"protokit proxy ready\r\n"
        )
        await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\nb NOOP\r\n")
        assert await c.line() == b"a OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in\r\n"
        assert await c.line() == b"b OK NOOP done\r\n"
        await c.send(b"c APPEND INBOX {5}\r\nhello\r\n")
        assert await c.line() == b"+ go ahead\r\n"
        assert await c.line() == b"c OK APPEND done\r\n"
        await c.send(b"d APPEND INBOX {3+}\r\nabc\r\n")
        assert await c.line() == b"d OK APPEND done\r\n"
        await c.send(b"e APPEND Nope {4}\r\n")
        assert await c.line() == b"e NO [TRYCREATE] no such mailbox\r\n"
        await c.send(b"f CAPABILITY\r\n")
        assert await c.line() == b"* CAPABILITY IMAP4rev1 IDLE\r\n"
        assert await c.line() == b"f OK [CAPABILITY IMAP4rev1 IDLE] done\r\n"
        await c.send(b"f2 LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\ng NOOP\r\n")
        assert await c.line() == (
            b"f2 BAD LOGIN is not allowed now: the session is authenticated\r\n"
        )
        assert await c.exactly(41) == b"* 3 FETCH (BODY[] {4}\r\nab\r\n)\r\ng OK done\r\n"
        assert await c.line() == b"* BYE [EXPIRED] The access token expired\r\n"
        assert await c.closed()
    assert errors == []
    assert tokens.calls == 1


async def test_upstream_that_closes_gives_the_client_a_bye(tmp_path: Path) -> None:
    async def script(up: Peer) -> None:
        await fake_login(up)
        assert await up.line() == b"a2 NOOP\r\n"

    async with (
        scripted_upstream(script) as (up_port, errors),
        running_proxy(scripted_account(up_port), StaticTokens(), tmp_path) as info,
        await connect(info.port("work")) as c,
    ):
        await c.line()
        # AUTHENTICATE PLAIN with SASL-IR
        ir = base64.b64encode(b"\x00me\x00" + LOCAL_PASSWORD.encode())
        await c.send(
            b"a1 AUTHENTICATE PLAIN " + ir + b"\r\n"
            b"a15 COMPRESS DEFLATE\r\na16 STARTTLS\r\na2 NOOP\r\n"
        )
        assert await c.line() == b"a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in\r\n"
        # Answered here, never forwarded (the upstream's next line is a2).
        assert await c.line() == (
            b"a15 BAD COMPRESS is not allowed now: the session is authenticated\r\n"
        )
        assert await c.line() == (
            b"a16 BAD STARTTLS is not allowed now: the session is authenticated\r\n"
        )
        assert await c.line() == (
            b"* BYE [UNAVAILABLE] the upstream server closed the connection\r\n"
        )
        assert await c.closed()
    assert errors == []


async def test_upstream_refusing_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(up: Peer) -> None:
        await up.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER AUTH=XOAUTH2] hi\r\n")
        assert await up.line() == XOAUTH2_LINE
        # The XOAUTH2 error challenge; the proxy answers it with an empty line.
        await up.send(b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n")
        assert await up.line() == b"\r\n"
        await up.send(b"P1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        assert await up.closed()

    async with (
        scripted_upstream(script) as (up_port, errors),
        running_proxy(scripted_account(up_port), StaticTokens(), tmp_path) as info,
        await connect(info.port("work")) as c,
    ):
        await c.line()
        await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
        assert await c.line() == (
            b"a NO [AUTHENTICATIONFAILED] the upstream refused the access token (XOAUTH2)\r\n"
        )
    assert errors == []


async def test_upstream_starttls_response_injection_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(up: Peer) -> None:
        await up.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=XOAUTH2] hi\r\n")
        assert await up.line() == b"P1 STARTTLS\r\n"
        # The OK and a forged capability list in one segment.
        await up.send(b"P1 OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
        assert await up.closed()

    caplog.set_level(logging.WARNING, logger="protokit.proxy")
    tokens = StaticTokens()
    acct = scripted_account(0, upstream_tls=TLSMode.STARTTLS)
    async with scripted_upstream(script) as (up_port, errors):
        acct = scripted_account(up_port, upstream_tls=TLSMode.STARTTLS)
        async with (
            running_proxy(acct, tokens, tmp_path) as info,
            await connect(info.port("work")) as c,
        ):
            assert await c.line() == b"* BYE [UNAVAILABLE] the upstream server is unavailable\r\n"
            assert await c.closed()
    assert errors == []
    assert tokens.calls == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"account=work upstream unavailable: 127.0.0.1:{up_port}: "
        "data received after the STARTTLS OK (response injection)"
    ]


async def idle_upstream(up: Peer) -> None:
    await up.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n")
    await up.closed()


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_local_starttls_login_disabled_before_and_injection_refused(
    tmp_path: Path,
) -> None:
    cert, key = make_cert(tmp_path)
    tokens = StaticTokens()
    async with scripted_upstream(idle_upstream) as (up_port, _errors):
        acct = scripted_account(up_port, listen_tls=TLSMode.STARTTLS, cert_file=cert, key_file=key)
        async with (
            running_proxy(acct, tokens, tmp_path) as info,
            await connect(info.port("work")) as c,
        ):
            assert await c.line() == (
                b"* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED] "
                b"protokit proxy ready\r\n"
            )
            await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
            assert await c.line() == b"a NO [PRIVACYREQUIRED] LOGIN is disabled without TLS\r\n"
            await c.send(b"b STARTTLS\r\nc LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
            assert await c.line() == b"* BYE Command injection after STARTTLS\r\n"
            assert await c.closed()

            # Done right: TLS, then the mechanisms, then the login.
            async with await connect(info.port("work")) as c:
                await c.line()
                await c.send(b"b STARTTLS\r\n")
                assert await c.line() == b"b OK Begin TLS negotiation now\r\n"
                tls = await TLSStream.wrap(
                    c.stream, hostname="localhost", ssl_context=client_context(cert)
                )
                t = Peer(tls)
                await t.send(b"c CAPABILITY\r\n")
                assert await t.line() == (
                    b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN\r\n"
                )
                assert await t.line() == b"c OK CAPABILITY completed\r\n"
    assert tokens.calls == 0


class ExpiringTokens(InMemoryIMAPBackend):
    """Accepts "tok-1" for alice, valid for one more second."""

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        result = await super().validate_token(username, token)
        return TokenResult(
            valid=result.valid,
            identity=result.identity,
            expires_at=datetime.now(UTC) + timedelta(seconds=1),
        )


async def test_token_expiry_at_a_protokit_upstream_ends_the_client_session(
    tmp_path: Path,
) -> None:
    backend = ExpiringTokens()
    backend.add_user("alice@example.com", "unused")
    backend.add_token("tok-1", "alice@example.com")
    async with anyio.create_task_group() as tg:
        config = ServerConfig(
            capabilities=DEFAULT_CAPABILITIES, mechanisms=("XOAUTH2",), allow_plaintext=True
        )
        upstream = await tg.start(
            functools.partial(serve_imap, config=config), backend, [Listener(name="imap")]
        )
        acct = scripted_account(upstream.port("imap"))
        async with (
            running_proxy(acct, StaticTokens(), tmp_path) as info,
            await connect(info.port("work")) as c,
        ):
            await c.line()
            await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\nb SELECT INBOX\r\n")
            assert (await c.line()).startswith(b"a OK [CAPABILITY IMAP4rev1 ")
            while not (line := await c.line()).startswith(b"b "):
                assert line.startswith(b"* ")
            assert line == b"b OK [READ-WRITE] SELECT completed\r\n"
            await c.send(b"c IDLE\r\n")
            assert await c.line() == b"+ idling\r\n"
            assert await c.line() == b"* BYE [EXPIRED] The access token expired, log in again\r\n"
            assert await c.closed()
        tg.cancel_scope.cancel()


async def test_oauthbearer_error_challenge_is_answered_with_ctrl_a(tmp_path: Path) -> None:
    async def script(up: Peer) -> None:
        await up.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n")
        line = await up.line()
        assert line.startswith(b"P1 AUTHENTICATE OAUTHBEARER ")
        assert base64.b64decode(line.split(b" ")[3]) == (
            b"n,a=alice@example.com,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer tok-1\x01\x01"
            % up_port
        )
        await up.send(b"+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n")
        assert await up.line() == b"AQ==\r\n"
        await up.send(b"P1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        assert await up.closed()

    async with scripted_upstream(script) as (up_port, errors):
        acct = scripted_account(up_port, mechanisms=("OAUTHBEARER",))
        async with (
            running_proxy(acct, StaticTokens(), tmp_path) as info,
            await connect(info.port("work")) as c,
        ):
            await c.line()
            await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
            assert await c.line() == (
                b"a NO [AUTHENTICATIONFAILED] the upstream refused the access token "
                b"(OAUTHBEARER)\r\n"
            )
    assert errors == []


async def test_no_login_in_time_and_idle_for_too_long(tmp_path: Path) -> None:
    async def script(up: Peer) -> None:
        await up.send(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] fake ready\r\n")
        try:
            await up.line()
        except anyio.IncompleteRead:
            return  # the client that never logged in
        await up.send(b"P1 OK [CAPABILITY IMAP4rev1] Logged in\r\n")
        await up.closed()

    async with scripted_upstream(script) as (up_port, errors):
        async with (
            running_proxy(
                scripted_account(up_port), StaticTokens(), tmp_path,
                login_timeout=0.5, idle_timeout=0.5,
            ) as info,
            await connect(info.port("work")) as c,
        ):  # fmt: skip
            await c.line()
            assert await c.line() == b"* BYE Autologout: no login in time\r\n"
            assert await c.closed()
        async with (
            running_proxy(
                scripted_account(up_port), StaticTokens(), tmp_path, idle_timeout=0.5
            ) as info,
            await connect(info.port("work")) as c,
        ):
            await c.line()
            await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
            assert (await c.line()).startswith(b"a OK ")
            assert await c.line() == b"* BYE Autologout: idle for too long\r\n"
            assert await c.closed()
    assert errors == []


async def test_local_starttls_injection_split_at_every_offset(tmp_path: Path) -> None:
    # The injected LOGIN never runs, wherever the segment boundary falls:
    # either the proxy sees it before its OK (BYE), or it arrives after the
    # OK and is taken for the TLS handshake, which fails.
    cert, key = make_cert(tmp_path)
    tokens = StaticTokens()
    attack = b"b STARTTLS\r\nc LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n"
    start = len(b"b STARTTLS\r\n")
    async with scripted_upstream(idle_upstream) as (up_port, _errors):
        acct = scripted_account(up_port, listen_tls=TLSMode.STARTTLS, cert_file=cert, key_file=key)
        async with running_proxy(acct, tokens, tmp_path) as info:
            for cut in range(start, len(attack)):
                async with await connect(info.port("work")) as c:
                    await c.line()
                    await c.send(attack[:cut])
                    await c.send(attack[cut:])
                    first = await c.line()
                    assert first in (
                        b"* BYE Command injection after STARTTLS\r\n",
                        b"b OK Begin TLS negotiation now\r\n",
                    ), (cut, first)
                    if first.startswith(b"b OK"):
                        assert await c.closed()
            # After the OK, the plaintext is read as a TLS hello: the
            # handshake fails and the connection closes, no IMAP reply.
            async with await connect(info.port("work")) as c:
                await c.line()
                await c.send(attack[:start])
                assert await c.line() == b"b OK Begin TLS negotiation now\r\n"
                await c.send(attack[start:])
                rest = b""
                with anyio.fail_after(10):
                    try:
                        while chunk := await c.reader.receive():
                            rest += chunk
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        pass
                assert not rest.startswith(b"c "), rest
                assert rest[:1] in (b"", b"\x15"), rest  # nothing, or a TLS alert
    assert tokens.calls == 0


async def test_upstream_down_at_connect(tmp_path: Path) -> None:
    acct = scripted_account(free_port())
    async with (
        running_proxy(acct, StaticTokens(), tmp_path) as info,
        await connect(info.port("work")) as c,
    ):
        assert await c.line() == b"* BYE [UNAVAILABLE] the upstream server is unavailable\r\n"
        assert await c.closed()


def _peak_rss_reset() -> int:
    """Reset the kernel's peak RSS of this process (VmHWM) and return the
    current RSS in KiB (Linux: writing 5 to clear_refs resets the peak)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


async def test_twenty_megabyte_literals_stream_both_ways_in_bounded_memory(
    tmp_path: Path,
) -> None:
    size = 20 * 1024 * 1024
    piece = bytes(range(256)) * 256  # 64 KiB, sent again and again

    async def script(up: Peer) -> None:
        await fake_login(up)
        # Upstream to client: a 20 MB FETCH body.
        assert await up.line() == b"b FETCH 1 BODY[]\r\n"
        await up.send(b"* 1 FETCH (BODY[] {%d}\r\n" % size)
        for _ in range(size // len(piece)):
            await up.send(piece)
        await up.send(b")\r\nb OK done\r\n")
        # Client to upstream: a 20 MB APPEND with LITERAL+.
        assert await up.line() == b"c APPEND INBOX {%d+}\r\n" % size
        got = 0
        while got < size:
            got += len(await up.exactly(min(len(piece), size - got)))
        assert await up.line() == b"\r\n"
        await up.send(b"c OK APPEND done\r\n")

    async with (
        scripted_upstream(script) as (up_port, errors),
        running_proxy(scripted_account(up_port), StaticTokens(), tmp_path) as info,
        await connect(info.port("work")) as c,
    ):
        await c.line()
        await c.send(b"a LOGIN me " + LOCAL_PASSWORD.encode() + b"\r\n")
        await c.line()
        before = _peak_rss_reset()
        await c.send(b"b FETCH 1 BODY[]\r\n")
        assert await c.line() == b"* 1 FETCH (BODY[] {%d}\r\n" % size
        got = 0
        while got < size:
            chunk = await c.exactly(min(len(piece), size - got))
            assert chunk == piece[: len(chunk)]
            got += len(chunk)
        assert await c.line() == b")\r\n"
        assert await c.line() == b"b OK done\r\n"
        await c.send(b"c APPEND INBOX {%d+}\r\n" % size)
        for _ in range(size // len(piece)):
            await c.send(piece)
        await c.send(b"\r\n")
        assert await c.line() == b"c OK APPEND done\r\n"
        grown_mib = (_status_kib("VmHWM") - before) / 1024
    assert errors == []
    # A copy of either literal held whole would be 20 MiB (the proxy, the
    # scripted upstream and the client all run in this process).
    assert grown_mib < 8, grown_mib
