"""The proxy's TOML configuration: one listener and one upstream per account.

``load_config(path)`` reads and checks the whole file; every problem raises a
:class:`ConfigError` that names the file and the key.  Secrets from the file
(the OAuth client secret) are held as :class:`~protokit.wire.Secret`.

A minimal file::

    state_dir = "state"            # relative to the file; the encrypted tokens

    [providers.example]
    token_endpoint = "https://oauth2.example.com/token"
    authorization_endpoint = "https://oauth2.example.com/auth"
    device_authorization_endpoint = "https://oauth2.example.com/device"
    client_id = "my-client"
    client_secret = "..."
    scopes = ["https://mail.example.com/"]

    [accounts.work]
    protocol = "imap"
    listen_port = 1143              # plain: loopback only
    local_user = "me"
    upstream_host = "imap.example.com"
    upstream_port = 993
    upstream_tls = "implicit"
    upstream_user = "me@example.com"
    provider = "example"            # or an inline table with the same keys

An optional ``[limits]`` table bounds every connection (defaults shown)::

    [limits]
    connect_timeout = 30.0          # seconds to reach the upstream, TLS included
    upstream_timeout = 60.0         # seconds for an upstream's answer
    login_timeout = 120.0           # seconds from connect to logged in
    idle_timeout = 2100.0           # seconds without traffic after login
    max_connections = 200           # at once, over all listeners of a protocol
    max_auth_failures = 3           # failed local logins before the connection closes
    auth_failure_delay = 2.0        # seconds before a failed local login is answered (0: none)
    max_concurrent_unlocks = 2      # local passwords checked (scrypt) at once, whole proxy

A failed local login is a wrong password, an unknown user or a SASL exchange
refused as bad credentials; a refusal because TLS is required and a client
cancelling its SASL exchange (``*``) are not counted, nor delayed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast

from ..net import TLSMode
from ..oauth._http import is_loopback
from ..wire import Secret

__all__ = [
    "MECHANISMS",
    "AccountConfig",
    "ConfigError",
    "ProviderConfig",
    "ProxyConfig",
    "ProxyLimits",
    "load_config",
]

Protocol = Literal["imap", "pop3", "smtp"]

#: The upstream mechanisms the proxy speaks, in its default preference.
MECHANISMS: Final = ("XOAUTH2", "OAUTHBEARER")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """An OAuth 2.0 provider (authorization server) and the client registered there."""

    name: str
    token_endpoint: str
    client_id: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    client_secret: Secret[str] | None = None
    scopes: tuple[str, ...] = ()
    #: CA bundle for the provider's HTTPS (None: the system's)
    cafile: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountConfig:
    """One proxied account: the local listener, the upstream and its provider."""

    name: str
    protocol: Protocol
    listen_port: int
    local_user: str
    upstream_host: str
    upstream_port: int
    upstream_user: str
    provider: ProviderConfig
    listen_host: str = "127.0.0.1"
    listen_tls: TLSMode = TLSMode.PLAIN
    cert_file: Path | None = None
    key_file: Path | None = None
    upstream_tls: TLSMode = TLSMode.IMPLICIT
    upstream_cafile: str | None = None
    upstream_server_hostname: str | None = None
    #: upstream SASL mechanisms in order of preference
    mechanisms: tuple[str, ...] = MECHANISMS
    #: the key the tokens are stored under (accounts sharing one mailbox,
    #: e.g. its IMAP and its SMTP side, may share one authorization)
    grant: str = ""

    @property
    def grant_name(self) -> str:
        return self.grant or self.name

    def authorize_command(self) -> str:
        """The command that (re-)authorizes this account."""
        return f"protokit proxy authorize {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyLimits:
    """Timeouts (seconds) and bounds for every connection."""

    #: connecting to the upstream and completing TLS there
    connect_timeout: float = 30.0
    #: an upstream's answer to a command of the proxy's own (greeting, AUTH...)
    upstream_timeout: float = 60.0
    #: a local client logging in (from connect to authenticated)
    login_timeout: float = 120.0
    #: no traffic in either direction after login (IMAP IDLE re-issues every 29 min)
    idle_timeout: float = 35 * 60.0
    max_connections: int = 200
    #: failed local logins on one connection; the last one's reply is followed
    #: by the protocol's closing reply and the close
    max_auth_failures: int = 3
    #: seconds a failed local login waits before its reply (0: none)
    auth_failure_delay: float = 2.0
    #: local passwords checked at once over the whole proxy (each an scrypt
    #: unlock of the stored tokens, costly by design)
    max_concurrent_unlocks: int = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """The whole proxy: its accounts, where tokens live, and its limits."""

    accounts: tuple[AccountConfig, ...]
    state_dir: Path
    limits: ProxyLimits = field(default_factory=ProxyLimits)
    path: Path | None = None

    def account(self, name: str) -> AccountConfig:
        for account in self.accounts:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in self.accounts) or "none"
        raise ConfigError(f"no account {name!r} in the configuration (accounts: {known})")


_TOP: Final = frozenset({"state_dir", "accounts", "providers", "limits"})
_PROVIDER: Final = frozenset(
    {
        "token_endpoint",
        "authorization_endpoint",
        "device_authorization_endpoint",
        "client_id",
        "client_secret",
        "scopes",
        "cafile",
    }
)
_ACCOUNT: Final = frozenset(
    {
        "protocol",
        "listen_host",
        "listen_port",
        "listen_tls",
        "cert_file",
        "key_file",
        "local_user",
        "upstream_host",
        "upstream_port",
        "upstream_tls",
        "upstream_cafile",
        "upstream_server_hostname",
        "upstream_user",
        "provider",
        "mechanisms",
        "grant",
    }
)
_LIMITS: Final = frozenset(
    {
        "connect_timeout",
        "upstream_timeout",
        "login_timeout",
        "idle_timeout",
        "max_connections",
        "max_auth_failures",
        "auth_failure_delay",
        "max_concurrent_unlocks",
    }
)


class _Reader:
    """Typed access to one table, with errors naming the dotted key."""

    def __init__(self, where: str, prefix: str, table: Mapping[str, Any], known: frozenset[str]):
        self.where = where
        self.prefix = prefix
        self.table = table
        unknown = sorted(set(table) - known)
        if unknown:
            keys = ", ".join(self.key(k) for k in unknown)
            raise ConfigError(f"{where}: unknown setting(s) {keys}")

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, what: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.key(name)} {what}")

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.table.get(name)
        if value is None:
            if required or default is None:
                raise self.fail(name, "is required")
            return default
        if not isinstance(value, str) or not value or any(c in value for c in "\r\n\x00"):
            raise self.fail(name, "must be a non-empty string on one line")
        return value

    def optional(self, name: str) -> str | None:
        if name not in self.table:
            return None
        return self.string(name, required=True)

    def port(self, name: str) -> int:
        value = self.table.get(name)
        if value is None:
            raise self.fail(name, "is required")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise self.fail(name, "must be a port number, 0 to 65535")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, "must be a number of seconds")
        if not value > 0 or math.isnan(value):
            raise self.fail(name, "must be greater than 0")
        return float(value)

    def delay(self, name: str, default: float) -> float:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, "must be a number of seconds")
        if not 0 <= value < math.inf:
            raise self.fail(name, "must be 0 or more seconds (finite)")
        return float(value)

    def count(self, name: str, default: int) -> int:
        value = self.table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(name, "must be a whole number, at least 1")
        return value

    def tls(self, name: str, default: TLSMode) -> TLSMode:
        value = self.table.get(name)
        if value is None:
            return default
        try:
            return TLSMode(value)
        except ValueError:
            raise self.fail(name, 'must be "plain", "starttls" or "implicit"') from None

    def strings(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.table.get(name)
        if value is None:
            return default
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v and not any(c in v for c in "\r\n\x00 ") for v in value
        ):
            raise self.fail(name, "must be a list of non-empty strings without spaces")
        return tuple(cast(list[str], value))


def _table(where: str, key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} must be a table")
    return cast(Mapping[str, Any], value)


def _provider(where: str, name: str, prefix: str, table: Mapping[str, Any]) -> ProviderConfig:
    r = _Reader(where, prefix, table, _PROVIDER)
    secret = r.optional("client_secret")
    return ProviderConfig(
        name=name,
        token_endpoint=_url(r, "token_endpoint", required=True) or "",
        authorization_endpoint=_url(r, "authorization_endpoint"),
        device_authorization_endpoint=_url(r, "device_authorization_endpoint"),
        client_id=r.string("client_id", required=True),
        client_secret=None if secret is None else Secret(secret),
        scopes=r.strings("scopes", ()),
        cafile=r.optional("cafile"),
    )


def _url(r: _Reader, name: str, *, required: bool = False) -> str | None:
    value = r.string(name, required=True) if required else r.optional(name)
    if value is None:
        return None
    if value.startswith("https://"):
        return value
    if value.startswith("http://"):
        host = value[len("http://") :].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        if is_loopback(host):
            return value
        raise r.fail(name, "must be https:// (http:// only to a loopback address)")
    raise r.fail(name, "must be an https:// URL")


def _account(
    where: str,
    name: str,
    table: Mapping[str, Any],
    providers: Mapping[str, ProviderConfig],
    base: Path,
) -> AccountConfig:
    prefix = f"accounts.{name}."
    r = _Reader(where, prefix, table, _ACCOUNT)
    protocol = r.string("protocol", required=True)
    if protocol not in ("imap", "pop3", "smtp"):
        raise r.fail("protocol", 'must be "imap", "pop3" or "smtp"')
    listen_host = r.string("listen_host", "127.0.0.1")
    listen_tls = r.tls("listen_tls", TLSMode.PLAIN)
    if listen_tls is TLSMode.PLAIN and not is_loopback(listen_host):
        raise r.fail(
            "listen_host",
            f"is {listen_host}: a plain listener only on loopback (127.0.0.1, ::1); "
            'set listen_tls = "starttls" or "implicit" with cert_file and key_file',
        )
    cert_file = r.optional("cert_file")
    key_file = r.optional("key_file")
    if listen_tls is not TLSMode.PLAIN:
        if cert_file is None:
            raise r.fail("cert_file", f"is required with listen_tls = {listen_tls.value!r}")
        if key_file is None:
            raise r.fail("key_file", f"is required with listen_tls = {listen_tls.value!r}")
    upstream_host = r.string("upstream_host", required=True)
    upstream_tls = r.tls("upstream_tls", TLSMode.IMPLICIT)
    if upstream_tls is TLSMode.PLAIN and not is_loopback(upstream_host):
        raise r.fail(
            "upstream_tls",
            f'is "plain": bearer tokens go to {upstream_host} only over TLS '
            '("starttls" or "implicit"); plain only to a loopback upstream',
        )
    mechanisms = tuple(m.upper() for m in r.strings("mechanisms", MECHANISMS))
    if not mechanisms or any(m not in MECHANISMS for m in mechanisms):
        raise r.fail("mechanisms", 'must list "XOAUTH2" and/or "OAUTHBEARER"')
    provider_value = table.get("provider")
    if isinstance(provider_value, str):
        if provider_value not in providers:
            known = ", ".join(sorted(providers)) or "none"
            raise r.fail("provider", f"names no [providers.{provider_value}] (known: {known})")
        provider = providers[provider_value]
    elif isinstance(provider_value, dict):
        provider = _provider(where, name, f"{prefix}provider.", provider_value)
    elif provider_value is None:
        raise r.fail("provider", "is required (a [providers.NAME] name or a table)")
    else:
        raise r.fail("provider", "must be a provider name or a table")

    def path(value: str | None) -> Path | None:
        return None if value is None else base / Path(value).expanduser()

    cafile = path(r.optional("upstream_cafile"))
    return AccountConfig(
        name=name,
        protocol=cast(Protocol, protocol),
        listen_host=listen_host,
        listen_port=r.port("listen_port"),
        listen_tls=listen_tls,
        cert_file=path(cert_file),
        key_file=path(key_file),
        local_user=r.string("local_user", required=True),
        upstream_host=upstream_host,
        upstream_port=r.port("upstream_port"),
        upstream_tls=upstream_tls,
        upstream_cafile=None if cafile is None else str(cafile),
        upstream_server_hostname=r.optional("upstream_server_hostname"),
        upstream_user=r.string("upstream_user", required=True),
        provider=provider,
        mechanisms=mechanisms,
        grant=r.optional("grant") or "",
    )


_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def load_config(path: Path | str) -> ProxyConfig:
    """Read and check the proxy's TOML file (relative paths are relative to it)."""
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    return parse_config(data, where=where, base=path.resolve().parent, path=path)


def parse_config(
    data: Mapping[str, Any], *, where: str, base: Path, path: Path | None = None
) -> ProxyConfig:
    """Check an already-parsed TOML document (see :func:`load_config`)."""
    top = _Reader(where, "", data, _TOP)
    providers: dict[str, ProviderConfig] = {}
    for name, value in _table(where, "providers", data.get("providers", {})).items():
        providers[name] = _provider(
            where, name, f"providers.{name}.", _table(where, f"providers.{name}", value)
        )
    accounts_table = _table(where, "accounts", data.get("accounts", {}))
    if not accounts_table:
        raise ConfigError(f"{where}: no [accounts.NAME] table: nothing to proxy")
    accounts = []
    for name, value in accounts_table.items():
        if not name or not set(name) <= _NAME_CHARS:
            raise ConfigError(
                f"{where}: accounts.{name!r}: an account name is letters, digits, '-', '_', '.'"
            )
        accounts.append(
            _account(where, name, _table(where, f"accounts.{name}", value), providers, base)
        )
    seen: dict[tuple[str, int], str] = {}
    for account in accounts:
        if account.listen_port == 0:
            continue
        key = (account.listen_host, account.listen_port)
        if key in seen:
            raise ConfigError(
                f"{where}: accounts.{account.name}.listen_port {account.listen_port} is "
                f"already used by accounts.{seen[key]}"
            )
        seen[key] = account.name
    lim = _Reader(where, "limits.", _table(where, "limits", data.get("limits", {})), _LIMITS)
    default = ProxyLimits()
    limits = ProxyLimits(
        connect_timeout=lim.number("connect_timeout", default.connect_timeout),
        upstream_timeout=lim.number("upstream_timeout", default.upstream_timeout),
        login_timeout=lim.number("login_timeout", default.login_timeout),
        idle_timeout=lim.number("idle_timeout", default.idle_timeout),
        max_connections=lim.count("max_connections", default.max_connections),
        max_auth_failures=lim.count("max_auth_failures", default.max_auth_failures),
        auth_failure_delay=lim.delay("auth_failure_delay", default.auth_failure_delay),
        max_concurrent_unlocks=lim.count("max_concurrent_unlocks", default.max_concurrent_unlocks),
    )
    state_dir = base / Path(top.string("state_dir", "protokit-proxy-state")).expanduser()
    return ProxyConfig(accounts=tuple(accounts), state_dir=state_dir, limits=limits, path=path)
