"""The proxy's IMAP connection to the upstream server, up to authentication.

Greeting, STARTTLS when configured (plaintext after the OK is response
injection: refused), CAPABILITY, then AUTHENTICATE XOAUTH2 or OAUTHBEARER
through protokit.imap's :class:`~protokit.imap.ClientConnection`.  After a
successful login the relay takes over the stream and whatever bytes the
connection had received past the tagged OK.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import anyio
import anyio.abc

from ..errors import LocalProtocolError, ProtocolError
from ..imap import (
    Capability,
    ClientConnection,
    Completed,
    Greeting,
    Status,
    TLSUpgradeReady,
    UnexpectedContinuation,
)
from ..imap import ConnectionClosed as IMAPConnectionClosed
from ..imap._events import CommandHandle
from ..net import Pump, TransportError
from ..oauth import AccountLocked, AuthorizationNeeded, OAuthError, StorageError
from ._session import ProxyContext

__all__ = ["Outcome", "UpstreamIMAP", "UpstreamUnavailable"]


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or broke the protocol (the message
    says how, without secrets)."""


class Outcome(enum.Enum):
    OK = "ok"
    #: the upstream refused the token (NO after the error challenge)
    REJECTED = "rejected"
    #: the grant is gone: ``protokit proxy authorize ACCOUNT``
    AUTHORIZATION_NEEDED = "authorization needed"
    #: no XOAUTH2/OAUTHBEARER upstream, or the upstream failed
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: Outcome
    #: the upstream's capabilities after login (from its OK, or CAPABILITY)
    capabilities: tuple[str, ...] = ()
    #: what to tell the local client on failure
    text: str = ""


class UpstreamIMAP:
    """One upstream IMAP connection, driven through a :class:`Pump`."""

    def __init__(self, ctx: ProxyContext) -> None:
        self.ctx = ctx
        self.pump: Pump[object] | None = None
        self.conn: ClientConnection | None = None
        #: the upstream's capabilities before login (after STARTTLS), as sent
        self.capabilities: tuple[str, ...] = ()
        self._seen: tuple[str, ...] = ()

    async def connect(self) -> None:
        """Connect, read the greeting, STARTTLS when configured, learn the
        capabilities.  Raises :class:`UpstreamUnavailable`."""
        ctx = self.ctx
        mode = ctx.account.upstream_tls
        where = f"{ctx.account.upstream_host}:{ctx.account.upstream_port}"
        try:
            stream = await ctx.open_upstream()
        except (TransportError, OSError) as exc:
            raise UpstreamUnavailable(f"cannot connect to {where}: {exc}") from None
        conn = ClientConnection(
            tag_prefix="P",
            tls_active=mode.value == "implicit",
            require_tls=mode.value != "plain",
            allow_plaintext=mode.value == "plain",
        )
        pump: Pump[object] = Pump(stream, conn, timeouts=ctx.upstream_timeouts)
        self.pump, self.conn = pump, conn
        try:
            greeting = await self._event()
            if not isinstance(greeting, Greeting) or greeting.response.status != "OK":
                status = greeting.response.status if isinstance(greeting, Greeting) else "?"
                raise UpstreamUnavailable(f"{where} greeted with {status}, not OK")
            if mode.value == "starttls":
                await self._starttls(where)
            if conn.capabilities is None:
                await self._command(conn.capability())
            self.capabilities = self._capability_list()
        except UpstreamUnavailable:
            await self.aclose()
            raise
        except (ProtocolError, TransportError, OSError) as exc:
            await self.aclose()
            raise UpstreamUnavailable(f"{where}: {exc}") from None

    async def _starttls(self, where: str) -> None:
        assert self.conn is not None and self.pump is not None
        conn = self.conn
        try:
            handle = conn.starttls()
        except LocalProtocolError:
            raise UpstreamUnavailable(
                f"{where} does not offer STARTTLS (upstream_tls = starttls)"
            ) from None
        await self.pump.flush()
        while True:
            ev = await self._event()
            if isinstance(ev, Completed) and ev.handle is handle and not ev.ok:
                raise UpstreamUnavailable(f"{where} refused STARTTLS")
            if isinstance(ev, TLSUpgradeReady):
                break
        # The connection checked that nothing followed the OK; the context
        # checks again (response injection) before the handshake.
        self.pump.stream = await self.ctx.upstream_start_tls(
            self.pump.stream, pending=conn.unread()
        )
        conn.start_tls_done()

    async def _event(self) -> object:
        assert self.pump is not None
        ev = await self.pump.next_event()
        self._note_capabilities(ev)
        if isinstance(ev, IMAPConnectionClosed):
            raise UpstreamUnavailable("the upstream closed the connection")
        if isinstance(ev, UnexpectedContinuation):
            raise UpstreamUnavailable("the upstream sent an unexpected continuation")
        return ev

    async def _command(self, handle: CommandHandle) -> Completed:
        assert self.pump is not None
        await self.pump.flush()
        while True:
            ev = await self._event()
            if isinstance(ev, Completed) and ev.handle is handle:
                return ev

    def _note_capabilities(self, ev: object) -> None:
        """Keep the last capability list the upstream sent, as it spelt it."""
        response = getattr(ev, "response", None)
        if isinstance(response, Capability):
            self._seen = response.capabilities
        elif isinstance(response, Status) and response.code is not None:
            code = response.code
            if code.name == "CAPABILITY" and isinstance(code.value, tuple):
                self._seen = tuple(str(c) for c in code.value)

    def _capability_list(self) -> tuple[str, ...]:
        assert self.conn is not None
        known = self.conn.capabilities or frozenset()
        if {c.upper() for c in self._seen} == known:
            return self._seen
        return tuple(sorted(known))

    def offered_mechanisms(self) -> list[str]:
        return [c[5:] for c in self.capabilities if c.upper().startswith("AUTH=")]

    async def login(self) -> LoginResult:
        """AUTHENTICATE with the account's token; never raises for a refusal."""
        ctx = self.ctx
        assert self.conn is not None and self.pump is not None
        mechanism = ctx.choose_mechanism(self.offered_mechanisms())
        if mechanism is None:
            ctx.log.error(
                "the upstream offers none of %s (it offers %s)",
                "/".join(ctx.account.mechanisms),
                " ".join(self.offered_mechanisms()) or "no SASL mechanism",
            )
            return LoginResult(Outcome.UNAVAILABLE, text="the upstream offers no OAuth2 login")
        retried = False
        while True:
            try:
                token = await ctx.access_token()
            except AuthorizationNeeded as exc:
                ctx.log_authorization_needed(exc)
                text = ctx.authorization_needed_text()
                return LoginResult(Outcome.AUTHORIZATION_NEEDED, text=text)
            except (OAuthError, AccountLocked, StorageError) as exc:
                # The provider failing after the manager's retries, or the
                # token file unusable: nothing the client can fix by retrying now.
                ctx.log.error("no access token: %s", exc)
                return LoginResult(Outcome.UNAVAILABLE, text="the OAuth provider is unavailable")
            try:
                handle = self.conn.authenticate(ctx.sasl_client(mechanism, token))
                done = await self._command(handle)
            except (ProtocolError, TransportError, OSError, UpstreamUnavailable) as exc:
                ctx.log.warning("upstream AUTHENTICATE %s failed: %s", mechanism, exc)
                return LoginResult(Outcome.UNAVAILABLE, text="the upstream server failed")
            if done.ok:
                break
            ctx.log.warning(
                "the upstream refused the token (AUTHENTICATE %s): %s",
                mechanism,
                done.response.text,
            )
            # A cached token revoked or expired early: once more with a fresh one.
            if retried or not ctx.token_rejected(token):
                return LoginResult(
                    Outcome.REJECTED, text=f"the upstream refused the access token ({mechanism})"
                )
            retried = True
        code = done.response.code
        if code is not None and code.name == "CAPABILITY" and isinstance(code.value, tuple):
            caps = self._seen
        else:
            try:
                await self._command(self.conn.capability())
            except (ProtocolError, TransportError, OSError, UpstreamUnavailable) as exc:
                ctx.log.warning("upstream CAPABILITY failed: %s", exc)
                return LoginResult(Outcome.UNAVAILABLE, text="the upstream server failed")
            caps = self._capability_list()
        ctx.log.info("logged in upstream as %s with %s", ctx.account.upstream_user, mechanism)
        return LoginResult(Outcome.OK, capabilities=caps)

    def take_over(self) -> tuple[anyio.abc.ByteStream, bytes]:
        """The stream and the bytes received past the login, for the relay."""
        assert self.pump is not None and self.conn is not None
        stream, rest = self.pump.stream, self.conn.unread()
        self.pump = None
        self.conn = None
        return stream, rest

    async def aclose(self) -> None:
        if self.pump is not None:
            pump, self.pump, self.conn = self.pump, None, None
            await pump.aclose()
