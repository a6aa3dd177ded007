"""The async POP3 server: :func:`serve_pop3` runs a
:class:`protokit.pop3.ServerConnection` per client on the listener framework
and answers its events from a :class:`~protokit.net.POP3Backend`.

- STLS on listeners with an ``ssl_context``, implicit TLS on IMPLICIT ones;
  a command pipelined behind STLS is an injection: "-ERR" and close.
- The autologout timer (RFC 1939 section 3): a client must send each whole
  command within ``idle_timeout``, or it gets "-ERR" and is disconnected
  (this also bounds a client trickling a command byte by byte); a client that
  does not read its replies is bounded by the write timeout.
- Shutdown (cancelling the task): sessions get "-ERR [SYS/TEMP]" between
  commands and are closed without UPDATE; an UPDATE under way completes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Final

import anyio
import anyio.abc

from ..pop3 import (
    ApopLogin,
    CommandError,
    MessageRequested,
    PasswordLogin,
    ResponseCode,
    SaslAuthenticated,
    SaslFailed,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    ServerEvent,
    StartTLS,
    UpdateRequested,
    UserReceived,
)
from ..pop3 import ConnectionClosed as ClosedEvent
from ..sasl import Request
from ..wire._secret import Secret
from ._errors import TransportError
from ._pop3_backend import Maildrop, MaildropInUse, MaildropUnavailable, POP3Backend
from ._pump import Pump, Timeouts
from ._server import ConnectionInfo, Listener, ServerInfo, ServerLimits, serve_listeners
from ._server_common import ServerSession, finite, idle_wait, limits_with, sasl_answer

__all__ = ["serve_pop3"]

log = logging.getLogger("protokit.net.pop3")

#: What a client over ``ServerLimits.max_connections`` is told.
OVERLOAD_REPLY: Final = b"-ERR [SYS/TEMP] too many connections, try again later\r\n"
SHUTDOWN_REPLY: Final = b"-ERR [SYS/TEMP] server shutting down\r\n"
AUTOLOGOUT_REPLY: Final = b"-ERR autologout: no command within the time limit\r\n"
#: Said when the bearer token the session logged in with expires.
TOKEN_EXPIRED_REPLY: Final = b"-ERR [AUTH] the access token expired: log in again\r\n"
#: Message bytes queued before they are written (a bound on what is held).
FLUSH_SIZE: Final = 64 * 1024
#: How long an UPDATE may take to apply the deletions, even during shutdown.
UPDATE_TIMEOUT: Final = 60.0


async def serve_pop3(
    backend: POP3Backend,
    listeners: list[Listener],
    *,
    config: ServerConfig | None = None,
    limits: ServerLimits | None = None,
    idle_timeout: float = 600.0,
    timeouts: Timeouts | None = None,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve POP3 from ``backend`` on ``listeners`` until cancelled.

    ``config`` is the sans-IO server's (capabilities, mechanisms, APOP,
    plaintext policy); ``tls_available``/``tls_active`` are set per listener.
    ``idle_timeout`` is the autologout timer (RFC 1939 asks for at least 10
    minutes); ``timeouts`` bounds writes and the STLS handshake.  Reports the
    bound ports through ``task_status`` (``await tg.start(serve_pop3, ...)``).
    """
    base = config or ServerConfig()
    lim = limits_with(limits, OVERLOAD_REPLY)
    t = timeouts or Timeouts()

    async def handler(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        session = _Session(backend, base, stream, info, idle_timeout, t)
        await session.run()

    await serve_listeners(handler, listeners, limits=lim, task_status=task_status)


class _Session(ServerSession[ServerEvent]):
    log = log

    def __init__(
        self,
        backend: POP3Backend,
        base: ServerConfig,
        stream: anyio.abc.ByteStream,
        info: ConnectionInfo,
        idle_timeout: float,
        timeouts: Timeouts,
    ) -> None:
        listener = info.listener
        cfg = replace(
            base,
            tls_active=info.tls,
            tls_available=listener.ssl_context is not None and not info.tls,
        )
        self.backend = backend
        self.info = info
        self.idle_timeout = idle_timeout
        self.conn = ServerConnection(cfg)
        self.pump: Pump[ServerEvent] = Pump(stream, self.conn, timeouts=timeouts)
        self.maildrop: Maildrop | None = None
        #: When the bearer token of the last AUTH expires (wall clock), if known.
        self.token_expires: float | None = None
        self.peer = info.peer[0]
        self._dummy = Secret("not-a-password")

    async def _shutting_down(self) -> None:
        if not self.conn.message_wanted:
            await self._say(SHUTDOWN_REPLY)

    async def _release(self) -> None:
        if self.maildrop is not None:
            with anyio.move_on_after(UPDATE_TIMEOUT):
                await self.maildrop.close()

    async def _loop(self) -> None:
        while True:
            wait, expiring = idle_wait(
                self.idle_timeout, self.token_expires if self.maildrop is not None else None
            )
            with anyio.move_on_after(finite(wait)) as scope:
                ev = await self.pump.next_event(timeout=math.inf)
            if scope.cancelled_caught:
                if expiring:
                    log.info("connection from %s: the access token expired", self.peer)
                    await self._say(TOKEN_EXPIRED_REPLY)
                    return
                log.info("connection from %s: autologout", self.peer)
                await self._say(AUTOLOGOUT_REPLY)
                return
            if isinstance(ev, ClosedEvent):
                await self.pump.flush()
                return
            await self._handle(ev)

    async def _handle(self, ev: ServerEvent) -> None:
        conn = self.conn
        if isinstance(ev, (PasswordLogin, ApopLogin, SaslRequest)):
            self.token_expires = None  # set again by a valid bearer token
        if isinstance(ev, PasswordLogin):
            ok = await self.backend.verify_password(ev.username, ev.password)
            await self._login(ev.username, ok, "USER/PASS")
        elif isinstance(ev, ApopLogin):
            shared = await self.backend.apop_secret(ev.username)
            ok = ev.verify(shared if shared is not None else self._dummy) and shared is not None
            await self._login(ev.username, ok, "APOP")
        elif isinstance(ev, SaslRequest):
            conn.answer_sasl(await self._sasl(ev))
        elif isinstance(ev, SaslAuthenticated):
            ok = True
            if ev.authzid is not None and ev.authzid != ev.authcid:
                ok = await self.backend.authorize(ev.authcid, ev.authzid)
            await self._login(ev.authzid or ev.authcid, ok, f"AUTH {ev.mechanism}")
        elif isinstance(ev, SaslFailed):
            log.info("connection from %s: AUTH %s failed", self.peer, ev.mechanism)
        elif isinstance(ev, CommandError):
            log.debug("connection from %s: command refused: %s", self.peer, ev.message)
        elif isinstance(ev, MessageRequested):
            await self._message(ev)
        elif isinstance(ev, UpdateRequested):
            await self._update(ev)
        elif isinstance(ev, StartTLS):
            listener: Listener = self.info.listener
            assert listener.ssl_context is not None
            await self.pump.flush()
            await self.pump.start_tls(listener.ssl_context, server_side=True)
            conn.tls_established()
        elif isinstance(ev, UserReceived):
            conn.accept_user()

    async def _sasl(self, ev: SaslRequest) -> object:
        req = ev.request
        if not isinstance(req, Request):
            return None
        answer, self.token_expires = await sasl_answer(self.backend, ev.mechanism, req)
        return answer

    async def _login(self, username: str, ok: bool, how: str) -> None:
        conn = self.conn
        if not ok:
            log.info("connection from %s: %s login failed", self.peer, how)
            conn.reject_login()
            return
        try:
            maildrop = await self.backend.open_maildrop(username)
        except MaildropInUse:
            conn.reject_login("maildrop already locked", code=ResponseCode.IN_USE)
            return
        except MaildropUnavailable:
            conn.reject_login("maildrop unavailable", code=ResponseCode.SYS_TEMP)
            return
        self.maildrop = maildrop
        log.info("connection from %s: %s logged in with %s", self.peer, username, how)
        conn.accept_login(maildrop.listing())

    async def _message(self, ev: MessageRequested) -> None:
        conn = self.conn
        assert self.maildrop is not None
        chunks = self.maildrop.message(ev.uid)
        started = False
        pending = 0
        try:
            async for chunk in chunks:
                if not conn.message_wanted:
                    break
                conn.send_message_data(chunk)
                started = True
                pending += len(chunk)
                # Write in big pieces; the rest goes out with the next reply
                # (pipelined RETRs share a write) or before the next read.
                if pending >= FLUSH_SIZE:
                    pending = 0
                    await self.pump.flush()
        except (TransportError, anyio.get_cancelled_exc_class()):
            raise
        except Exception:
            log.exception("connection from %s: reading message %d failed", self.peer, ev.number)
            if started:
                # Half a message is on the wire: only closing can say so.
                raise TransportError("the backend failed in the middle of a message") from None
            conn.fail_message(code=ResponseCode.SYS_TEMP)
            return
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        conn.end_message()

    async def _update(self, ev: UpdateRequested) -> None:
        assert self.maildrop is not None
        listing = self.maildrop.listing()
        retrieved = [listing[n - 1].uid for n in ev.retrieved]
        ok = False
        # The QUIT was received: apply it even if shutdown cancels us meanwhile.
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(UPDATE_TIMEOUT):
                try:
                    await self.maildrop.update(ev.deleted_uids, retrieved)
                    ok = True
                except Exception:
                    log.exception("connection from %s: UPDATE failed", self.peer)
        self.conn.finish_update(ok)
