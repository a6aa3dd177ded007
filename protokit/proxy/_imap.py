"""The proxy's IMAP side: a local IMAP login in front of an OAuth2 upstream.

For each client: connect upstream (greeting, STARTTLS when configured,
CAPABILITY), greet the client with the upstream's capabilities rewritten for
local use, and run protokit.imap's :class:`~protokit.imap.ServerConnection`
until the client logs in with LOGIN or AUTHENTICATE PLAIN/LOGIN (SASL-IR
too), both only under TLS unless the listener is plain loopback.  STARTTLS
on the local side is the server connection's (bytes pipelined after it are
an injection: the connection closes).  The local password unlocks the
account's tokens; the proxy then authenticates upstream with XOAUTH2 or
OAUTHBEARER and hands both streams to the relay (:mod:`._imap_relay`).

A failed local login is answered ``NO [AUTHENTICATIONFAILED]`` after
``auth_failure_delay``; the ``max_auth_failures``-th is followed by
:data:`TOO_MANY_FAILURES` and the close.
"""

from __future__ import annotations

from typing import Final

import anyio
import anyio.abc

from .._sentinel import NEED_DATA
from ..errors import ProtocolError
from ..imap import (
    AuthenticationFailed,
    CommandError,
    CommandReceived,
    IdCommand,
    Login,
    Logout,
    Noop,
    ResponseCode,
    SaslAuthenticated,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    StartTLSRequested,
    Status,
)
from ..imap import ConnectionClosed as IMAPConnectionClosed
from ..net import ConnectionInfo, TLSMode, TransportError
from ..oauth import AuthorizationNeeded, StorageError
from ..sasl import VerifyPassword
from ..wire import Secret
from ._imap_relay import relay, rewrite_capabilities
from ._imap_upstream import LoginResult, Outcome, UpstreamIMAP, UpstreamUnavailable
from ._session import ProxyContext

__all__ = ["handle_imap"]

GREETING: Final = "protokit proxy ready"
UNAVAILABLE: Final = b"* BYE [UNAVAILABLE] the upstream server is unavailable\r\n"
#: the text of the BYE after the last failed local login a connection may make
TOO_MANY_FAILURES: Final = "Too many failed logins"


async def handle_imap(
    stream: anyio.abc.ByteStream, info: ConnectionInfo, ctx: ProxyContext
) -> None:
    """Serve one IMAP client of ``ctx.account`` (see the module's docstring)."""
    upstream = UpstreamIMAP(ctx)
    try:
        try:
            await upstream.connect()
        except UpstreamUnavailable as exc:
            ctx.log.warning("upstream unavailable: %s", exc)
            with anyio.move_on_after(5):
                await stream.send(UNAVAILABLE)
            return
        session = _LocalLogin(stream, info, ctx, upstream)
        with anyio.move_on_after(ctx.limits.login_timeout) as scope:
            try:
                logged_in = await session.run()
            except TimeoutError:
                ctx.log.info("the client stopped reading before logging in")
                return
        if scope.cancelled_caught:
            ctx.log.info("client did not log in within %g s", ctx.limits.login_timeout)
            with anyio.move_on_after(5):
                await session.stream.send(b"* BYE Autologout: no login in time\r\n")
            return
        if not logged_in:
            return
        up_stream, up_rest = upstream.take_over()
        try:
            why = await relay(
                ctx,
                session.stream,
                up_stream,
                client_rest=session.rest,
                upstream_rest=up_rest,
            )
        finally:
            await anyio.aclose_forcefully(up_stream)
        ctx.log.info("session ended: %s", why)
    finally:
        await upstream.aclose()


class _LocalLogin:
    """The client's side until it is logged in (locally and upstream)."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        info: ConnectionInfo,
        ctx: ProxyContext,
        upstream: UpstreamIMAP,
    ) -> None:
        self.stream = stream
        self.ctx = ctx
        self.upstream = upstream
        mode = ctx.account.listen_tls
        self.conn = ServerConnection(
            ServerConfig(
                capabilities=rewrite_capabilities(upstream.capabilities, authenticated=False),
                mechanisms=("PLAIN", "LOGIN"),
                starttls=mode is TLSMode.STARTTLS,
                tls_active=info.tls,
                allow_plaintext=mode is TLSMode.PLAIN,
                greeting=GREETING,
            )
        )
        #: bytes the client sent past its login command (pipelined), for the relay
        self.rest = b""
        # The upstream outcome of a SASL exchange, decided at its SaslRequest.
        self._sasl_result: LoginResult | None = None
        self.failures = ctx.failed_logins()
        # Set with the BYE after the last failed login allowed: run() ends.
        self.closing = False

    async def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            with anyio.fail_after(self.ctx.limits.upstream_timeout):
                await self.stream.send(data)

    async def run(self) -> bool:
        """True once logged in (the tagged OK sent); False if the client left."""
        conn = self.conn
        while True:
            try:
                ev = conn.next_event()
            except ProtocolError as exc:
                # Fatal (injection after STARTTLS, too many errors): the
                # connection queued its BYE.
                self.ctx.log.info("client refused: %s", exc)
                await self._flush()
                return False
            if ev is NEED_DATA:
                await self._flush()
                try:
                    data = await self.stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    data = b""
                conn.receive_data(data)
                continue
            if isinstance(ev, IMAPConnectionClosed):
                return False
            if isinstance(ev, StartTLSRequested):
                await self._flush()
                try:
                    self.stream = await self.ctx.local_start_tls(self.stream)
                except (TransportError, OSError, anyio.BrokenResourceError) as exc:
                    self.ctx.log.info("client TLS handshake failed: %s", exc)
                    return False
                conn.start_tls_done()
            elif isinstance(ev, CommandReceived):
                if await self._command(ev):
                    await self._flush()
                    return True
                if conn.state.value == "logout" or self.closing:
                    await self._flush()
                    return False
            elif isinstance(ev, SaslRequest):
                await self._sasl_request(ev)
                if self.closing:
                    await self._flush()
                    return False
            elif isinstance(ev, SaslAuthenticated):
                if self._finish(ev.tag, self._sasl_result):
                    await self._flush()
                    return True
            elif isinstance(ev, (AuthenticationFailed, CommandError)):
                pass

    async def _command(self, ev: CommandReceived) -> bool:
        cmd = ev.command
        conn = self.conn
        if isinstance(cmd, Login):
            try:
                username = cmd.username.decode("utf-8")
                password = Secret(cmd.password.expose().decode("utf-8"))
            except UnicodeDecodeError:
                result = None
            else:
                result = await self._login(username, password)
            last = result is None and await self.failures.failed()
            done = self._finish(str(cmd.tag), result)
            if last:
                self._close_after_failures()
            return done
        if isinstance(cmd, Logout):
            conn.complete("OK", "LOGOUT completed")
            return False
        if isinstance(cmd, (Noop, IdCommand)):
            conn.complete("OK")
            return False
        conn.complete("BAD", "Log in first")
        return False

    async def _sasl_request(self, ev: SaslRequest) -> None:
        request = ev.request
        if not isinstance(request, VerifyPassword) or (
            request.authzid is not None and request.authzid != request.authcid
        ):
            self._sasl_result = None
        else:
            self._sasl_result = await self._login(request.authcid, request.password)
        # The local password was right whenever an upstream outcome exists.
        if self._sasl_result is not None:
            self.conn.answer_sasl(True)
            return
        last = await self.failures.failed()
        self.conn.answer_sasl(False)
        if last:
            self._close_after_failures()

    def _close_after_failures(self) -> None:
        """After the last failed login allowed (its NO queued): BYE, then close."""
        self.ctx.log.info("closing the connection after %d failed logins", self.failures.count)
        self.conn.send(Status(tag=None, status="BYE", text=TOO_MANY_FAILURES))
        self.closing = True

    async def _login(self, username: str, password: Secret[str]) -> LoginResult | None:
        """``None`` for a wrong local login; else the upstream's outcome."""
        try:
            verified = await self.ctx.verify_local(username, password)
        except AuthorizationNeeded as exc:
            # Nothing stored for the account: the password cannot be checked.
            self.ctx.log_authorization_needed(exc)
            text = self.ctx.authorization_needed_text()
            return LoginResult(Outcome.AUTHORIZATION_NEEDED, text=text)
        except StorageError as exc:
            self.ctx.log.error("the stored tokens cannot be read: %s", exc)
            return LoginResult(Outcome.UNAVAILABLE, text="the proxy's token store is unusable")
        if not verified:
            self.ctx.log.info("local login refused for user %r", username[:64])
            return None
        if self.upstream.conn is None:
            try:
                await self.upstream.connect()
            except UpstreamUnavailable as exc:
                self.ctx.log.warning("upstream unavailable: %s", exc)
                return LoginResult(Outcome.UNAVAILABLE, text="the upstream server is unavailable")
        result = await self.upstream.login()
        if result.outcome is not Outcome.OK:
            # A fresh connection for the next attempt.
            await self.upstream.aclose()
        return result

    def _finish(self, tag: str, result: LoginResult | None) -> bool:
        conn = self.conn
        if result is None:
            conn.complete(
                "NO", "Authentication failed", ResponseCode(name="AUTHENTICATIONFAILED"), tag=tag
            )
            return False
        if result.outcome is Outcome.OK:
            caps = rewrite_capabilities(result.capabilities, authenticated=True)
            conn.complete("OK", "Logged in", ResponseCode(name="CAPABILITY", value=caps), tag=tag)
            self.rest = conn.unread()
            return True
        code = {
            Outcome.AUTHORIZATION_NEEDED: "AUTHORIZATIONFAILED",
            Outcome.REJECTED: "AUTHENTICATIONFAILED",
            Outcome.UNAVAILABLE: "UNAVAILABLE",
        }[result.outcome]
        conn.complete("NO", result.text, ResponseCode(name=code), tag=tag)
        return False
