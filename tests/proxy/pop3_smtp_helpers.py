"""Fixtures of the proxy's POP3 and SMTP tests: a token source backed by the
fake OAuth provider, accounts, the proxy running in a test's task group, and
the SMTP upstream peer (aiosmtpd whose XOAUTH2/OAUTHBEARER hooks introspect
every token at the fake provider, RFC 7662).

Why aiosmtpd for the SMTP upstream rather than protokit's own serve_smtp:
it is an independent implementation of the SMTP server side and of the
XOAUTH2/OAUTHBEARER framing (its own 334 challenges, its own 535), so the
proxy's client side is checked against someone else's reading of the RFCs.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from protokit.net import TLSMode
from protokit.oauth import AccessToken
from protokit.proxy import (
    AccountConfig,
    AuthorizationNeeded,
    ProviderConfig,
    ProxyConfig,
    ProxyLimits,
    serve_proxy,
)
from protokit.wire import Secret
from tests.interop.oauth_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Grant, Provider
from tests.interop.peers import free_port, make_cert

LOCAL_USER = "me"
_users = itertools.count(1)


def fresh_user() -> str:
    """A user name no earlier test used (tests share one Dovecot)."""
    return f"user{next(_users)}"


LOCAL_PASSWORD = "local-pw"


class ProviderTokens:
    """A TokenSource for the proxy: the local password is LOCAL_PASSWORD;
    access tokens come from the fake provider's grant, and a revoked grant is
    AuthorizationNeeded (as the token manager reports ``invalid_grant``)."""

    def __init__(self, provider: Provider, grant: Grant) -> None:
        self.provider = provider
        self.grant = grant
        self.requests = 0

    async def unlock(self, grant: str, password: Secret[str]) -> bool:
        return password.expose() == LOCAL_PASSWORD

    async def access_token(self, grant: str) -> AccessToken:
        self.requests += 1
        if self.grant.revoked:
            raise AuthorizationNeeded(f"the grant {grant} was revoked")
        return token(self.provider.access_token(self.grant))


def token(value: str) -> AccessToken:
    """An access token valid for an hour, as the token manager hands out."""
    return AccessToken(token=Secret(value), expires_at=datetime.now(UTC) + timedelta(hours=1))


def account(
    protocol: str,
    provider: Provider,
    *,
    upstream_port: int,
    upstream_tls: TLSMode,
    cafile: Path | None = None,
    listen_tls: TLSMode = TLSMode.PLAIN,
    cert: tuple[Path, Path] | None = None,
    mechanisms: tuple[str, ...] = ("XOAUTH2", "OAUTHBEARER"),
    name: str = "work",
    upstream_user: str = "alice",
) -> AccountConfig:
    return AccountConfig(
        name=name,
        protocol=protocol,  # type: ignore[arg-type]
        listen_port=0,
        listen_tls=listen_tls,
        cert_file=None if cert is None else cert[0],
        key_file=None if cert is None else cert[1],
        local_user=LOCAL_USER,
        upstream_host="127.0.0.1",
        upstream_port=upstream_port,
        upstream_tls=upstream_tls,
        upstream_cafile=None if cafile is None else str(cafile),
        upstream_user=upstream_user,
        provider=ProviderConfig(
            name="fake",
            token_endpoint=provider.token_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=Secret(DEFAULT_CLIENT_SECRET),
        ),
        mechanisms=mechanisms,
    )


@asynccontextmanager
async def running_proxy(
    acct: AccountConfig, tokens: ProviderTokens, tmp: Path, **limits: float
) -> AsyncIterator[int]:
    """The proxy serving ``acct`` for the block; yields its local port.
    Failed logins are answered at once unless ``auth_failure_delay`` is given
    (tests/proxy/test_auth_failures.py tests the delay)."""
    limits.setdefault("auth_failure_delay", 0.0)
    config = ProxyConfig(accounts=(acct,), state_dir=tmp / "state", limits=ProxyLimits(**limits))
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_proxy(config, tokens=tokens, task_status=task_status)
        )
        try:
            yield info.addresses[acct.name][1]
        finally:
            tg.cancel_scope.cancel()


# -- the SMTP upstream: aiosmtpd with introspecting OAuth hooks ------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    user: str


@dataclass
class SmtpUpstream:
    port: int
    cert: Path
    received: list[Received] = field(default_factory=list)
    #: every AUTH line's mechanism, in order (what the proxy chose)
    mechanisms: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)


def _introspect(provider: Provider, token: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        provider.introspect_url,
        data=f"token={token}".encode(),
        headers={
            "Authorization": f"Basic {auth}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


class _Handler:
    def __init__(self, upstream: SmtpUpstream, provider: Provider) -> None:
        self.upstream = upstream
        self.provider = provider

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.upstream.lock:
            self.upstream.received.append(
                Received(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=envelope.original_content or b"",
                    user=str(session.auth_data),
                )
            )
        return "250 2.0.0 Message accepted"

    async def _initial(self, server: SMTP, args: list[str]) -> str:
        if len(args) > 1:
            return base64.b64decode(args[1]).decode()
        answer = await server.challenge_auth("", encode_to_b64=False)
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def _check(self, user: str | None, auth: str) -> bool:
        if not auth.startswith("Bearer ") or user is None:
            return False
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, _introspect, self.provider, auth[7:])
        return result.get("active") is True and result.get("username") == user

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        self.upstream.mechanisms.append("XOAUTH2")
        raw = await self._initial(server, args)
        parts = dict(p.split("=", 1) for p in raw.split("\x01") if "=" in p)
        user = parts.get("user")
        ok = await self._check(user, parts.get("auth", ""))
        if not ok:
            error = base64.b64encode(b'{"status":"401","schemes":"bearer"}').decode()
            await server.challenge_auth(error, encode_to_b64=False)
        return AuthResult(success=ok, handled=False, auth_data=user)

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        self.upstream.mechanisms.append("OAUTHBEARER")
        raw = await self._initial(server, args)
        gs2, _, rest = raw.partition("\x01")
        user = next((p[2:] for p in gs2.split(",") if p.startswith("a=")), None)
        kv = dict(p.split("=", 1) for p in rest.split("\x01") if "=" in p)
        ok = await self._check(user, kv.get("auth", ""))
        if not ok:
            error = base64.b64encode(b'{"status":"invalid_token"}').decode()
            await server.challenge_auth(error, encode_to_b64=False)
        return AuthResult(success=ok, handled=False, auth_data=user)


def _no_passwords(*args: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


@contextmanager
def smtp_upstream(provider: Provider, directory: Path, *, tls: TLSMode) -> Iterator[SmtpUpstream]:
    """aiosmtpd on 127.0.0.1 (STARTTLS offered, or implicit TLS, or plain),
    offering XOAUTH2 and OAUTHBEARER checked by introspection."""
    cert, key = make_cert(directory)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    port = free_port()
    upstream = SmtpUpstream(port=port, cert=cert)
    options: dict[str, Any] = {
        "authenticator": _no_passwords,
        # aiosmtpd knows STARTTLS only: under implicit TLS it would hide AUTH.
        "auth_require_tls": tls is TLSMode.STARTTLS,
        "server_hostname": "upstream.test",
        "ready_timeout": 10,
    }
    if tls is TLSMode.IMPLICIT:
        options["ssl_context"] = ctx
    elif tls is TLSMode.STARTTLS:
        options["tls_context"] = ctx
        options["require_starttls"] = True
    controller = Controller(
        _Handler(upstream, provider), hostname="127.0.0.1", port=port, **options
    )
    controller.start()
    try:
        yield upstream
    finally:
        controller.stop()


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll a condition a thread makes true (a peer's delivery), bounded."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# -- raw conversations ---------------------------------------------------------------


async def read_until(stream: Any, marker: bytes, timeout: float = 10.0) -> bytes:
    """Read until ``marker`` has arrived (or the peer closed); all bytes read."""
    got = b""
    with anyio.fail_after(timeout):
        while marker not in got:
            try:
                got += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                break
    return got


async def read_to_end(stream: Any, timeout: float = 10.0) -> bytes:
    """Everything until the peer closes."""
    got = b""
    with anyio.fail_after(timeout):
        while True:
            try:
                got += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return got


Script = list[tuple[bytes | None, bytes]]


@asynccontextmanager
async def scripted_upstream(
    script: Script,
) -> AsyncIterator[tuple[int, list[bytes], anyio.Event]]:
    """A fake upstream on 127.0.0.1 for one connection: for each step, read a
    line (when the step names the start it must have; None: read nothing),
    then send the bytes; close after the last step.  Yields the port, the
    lines it read and an event set when a connection is over."""
    lines: list[bytes] = []
    finished = anyio.Event()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve(stream: Any) -> None:
        try:
            await converse(stream)
        finally:
            finished.set()

    async def converse(stream: Any) -> None:
        buf = b""
        async with stream:
            for expect, answer in script:
                if expect is not None:
                    while b"\r\n" not in buf:
                        try:
                            buf += await stream.receive()
                        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                            return
                    line, buf = buf.split(b"\r\n", 1)
                    lines.append(line)
                    if not line.startswith(expect):
                        return
                await stream.send(answer)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield port, lines, finished
        finally:
            tg.cancel_scope.cancel()
