"""serve_pop3 over loopback, on asyncio and trio: exact replies on the wire,
the in-memory backend's locking and UPDATE, STLS and its command injection,
autologout, overload, graceful shutdown, and every login path driven by our
own client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.tls import TLSStream

from protokit import Secret
from protokit.net import (
    InMemoryPOP3Backend,
    Listener,
    Maildrop,
    POP3AuthenticationError,
    POP3Backend,
    ServerLimits,
    TLSError,
    TLSMode,
    build_v1,
    open_pop3,
    serve_pop3,
)
from protokit.pop3 import MaildropEntry, ServerConfig, apop_digest
from tests.interop.pop3_peers import our_pop3_server
from tests.net.wire import LineWire, connected, stoppable

LOOPBACK = ServerConfig(allow_plaintext_auth=True)
MSG1 = b"Subject: one\r\n\r\nfirst line\r\n.starts with a dot\r\nlast\r\n"
MSG2 = b"Subject: two\n\nbare LF body\n"
MSG2_CRLF = b"Subject: two\r\n\r\nbare LF body\r\n"


def make_backend() -> InMemoryPOP3Backend:
    b = InMemoryPOP3Backend()
    b.add_user("alice", "alicepw")
    b.add_user("bob", "bobpw")
    b.deliver("alice", MSG1, uid="uid-one")
    b.deliver("alice", MSG2, uid="uid-two")
    return b


Wire = LineWire  # also imported from here


def raw(port: int) -> AsyncIterator[Wire]:
    return connected(port, Wire)


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path


async def test_exact_session_and_update_at_quit(tmp_dir: Path) -> None:
    backend = make_backend()
    async with our_pop3_server(tmp_dir, backend, LOOPBACK) as srv:
        async for w in raw(srv.plain):
            assert await w.line() == b"+OK POP3 server ready\r\n"
            assert await w.ask(b"CAPA\r\n", b"\r\n.\r\n") == (
                b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\n"
                b"PIPELINING\r\nUIDL\r\nSTLS\r\nIMPLEMENTATION protokit\r\nUTF8\r\n"
                b"AUTH-RESP-CODE\r\n.\r\n"
            )
            assert await w.ask(b"USER alice\r\n") == b"+OK send PASS\r\n"
            assert await w.ask(b"PASS alicepw\r\n") == (
                b"+OK alice's maildrop has 2 messages (84 octets)\r\n"
            )
            assert backend.locked("alice")
            assert await w.ask(b"STAT\r\n") == b"+OK 2 84\r\n"
            assert await w.ask(b"LIST\r\n", b"\r\n.\r\n") == (
                b"+OK 2 messages (84 octets)\r\n1 54\r\n2 30\r\n.\r\n"
            )
            assert await w.ask(b"UIDL 2\r\n") == b"+OK 2 uid-two\r\n"
            assert await w.ask(b"RETR 1\r\n", b"\r\n.\r\n") == (
                b"+OK 54 octets\r\nSubject: one\r\n\r\nfirst line\r\n"
                b"..starts with a dot\r\nlast\r\n.\r\n"
            )
            assert await w.ask(b"TOP 1 1\r\n", b"\r\n.\r\n") == (
                b"+OK\r\nSubject: one\r\n\r\nfirst line\r\n.\r\n"
            )
            assert await w.ask(b"DELE 1\r\n") == b"+OK message 1 deleted\r\n"
            assert await w.ask(b"RETR 1\r\n") == b"-ERR message 1 already deleted\r\n"
            assert await w.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (1 message left)\r\n"
            )
            assert await w.eof() == b""
        assert backend.messages("alice") == [MSG2_CRLF]
        assert backend.retrieved["alice"] == set()
        assert not backend.locked("alice")


async def test_pipelined_commands_get_every_reply_in_order(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            burst = b"USER alice\r\nPASS alicepw\r\nSTAT\r\nRETR 2\r\nNOOP\r\nQUIT\r\n"
            await w.stream.send(burst)
            assert await w.eof() == (
                b"+OK send PASS\r\n+OK alice's maildrop has 2 messages (84 octets)\r\n"
                b"+OK 2 84\r\n+OK 30 octets\r\n" + MSG2_CRLF + b".\r\n+OK\r\n"
                b"+OK localhost POP3 server signing off (2 messages left)\r\n"
            )


async def test_close_without_quit_applies_nothing_and_unlocks(tmp_dir: Path) -> None:
    backend = make_backend()
    async with our_pop3_server(tmp_dir, backend, LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.ask(b"USER alice\r\n")
            await w.ask(b"PASS alicepw\r\n")
            assert await w.ask(b"DELE 1\r\n") == b"+OK message 1 deleted\r\n"
        with anyio.fail_after(5):
            while backend.locked("alice"):
                await anyio.sleep(0.01)
        assert backend.messages("alice") == [MSG1, MSG2_CRLF]


async def test_second_session_gets_in_use_and_bad_logins_look_alike(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), LOOPBACK) as srv:
        async for first in raw(srv.plain):
            await first.line()
            await first.ask(b"USER alice\r\n")
            assert (await first.ask(b"PASS alicepw\r\n")).startswith(b"+OK ")
            async for second in raw(srv.plain):
                await second.line()
                await second.ask(b"USER alice\r\n")
                assert await second.ask(b"PASS alicepw\r\n") == (
                    b"-ERR [IN-USE] maildrop already locked\r\n"
                )
                await second.ask(b"USER alice\r\n")
                wrong = await second.ask(b"PASS nope\r\n")
                await second.ask(b"USER nobody\r\n")
                unknown = await second.ask(b"PASS nope\r\n")
                assert wrong == unknown == b"-ERR [AUTH] authentication failed\r\n"


async def test_plaintext_user_is_refused_until_stls(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend()) as srv:
        async for w in raw(srv.plain):
            await w.line()
            assert (
                await w.ask(b"USER alice\r\n") == b"-ERR USER/PASS needs TLS: use STLS first\r\n"
            )
            assert await w.ask(b"STLS\r\n") == b"+OK Begin TLS negotiation\r\n"
            tls = await TLSStream.wrap(
                w.stream, hostname="localhost", ssl_context=srv.client_context()
            )
            t = Wire(tls)
            assert await t.ask(b"USER alice\r\n") == b"+OK send PASS\r\n"
            assert (await t.ask(b"PASS alicepw\r\n")).startswith(b"+OK alice's maildrop")
            assert await t.ask(b"QUIT\r\n") == (
                b"+OK localhost POP3 server signing off (2 messages left)\r\n"
            )


async def test_stls_command_injection_in_one_segment_closes(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend()) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.stream.send(b"STLS\r\nUSER x\r\n")
            # No "+OK" to STLS, no answer to USER: the "-ERR", then EOF.
            assert await w.eof() == b"-ERR command injection after STLS\r\n"


async def test_plaintext_after_stls_ok_is_never_read_as_a_command(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend()) as srv:
        async for w in raw(srv.plain):
            await w.line()
            assert await w.ask(b"STLS\r\n") == b"+OK Begin TLS negotiation\r\n"
            await w.stream.send(b"USER x\r\n")
            # The server reads it as a TLS record, fails the handshake and
            # closes; whatever it sends is TLS alert bytes, never "+OK".
            rest = await w.eof()
            assert b"+OK" not in rest and b"-ERR" not in rest


async def test_implicit_tls_listener(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend()) as srv:
        stream = await anyio.connect_tcp(
            "127.0.0.1", srv.implicit, tls=True, ssl_context=srv.client_context(),
            tls_hostname="localhost", tls_standard_compatible=False,
        )  # fmt: skip
        async with stream:
            w = Wire(stream)
            assert await w.line() == b"+OK POP3 server ready\r\n"
            caps = await w.ask(b"CAPA\r\n", b"\r\n.\r\n")
            assert b"\r\nUSER\r\n" in caps and b"STLS" not in caps
            assert await w.ask(b"STLS\r\n") == b"-ERR Command not permitted when TLS active\r\n"


async def test_autologout_after_idle_timeout(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), LOOPBACK, idle_timeout=0.3) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.stream.send(b"NOO")  # a command trickling in does not reset the timer
            assert await w.eof() == b"-ERR autologout: no command within the time limit\r\n"


async def test_connections_over_the_limit_get_sys_temp() -> None:
    backend = make_backend()
    limits = ServerLimits(max_connections=1)
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_pop3(
                backend, [Listener(name="p")], limits=limits, task_status=task_status
            )
        )
        async for first in raw(info.port("p")):
            assert await first.line() == b"+OK POP3 server ready\r\n"
            async for second in raw(info.port("p")):
                assert await second.eof() == (
                    b"-ERR [SYS/TEMP] too many connections, try again later\r\n"
                )
        tg.cancel_scope.cancel()


async def test_shutdown_tells_clients_and_releases_maildrops(tmp_dir: Path) -> None:
    backend = make_backend()
    with anyio.fail_after(10):
        async with stoppable(our_pop3_server(tmp_dir, backend, LOOPBACK)) as (srv, srv_scope):
            async for w in raw(srv.plain):
                await w.line()
                await w.ask(b"USER alice\r\n")
                await w.ask(b"PASS alicepw\r\n")
                await w.ask(b"DELE 1\r\n")
                assert backend.locked("alice")
                srv_scope.cancel()
                assert await w.eof() == b"-ERR [SYS/TEMP] server shutting down\r\n"
    assert not backend.locked("alice")
    assert backend.messages("alice") == [MSG1, MSG2_CRLF]


class _FailingMaildrop:
    def __init__(self, inner: Maildrop) -> None:
        self.inner = inner

    def listing(self) -> Sequence[MaildropEntry]:
        return self.inner.listing()

    async def message(self, uid: str) -> AsyncIterator[bytes]:
        empty: tuple[bytes, ...] = ()
        for chunk in empty:  # an async generator that fails when first read
            yield chunk
        raise OSError("disk on fire")

    async def update(self, deleted: Sequence[str], retrieved: Sequence[str]) -> None:
        raise OSError("disk on fire")

    async def close(self) -> None:
        await self.inner.close()


class _FailingBackend(InMemoryPOP3Backend):
    async def open_maildrop(self, username: str) -> Maildrop:
        return _FailingMaildrop(await super().open_maildrop(username))


async def test_backend_failures_become_sys_temp(tmp_dir: Path) -> None:
    backend = _FailingBackend()
    backend.add_user("alice", "alicepw")
    backend.deliver("alice", MSG1, uid="u1")
    async with our_pop3_server(tmp_dir, backend, LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.ask(b"USER alice\r\n")
            await w.ask(b"PASS alicepw\r\n")
            assert await w.ask(b"RETR 1\r\n") == b"-ERR [SYS/TEMP] message unavailable\r\n"
            assert await w.ask(b"DELE 1\r\n") == b"+OK message 1 deleted\r\n"
            assert await w.ask(b"QUIT\r\n") == (
                b"-ERR [SYS/TEMP] some deleted messages not removed\r\n"
            )
            assert await w.eof() == b""
    assert backend.messages("alice") == [MSG1]


SASL_CONFIG = ServerConfig(
    sasl_mechanisms=(
        "SCRAM-SHA-256",
        "SCRAM-SHA-1",
        "OAUTHBEARER",
        "XOAUTH2",
        "CRAM-MD5",
        "PLAIN",
        "LOGIN",
    ),
    apop=True,
)


@pytest.mark.parametrize(
    "mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
)
async def test_our_client_logs_in_with_each_password_mechanism(
    tmp_dir: Path, mechanism: str
) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), SASL_CONFIG) as srv:
        async with open_pop3(
            "127.0.0.1", srv.plain, ssl_context=srv.client_context(),
            server_hostname="localhost",
        ) as c:  # fmt: skip
            assert await c.auth("alice", password="alicepw", mechanisms=[mechanism]) == mechanism
            assert (await c.stat()).count == 2
        async with open_pop3(
            "127.0.0.1", srv.implicit, tls=TLSMode.IMPLICIT,
            ssl_context=srv.client_context(), server_hostname="localhost",
        ) as c:  # fmt: skip
            with pytest.raises(POP3AuthenticationError) as info:
                await c.auth("alice", password="wrong", mechanisms=[mechanism])
            assert (info.value.command, info.value.code) == ("AUTH", "AUTH")
            assert info.value.text == "authentication failed"


async def test_strongest_mechanism_is_picked(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), SASL_CONFIG) as srv, open_pop3(
        "127.0.0.1", srv.plain, ssl_context=srv.client_context(),
        server_hostname="localhost",
    ) as c:  # fmt: skip
        assert await c.auth("alice", password=Secret("alicepw")) == "SCRAM-SHA-256"


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
async def test_bearer_tokens_good_bad_and_callable(tmp_dir: Path, mechanism: str) -> None:
    backend = make_backend()
    backend.add_token("good-token", "alice")
    async with our_pop3_server(tmp_dir, backend, SASL_CONFIG) as srv:
        ctx = srv.client_context()
        async with open_pop3("127.0.0.1", srv.plain, ssl_context=ctx) as c:
            calls = []

            def token() -> str:
                calls.append(1)
                return "good-token"

            assert await c.auth("alice", token=token, mechanisms=[mechanism]) == mechanism
            assert calls == [1]
            assert (await c.stat()).count == 2
        async with open_pop3("127.0.0.1", srv.plain, ssl_context=ctx) as c:
            with pytest.raises(POP3AuthenticationError) as info:
                await c.auth("alice", token="bad-token", mechanisms=[mechanism])
            assert info.value.code == "AUTH"
            assert (
                info.value.sasl_error
                == {
                    "XOAUTH2": {
                        "status": "401",
                        "schemes": "bearer",
                        "scope": "https://mail.google.com/",
                    },
                    "OAUTHBEARER": {"status": "invalid_token"},
                }[mechanism]
            )


async def test_apop(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), SASL_CONFIG) as srv:
        async with open_pop3("127.0.0.1", srv.plain, ssl_context=srv.client_context()) as c:
            stamp = c.greeting.timestamp
            assert stamp is not None and stamp.startswith("<") and stamp.endswith("@localhost>")
            with pytest.raises(POP3AuthenticationError) as info:
                await c.apop("alice", "wrong")
            assert str(info.value) == "APOP: -ERR [AUTH] authentication failed"
            assert (await c.apop("alice", "alicepw")).startswith("alice's maildrop has 2")
        async for w in raw(srv.plain):
            greeting = await w.line()
            stamp = greeting.split()[-1].decode()
            digest = apop_digest(stamp, "nopw").encode()
            assert await w.ask(b"APOP nobody " + digest + b"\r\n") == (
                b"-ERR [AUTH] authentication failed\r\n"
            )


async def test_large_message_streams_both_ways(tmp_dir: Path) -> None:
    backend = make_backend()
    line = b"x" * 998 + b"\r\n"
    big = b"Subject: big\r\n\r\n" + line * 5000 + b".\r\n"
    backend.deliver("alice", big, uid="big")
    async with (
        our_pop3_server(tmp_dir, backend, LOOPBACK) as srv,
        open_pop3("127.0.0.1", srv.plain, tls=TLSMode.PLAIN, allow_plaintext_auth=True) as c,
    ):
        await c.login("alice", "alicepw")
        assert await c.list(3) == len(big)
        sizes = []
        got = bytearray()
        async with c.retr(3) as body:
            async for chunk in body:
                sizes.append(len(chunk))
                got += chunk
        assert bytes(got) == big
        assert body.size == len(big) and len(sizes) > 1
        assert max(sizes) <= 256 * 1024


async def test_unknown_and_malformed_commands(tmp_dir: Path) -> None:
    config = replace(LOOPBACK, max_errors=2)
    async with our_pop3_server(tmp_dir, make_backend(), config) as srv:
        async for w in raw(srv.plain):
            await w.line()
            assert await w.ask(b"GET /\r\n") == b"-ERR unknown command\r\n"
            assert (
                await w.ask(b"STAT\r\n")
                == b"-ERR STAT is not valid in the AUTHORIZATION state\r\n"
            )
            await w.stream.send(b"XYZZY\r\n")
            assert await w.eof() == b"-ERR too many bad commands, closing\r\n"


async def test_an_http_client_is_closed_at_once(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend(), LOOPBACK) as srv:
        async for w in raw(srv.plain):
            await w.line()
            await w.stream.send(
                b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: mail.test\r\n\r\n"
            )
            assert await w.eof() == b"-ERR not a POP3 client\r\n"


async def test_proxy_protocol_listener_logs_the_real_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="protokit.net.pop3")
    listeners = [Listener(name="p", proxy_protocol=True)]
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_pop3(
                make_backend(), listeners, config=LOOPBACK, task_status=task_status
            )
        )
        async for w in raw(info.port("p")):
            # The header and the first command in one segment.
            await w.stream.send(build_v1(("203.0.113.7", 4000), ("127.0.0.1", 110)) + b"CAPA\r\n")
            assert await w.line() == b"+OK POP3 server ready\r\n"
            assert (await w.read_until(b"\r\n.\r\n")).startswith(b"+OK Capability list")
            assert await w.ask(b"QUIT\r\n") == b"+OK localhost POP3 server signing off\r\n"
        tg.cancel_scope.cancel()
    assert "connection from 203.0.113.7" in caplog.text


def test_in_memory_backend_is_a_pop3_backend() -> None:

    assert isinstance(InMemoryPOP3Backend(), POP3Backend)
    assert "pw" not in repr(make_backend())


async def test_ssl_context_is_verified_by_default(tmp_dir: Path) -> None:
    async with our_pop3_server(tmp_dir, make_backend()) as srv:
        with pytest.raises(TLSError):
            async with open_pop3("127.0.0.1", srv.plain, ssl_context=ssl.create_default_context()):
                pass


async def test_secrets_and_contents_never_reach_the_logs(
    tmp_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = make_backend()
    backend.add_token("tok-SECRET-9", "alice")
    caplog.set_level("DEBUG", logger="protokit")
    async with our_pop3_server(tmp_dir, backend, SASL_CONFIG) as srv:
        ctx = srv.client_context()
        async with open_pop3("127.0.0.1", srv.plain, ssl_context=ctx) as c:
            await c.auth("alice", password="alicepw", mechanisms=["PLAIN"])
            await c.retr_bytes(1)
        async with open_pop3("127.0.0.1", srv.plain, ssl_context=ctx) as c:
            with pytest.raises(POP3AuthenticationError):
                await c.login("alice", "wrong-SECRET-pw")
            await c.auth("alice", token="tok-SECRET-9", mechanisms=["XOAUTH2"])
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "alice logged in with AUTH PLAIN" in text
    assert "USER/PASS login failed" in text
    for secret in ("alicepw", "SECRET", "first line", "AGFsaWNl"):
        assert secret not in text
