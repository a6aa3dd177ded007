"""The POP3 side of the proxy: a local POP3 server with USER/PASS and
SASL PLAIN in front of an upstream that takes XOAUTH2 or OAUTHBEARER.

Before login the local side is a :class:`protokit.pop3.ServerConnection`
(STLS with its injection checks, USER/PASS, the RFC 5034 SASL framing) whose
CAPA is rebuilt from the upstream's parsed CAPA: what the proxy relays (TOP,
UIDL, PIPELINING, EXPIRE, LOGIN-DELAY) is kept, the upstream's SASL list and
STLS are not, and USER, SASL PLAIN and the response codes are the proxy's
own.  After login every client command is parsed with
:func:`protokit.pop3.parse_command` and sent again through the upstream
:class:`protokit.pop3.ClientConnection`; replies come back as its events and
are written out again, message bodies chunk by chunk through the
dot-unstuffer and :class:`protokit.wire.DotStuffer`, so memory stays bounded
whatever the message size.  The upstream enters its UPDATE state only when
the client sends QUIT: a client that just disconnects deletes nothing.

A failed local login is answered ``-ERR [AUTH] ...`` after
``auth_failure_delay``; after the ``max_auth_failures``-th that ``-ERR`` is
the last line (POP3 has no unsolicited reply) and the connection closes.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import anyio.abc

from .._sentinel import NEED_DATA
from ..errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from ..net import ConnectionInfo, TLSMode, TransportError
from ..pop3 import (
    Capabilities,
    ClientConfig,
    ClientConnection,
    ClientEvent,
    Command,
    CommandError,
    ConnectionClosed,
    Err,
    List,
    ListResult,
    MessageData,
    MessageEnd,
    MessageStart,
    Ok,
    PasswordLogin,
    Quit,
    ResponseCode,
    SaslAuthenticated,
    SaslFailed,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    StartTLS,
    StatResult,
    Uidl,
    UidlResult,
    UserReceived,
    parse_command,
)
from ..pop3._parse import parse_status
from ..pop3._write import err_line, multiline, ok_line
from ..wire import DotStuffer, ReceiveBuffer
from ._session import ProxyContext
from ._smtp_pop3_io import (
    PeerGone,
    UpstreamAuthError,
    receive,
    send,
    serve_session,
    upstream_mechanism,
    upstream_plaintext_ok,
)

__all__ = ["handle_pop3", "local_capabilities"]

#: RFC 1939 section 9: what a client may send once logged in.
_TRANSACTION: Final = frozenset(
    {"STAT", "LIST", "RETR", "TOP", "UIDL", "DELE", "RSET", "NOOP", "QUIT", "CAPA"}
)
#: Upstream capabilities the proxy passes on (the relay handles them as sent).
_RELAYED: Final = ("TOP", "UIDL", "PIPELINING")
#: Commands a client may have pipelined ahead of their replies, at most.
_MAX_QUEUED: Final = 64
_MAX_ERRORS: Final = 20
_COMMAND_LINE: Final = 255


def _keyword(cmd: Command) -> str:
    return type(cmd).__name__.upper()


def _status(ok: bool, text: str, code: str | None = None) -> bytes:
    write = ok_line if ok else err_line
    try:
        return write(text, code)
    except LocalProtocolError:
        # An upstream text this side would not send (over-long, or a bogus
        # code): the status alone still tells the client the outcome.
        return write()


def local_capabilities(
    upstream: Capabilities | None, *, starttls: bool
) -> tuple[frozenset[str], int | None, str | None]:
    """What the local CAPA offers, from the upstream's parsed CAPA: the
    capability set for :class:`ServerConfig`, its LOGIN-DELAY and EXPIRE."""
    caps = {"USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "IMPLEMENTATION"}
    if starttls:
        caps.add("STLS")
    login_delay: int | None = None
    expire: str | None = None
    if upstream is not None:
        caps.update(c for c in _RELAYED if c in upstream)
        delay = upstream.get("LOGIN-DELAY")
        if delay and delay[0].isdigit() and len(delay[0]) < 10:
            caps.add("LOGIN-DELAY")
            login_delay = int(delay[0])
        value = upstream.get("EXPIRE")
        if value:
            caps.add("EXPIRE")
            expire = " ".join(value)
    return frozenset(caps), login_delay, expire


class _UpstreamLost(Exception):
    """The upstream connection broke during the login: the session ends."""


class _Session:
    def __init__(self, stream: anyio.abc.ByteStream, ctx: ProxyContext) -> None:
        self.ctx = ctx
        self.account = ctx.account
        self.limits = ctx.limits
        self.log = ctx.log
        self.local = stream
        self.upstream: anyio.abc.ByteStream | None = None
        self.up = ClientConnection(
            ClientConfig(
                tls_active=self.account.upstream_tls is TLSMode.IMPLICIT,
                allow_plaintext_auth=upstream_plaintext_ok(self.account),
                require_tls=not upstream_plaintext_ok(self.account),
            )
        )
        self.caps: Capabilities | None = None

    # -- I/O --------------------------------------------------------------------

    async def to_local(self, data: bytes) -> None:
        await send(self.local, data, self.limits.upstream_timeout)

    async def flush_upstream(self) -> None:
        assert self.upstream is not None
        await send(self.upstream, self.up.data_to_send(), self.limits.upstream_timeout)

    async def up_event(self) -> ClientEvent:
        """The upstream's next event, reading (before login) as needed."""
        assert self.upstream is not None
        while True:
            ev = self.up.next_event()
            if ev is not NEED_DATA:
                return ev
            await self.flush_upstream()
            self.up.receive_data(await receive(self.upstream, self.limits.upstream_timeout))

    # -- the upstream, before the client logs in --------------------------------

    async def open_upstream(self) -> str | None:
        """Connect, STLS if configured, CAPA.  None, or why it failed."""
        where = f"{self.account.upstream_host}:{self.account.upstream_port}"
        try:
            self.upstream = await self.ctx.open_upstream()
            ev = await self.up_event()
            if isinstance(ev, Err):
                return f"the upstream server refused the connection: {ev.text}"
            if self.account.upstream_tls is TLSMode.STARTTLS:
                self.up.stls()
                ev = await self.up_event()
                if not isinstance(ev, StartTLS):
                    return "the upstream server refused STLS"
                self.upstream = await self.ctx.upstream_start_tls(self.upstream)
                self.up.tls_established()
            self.up.capa()
            ev = await self.up_event()
            self.caps = ev if isinstance(ev, Capabilities) else None
        except (TransportError, TimeoutError, PeerGone) as exc:
            self.log.warning("cannot reach the upstream %s: %s", where, exc)
            return "the upstream server is unavailable"
        except ProtocolError as exc:
            self.log.warning("the upstream %s broke the protocol: %s", where, exc)
            return "the upstream server is unavailable"
        return None

    async def upstream_login(self) -> tuple[bool, str]:
        """AUTH XOAUTH2/OAUTHBEARER upstream: (success, text for the client)."""
        offered = self.caps.sasl_mechanisms if self.caps is not None else ()
        retried = False
        while True:
            try:
                mechanism, token = await upstream_mechanism(self.ctx, offered)
            except UpstreamAuthError as exc:
                return False, exc.text
            try:
                self.up.auth(mechanism)
                ev = await self.up_event()
            except (TransportError, TimeoutError, PeerGone, ProtocolError) as exc:
                self.log.warning("upstream authentication broke off: %s", exc)
                raise _UpstreamLost from None
            if isinstance(ev, ConnectionClosed):
                self.log.warning("the upstream server closed the connection during AUTH")
                raise _UpstreamLost
            if isinstance(ev, Ok):
                self.log.info("logged in upstream as %s", self.account.upstream_user)
                return True, ev.text or "logged in"
            text = ev.text if isinstance(ev, Err) else ""
            self.log.warning("the upstream refused the access token: %s", text)
            # A cached token revoked or expired early: once more with a fresh one.
            if retried or not self.ctx.token_rejected(token):
                return False, f"the upstream server refused the access token: {text}".rstrip(": ")
            retried = True

    # -- the local login ----------------------------------------------------------

    def server_config(self) -> ServerConfig:
        listen = self.account.listen_tls
        caps, login_delay, expire = local_capabilities(
            self.caps, starttls=listen is TLSMode.STARTTLS
        )
        config = ServerConfig(
            greeting="POP3 proxy ready",
            allow_plaintext_auth=listen is TLSMode.PLAIN,
            tls_available=listen is TLSMode.STARTTLS,
            tls_active=listen is TLSMode.IMPLICIT,
            sasl_mechanisms=("PLAIN",),
            capabilities=caps,
            implementation="protokit-proxy",
        )
        try:
            return dataclasses.replace(config, login_delay=login_delay, expire=expire)
        except ValueError:
            # An EXPIRE or LOGIN-DELAY value this side would not send.
            return config

    async def login(self, srv: ServerConnection) -> bytes | None:
        """Serve the AUTHORIZATION state; the bytes pipelined after a
        successful login, or None when the session ended."""
        failures = self.ctx.failed_logins()
        while True:
            try:
                ev = srv.next_event()
            except RemoteProtocolError:
                await self.to_local(srv.data_to_send())
                return None
            if ev is NEED_DATA:
                await self.to_local(srv.data_to_send())
                srv.receive_data(await receive(self.local, self.limits.login_timeout))
                continue
            if isinstance(ev, ConnectionClosed):
                await self.to_local(srv.data_to_send())
                return None
            if isinstance(ev, StartTLS):
                await self.to_local(srv.data_to_send())
                self.local = await self.ctx.local_start_tls(self.local)
                srv.tls_established()
            elif isinstance(ev, PasswordLogin):
                if await self.ctx.verify_local(ev.username, ev.password):
                    if await self.finish_login(srv):
                        return srv.take_unread()
                else:
                    self.log.info("local login refused (USER/PASS)")
                    last = await failures.failed()
                    srv.reject_login("authentication failed")
                    if last:
                        await self.close_after_failures(srv, failures.count)
                        return None
            elif isinstance(ev, SaslRequest):
                ok = await self.ctx.verify_sasl(ev.request)
                last = not ok and await failures.failed()
                srv.answer_sasl(ok)
                if last:
                    self.log.info("local login refused (AUTH %s)", ev.mechanism)
                    await self.close_after_failures(srv, failures.count)
                    return None
            elif isinstance(ev, SaslAuthenticated):
                if await self.finish_login(srv):
                    return srv.take_unread()
            elif isinstance(ev, SaslFailed):
                self.log.info("local login refused (AUTH %s)", ev.mechanism)
            elif isinstance(ev, (CommandError, UserReceived)):
                pass

    async def close_after_failures(self, srv: ServerConnection, count: int) -> None:
        """After the last failed login allowed: its -ERR is the last line."""
        self.log.info("closing the connection after %d failed logins", count)
        await self.to_local(srv.data_to_send())

    async def finish_login(self, srv: ServerConnection) -> bool:
        try:
            ok, text = await self.upstream_login()
        except _UpstreamLost:
            srv.reject_login("the upstream server is unavailable", code=ResponseCode.SYS_TEMP)
            await self.to_local(srv.data_to_send())
            raise
        if ok:
            srv.accept_login([], text=text)
            await self.to_local(srv.data_to_send())
            return True
        srv.reject_login(text, code=ResponseCode.AUTH)
        return False

    # -- after login: the relay -----------------------------------------------------

    async def relay(self, srv: ServerConnection, unread: bytes) -> None:
        await _Relay(self, srv, unread).run()


class _Relay:
    """The TRANSACTION state: every command parsed and sent again upstream,
    every reply parsed and written again for the client."""

    def __init__(self, session: _Session, srv: ServerConnection, unread: bytes) -> None:
        self.s = session
        self.up = session.up
        assert session.upstream is not None
        self.upstream = session.upstream
        self.buf = ReceiveBuffer(unread)
        # Replies owed to the client in order: bytes the proxy answers itself,
        # or the command whose upstream reply is awaited.
        self.owed: deque[bytes | Command] = deque()
        # What goes to the client next, in order; either task flushes it.
        self.out: list[bytes] = []
        self.capa = ok_line("Capability list follows") + multiline(
            c.encode("utf-8") for c in srv.capability_lines()
        )
        self.stuffer: DotStuffer | None = None
        # The upstream's last chunk (an unasked -ERR is its last line).
        self.last = b""
        self.skipping = False
        self.errors = 0
        self.quitting = False
        self.done = False
        self.local_lock = anyio.Lock()
        self.upstream_lock = anyio.Lock()
        self.space = anyio.Event()

    async def run(self) -> None:
        """One task per direction, each reading its own stream (so no read is
        ever cancelled half-way); they share the codecs, whose calls never
        await, and write through one lock per stream."""
        failures: list[Exception] = []

        async def direction(
            step: Callable[[anyio.CancelScope], Awaitable[None]], scope: anyio.CancelScope
        ) -> None:
            try:
                await step(scope)
            except (PeerGone, TimeoutError, TransportError, ProtocolError) as exc:
                # Either side gone or silent ends the session: re-raised
                # below as itself, not as an exception group.
                failures.append(exc)
                scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(direction, self.client_to_upstream, tg.cancel_scope)
            tg.start_soon(direction, self.upstream_to_client, tg.cancel_scope)
        if failures:
            raise failures[0]

    async def flush(self) -> None:
        """Send what is owed to the upstream, then to the client, in order."""
        async with self.upstream_lock:
            await send(self.upstream, self.up.data_to_send(), self.s.limits.upstream_timeout)
        self.pay_local()
        async with self.local_lock:
            data = b"".join(self.out)
            self.out.clear()
            await send(self.s.local, data, self.s.limits.upstream_timeout)

    async def client_to_upstream(self, scope: anyio.CancelScope) -> None:
        limits = self.s.limits
        while True:
            self.read_commands()
            await self.flush()
            if self.quitting:
                if not self.owed:
                    scope.cancel()
                return  # the other direction relays the rest, then ends
            if len(self.owed) >= _MAX_QUEUED:
                # The client pipelines faster than the upstream answers: TCP
                # holds it back, not memory.
                await self.space.wait()
                self.space = anyio.Event()
                continue
            data = await receive(self.s.local, limits.idle_timeout)
            if not data:
                self.s.log.info("the client closed the connection without QUIT")
                scope.cancel()
                return
            self.buf.feed(data)

    async def upstream_to_client(self, scope: anyio.CancelScope) -> None:
        limits = self.s.limits
        while True:
            self.read_replies()
            await self.flush()
            self.space.set()
            if self.done or (self.quitting and not self.owed):
                scope.cancel()
                return
            timeout = limits.upstream_timeout if self.awaiting() else limits.idle_timeout
            data = await receive(self.upstream, timeout)
            self.last = data
            if data and not self.awaiting():
                self.unsolicited(data)
            else:
                self.up.receive_data(data)

    def awaiting(self) -> bool:
        """Whether a command sent upstream still waits for its reply."""
        return any(not isinstance(x, bytes) for x in self.owed)

    def unsolicited(self, data: bytes) -> None:
        """The upstream spoke with no command outstanding: a server ending the
        session (at token expiry, "-ERR [AUTH] ..."): its last line, a -ERR,
        goes to the client as is, and the session ends."""
        lines = data.split(b"\r\n")
        line = lines[-2] if len(lines) > 1 else b""
        try:
            ok, code, text = parse_status(line)
        except ProtocolError:
            ok, code, text = True, None, ""
        if ok:
            self.s.log.warning("the upstream spoke unasked; ending the session")
            self.out.append(err_line("the upstream server ended the session", "SYS/TEMP"))
        else:
            self.s.log.info("the upstream ended the session: %s", text)
            self.out.append(_status(False, text, code))
        self.done = True

    # -- client to upstream -------------------------------------------------------

    def refuse(self, text: str) -> None:
        self.errors += 1
        self.owed.append(err_line(text))
        if self.errors > _MAX_ERRORS:
            self.owed.append(err_line("too many bad commands, closing"))
            self.quitting = True

    def read_commands(self) -> None:
        while not self.quitting and len(self.owed) < _MAX_QUEUED:
            if self.skipping:
                if not self.buf.skip_line():
                    return
                self.skipping = False
            try:
                line = self.buf.extract_line(_COMMAND_LINE)
            except LineTooLongError:
                self.skipping = True
                self.refuse("line too long")
                continue
            except BareLineEndingError:
                self.refuse("lines must end with CRLF")
                continue
            if line is None:
                return
            try:
                cmd = parse_command(line)
            except RemoteProtocolError as exc:
                self.refuse(exc.message)
                continue
            keyword = _keyword(cmd)
            if keyword not in _TRANSACTION:
                self.refuse(f"{keyword} is not valid in the TRANSACTION state")
            elif keyword == "CAPA":
                self.owed.append(self.capa)
            else:
                try:
                    self.up.send(cmd)
                except LocalProtocolError as exc:
                    self.refuse(exc.message)
                    continue
                self.owed.append(cmd)
                if isinstance(cmd, Quit):
                    self.quitting = True

    # -- upstream to client ----------------------------------------------------------

    def read_replies(self) -> None:
        while True:
            self.pay_local()
            try:
                ev = self.up.next_event()
            except RemoteProtocolError as exc:
                if not self.awaiting() and self.stuffer is None:
                    # Replies, then an unasked line in the same read.
                    self.unsolicited(self.last)
                    return
                self.s.log.warning("the upstream broke the protocol or the session: %s", exc)
                self.upstream_gone("the upstream server ended the session")
                return
            if ev is NEED_DATA:
                return
            if isinstance(ev, ConnectionClosed):
                self.s.log.info("the upstream server closed the connection")
                self.upstream_gone("the upstream server closed the connection")
                return
            self.reply(ev)

    def pay_local(self) -> None:
        owed = self.owed
        while owed and isinstance(owed[0], bytes):
            self.out.append(owed.popleft())  # type: ignore[arg-type]

    def upstream_gone(self, text: str) -> None:
        if self.stuffer is None:
            self.out.append(err_line(text, ResponseCode.SYS_TEMP))
        self.done = True

    def reply(self, ev: ClientEvent) -> None:
        out = self.out
        if isinstance(ev, MessageData):
            assert self.stuffer is not None
            out.append(self.stuffer.write(ev.data))
            return
        if isinstance(ev, MessageStart):
            out.append(_status(True, ev.text))
            self.stuffer = DotStuffer()
            return
        cmd = self.owed.popleft() if self.owed else None
        if isinstance(ev, MessageEnd):
            assert self.stuffer is not None
            out.append(self.stuffer.close())
            self.stuffer = None
        elif isinstance(ev, (Ok, Err)):
            out.append(_status(isinstance(ev, Ok), ev.text, ev.code))
            if isinstance(cmd, Quit):
                self.done = True
        elif isinstance(ev, StatResult):
            out.append(ok_line(f"{ev.count} {ev.size}"))
        elif isinstance(ev, ListResult):
            if isinstance(cmd, List) and cmd.msg is None:
                lines = (b"%d %d" % entry for entry in ev.entries)
                out.append(ok_line("scan listing follows") + multiline(lines))
            else:
                n, size = ev.entries[0]
                out.append(ok_line(f"{n} {size}"))
        elif isinstance(ev, UidlResult):
            if isinstance(cmd, Uidl) and cmd.msg is None:
                lines = (b"%d %s" % (n, uid.encode("ascii")) for n, uid in ev.entries)
                out.append(ok_line("unique-id listing follows") + multiline(lines))
            else:
                n, uid = ev.entries[0]
                out.append(ok_line(f"{n} {uid}"))
        else:
            # Capabilities, MechanismList, Greeting, StartTLS: never asked for.
            self.s.log.warning("unexpected upstream event %s", type(ev).__name__)
            out.append(err_line("unexpected reply from the upstream server"))


async def handle_pop3(
    stream: anyio.abc.ByteStream, info: ConnectionInfo, ctx: ProxyContext
) -> None:
    """Serve one local POP3 client through the account's upstream."""
    session = _Session(stream, ctx)

    async def body() -> None:
        srv = ServerConnection(session.server_config())
        try:
            with anyio.move_on_after(ctx.limits.login_timeout) as scope:
                unread = await session.login(srv)
            if scope.cancelled_caught:
                await session.to_local(err_line("login timed out", ResponseCode.SYS_TEMP))
                return
            if unread is not None:
                await session.relay(srv, unread)
        except _UpstreamLost:
            pass

    await serve_session(
        session,
        info,
        ctx,
        body,
        unavailable=lambda why: err_line(why, ResponseCode.SYS_TEMP),
        timed_out=lambda: err_line("timed out", ResponseCode.SYS_TEMP),
    )
