"""The SMTP side of the proxy: a local submission server with AUTH PLAIN and
LOGIN in front of an upstream that takes XOAUTH2 or OAUTHBEARER.

The local side is a :class:`protokit.smtp.ServerConnection` for the whole
session: it reads the client's commands and DATA (STARTTLS injection,
smuggling and bare CR/LF are refused there, as in protokit's own SMTP
server), and its EHLO is rebuilt from the upstream's parsed EHLO keywords:
SIZE (the upstream's limit), PIPELINING, 8BITMIME, SMTPUTF8 and
ENHANCEDSTATUSCODES pass when the upstream offers them; CHUNKING, BINARYMIME,
DSN and the upstream's AUTH list do not; AUTH PLAIN LOGIN and STARTTLS are
the proxy's own.  Each MAIL, RCPT, DATA and VRFY the client sends is sent
again through the upstream :class:`protokit.smtp.ClientConnection`, and the
upstream's parsed reply is the client's reply.  The client may pipeline;
the RCPTs it pipelined behind a MAIL go upstream with that MAIL when the
upstream offers PIPELINING.  DATA streams chunk by chunk: unstuffed on the
way in, stuffed again on the way out.

A message the local side refuses after its body started going upstream (a
bare CR or LF, too long a line, too big) cannot be taken back with a reply:
the proxy closes the upstream connection without the final dot, so the
upstream discards it, answers the client with the refusal, then 421.

A failed local AUTH is answered ``535 5.7.8`` after ``auth_failure_delay``;
the ``max_auth_failures``-th is followed by :data:`TOO_MANY_FAILURES` (421)
and the close.
"""

from __future__ import annotations

import ssl
from collections import deque
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
from ..smtp import (
    Authenticated,
    AuthReply,
    AuthRequest,
    Capabilities,
    ClientConfig,
    ClientConnection,
    CommandReply,
    ConnectionClosed,
    DataReply,
    Event,
    Extension,
    Greeting,
    Hello,
    HelloReply,
    MailFrom,
    MailParams,
    MailReply,
    MessageData,
    MessageEnd,
    MessageRejected,
    MessageReply,
    MessageStart,
    Quit,
    RcptParams,
    RcptReply,
    RcptTo,
    Reply,
    Reset,
    ServerConfig,
    ServerConnection,
    StartTLS,
    StartTLSReply,
    Verify,
)
from ..smtp._parse import parse_rcpt
from ..wire import ReceiveBuffer
from ._session import ProxyContext
from ._smtp_pop3_io import (
    LOCAL,
    UPSTREAM,
    Duplex,
    PeerGone,
    UpstreamAuthError,
    receive,
    send,
    serve_session,
    upstream_mechanism,
    upstream_plaintext_ok,
)

__all__ = ["handle_smtp", "local_extensions"]

#: Upstream extensions the proxy passes on (it relays them as they are).
_RELAYED: Final = (
    Extension.PIPELINING,
    Extension.SIZE,
    Extension.EIGHTBITMIME,
    Extension.SMTPUTF8,
    Extension.ENHANCEDSTATUSCODES,
)
_HOSTNAME: Final = "localhost"
_DEFAULT_SIZE: Final = ServerConfig().max_message_size


def local_extensions(upstream: Capabilities | None) -> tuple[frozenset[Extension], int]:
    """The extensions the local EHLO offers and its SIZE limit, from the
    upstream's parsed EHLO."""
    if upstream is None:
        return frozenset(), _DEFAULT_SIZE
    extensions = frozenset(e for e in _RELAYED if e.value in upstream)
    size = upstream.size or _DEFAULT_SIZE
    return extensions, size


def _has_bare_line_ending(chunk: bytes) -> bool:
    # The server's unstuffer never ends a chunk inside CRLF, so a count per
    # chunk is exact.
    crlf = chunk.count(b"\r\n")
    return chunk.count(b"\r") != crlf or chunk.count(b"\n") != crlf


def _reply(code: int, enhanced: str, text: str) -> Reply:
    return Reply(code=code, enhanced=enhanced, lines=(text,))


#: what follows the 535 of the last failed AUTH a connection may make
TOO_MANY_FAILURES: Final = _reply(421, "4.7.0", "Too many failed authentications")


class _UpstreamGone(Exception):
    """The upstream closed, broke the protocol or timed out mid-command."""


class _Session:
    def __init__(self, stream: anyio.abc.ByteStream, ctx: ProxyContext) -> None:
        self.ctx = ctx
        self.account = a = ctx.account
        self.limits = ctx.limits
        self.log = ctx.log
        self.local = stream
        self.upstream: anyio.abc.ByteStream | None = None
        self.duplex: Duplex | None = None
        plain = upstream_plaintext_ok(a)
        self.up = ClientConnection(
            ClientConfig(
                local_hostname=_HOSTNAME, require_tls=not plain, allow_plaintext_auth=plain
            ),
            tls_active=a.upstream_tls is TLSMode.IMPLICIT,
        )
        self.srv: ServerConnection | None = None
        self.failures = ctx.failed_logins()
        # The DATA body: None, "up" (going upstream), "refused" (the upstream
        # refused DATA: read and answer with its reply), "tainted" (a bare
        # line ending: no more goes upstream).
        self.body: str | None = None
        self.data_refusal: Reply | None = None
        # RCPTs sent upstream behind a MAIL, ahead of the local server's events.
        self.pipelined: deque[tuple[str, RcptParams]] = deque()

    # -- I/O ----------------------------------------------------------------------

    async def to_local(self, data: bytes) -> None:
        await send(self.local, data, self.limits.upstream_timeout)

    def wire(self, reply: Reply) -> bytes:
        """``reply`` as the local side writes it (enhanced codes only when
        its EHLO offered ENHANCEDSTATUSCODES, RFC 2034)."""
        srv = self.srv
        esc = srv is not None and Extension.ENHANCEDSTATUSCODES in srv.config.extensions
        return reply.to_bytes(enhanced=esc)

    async def flush_local(self) -> None:
        assert self.srv is not None
        await self.to_local(self.srv.data_to_send())

    async def flush_upstream(self) -> None:
        assert self.upstream is not None
        await send(self.upstream, self.up.data_to_send(), self.limits.upstream_timeout)

    async def up_read(self) -> bytes:
        assert self.upstream is not None
        if self.duplex is not None:
            _, data = await self.duplex.next((UPSTREAM,), self.limits.upstream_timeout)
            return data
        return await receive(self.upstream, self.limits.upstream_timeout)

    async def up_event(self) -> Event:
        """The upstream's reply to what was queued; _UpstreamGone when it
        closed or broke the protocol."""
        try:
            while True:
                ev = self.up.next_event()
                if ev is not NEED_DATA:
                    break
                await self.flush_upstream()
                self.up.receive_data(await self.up_read())
        except (ProtocolError, PeerGone, TimeoutError) as exc:
            self.log.warning("the upstream connection failed: %s", exc)
            raise _UpstreamGone from None
        if isinstance(ev, ConnectionClosed):
            self.log.info("the upstream server closed the connection")
            raise _UpstreamGone
        return ev

    # -- the upstream, before the client logs in ------------------------------------

    async def open_upstream(self) -> str | None:
        """Connect, EHLO, STARTTLS and EHLO again if configured.  None, or why
        it failed."""
        where = f"{self.account.upstream_host}:{self.account.upstream_port}"
        try:
            self.upstream = await self.ctx.open_upstream()
            ev = await self.up_event()
            if not isinstance(ev, Greeting) or ev.reply.code != 220:
                return "the upstream server refused the connection"
            self.up.ehlo()
            ev = await self.up_event()
            if not isinstance(ev, HelloReply) or not ev.reply.is_positive:
                return "the upstream server refused EHLO"
            if self.account.upstream_tls is TLSMode.STARTTLS:
                if "STARTTLS" not in (self.up.capabilities or Capabilities()):
                    self.log.warning("the upstream %s does not offer STARTTLS", where)
                    return "the upstream server does not offer STARTTLS"
                self.up.starttls()
                ev = await self.up_event()
                if not isinstance(ev, StartTLSReply) or ev.reply.code != 220:
                    return "the upstream server refused STARTTLS"
                self.upstream = await self.ctx.upstream_start_tls(
                    self.upstream, pending=self.up.pending_plaintext
                )
                self.up.start_tls_done()
                self.up.ehlo()
                ev = await self.up_event()
                if not isinstance(ev, HelloReply) or not ev.reply.is_positive:
                    return "the upstream server refused EHLO"
        except _UpstreamGone:
            return "the upstream server is unavailable"
        except (TransportError, TimeoutError, PeerGone, ProtocolError) as exc:
            self.log.warning("cannot reach the upstream %s: %s", where, exc)
            return "the upstream server is unavailable"
        return None

    async def upstream_login(self) -> tuple[bool, str]:
        caps = self.up.capabilities or Capabilities()
        retried = False
        while True:
            try:
                mechanism, token = await upstream_mechanism(self.ctx, caps.auth_mechanisms)
                self.up.auth(mechanism)
            except UpstreamAuthError as exc:
                return False, exc.text
            except LocalProtocolError as exc:
                self.log.warning("cannot authenticate upstream: %s", exc)
                return False, "the upstream server cannot take the access token"
            ev = await self.up_event()
            if isinstance(ev, AuthReply) and ev.success:
                self.log.info("logged in upstream as %s", self.account.upstream_user)
                return True, "Authentication successful"
            text = ev.reply.text if isinstance(ev, AuthReply) else ""
            self.log.warning("the upstream refused the access token: %s", text)
            # A cached token revoked or expired early: once more with a fresh one.
            if retried or not self.ctx.token_rejected(token):
                return False, "the upstream server refused the access token"
            retried = True

    def server_config(self) -> ServerConfig:
        extensions, size = local_extensions(self.up.capabilities)
        listen = self.account.listen_tls
        return ServerConfig(
            hostname=_HOSTNAME,
            greeting=f"{_HOSTNAME} ESMTP protokit proxy ready",
            extensions=extensions,
            max_message_size=size,
            starttls=listen is TLSMode.STARTTLS,
            require_tls=listen is TLSMode.STARTTLS,
            auth_mechanisms=("PLAIN", "LOGIN"),
            allow_plaintext_auth=listen is TLSMode.PLAIN,
            auth_required=True,
        )

    # -- the session ------------------------------------------------------------------

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        srv = self.srv = ServerConnection(
            self.server_config(), tls_active=self.account.listen_tls is TLSMode.IMPLICIT
        )
        with anyio.move_on_after(self.limits.login_timeout) as login:
            while self.duplex is None:
                if not await self.step(srv, tg):
                    return
        if login.cancelled_caught:
            await self.to_local(self.wire(_reply(421, "4.7.0", "login timed out")))
            return
        while await self.step(srv, tg):
            pass

    async def step(self, srv: ServerConnection, tg: anyio.abc.TaskGroup) -> bool:
        """Handle one local event (reading as needed); False when it is over."""
        try:
            ev = srv.next_event()
        except RemoteProtocolError:
            await self.flush_local()  # the 421 is queued
            return False
        if ev is NEED_DATA:
            await self.flush_local()
            if self.duplex is None:
                data = await receive(self.local, self.limits.login_timeout)
            else:
                side, data = await self.duplex.next((LOCAL, UPSTREAM), self.limits.idle_timeout)
                if side == UPSTREAM:
                    return await self.unsolicited(data)
            srv.receive_data(data)
            return True
        try:
            return await self.handle(srv, ev, tg)
        except _UpstreamGone:
            await self.flush_local()
            text = "the upstream server closed the connection, closing"
            await self.to_local(self.wire(_reply(421, "4.4.2", text)))
            return False

    async def unsolicited(self, data: bytes) -> bool:
        """Upstream bytes while no command is outstanding: a 421 at token
        expiry, or the end of the connection.  Either ends the session."""
        self.up.receive_data(data)
        try:
            ev = self.up.next_event()
        except ProtocolError as exc:
            self.log.warning("the upstream broke the protocol: %s", exc)
            ev = ConnectionClosed()
        if ev is NEED_DATA:
            return True
        if isinstance(ev, CommandReply) and ev.reply.code == 421:
            self.log.info("the upstream ended the session: %s", ev.reply.text)
            await self.to_local(self.wire(ev.reply))
        else:
            self.log.info("the upstream server closed the connection")
            text = "the upstream server closed the connection, closing"
            await self.to_local(self.wire(_reply(421, "4.4.2", text)))
        return False

    async def relay_reply(self, srv: ServerConnection, reply: Reply) -> bool:
        srv.reply(reply)
        if reply.code == 421:
            await self.flush_local()
            return False
        return True

    async def handle(self, srv: ServerConnection, ev: Event, tg: anyio.abc.TaskGroup) -> bool:
        up = self.up
        if isinstance(ev, MessageData):
            if self.body == "up":
                if _has_bare_line_ending(ev.data):
                    self.body = "tainted"
                else:
                    up.send_data(ev.data)
                    await self.flush_upstream()
            return True
        if isinstance(ev, StartTLS):
            await self.flush_local()
            self.local = await self.ctx.local_start_tls(self.local)
            srv.start_tls_done()
        elif isinstance(ev, AuthRequest):
            ok = await self.ctx.verify_sasl(ev.request)
            last = not ok and await self.failures.failed()
            srv.answer_auth(ok)
            if last:
                self.log.info("closing the connection after %d failed logins", self.failures.count)
                await self.flush_local()
                await self.to_local(self.wire(TOO_MANY_FAILURES))
                return False
        elif isinstance(ev, Authenticated):
            ok, text = await self.upstream_login()
            if not ok:
                srv.reply(_reply(535, "5.7.8", text))
                return True
            srv.reply(_reply(235, "2.7.0", text))
            assert self.upstream is not None
            self.duplex = Duplex(self.local, self.upstream)
            await tg.start(self.duplex.run)
        elif isinstance(ev, MailFrom):
            try:
                up.mail_from(ev.sender, ev.params)
            except LocalProtocolError as exc:
                self.log.info("MAIL FROM not relayed: %s", exc)
                srv.reply(_reply(555, "5.5.4", "MAIL FROM parameters not supported"))
                return True
            self.pipeline_rcpts(srv, ev.params)
            mail = await self.up_event()
            assert isinstance(mail, MailReply)
            if not mail.reply.is_positive and mail.reply.code != 421:
                # No transaction upstream, nor locally: the local server
                # refuses those RCPTs itself; their upstream replies go.
                while self.pipelined:
                    self.pipelined.popleft()
                    await self.up_event()
            return await self.relay_reply(srv, mail.reply)
        elif isinstance(ev, RcptTo):
            if self.pipelined:
                sent = self.pipelined.popleft()
                if sent != (ev.recipient, ev.params):
                    # Cannot happen: the server reads the very lines we sent.
                    self.log.error("RCPT sent ahead does not match the client's")
                    await self.flush_local()
                    text = "internal error, closing"
                    await self.to_local(self.wire(_reply(421, "4.3.0", text)))
                    return False
            else:
                try:
                    up.rcpt_to(ev.recipient, ev.params)
                except LocalProtocolError as exc:
                    self.log.info("RCPT TO not relayed: %s", exc)
                    srv.reply(_reply(555, "5.5.4", "RCPT TO parameters not supported"))
                    return True
            rcpt = await self.up_event()
            assert isinstance(rcpt, RcptReply)
            return await self.relay_reply(srv, rcpt.reply)
        elif isinstance(ev, MessageStart):
            up.data()
            data = await self.up_event()
            assert isinstance(data, DataReply)
            if data.proceed:
                self.body = "up"
            else:
                self.body = "refused"
                self.data_refusal = data.reply
        elif isinstance(ev, MessageEnd):
            body, self.body = self.body, None
            if body == "up":
                up.end_data()
                end = await self.up_event()
                assert isinstance(end, MessageReply)
                return await self.relay_reply(srv, end.reply)
            refusal = self.data_refusal or _reply(451, "4.3.0", "the message was not relayed")
            self.data_refusal = None
            return await self.relay_reply(srv, refusal)
        elif isinstance(ev, MessageRejected):
            body, self.body = self.body, None
            if body in ("up", "tainted"):
                # The body is half upstream: only a closed connection (no
                # final dot) makes the upstream drop it.
                self.log.info("message refused locally (%s): upstream aborted", ev.reason)
                await self.flush_local()
                text = "the upstream transaction was aborted, closing"
                await self.to_local(self.wire(_reply(421, "4.3.0", text)))
                return False
        elif isinstance(ev, Verify):
            up.vrfy(ev.argument)
            vrfy = await self.up_event()
            assert isinstance(vrfy, CommandReply)
            return await self.relay_reply(srv, vrfy.reply)
        elif isinstance(ev, (Reset, Hello)):
            if self.duplex is not None:
                # The local transaction was reset: so is the upstream's.
                up.rset()
                rset = await self.up_event()
                if isinstance(rset, CommandReply) and rset.reply.code == 421:
                    await self.flush_local()
                    await self.to_local(self.wire(rset.reply))
                    return False
        elif isinstance(ev, Quit):
            await self.flush_local()
            if self.duplex is not None:
                up.quit()
                await self.flush_upstream()
            return False
        elif isinstance(ev, ConnectionClosed):
            return False
        return True

    def pipeline_rcpts(self, srv: ServerConnection, params: MailParams) -> None:
        """RFC 2920 upstream: the RCPT lines the client pipelined behind this
        MAIL go upstream with it, in one round trip.

        Only lines the local server will read as RcptTo events once MAIL is
        accepted are sent: complete lines, parsed by the same parser with the
        same extensions and limits, up to the recipient limit, stopping at
        the first other line.  The server reads exactly these bytes next, so
        its RcptTo events match them one by one; if MAIL is refused it
        answers them 503 itself and their upstream replies are dropped.
        """
        caps = self.up.capabilities
        if caps is None or "PIPELINING" not in caps:
            return
        cfg = srv.config
        pending = ReceiveBuffer(srv.pending_plaintext)
        while len(self.pipelined) < cfg.max_recipients:
            try:
                line = pending.extract_line(cfg.max_command_line - 2)
            except (LineTooLongError, BareLineEndingError):
                return
            if line is None or line[:5].upper() != b"RCPT ":
                return
            try:
                recipient, rcpt = parse_rcpt(line, cfg.extensions, utf8=params.smtputf8)
            except ProtocolError:
                return
            if recipient.lower() == "postmaster":
                recipient = "Postmaster"  # as the server spells it
            try:
                self.up.rcpt_to(recipient, rcpt)
            except LocalProtocolError:
                return
            self.pipelined.append((recipient, rcpt))


#: How a session ends other than by QUIT: a side gone or silent, a protocol
#: violation (plaintext around a TLS upgrade), a failed TLS handshake.
_ENDINGS: Final = (
    PeerGone,
    TransportError,
    TimeoutError,
    ProtocolError,
    ssl.SSLError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)


async def handle_smtp(
    stream: anyio.abc.ByteStream, info: ConnectionInfo, ctx: ProxyContext
) -> None:
    """Serve one local SMTP client through the account's upstream."""
    session = _Session(stream, ctx)

    async def body() -> None:
        failure: BaseException | None = None
        async with anyio.create_task_group() as tg:
            try:
                await session.run(tg)
            except _ENDINGS as exc:
                # Raised again below as itself, not inside an exception group.
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    await serve_session(
        session,
        info,
        ctx,
        body,
        unavailable=lambda why: session.wire(_reply(421, "4.4.0", f"{why}, closing")),
        timed_out=lambda: session.wire(_reply(421, "4.4.2", "timed out, closing")),
    )
