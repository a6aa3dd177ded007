"""``serve_proxy``: one listener per account, each connection handed to the
handler for the account's protocol (``HANDLERS``)."""

from __future__ import annotations

import functools
import importlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, cast

import anyio
import anyio.abc

from ..net import (
    ConnectionInfo,
    Listener,
    ServerInfo,
    ServerLimits,
    TLSMode,
    serve_listeners,
    server_ssl_context,
)
from ..oauth import HTTPTransport, OAuthProvider, TokenManager, TokenStorage
from ._config import AccountConfig, ConfigError, ProviderConfig, ProxyConfig
from ._session import ProxyContext, TokenSource, log

__all__ = [
    "HANDLERS",
    "ProxyHandler",
    "handler_for",
    "oauth_provider",
    "serve_proxy",
    "token_manager",
]

ProxyHandler = Callable[[anyio.abc.ByteStream, ConnectionInfo, ProxyContext], Awaitable[None]]

#: protocol -> "module:function" of its connection handler (imported when used,
#: so each protocol's module loads only when an account needs it)
HANDLERS: Final[Mapping[str, str]] = {
    "imap": "protokit.proxy._imap:handle_imap",
    "pop3": "protokit.proxy._pop3:handle_pop3",
    "smtp": "protokit.proxy._smtp:handle_smtp",
}

#: what a client over the connection limit reads before the close
_OVERLOAD: Final[Mapping[str, bytes]] = {
    "imap": b"* BYE too many connections to the proxy\r\n",
    "pop3": b"-ERR [SYS/TEMP] too many connections to the proxy\r\n",
    "smtp": b"421 4.3.2 Too many connections to the proxy\r\n",
}


def handler_for(protocol: str) -> ProxyHandler:
    """The connection handler registered for ``protocol``."""
    module_name, _, function = HANDLERS[protocol].partition(":")
    module = importlib.import_module(module_name)
    return cast(ProxyHandler, getattr(module, function))


def _server_context(account: AccountConfig) -> ssl.SSLContext | None:
    if account.cert_file is None:
        return None
    try:
        return server_ssl_context(
            str(account.cert_file), None if account.key_file is None else str(account.key_file)
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"accounts.{account.name}: cannot load the certificate {account.cert_file}: {exc}"
        ) from None


def oauth_provider(provider: ProviderConfig) -> OAuthProvider:
    """protokit.oauth's registration for a configured provider."""
    return OAuthProvider(
        token_url=provider.token_endpoint,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scopes=provider.scopes,
        authorize_url=provider.authorization_endpoint,
        device_url=provider.device_authorization_endpoint,
    )


def token_manager(config: ProxyConfig) -> TokenManager:
    """The token manager for every grant of ``config``, its encrypted
    storage in ``config.state_dir``."""
    providers: dict[str, OAuthProvider] = {}
    cafiles = {a.provider.cafile for a in config.accounts}
    if len(cafiles) > 1:
        raise ConfigError("every provider must use the same cafile (one HTTPS client)")
    for account in config.accounts:
        registration = oauth_provider(account.provider)
        known = providers.setdefault(account.grant_name, registration)
        if known != registration:
            raise ConfigError(
                f"accounts.{account.name}: grant {account.grant_name!r} is shared with an "
                "account of another provider"
            )
    return TokenManager(
        providers,
        TokenStorage(config.state_dir),
        transport=HTTPTransport(cafile=cafiles.pop()),
    )


def build_contexts(config: ProxyConfig, tokens: TokenSource) -> dict[str, ProxyContext]:
    """One :class:`ProxyContext` per account (certificates loaded here, so a
    bad one is a :class:`ConfigError` before anything listens).  They share
    one limiter of the password checks running at once, whatever the account."""
    contexts: dict[str, ProxyContext] = {}
    unlocks = anyio.CapacityLimiter(config.limits.max_concurrent_unlocks)
    for account in config.accounts:
        contexts[account.name] = ProxyContext(
            account,
            tokens,
            limits=config.limits,
            server_ssl_context=_server_context(account),
            unlock_limiter=unlocks,
        )
    return contexts


async def serve_proxy(
    config: ProxyConfig,
    *,
    tokens: TokenSource | None = None,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve every account of ``config`` until cancelled.  ``task_status``
    reports the bound addresses by account name.  ``tokens`` defaults to
    :func:`token_manager` (the encrypted storage in ``config.state_dir``)."""
    contexts = build_contexts(config, tokens if tokens is not None else token_manager(config))
    handlers = {a.name: handler_for(a.protocol) for a in config.accounts}
    groups: dict[str, list[Listener]] = {}
    for account in config.accounts:
        ctx = contexts[account.name]
        groups.setdefault(account.protocol, []).append(
            Listener(
                host=account.listen_host,
                port=account.listen_port,
                tls=TLSMode.IMPLICIT if account.listen_tls is TLSMode.IMPLICIT else TLSMode.PLAIN,
                ssl_context=ctx.server_ssl_context,
                name=account.name,
            )
        )

    async def dispatch(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        ctx = contexts[info.listener.name]
        ctx.log.info("connection from %s:%d", info.peer[0], info.peer[1])
        await handlers[info.listener.name](stream, info, ctx)

    info = ServerInfo()
    async with anyio.create_task_group() as tg:
        for protocol, listeners in groups.items():
            limits = ServerLimits(
                max_connections=config.limits.max_connections,
                handshake_timeout=config.limits.connect_timeout,
                overload_reply=_OVERLOAD[protocol],
            )
            started = await tg.start(
                functools.partial(serve_listeners, limits=limits), dispatch, listeners
            )
            info.addresses.update(cast(ServerInfo, started).addresses)
        log.info(
            "proxy ready: %s", ", ".join(f"{n}={h}:{p}" for n, (h, p) in info.addresses.items())
        )
        task_status.started(info)
