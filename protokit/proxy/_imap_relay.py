"""The authenticated IMAP session: both directions through protokit.imap's
framer.

Client to upstream: a server-role :class:`~protokit.imap.Framer` cuts the
client's bytes into commands and literals.  A synchronizing literal's line
goes upstream at once, but its octets only after the upstream's "+" (relayed
to the client, which is what releases them); a tagged NO/BAD instead drops
the literal.  Non-synchronizing literals and large literals stream through
in chunks.  Commands that must not reach the upstream after the local login
(LOGIN, AUTHENTICATE, STARTTLS, COMPRESS) are answered locally.

Upstream to client: a client-role framer cuts responses; CAPABILITY lists
(untagged, or a ``[CAPABILITY ...]`` code) are parsed and rewritten; large
literals stream.  An upstream ``* BYE`` (a token expiring) is forwarded and
the session ends when the upstream closes; an upstream that just closes gets
the client a ``* BYE``.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Callable
from typing import Final

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute

from .._sentinel import NEED_DATA
from ..errors import ProtocolError
from ..imap import Capability, Status, write_response
from ..imap._framer import (
    BadMessage,
    Framer,
    LiteralAnnounced,
    LiteralChunk,
    LiteralEnd,
    LiteralStart,
    Message,
    StreamedLiteral,
)
from ..imap._parse_response import parse_response
from ..imap._responses import ResponseCode
from ._session import ProxyContext
from ._smtp_pop3_io import drain_ssl

__all__ = ["relay", "rewrite_capabilities"]

CRLF: Final = b"\r\n"
READ_SIZE: Final = 256 * 1024
#: What a client must never see from the upstream: mechanisms and TLS the
#: proxy does not offer locally, compression it does not relay, referrals to
#: servers the client cannot log in to.
_DROP: Final = frozenset({"STARTTLS", "LOGINDISABLED", "LOGIN-REFERRALS", "MAILBOX-REFERRALS"})
#: Commands answered locally after login (the local password must never go
#: upstream; TLS and compression are the proxy's own business per side).
_LOCAL: Final = frozenset({b"LOGIN", b"AUTHENTICATE", b"STARTTLS", b"COMPRESS"})
# tag = 1*<any ASTRING-CHAR except "+"> (bounded as the framer bounds it)
_TAG: Final = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,256}")


def rewrite_capabilities(caps: tuple[str, ...], *, authenticated: bool) -> tuple[str, ...]:
    """The upstream's capabilities as the local client may use them: no
    upstream SASL mechanisms, STARTTLS, LOGINDISABLED, COMPRESS or referrals;
    SASL-IR only before login (the proxy's own AUTHENTICATE supports it)."""
    out: list[str] = []
    for cap in caps:
        upper = cap.upper()
        if upper.startswith(("AUTH=", "COMPRESS=")) or upper in _DROP or upper == "SASL-IR":
            continue
        out.append(cap)
    if not any(c.upper() in ("IMAP4REV1", "IMAP4REV2") for c in out):
        out.insert(0, "IMAP4rev1")
    if not authenticated:
        out.append("SASL-IR")
    return tuple(out)


def _emit(fragments: tuple[bytes | StreamedLiteral, ...], start: int, out: list[bytes]) -> None:
    """Append the wire form of ``fragments[start:]`` (lines at even indexes
    get their CRLF back; streamed literals went out as chunks already)."""
    for i in range(start, len(fragments)):
        f = fragments[i]
        if not i & 1:
            out.append(f)  # type: ignore[arg-type]
            out.append(CRLF)
        elif type(f) is bytes:
            out.append(f)


class _ClientOut:
    """Writes to the client from both directions without ever putting a local
    reply inside a response being relayed."""

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float) -> None:
        self.stream = stream
        self.timeout = timeout
        self.lock = anyio.Lock(fast_acquire=True)
        self.mid = False
        self.pending: list[bytes] = []

    async def local(self, data: bytes) -> None:
        async with self.lock:
            if self.mid:
                self.pending.append(data)
                return
            await self._send(data)

    async def relay(self, data: bytes, *, mid: bool) -> None:
        async with self.lock:
            if not mid and self.pending:
                data += b"".join(self.pending)
                self.pending.clear()
            self.mid = mid
            if data:
                await self._send(data)

    async def _send(self, data: bytes) -> None:
        with anyio.fail_after(self.timeout):
            await self.stream.send(data)


class _Relay:
    def __init__(
        self,
        ctx: ProxyContext,
        client: anyio.abc.ByteStream,
        upstream: anyio.abc.ByteStream,
        client_rest: bytes,
        upstream_rest: bytes,
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.upstream = upstream
        self.client_rest = client_rest
        self.upstream_rest = upstream_rest
        self.out = _ClientOut(client, ctx.limits.upstream_timeout)
        # The tag of a command whose synchronizing literal awaits the
        # upstream's "+", and where the decision goes.
        self.waiting_tag: bytes | None = None
        self.decided = anyio.Event()
        self.accepted = False
        self.upstream_bye = False
        self.last_activity = anyio.current_time()
        self.why = ""

    # -- client -> upstream -------------------------------------------------------

    async def _to_upstream(self, data: bytes) -> None:
        with anyio.fail_after(self.ctx.limits.upstream_timeout):
            await self.upstream.send(data)

    async def client_to_upstream(self) -> None:
        framer = Framer(server=True)
        ssl_object: ssl.SSLObject | None = self.client.extra(TLSAttribute.ssl_object, None)
        sent = 0  # fragments of the message being framed already sent
        # The message being framed is answered locally, none of it forwarded.
        dropping = False
        if self.client_rest:
            framer.feed(self.client_rest)
        while True:
            out: list[bytes] = []
            local: list[bytes] = []
            while True:
                ev = framer.next_event()
                if ev is NEED_DATA:
                    break
                if type(ev) is Message:
                    fragments = ev.fragments
                    if dropping or (sent == 0 and _is_local(fragments[0])):  # type: ignore[arg-type]
                        local.append(_refusal(fragments[0]))  # type: ignore[arg-type]
                        dropping = False
                    else:
                        _emit(fragments, sent, out)
                    sent = 0
                elif type(ev) is LiteralChunk:
                    if not dropping:
                        out.append(ev.data)
                elif type(ev) is LiteralAnnounced:
                    prefix = framer.announced_prefix()
                    if dropping or (sent == 0 and _is_local(prefix[0])):  # type: ignore[arg-type]
                        # LOGIN "user" {8}: never forwarded; a synchronizing
                        # literal is refused before its octets come.
                        if ev.synchronizing:
                            framer.reject_literal()
                            local.append(_refusal(prefix[0]))  # type: ignore[arg-type]
                            dropping = False
                            sent = 0
                        else:
                            dropping = True
                        continue
                    _emit(prefix, sent, out)
                    sent = len(prefix)
                    if ev.synchronizing:
                        # Set before the line goes, so the "+" cannot overtake
                        # the bookkeeping.
                        self.waiting_tag = ev.tag or b"*"
                        self.decided = anyio.Event()
                        await self._to_upstream(b"".join(out))
                        out = []
                        await self.decided.wait()
                        self.waiting_tag = None
                        if self.accepted:
                            framer.accept_literal()
                        else:
                            framer.reject_literal()
                            sent = 0
                elif type(ev) is BadMessage:
                    local.append(ev.error.reply or b"* BAD Invalid command\r\n")
                    dropping = False
                    sent = 0
            # Local answers first: they answer commands the client sent
            # before anything forwarded in this batch was answered.
            if local:
                await self.out.local(b"".join(local))
            if out:
                await self._to_upstream(b"".join(out))
            data = await _receive(self.client, ssl_object)
            if not data:
                self.why = "the client closed the connection"
                return
            self.last_activity = anyio.current_time()
            framer.feed(data)

    # -- upstream -> client -------------------------------------------------------

    async def upstream_to_client(self) -> None:
        framer = Framer(server=False)
        ssl_object: ssl.SSLObject | None = self.upstream.extra(TLSAttribute.ssl_object, None)
        sent = 0
        if self.upstream_rest:
            framer.feed(self.upstream_rest)
        while True:
            out: list[bytes] = []
            while True:
                ev = framer.next_event()
                if ev is NEED_DATA:
                    break
                if type(ev) is Message:
                    fragments = ev.fragments
                    first = fragments[0]
                    assert type(first) is bytes
                    head = first[:1]
                    if head == b"+":
                        if self.waiting_tag is not None:
                            self.accepted = True
                            self.decided.set()
                    elif head == b"*":
                        if first[2:5].upper() == b"BYE" and first[5:6] in (b"", b" "):
                            self.upstream_bye = True
                    elif self.waiting_tag is not None and first.startswith(
                        self.waiting_tag + b" "
                    ):
                        # Tagged NO/BAD instead of "+": no octets follow.
                        self.accepted = False
                        self.decided.set()
                    if len(fragments) == 1 and b"CAPABILITY" in first[:300].upper():
                        out.append(self._rewrite(first))
                        sent = 0
                        continue
                    _emit(fragments, sent, out)
                    sent = 0
                elif type(ev) is LiteralChunk:
                    out.append(ev.data)
                elif type(ev) is LiteralStart:
                    prefix = framer.announced_prefix()
                    _emit(prefix, sent, out)
                    sent = len(prefix)
                elif type(ev) is LiteralEnd:
                    pass
                elif type(ev) is BadMessage:
                    self.ctx.log.warning("the upstream sent a bad response: %s", ev.error)
                    self.why = "the upstream broke the protocol"
                    await self.out.relay(b"".join(out), mid=framer.mid_message)
                    if not self.out.mid:
                        await self.out.local(b"* BYE [UNAVAILABLE] the upstream server failed\r\n")
                    return
            if out:
                await self.out.relay(b"".join(out), mid=framer.mid_message)
            data = await _receive(self.upstream, ssl_object)
            if not data:
                if self.upstream_bye:
                    self.why = "the upstream ended the session (BYE)"
                else:
                    self.why = "the upstream closed the connection"
                    if not framer.mid_message:
                        await self.out.local(
                            b"* BYE [UNAVAILABLE] the upstream server closed the connection\r\n"
                        )
                return
            self.last_activity = anyio.current_time()
            framer.feed(data)

    def _rewrite(self, line: bytes) -> bytes:
        try:
            response = parse_response(Message((line,)))
        except ProtocolError:
            return line + CRLF
        if isinstance(response, Capability):
            caps = rewrite_capabilities(response.capabilities, authenticated=True)
            return write_response(Capability(capabilities=caps))
        if isinstance(response, Status) and response.code is not None:
            code = response.code
            if code.name == "CAPABILITY" and isinstance(code.value, tuple):
                caps = rewrite_capabilities(tuple(str(c) for c in code.value), authenticated=True)
                new = ResponseCode(name="CAPABILITY", value=caps)
                return write_response(
                    Status(tag=response.tag, status=response.status, code=new, text=response.text)
                )
        return line + CRLF

    # -- the session --------------------------------------------------------------

    async def run(self) -> str:
        idle = self.ctx.limits.idle_timeout

        async def watch(done: Callable[[], None]) -> None:
            while True:
                left = self.last_activity + idle - anyio.current_time()
                if left <= 0:
                    self.why = f"no traffic for {idle:g} s"
                    if not self.out.mid:
                        await self.out.local(b"* BYE Autologout: idle for too long\r\n")
                    done()
                    return
                await anyio.sleep(min(left, 60.0) if math.isfinite(left) else 60.0)

        async with anyio.create_task_group() as tg:

            async def direction(step: Callable[[], object]) -> None:
                try:
                    await step()  # type: ignore[misc]
                except TimeoutError:
                    self.why = "a peer stopped reading"
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    self.why = self.why or "a connection broke"
                tg.cancel_scope.cancel()

            tg.start_soon(direction, self.client_to_upstream)
            tg.start_soon(direction, self.upstream_to_client)
            tg.start_soon(watch, tg.cancel_scope.cancel)
        return self.why


async def _receive(stream: anyio.abc.ByteStream, ssl_object: ssl.SSLObject | None) -> bytes:
    """The next chunk of ``stream`` with the TLS records already
    decrypted-able (``ssl_object`` is the stream's, if it is TLS); b"" when
    the peer closed or the stream broke."""
    try:
        data = await stream.receive(READ_SIZE)
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        return b""
    if not data or ssl_object is None:
        return data
    return drain_ssl(ssl_object, data, READ_SIZE)


def _is_local(line: bytes) -> bool:
    parts = line.split(b" ", 2)
    return len(parts) > 1 and parts[1].upper() in _LOCAL


def _refusal(line: bytes) -> bytes:
    """``tag BAD ...`` for a command answered locally (the tag is echoed only
    when it is one; the line itself may hold the local password)."""
    parts = line.split(b" ", 2)
    tag = parts[0] if parts[0] and _TAG.fullmatch(parts[0]) else b"*"
    name = parts[1].upper() if len(parts) > 1 and parts[1].upper() in _LOCAL else b"That command"
    return tag + b" BAD " + name + b" is not allowed now: the session is authenticated" + CRLF


async def relay(
    ctx: ProxyContext,
    client: anyio.abc.ByteStream,
    upstream: anyio.abc.ByteStream,
    *,
    client_rest: bytes = b"",
    upstream_rest: bytes = b"",
) -> str:
    """Relay the authenticated session until either side ends it; returns why."""
    return await _Relay(ctx, client, upstream, client_rest, upstream_rest).run()
