"""How ``protokit serve`` checks bearer tokens besides its own development
tokens: an RFC 7662 introspection endpoint (``[introspection]`` in the
configuration file) and JWT access tokens against configured keys
(``[jwt]``).  Each table is parsed into settings, checked, and turned into
the validator :class:`~protokit.server.TokenValidator` consults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

from ..oauth._http import is_loopback
from ..wire._secret import Secret
from ._jwt import JWTKey, JWTValidator

if TYPE_CHECKING:
    from ..oauth import IntrospectionValidator

__all__ = [
    "IntrospectionSettings",
    "JWTSettings",
    "TokenSettingsError",
    "introspection_from_table",
    "jwt_from_table",
]


class TokenSettingsError(ValueError):
    """An ``[introspection]`` or ``[jwt]`` setting the server cannot use."""


ClientAuth = Literal["client_secret_basic", "client_secret_post"]
_CLIENT_AUTH: Final = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True, kw_only=True)
class IntrospectionSettings:
    """An RFC 7662 endpoint: its URL (https, or http on loopback only), the
    server's client id and the file holding its secret, how the secret is
    sent, the CA file for the endpoint's certificate (else the system's),
    and how long an active answer is trusted (never past the token's
    ``exp``)."""

    url: str
    client_id: str
    client_secret_file: Path | None = None
    client_auth: ClientAuth = "client_secret_basic"
    cafile: Path | None = None
    cache_ttl: float = 30.0

    def check(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise TokenSettingsError("introspection.url is an https:// URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise TokenSettingsError(
                "introspection.url must be https:// (plain http only to a loopback address)"
            )
        if not self.client_id:
            raise TokenSettingsError("introspection.client_id is required")
        if self.client_auth not in _CLIENT_AUTH:
            raise TokenSettingsError(
                f"introspection.client_auth is one of {', '.join(_CLIENT_AUTH)}"
            )
        if not 0 <= self.cache_ttl <= 3600:
            raise TokenSettingsError("introspection.cache_ttl is 0 to 3600 seconds")

    def validator(self) -> IntrospectionValidator:
        """The :class:`protokit.oauth.IntrospectionValidator` (imported here:
        only a server that introspects needs h11)."""
        from ..oauth import IntrospectionValidator

        secret = None
        if self.client_secret_file is not None:
            try:
                text = self.client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise TokenSettingsError(
                    f"introspection.client_secret_file: cannot read "
                    f"{self.client_secret_file}: {exc.strerror}"
                ) from None
            secret = Secret(text)
        return IntrospectionValidator.for_endpoint(
            self.url,
            self.client_id,
            secret,
            client_auth=self.client_auth,
            cafile=str(self.cafile) if self.cafile is not None else None,
            cache_ttl=self.cache_ttl,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JWTSettings:
    """JWT access tokens: the required issuer and audience, the PEM public
    keys (RS256 or ES256) and/or files holding HS256 secrets, and the claims
    that name the account, tried in order.  A key's id (the ``kid`` a token
    names in its header) is its file name without the extension, as in
    Dovecot's key directory; a token without ``kid`` may match any key."""

    issuer: str
    audience: str
    public_key_files: tuple[Path, ...] = ()
    hmac_key_files: tuple[Path, ...] = ()
    identity_claims: tuple[str, ...] = ("email", "sub")
    leeway: int = 60

    def check(self) -> None:
        if not self.issuer or not self.audience:
            raise TokenSettingsError("jwt.issuer and jwt.audience are required")
        if not self.public_key_files and not self.hmac_key_files:
            raise TokenSettingsError("jwt needs public_keys or hmac_key_files")
        if not self.identity_claims:
            raise TokenSettingsError("jwt.identity_claims names at least one claim")
        if not 0 <= self.leeway <= 600:
            raise TokenSettingsError("jwt.leeway is 0 to 600 seconds")

    def validator(self) -> JWTValidator:
        keys: list[JWTKey] = []
        for path in self.public_key_files:
            try:
                keys.append(JWTKey.from_pem(path.read_bytes(), kid=path.stem))
            except OSError as exc:
                raise TokenSettingsError(f"jwt: cannot read {path}: {exc.strerror}") from None
            except (TypeError, ValueError) as exc:
                raise TokenSettingsError(
                    f"jwt: {path} is not a usable public key: {exc}"
                ) from None
        for path in self.hmac_key_files:
            try:
                secret = path.read_bytes().strip()
            except OSError as exc:
                raise TokenSettingsError(f"jwt: cannot read {path}: {exc.strerror}") from None
            try:
                keys.append(JWTKey.hmac(Secret(secret), kid=path.stem))
            except (TypeError, ValueError) as exc:
                raise TokenSettingsError(f"jwt: {path}: {exc}") from None
        return JWTValidator(
            keys,
            issuer=self.issuer,
            audience=self.audience,
            identity_claims=self.identity_claims,
            leeway=self.leeway,
        )


def _str(
    table: Mapping[str, object], name: str, where: str, *, required: bool = False
) -> str | None:
    value = table.get(name)
    if value is None:
        if required:
            raise TokenSettingsError(f"{where}.{name} is required")
        return None
    if not isinstance(value, str) or not value:
        raise TokenSettingsError(f"{where}.{name} is a non-empty string")
    return value


def _files(table: Mapping[str, object], name: str, base: Path) -> tuple[Path, ...]:
    value = table.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TokenSettingsError(f"jwt.{name} is a list of file names")
    return tuple(base / v for v in value)


def _unknown(table: Mapping[str, object], known: frozenset[str], where: str) -> None:
    extra = set(table) - known
    if extra:
        raise TokenSettingsError(f"[{where}]: unknown setting(s) {', '.join(sorted(extra))}")


_INTROSPECTION_KEYS: Final = frozenset(
    {"url", "client_id", "client_secret_file", "client_auth", "cafile", "cache_ttl"}
)
_JWT_KEYS: Final = frozenset(
    {"issuer", "audience", "public_keys", "hmac_key_files", "identity_claims", "leeway"}
)


def introspection_from_table(table: object, base: Path) -> IntrospectionSettings:
    """``[introspection]`` of a configuration file in directory ``base``
    (relative file names are relative to it)."""
    if not isinstance(table, dict):
        raise TokenSettingsError("[introspection] is a table")
    _unknown(table, _INTROSPECTION_KEYS, "introspection")
    url = _str(table, "url", "introspection", required=True)
    client_id = _str(table, "client_id", "introspection", required=True)
    assert url is not None and client_id is not None
    secret_file = _str(table, "client_secret_file", "introspection")
    cafile = _str(table, "cafile", "introspection")
    auth = table.get("client_auth", "client_secret_basic")
    if auth not in _CLIENT_AUTH:
        raise TokenSettingsError(f"introspection.client_auth is one of {', '.join(_CLIENT_AUTH)}")
    ttl = table.get("cache_ttl", 30.0)
    if not isinstance(ttl, int | float) or isinstance(ttl, bool):
        raise TokenSettingsError("introspection.cache_ttl is a number of seconds")
    settings = IntrospectionSettings(
        url=url,
        client_id=client_id,
        client_secret_file=base / secret_file if secret_file is not None else None,
        client_auth="client_secret_post"
        if auth == "client_secret_post"
        else "client_secret_basic",
        cafile=base / cafile if cafile is not None else None,
        cache_ttl=float(ttl),
    )
    settings.check()
    return settings


def jwt_from_table(table: object, base: Path) -> JWTSettings:
    """``[jwt]`` of a configuration file in directory ``base``."""
    if not isinstance(table, dict):
        raise TokenSettingsError("[jwt] is a table")
    _unknown(table, _JWT_KEYS, "jwt")
    issuer = _str(table, "issuer", "jwt", required=True)
    audience = _str(table, "audience", "jwt", required=True)
    assert issuer is not None and audience is not None
    claims = table.get("identity_claims", ["email", "sub"])
    if not isinstance(claims, list) or not all(isinstance(c, str) and c for c in claims):
        raise TokenSettingsError("jwt.identity_claims is a list of claim names")
    leeway = table.get("leeway", 60)
    if not isinstance(leeway, int) or isinstance(leeway, bool):
        raise TokenSettingsError("jwt.leeway is a whole number of seconds")
    settings = JWTSettings(
        issuer=issuer,
        audience=audience,
        public_key_files=_files(table, "public_keys", base),
        hmac_key_files=_files(table, "hmac_key_files", base),
        identity_claims=tuple(claims),
        leeway=leeway,
    )
    settings.check()
    return settings
