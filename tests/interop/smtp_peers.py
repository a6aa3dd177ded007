"""Helpers of the SMTP tests: our server running in a test's task group (plain
with STARTTLS, implicit TLS, a trustme certificate), aiosmtpd running in a
thread of this process, and a scripted one-connection server that records
exactly what our client sends."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import trustme
from anyio.streams.tls import TLSStream

from protokit.net import Listener, ServerInfo, ServerLimits, Timeouts, TLSMode
from protokit.net._smtp_backend import InMemorySMTPBackend
from protokit.net._smtp_server import serve_smtp
from protokit.smtp import ServerConfig
from tests.interop.peers import free_port

USERS = {"alice": "alicepw", "bob": "bobpw"}


@dataclass
class LocalCA:
    """A trustme CA with a localhost/127.0.0.1 certificate, on disk too."""

    ca: trustme.CA
    directory: Path
    cafile: Path
    certfile: Path
    keyfile: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.certfile), str(self.keyfile))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@contextmanager
def certificate_authority() -> Iterator[LocalCA]:
    directory = Path(tempfile.mkdtemp(prefix="protokit-smtp-ca-"))
    try:
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1", common_name="localhost")
        cafile = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(cafile))
        certfile = directory / "cert.pem"
        keyfile = directory / "key.pem"
        cert.cert_chain_pems[0].write_to_path(str(certfile))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(certfile), append=True)
        cert.private_key_pem.write_to_path(str(keyfile))
        yield LocalCA(ca, directory, cafile, certfile, keyfile)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class OurSMTPServer:
    """serve_smtp in a test: its backend, ports and the CA to trust."""

    backend: InMemorySMTPBackend
    info: ServerInfo
    tls: LocalCA

    @property
    def plain(self) -> int:
        """Plaintext, STARTTLS offered."""
        return self.info.port("plain")

    @property
    def implicit(self) -> int:
        return self.info.port("implicit")

    @property
    def cafile(self) -> Path:
        return self.tls.cafile

    def client_context(self) -> ssl.SSLContext:
        return self.tls.client_context()


def make_backend(**kw: Any) -> InMemorySMTPBackend:
    b = InMemorySMTPBackend(**kw)
    for user, password in USERS.items():
        b.add_user(user, password)
    b.add_token("token-for-alice", "alice")
    return b


@asynccontextmanager
async def our_smtp_server(
    backend: InMemorySMTPBackend | None = None,
    config: ServerConfig | None = None,
    *,
    idle_timeout: float = 60.0,
    limits: ServerLimits | None = None,
    timeouts: Timeouts | None = None,
) -> AsyncIterator[OurSMTPServer]:
    """serve_smtp on 127.0.0.1: "plain" (offering STARTTLS) and "implicit"."""
    backend = backend if backend is not None else make_backend()
    with certificate_authority() as ca:
        ctx = ca.server_context()
        listeners = [
            Listener(name="plain", ssl_context=ctx),
            Listener(name="implicit", tls=TLSMode.IMPLICIT, ssl_context=ctx),
        ]
        async with anyio.create_task_group() as tg:
            info = await tg.start(
                lambda task_status: serve_smtp(
                    backend,
                    listeners,
                    config=config,
                    limits=limits,
                    idle_timeout=idle_timeout,
                    timeouts=timeouts,
                    task_status=task_status,
                )
            )
            try:
                yield OurSMTPServer(backend, info, ca)
            finally:
                tg.cancel_scope.cancel()


# -- aiosmtpd in a thread ------------------------------------------------------------


@dataclass
class Aiosmtpd:
    port: int
    #: (mail_from, rcpt_tos, content, smtp_utf8, auth user) per message
    messages: list[tuple[str, list[str], bytes, bool, str | None]] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)


@contextmanager
def aiosmtpd_server(
    ca: LocalCA,
    *,
    auth_required: bool = False,
    smtputf8: bool = True,
    require_starttls: bool = True,
) -> Iterator[Aiosmtpd]:
    """aiosmtpd 1.4 (its own event loop in a thread): STARTTLS with ``ca``'s
    certificate, AUTH PLAIN/LOGIN for USERS (only under TLS), SMTPUTF8."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    peer = Aiosmtpd(free_port())
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            auth = session.auth_data
            user = auth if isinstance(auth, str) else None
            with lock:
                peer.messages.append(
                    (
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        bytes(envelope.original_content),
                        bool(envelope.smtp_utf8),
                        user,
                    )
                )
                peer.mail_options.append(list(envelope.mail_options))
            return "250 2.0.0 Message accepted"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            ok = USERS.get(user) == auth_data.password.decode()
            return AuthResult(success=ok, handled=False, auth_data=user if ok else None)
        return AuthResult(success=False, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=peer.port,
        server_hostname="aiosmtpd.test",
        tls_context=ca.server_context(),
        require_starttls=require_starttls,
        authenticator=authenticator,
        auth_required=auth_required,
        auth_require_tls=True,
        enable_SMTPUTF8=smtputf8,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()


# -- a scripted server -----------------------------------------------------------------


class Peer:
    """The server side of one scripted connection; records what it read."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buf = b""
        self.received = b""

    async def _more(self) -> None:
        chunk = await self.stream.receive()
        self.buf += chunk
        self.received += chunk

    async def line(self) -> bytes:
        with anyio.fail_after(5):
            while b"\r\n" not in self.buf:
                await self._more()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    async def exactly(self, n: int) -> bytes:
        with anyio.fail_after(5):
            while len(self.buf) < n:
                await self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    async def until(self, end: bytes) -> bytes:
        with anyio.fail_after(5):
            while end not in self.buf:
                await self._more()
        i = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    async def segment(self) -> bytes:
        """What is buffered, or the next read if nothing is."""
        if not self.buf:
            with anyio.fail_after(5):
                await self._more()
        out, self.buf = self.buf, b""
        return out

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def expect(self, command: bytes, reply: bytes) -> None:
        got = await self.line()
        assert got == command, (got, command)
        await self.send(reply)

    async def quit(self) -> None:
        """The client's QUIT comes next and is the last thing it sends."""
        await self.expect(b"QUIT\r\n", b"221 2.0.0 bye\r\n")
        assert await self.rest() == b""

    async def start_tls(self, ctx: ssl.SSLContext) -> None:
        with anyio.fail_after(5):
            self.stream = await TLSStream.wrap(
                self.stream, server_side=True, ssl_context=ctx, standard_compatible=False
            )

    async def rest(self) -> bytes:
        """Whatever the client sends until it closes."""
        with anyio.fail_after(5):
            while True:
                try:
                    await self._more()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError, ssl.SSLError):
                    break
        out, self.buf = self.buf, b""
        return out


Script = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[tuple[int, list[Peer]]]:
    """A one-connection server running ``script``; yields its port and the
    peers (to inspect what the client sent after the fact)."""
    peers: list[Peer] = []
    done = anyio.Event()
    failures: list[BaseException] = []
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def handle(stream: anyio.abc.SocketStream) -> None:
            peer = Peer(stream)
            peers.append(peer)
            try:
                await script(peer)
            except BaseException as exc:
                failures.append(exc)
                raise
            finally:
                await anyio.aclose_forcefully(peer.stream)
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            yield port, peers
            with anyio.fail_after(5):
                await done.wait()
            tg.cancel_scope.cancel()
    assert not failures, failures
