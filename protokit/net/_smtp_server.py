"""The async SMTP/LMTP server: :func:`serve_smtp` runs a
:class:`protokit.smtp.ServerConnection` per client on the listener framework
and answers its events from an :class:`~protokit.net.SMTPBackend`.

- STARTTLS on listeners with an ``ssl_context``, implicit TLS on IMPLICIT
  ones; a command pipelined behind STARTTLS is an injection (CVE-2011-0411):
  "421" and close, the command never runs.
- Timeouts (RFC 5321 4.5.3.2): each whole command, and each piece of a
  message, must arrive within ``idle_timeout``, or the client gets "421 4.4.2"
  and is disconnected (this also bounds a client trickling a command byte by
  byte); a client that does not read its replies is bounded by the write
  timeout.
- The final reply to a message is sent only after the backend's sink has
  returned from ``finish()`` (stored durably); shutdown lets a ``finish()``
  under way complete, then says "421 4.3.2" to every connected client.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

import anyio
import anyio.abc

from .._sentinel import NEED_DATA
from ..smtp import (
    Authenticated,
    AuthFailed,
    AuthRequest,
    Hello,
    MailFrom,
    MessageData,
    MessageEnd,
    MessageRejected,
    MessageStart,
    Quit,
    RcptTo,
    Reply,
    Reset,
    ServerConfig,
    ServerConnection,
    StartTLS,
    Verify,
)
from ..smtp import ConnectionClosed as ClosedEvent
from ..smtp import Event as SMTPEvent
from ._errors import OperationTimeout, TransportError
from ._pump import Pump, Timeouts
from ._server import ConnectionInfo, Listener, ServerInfo, ServerLimits, serve_listeners
from ._server_common import ServerSession, limits_with, sasl_answer
from ._smtp_backend import Envelope, MessageSink, SMTPBackend, SMTPSession

__all__ = ["serve_smtp"]

log = logging.getLogger("protokit.net.smtp")

#: What a client over ``ServerLimits.max_connections`` is told.
OVERLOAD_REPLY: Final = b"421 4.3.2 Too many connections, try again later\r\n"
SHUTDOWN_REPLY: Final = b"421 4.3.2 Server shutting down, try again later\r\n"
TIMEOUT_REPLY: Final = b"421 4.4.2 Timeout waiting for data, closing connection\r\n"
#: Said when the bearer token the session authenticated with expires.
TOKEN_EXPIRED_REPLY: Final = b"421 4.7.0 The access token expired, authenticate again\r\n"
#: How long storing a complete message may take, even during shutdown.
STORE_TIMEOUT: Final = 60.0

_TEMP_FAILURE = Reply(code=451, enhanced="4.3.0", lines=("Temporary failure, try again later",))
_AUTH_FAILED = Reply(code=535, enhanced="5.7.8", lines=("Authentication credentials invalid",))


async def serve_smtp(
    backend: SMTPBackend,
    listeners: list[Listener],
    *,
    config: ServerConfig | None = None,
    limits: ServerLimits | None = None,
    idle_timeout: float = 300.0,
    timeouts: Timeouts | None = None,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve SMTP (or LMTP, with ``config.lmtp``) from ``backend`` on
    ``listeners`` until cancelled.

    ``config`` is the sans-IO server's (hostname, extensions, AUTH
    mechanisms, limits, plaintext policy); ``starttls`` is set per listener
    (offered where the listener has an ``ssl_context`` and is not implicit
    TLS).  ``idle_timeout`` bounds the wait for each command and each piece
    of a message (RFC 5321 asks for at least 5 minutes); ``timeouts`` bounds
    writes and the STARTTLS handshake.  Reports the bound ports through
    ``task_status`` (``await tg.start(serve_smtp, ...)``).
    """
    base = config or ServerConfig()
    lim = limits_with(limits, OVERLOAD_REPLY)
    t = timeouts or Timeouts()
    configs: dict[int, ServerConfig] = {}

    def config_for(listener: Listener, implicit: bool) -> ServerConfig:
        key = id(listener)
        cfg = configs.get(key)
        if cfg is None:
            starttls = listener.ssl_context is not None and not implicit
            cfg = configs[key] = replace(base, starttls=starttls)
        return cfg

    async def handler(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        cfg = config_for(info.listener, info.tls)
        session = _Session(backend, cfg, stream, info, idle_timeout, t)
        await session.run()

    await serve_listeners(handler, listeners, limits=lim, task_status=task_status)


class _Session(ServerSession[SMTPEvent]):
    log = log
    __slots__ = (
        "backend",
        "conn",
        "envelope",
        "idle_timeout",
        "info",
        "peer",
        "pump",
        "session",
        "sink",
        "token_deadline",
        "token_expires",
    )

    def __init__(
        self,
        backend: SMTPBackend,
        cfg: ServerConfig,
        stream: anyio.abc.ByteStream,
        info: ConnectionInfo,
        idle_timeout: float,
        timeouts: Timeouts,
    ) -> None:
        self.backend = backend
        self.info = info
        self.idle_timeout = idle_timeout
        self.conn = ServerConnection(cfg, tls_active=info.tls)
        self.pump: Pump[SMTPEvent] = Pump(stream, self.conn, timeouts=timeouts)
        self.peer = info.peer[0]
        self.session = SMTPSession(
            peer=info.peer, listener=info.listener.name, tls=info.tls, lmtp=cfg.lmtp
        )
        self.envelope: Envelope | None = None
        self.sink: MessageSink | None = None
        #: The last valid bearer token's expiry (wall clock), during AUTH.
        self.token_expires: float | None = None
        #: When the session's token expires (anyio clock), once authenticated.
        self.token_deadline: float | None = None

    async def _shutting_down(self) -> None:
        # Replies still queued (a 250 for a message just stored) go first:
        # the client must not be left to send it again.
        await self._say(self.conn.data_to_send() + SHUTDOWN_REPLY)

    async def _ended(self, exc: TransportError) -> None:
        if isinstance(exc, OperationTimeout):
            log.info("connection from %s: timed out", self.peer)
            await self._say(TIMEOUT_REPLY)
        else:
            await super()._ended(exc)

    async def _release(self) -> None:
        await self._drop_sink()

    async def _drop_sink(self) -> None:
        sink = self.sink
        self.sink = None
        if sink is not None:
            try:
                await sink.abort()
            except Exception:
                log.exception("connection from %s: aborting a message failed", self.peer)

    async def _loop(self) -> None:
        # One cancel scope for the session, its deadline moved on at every
        # event: each command and each piece of a message must arrive within
        # idle_timeout of the last (cheaper than a scope per event).
        idle = self.idle_timeout
        with anyio.CancelScope(deadline=anyio.current_time() + idle) as scope:
            await self._events(scope, idle)
        if scope.cancelled_caught:
            td = self.token_deadline
            if td is not None and anyio.current_time() >= td:
                log.info("connection from %s: the access token expired", self.peer)
                await self._say(TOKEN_EXPIRED_REPLY)
                return
            log.info("connection from %s: timed out", self.peer)
            await self._say(TIMEOUT_REPLY)

    async def _events(self, scope: anyio.CancelScope, idle: float) -> None:
        pump = self.pump
        conn = self.conn
        backend = self.backend
        clock = anyio.current_time
        # Moving a deadline reschedules a timer: move it only when it has
        # fallen behind by more than the slack.
        slack = min(1.0, idle / 10)
        while True:
            # Events already parsed need no I/O: take them without the pump's
            # locks (this task is the connection's only reader).
            ev = conn.next_event()
            if ev is NEED_DATA:
                deadline = clock() + idle
                td = self.token_deadline
                if td is not None and td < deadline:
                    scope.deadline = td
                elif deadline - scope.deadline > slack:
                    scope.deadline = deadline
                ev = await pump.next_event(timeout=math.inf)
            t = type(ev)
            # The frequent events first: this loop is the server's hot path.
            if t is MessageData:
                sink = self.sink
                if sink is not None:
                    await sink.write(ev.data)  # type: ignore[attr-defined]
            elif t is MailFrom:
                assert isinstance(ev, MailFrom)
                reply = await self._ask_mail(ev)
                conn.reply(reply)
                if reply is None or reply.code < 400:
                    self.envelope = Envelope(sender=ev.sender, mail_params=ev.params)
            elif t is RcptTo:
                assert isinstance(ev, RcptTo)
                env = self.envelope
                assert env is not None
                try:
                    reply = await backend.rcpt_to(self.session, env, ev.recipient, ev.params)
                except Exception:
                    log.exception("connection from %s: rcpt_to failed", self.peer)
                    reply = _TEMP_FAILURE
                conn.reply(reply)
                if reply is None or reply.code < 400:
                    env.recipients.append(ev.recipient)
                    env.rcpt_params.append(ev.params)
            elif t is MessageStart:
                await self._start_message()
            elif t is MessageEnd:
                assert isinstance(ev, MessageEnd)
                await self._end_message(ev)
            elif t is ClosedEvent or t is Quit:
                await pump.flush()
                return
            else:
                await self._other(ev)

    async def _ask_mail(self, ev: MailFrom) -> Reply | None:
        try:
            return await self.backend.mail_from(self.session, ev.sender, ev.params)
        except Exception:
            log.exception("connection from %s: mail_from failed", self.peer)
            return _TEMP_FAILURE

    async def _start_message(self) -> None:
        await self._drop_sink()
        env = self.envelope
        assert env is not None
        try:
            self.sink = await self.backend.open_message(self.session, env)
        except Exception:
            # No sink: the message is read and refused at its end.
            log.exception("connection from %s: open_message failed", self.peer)
            self.sink = None

    async def _end_message(self, ev: MessageEnd) -> None:
        conn = self.conn
        sink = self.sink
        self.sink = None
        self.envelope = None
        count = len(ev.recipients) if self.session.lmtp else 1
        replies: Sequence[Reply | None]
        if sink is None:
            replies = [_TEMP_FAILURE] * count
        else:
            # The client is owed an answer for a message it sent entirely:
            # storing completes even when shutdown cancels us meanwhile.
            result: Reply | Sequence[Reply] | None = None
            deadline = anyio.current_time() + STORE_TIMEOUT
            with anyio.CancelScope(shield=True, deadline=deadline):
                try:
                    result = await sink.finish()
                except Exception:
                    log.exception("connection from %s: storing a message failed", self.peer)
            if result is None:
                replies = [_TEMP_FAILURE] * count
            elif isinstance(result, Reply):
                replies = [result] * count
            else:
                replies = list(result)
                if len(replies) != count:
                    log.error(
                        "connection from %s: the sink gave %d replies for %d recipients",
                        self.peer,
                        len(replies),
                        count,
                    )
                    replies = [_TEMP_FAILURE] * count
        for reply in replies:
            conn.reply(reply)
        first = replies[0]
        code = 250 if first is None else first.code
        log.info("connection from %s: message of %d octets: %d", self.peer, ev.size, code)

    async def _other(self, ev: SMTPEvent) -> None:
        conn = self.conn
        if isinstance(ev, Hello):
            self.session.helo = ev.domain
            self.envelope = None
            await self._drop_sink()
        elif isinstance(ev, (Reset, MessageRejected)):
            self.envelope = None
            await self._drop_sink()
        elif isinstance(ev, AuthRequest):
            conn.answer_auth(await self._sasl(ev))
        elif isinstance(ev, Authenticated):
            ok = True
            if ev.authzid is not None and ev.authzid != ev.authcid:
                ok = await self.backend.authorize(ev.authcid, ev.authzid)
            if ok:
                user = ev.authzid or ev.authcid
                self.session.user = user
                if self.token_expires is not None:
                    left = self.token_expires - time.time()
                    self.token_deadline = anyio.current_time() + left
                log.info(
                    "connection from %s: %s authenticated (%s)", self.peer, user, ev.mechanism
                )
                conn.reply(None)
            else:
                log.info("connection from %s: AUTH %s not authorised", self.peer, ev.mechanism)
                conn.reply(_AUTH_FAILED)
        elif isinstance(ev, AuthFailed):
            log.info("connection from %s: AUTH %s failed", self.peer, ev.mechanism)
        elif isinstance(ev, Verify):
            conn.reply(None)
        elif isinstance(ev, StartTLS):
            await self._starttls()

    async def _starttls(self) -> None:
        ctx = self.info.listener.ssl_context
        assert ctx is not None
        await self.pump.flush()  # the 220
        # Anything buffered past STARTTLS is an injection (CVE-2011-0411):
        # start_tls refuses it before the handshake, and the session ends.
        await self.pump.start_tls(ctx, server_side=True, pending=self.conn.pending_plaintext)
        self.conn.start_tls_done()
        self.session.tls = True
        self.session.helo = None
        self.session.user = None
        self.token_deadline = None
        self.envelope = None

    async def _sasl(self, ev: AuthRequest) -> object:
        self.token_expires = None  # also if the backend raises
        answer, self.token_expires = await sasl_answer(self.backend, ev.mechanism, ev.request)
        return answer
