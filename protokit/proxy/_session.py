"""What every connection handler of the proxy is given: :class:`ProxyContext`.

The context owns the account's secrets and sockets so the protocol handlers
don't: it checks the local login (the local password also unlocks the
account's encrypted tokens), hands out access tokens, opens the upstream
connection (TLS verified) and upgrades either side to TLS.  It also holds the
upstream SASL choice shared by the IMAP, POP3 and SMTP handlers.

Failed local logins are resisted as Dovecot and Postfix do: each connection
counts its own in a :class:`FailedLogins` (each failure answered only after
``auth_failure_delay``, the connection closed at ``max_auth_failures``), and
the whole proxy runs at most ``max_concurrent_unlocks`` password checks (the
scrypt unlock) at once, through one limiter shared by every context.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from collections.abc import Iterable, MutableMapping
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from ..net import OperationTimeout, Timeouts, TLSError, TLSMode, open_stream
from ..net import client_ssl_context as _client_ssl_context
from ..oauth import AccessToken, AuthorizationNeeded
from ..sasl import ClientMechanism, OAuthBearerClient, VerifyPassword, XOAuth2Client
from ..wire import Secret
from ._config import AccountConfig, ProxyLimits

__all__ = [
    "AuthorizationNeeded",
    "BearerToken",
    "FailedLogins",
    "ProxyContext",
    "TokenSource",
    "make_upstream_ssl_context",
]

log = logging.getLogger("protokit.proxy")


#: What the token manager hands out (kept as a name for the handlers).
BearerToken = AccessToken


class TokenSource(Protocol):
    """What the proxy needs from the token manager and its encrypted storage
    (``protokit.oauth``), per grant (see :attr:`AccountConfig.grant_name`).

    A source that caches access tokens also has ``forget(grant, token)``
    (as :meth:`protokit.oauth.TokenManager.forget`): the proxy calls it when
    the upstream refuses ``token`` and then tries once more with a fresh one.
    """

    async def unlock(self, grant: str, password: Secret[str]) -> bool:
        """Check the local password by decrypting the stored tokens with it;
        True when it does (the manager may then use them)."""
        ...

    async def access_token(self, grant: str) -> BearerToken:
        """A valid access token, refreshed as needed (one refresh in flight);
        raises :class:`AuthorizationNeeded` when the grant is gone."""
        ...


class _AccountLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = self.extra or {}
        return f"account={extra.get('account')} {msg}", kwargs


def make_upstream_ssl_context(account: AccountConfig) -> ssl.SSLContext:
    """A verifying client context, trusting ``upstream_cafile`` when set."""
    return _client_ssl_context(cafile=account.upstream_cafile)


class FailedLogins:
    """One connection's failed local logins: a wrong password, an unknown
    user, a SASL exchange refused as bad credentials.  (A refusal because TLS
    is required never reaches the proxy's check, and a client cancelling its
    SASL exchange with ``*`` checked no password: neither is counted.)"""

    def __init__(self, limits: ProxyLimits) -> None:
        self.limits = limits
        self.count = 0

    async def failed(self) -> bool:
        """Count one failure and wait ``auth_failure_delay`` (this connection
        only) before its reply; True when it was the last one allowed: the
        handler sends the failure reply, then its closing reply, and closes."""
        self.count += 1
        if self.limits.auth_failure_delay > 0:
            await anyio.sleep(self.limits.auth_failure_delay)
        return self.count >= self.limits.max_auth_failures


class ProxyContext:
    """One account's view of the proxy, shared by all its connections."""

    def __init__(
        self,
        account: AccountConfig,
        tokens: TokenSource,
        *,
        limits: ProxyLimits | None = None,
        server_ssl_context: ssl.SSLContext | None = None,
        upstream_ssl_context: ssl.SSLContext | None = None,
        unlock_limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.account = account
        self.tokens = tokens
        self.limits = limits or ProxyLimits()
        #: bounds the password checks (scrypt unlocks) running at once; one
        #: limiter shared by every account's context in :func:`serve_proxy`
        self.unlock_limiter = (
            anyio.CapacityLimiter(self.limits.max_concurrent_unlocks)
            if unlock_limiter is None
            else unlock_limiter
        )
        #: the local side's TLS (STARTTLS or implicit); None for a plain listener
        self.server_ssl_context = server_ssl_context
        self.upstream_ssl_context = upstream_ssl_context or make_upstream_ssl_context(account)
        self.log: logging.LoggerAdapter[logging.Logger] = _AccountLog(
            log, {"account": account.name}
        )
        self.upstream_timeouts = Timeouts(
            connect=self.limits.connect_timeout,
            read=self.limits.upstream_timeout,
            write=self.limits.upstream_timeout,
            tls=self.limits.connect_timeout,
        )

    # -- the local side ---------------------------------------------------------

    async def verify_local(self, username: str, password: Secret[str]) -> bool:
        """The local login: the configured user name (compared in constant
        time) and a password that unlocks the account's tokens.  A wrong user
        name costs the same as a wrong password."""
        user_ok = hmac.compare_digest(
            username.encode("utf-8", "surrogatepass"),
            self.account.local_user.encode("utf-8", "surrogatepass"),
        )
        async with self.unlock_limiter:
            unlocked = await self.tokens.unlock(self.account.grant_name, password)
        return user_ok and unlocked

    def failed_logins(self) -> FailedLogins:
        """A new connection's count of failed local logins."""
        return FailedLogins(self.limits)

    async def verify_sasl(self, request: object) -> bool:
        """The local login asked for by a server codec's SASL exchange (PLAIN,
        LOGIN): a password check, with no authorization identity other than
        the user itself."""
        if not isinstance(request, VerifyPassword):
            return False
        if request.authzid not in (None, request.authcid):
            return False
        return await self.verify_local(request.authcid, request.password)

    def plaintext_login_allowed(self, tls_active: bool) -> bool:
        """LOGIN/PLAIN only under TLS, or on a plain loopback listener."""
        return tls_active or self.account.listen_tls is TLSMode.PLAIN

    async def local_start_tls(self, stream: anyio.abc.ByteStream) -> anyio.abc.ByteStream:
        """Upgrade the client's connection (after the STARTTLS/STLS reply was
        sent and nothing was buffered past the command)."""
        if self.server_ssl_context is None:
            raise TLSError("this listener has no certificate: STARTTLS is not offered")
        try:
            with anyio.fail_after(self.limits.connect_timeout):
                return await TLSStream.wrap(
                    stream,
                    server_side=True,
                    ssl_context=self.server_ssl_context,
                    standard_compatible=False,
                )
        except TimeoutError:
            raise OperationTimeout("the client's TLS handshake timed out") from None

    # -- the upstream side ------------------------------------------------------

    @property
    def upstream_server_hostname(self) -> str:
        return self.account.upstream_server_hostname or self.account.upstream_host

    async def open_upstream(self) -> anyio.abc.ByteStream:
        """Connect to the upstream; in TLS at once for IMPLICIT (verified)."""
        a = self.account
        return await open_stream(
            a.upstream_host,
            a.upstream_port,
            tls=a.upstream_tls,
            ssl_context=self.upstream_ssl_context,
            server_hostname=self.upstream_server_hostname,
            timeouts=self.upstream_timeouts,
        )

    async def upstream_start_tls(
        self, stream: anyio.abc.ByteStream, *, pending: bytes = b""
    ) -> anyio.abc.ByteStream:
        """Upgrade the upstream connection after its STARTTLS OK.  ``pending``
        is whatever the codec holds past that reply: anything there is
        response injection, refused."""
        if pending:
            raise TLSError("the upstream sent plaintext after its STARTTLS reply: refusing it")
        where = f"{self.account.upstream_host}:{self.account.upstream_port}"
        try:
            with anyio.fail_after(self.limits.connect_timeout):
                return await TLSStream.wrap(
                    stream,
                    hostname=self.upstream_server_hostname,
                    ssl_context=self.upstream_ssl_context,
                    standard_compatible=False,
                )
        except TimeoutError:
            raise OperationTimeout(f"the TLS handshake with {where} timed out") from None
        except ssl.SSLError as exc:
            raise TLSError(f"TLS with {where} failed: {exc.reason or exc}") from exc
        except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise TLSError(f"{where} closed the connection during the TLS handshake") from exc

    async def access_token(self) -> BearerToken:
        """A valid access token; :class:`AuthorizationNeeded` when the grant is gone."""
        return await self.tokens.access_token(self.account.grant_name)

    def token_rejected(self, token: BearerToken) -> bool:
        """The upstream refused ``token``: have the token source forget it
        (its refresh token is kept).  True when the source caches tokens, so
        one more login with :meth:`access_token` may succeed (a stale token)
        or tell that the grant is gone (a revoked one); False when asking
        again would only hand out the same answer."""
        forget = getattr(self.tokens, "forget", None)
        if forget is None:
            return False
        forget(self.account.grant_name, token)
        self.log.info("the upstream refused the cached access token: asking for a fresh one")
        return True

    def choose_mechanism(self, offered: Iterable[str]) -> str | None:
        """The first of the account's mechanisms the upstream offers."""
        upper = {m.upper() for m in offered}
        return next((m for m in self.account.mechanisms if m in upper), None)

    def sasl_client(self, mechanism: str, token: BearerToken) -> ClientMechanism:
        """The upstream SASL client for ``mechanism`` (from :meth:`choose_mechanism`)."""
        a = self.account
        if mechanism == "XOAUTH2":
            return XOAuth2Client(a.upstream_user, token.token)
        if mechanism == "OAUTHBEARER":
            return OAuthBearerClient(
                a.upstream_user, token.token, host=a.upstream_host, port=a.upstream_port
            )
        raise ValueError(f"the proxy does not speak {mechanism} upstream")

    def authorization_needed_text(self) -> str:
        """The client-facing text for a grant that is gone."""
        return f"authorization needed: run {self.account.authorize_command()}"

    def log_authorization_needed(self, exc: AuthorizationNeeded | None = None) -> None:
        """Log, for the person running the proxy, the command that fixes it."""
        reason = exc.reason if exc is not None else "the grant is gone"
        self.log.warning(
            "authorization needed (%s): run %s", reason, self.account.authorize_command()
        )
