"""``protokit serve``: the store-backed SMTP, IMAP and POP3 servers on their
listeners, each at its standard port plus an offset (3000 by default:
3025, 3587, 3465, 3143, 3993, 3110, 3995), the certificate, the start-up
banner.

:func:`serve` runs until cancelled and reports the bound addresses through
``task_status``; the CLI adds signal handling and exit codes."""

from __future__ import annotations

import logging
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, TextIO

import anyio
import anyio.abc

from ..imap import ServerConfig as IMAPConfig
from ..net import Listener, ServerInfo, TLSMode, serve_imap, serve_pop3, serve_smtp
from ..pop3 import ServerConfig as POP3Config
from ..smtp import ServerConfig as SMTPConfig
from ._async import AsyncStore
from ._backend_imap import StoreIMAPBackend
from ._backend_pop3 import StorePOP3Backend
from ._backend_smtp import StoreSMTPBackend
from ._certs import CertificatePaths, ensure_certificate, server_ssl_context
from ._serve_tokens import (
    IntrospectionSettings,
    JWTSettings,
    TokenSettingsError,
    introspection_from_table,
    jwt_from_table,
)
from ._store import Store
from ._tokens import TokenValidator

__all__ = [
    "DEFAULT_PORT_OFFSET",
    "ROLES",
    "ConfigError",
    "Role",
    "ServeConfig",
    "banner",
    "load_config",
    "serve",
]

log = logging.getLogger("protokit.server")

DEFAULT_PORT_OFFSET: Final = 3000
DEFAULT_HOST: Final = "127.0.0.1"
SUBMISSION_MECHANISMS: Final = (
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
    "LOGIN",
    "XOAUTH2",
    "OAUTHBEARER",
)
POP3_MECHANISMS: Final = SUBMISSION_MECHANISMS
IMAP_MECHANISMS: Final = SUBMISSION_MECHANISMS
#: What the IMAP listeners advertise: each is implemented end to end by
#: serve_imap on the store (DESIGN.md's list).
IMAP_CAPABILITIES: Final = (
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "IDLE",
    "ENABLE",
    "ID",
    "UNSELECT",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "CONDSTORE",
    "SPECIAL-USE",
    "LIST-STATUS",
    "ESEARCH",
    "X-GM-EXT-1",
)


@dataclass(frozen=True, slots=True)
class Role:
    """One listener of ``protokit serve``."""

    name: str
    protocol: str
    standard_port: int
    tls: TLSMode
    description: str


#: Every listener, in banner order.
ROLES: Final = (
    Role("smtp", "smtp", 25, TLSMode.STARTTLS, "SMTP MX: local delivery, no auth"),
    Role("submission", "smtp", 587, TLSMode.STARTTLS, "SMTP submission, STARTTLS"),
    Role("submissions", "smtp", 465, TLSMode.IMPLICIT, "SMTP submission, implicit TLS"),
    Role("imap", "imap", 143, TLSMode.STARTTLS, "IMAP, STARTTLS"),
    Role("imaps", "imap", 993, TLSMode.IMPLICIT, "IMAP, implicit TLS"),
    Role("pop3", "pop3", 110, TLSMode.STARTTLS, "POP3, STLS"),
    Role("pop3s", "pop3", 995, TLSMode.IMPLICIT, "POP3, implicit TLS"),
)
_ROLE_NAMES: Final = frozenset(r.name for r in ROLES)


class ConfigError(Exception):
    """A configuration file or option the server cannot use."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeConfig:
    """What ``protokit serve`` runs: the data directory, the address, the
    port offset, per-listener ports (overriding the offset; 0 picks a free
    port), the user's certificate (else the generated one)."""

    data_dir: Path
    host: str = DEFAULT_HOST
    port_offset: int = DEFAULT_PORT_OFFSET
    ports: Mapping[str, int] = field(default_factory=dict)
    hostname: str = "localhost"
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Bearer tokens checked at an RFC 7662 endpoint (``[introspection]``).
    introspection: IntrospectionSettings | None = None
    #: JWT access tokens checked against configured keys (``[jwt]``).
    jwt: JWTSettings | None = None

    def port(self, role: Role) -> int:
        return self.ports.get(role.name, role.standard_port + self.port_offset)

    def check(self) -> None:
        """Raise :class:`ConfigError` for an unusable setting."""
        if not 0 <= self.port_offset <= 65535 - 995:
            raise ConfigError(f"the port offset is 0 to {65535 - 995}")
        for name, port in self.ports.items():
            if name not in _ROLE_NAMES:
                raise ConfigError(
                    f"unknown listener {name!r} (known: {', '.join(sorted(_ROLE_NAMES))})"
                )
            if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
                raise ConfigError(f"ports.{name} is a port number, 0 to 65535")
        for role in ROLES:
            if not 0 <= self.port(role) <= 65535:
                raise ConfigError(f"{role.name}: port {self.port(role)} is out of range")
        try:
            for settings in (self.introspection, self.jwt):
                if settings is not None:
                    settings.check()
        except TokenSettingsError as exc:
            raise ConfigError(str(exc)) from None

    def token_validator(self, store: Store) -> TokenValidator:
        """The bearer-token check: development tokens, plus JWTs and
        introspection when configured.  Raises :class:`ConfigError` for an
        unreadable key or secret file."""
        try:
            return TokenValidator(
                store,
                jwt=self.jwt.validator() if self.jwt is not None else None,
                introspection=(
                    self.introspection.validator() if self.introspection is not None else None
                ),
            )
        except TokenSettingsError as exc:
            raise ConfigError(str(exc)) from None


_FILE_KEYS: Final = frozenset(
    {"host", "port_offset", "hostname", "cert_file", "key_file", "ports", "introspection", "jwt"}
)


def load_config(path: Path, base: ServeConfig) -> ServeConfig:
    """``base`` updated from the TOML file at ``path``: top-level ``host``,
    ``port_offset``, ``hostname``, ``cert_file``, ``key_file`` and a
    ``[ports]`` table (``smtp``, ``submission``, ``submissions``, ``imap``,
    ``imaps``, ``pop3``, ``pop3s``); ``[introspection]`` (``url``, ``client_id``,
    ``client_secret_file``, ``client_auth``, ``cafile``, ``cache_ttl``) and
    ``[jwt]`` (``issuer``, ``audience``, ``public_keys``, ``hmac_key_files``,
    ``identity_claims``, ``leeway``) for bearer tokens from an identity
    provider.  Relative file names are relative to the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    config = base
    for key in ("host", "hostname"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise ConfigError(f"{path}: {key} is a non-empty string")
            config = replace(config, **{key: data[key]})
    if "port_offset" in data:
        if not isinstance(data["port_offset"], int) or isinstance(data["port_offset"], bool):
            raise ConfigError(f"{path}: port_offset is an integer")
        config = replace(config, port_offset=data["port_offset"])
    for key in ("cert_file", "key_file"):
        if key in data:
            if not isinstance(data[key], str):
                raise ConfigError(f"{path}: {key} is a file name")
            config = replace(config, **{key: path.parent / data[key]})
    ports = data.get("ports", {})
    if not isinstance(ports, dict):
        raise ConfigError(f"{path}: [ports] is a table")
    config = replace(config, ports={**config.ports, **ports})
    try:
        if "introspection" in data:
            settings = introspection_from_table(data["introspection"], path.parent)
            config = replace(config, introspection=settings)
        if "jwt" in data:
            config = replace(config, jwt=jwt_from_table(data["jwt"], path.parent))
    except TokenSettingsError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config.check()
    return config


def _command(role: Role, host: str, port: int, cert: Path, user: str) -> str:
    cafile = shlex.quote(str(cert))
    where = f"{host}:{port}"
    if role.name == "smtp":
        return f"swaks --server {where} --to {user}"
    if role.name == "submission":
        return (
            f"swaks --server {where} --tls --auth PLAIN --auth-user {user} "
            f"--auth-password PASSWORD --from {user} --to {user}"
        )
    if role.name == "submissions":
        return (
            f"swaks --server {where} --tlsc --auth PLAIN --auth-user {user} "
            f"--auth-password PASSWORD --from {user} --to {user}"
        )
    if role.name == "imap":
        return f"curl --ssl-reqd --cacert {cafile} -u {user}:PASSWORD 'imap://{where}/INBOX;UID=1'"
    if role.name == "imaps":
        return f"curl --cacert {cafile} -u {user}:PASSWORD 'imaps://{where}/INBOX;UID=1'"
    if role.name == "pop3":
        return f"curl --ssl-reqd --cacert {cafile} -u {user}:PASSWORD pop3://{where}/1"
    return f"curl --cacert {cafile} -u {user}:PASSWORD pop3s://{where}/1"


def banner(config: ServeConfig, info: ServerInfo, cert: CertificatePaths, users: list[str]) -> str:
    """The start-up text: every listener and a command to try it."""
    user = users[0] if users else "USER@example.com"
    lines = [
        f"protokit serve: data directory {config.data_dir.absolute()}",
        f"certificate: {cert.cert}" + (" (generated, self-signed)" if cert.generated else ""),
    ]
    if not users:
        lines.append(
            f"no accounts yet: protokit user add {user} --data-dir "
            f"{shlex.quote(str(config.data_dir))}"
        )
    for role in ROLES:
        host, port = info.addresses[role.name]
        lines.append(f"  {role.name:<12} {host}:{port:<6} {role.description}")
        lines.append(f"      try: {_command(role, host, port, cert.cert, user)}")
    lines.append("ready (Ctrl-C or SIGTERM stops the server)")
    return "\n".join(lines) + "\n"


async def serve(
    config: ServeConfig,
    *,
    out: TextIO | None = None,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run every listener of ``config`` until cancelled; print the banner to
    ``out`` once all are bound.  Raises OSError when a port cannot be bound,
    :class:`~protokit.server.CertificateError` for an unusable certificate."""
    config.check()
    cert = ensure_certificate(
        config.data_dir, cert_file=config.cert_file, key_file=config.key_file
    )
    ctx = server_ssl_context(cert)
    with Store.open(config.data_dir) as store:
        astore = AsyncStore(store)
        tokens = config.token_validator(store)
        listeners: dict[str, list[Listener]] = {
            "mx": [],
            "submission": [],
            "imap": [],
            "pop3": [],
        }
        for role in ROLES:
            mode = TLSMode.IMPLICIT if role.tls is TLSMode.IMPLICIT else TLSMode.PLAIN
            listener = Listener(
                host=config.host, port=config.port(role), tls=mode, ssl_context=ctx, name=role.name
            )
            group = "mx" if role.name == "smtp" else role.protocol
            listeners["submission" if group == "smtp" else group].append(listener)
        smtp_config = SMTPConfig(hostname=config.hostname)
        submission_config = replace(
            smtp_config, auth_mechanisms=SUBMISSION_MECHANISMS, auth_required=True
        )
        pop3_config = POP3Config(hostname=config.hostname, sasl_mechanisms=POP3_MECHANISMS)
        mx = StoreSMTPBackend(astore, "mx", tokens=tokens)
        submission = StoreSMTPBackend(astore, "submission", tokens=tokens)
        pop3 = StorePOP3Backend(astore, tokens=tokens)
        imap_config = IMAPConfig(capabilities=IMAP_CAPABILITIES, mechanisms=IMAP_MECHANISMS)
        imap = StoreIMAPBackend(astore, tokens=tokens)
        async with anyio.create_task_group() as tg:
            infos = [
                await tg.start(
                    lambda task_status: serve_smtp(
                        mx, listeners["mx"], config=smtp_config, task_status=task_status
                    )
                ),
                await tg.start(
                    lambda task_status: serve_smtp(
                        submission,
                        listeners["submission"],
                        config=submission_config,
                        task_status=task_status,
                    )
                ),
                await tg.start(
                    lambda task_status: serve_imap(
                        imap, listeners["imap"], config=imap_config, task_status=task_status
                    )
                ),
                await tg.start(
                    lambda task_status: serve_pop3(
                        pop3, listeners["pop3"], config=pop3_config, task_status=task_status
                    )
                ),
            ]
            info = ServerInfo({k: v for i in infos for k, v in i.addresses.items()})
            for name, (host, port) in info.addresses.items():
                log.info("listening: listener=%s address=%s:%d", name, host, port)
            if out is not None:
                users = [a.address for a in await astore.call(store.accounts)]
                out.write(banner(config, info, cert, users))
                out.flush()
            task_status.started(info)
