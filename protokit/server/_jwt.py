"""JWT access tokens (RFC 7519, JWS compact form RFC 7515) verified against
configured keys, with SECURITY.md's rules: an allow-list of algorithms
(HS256, RS256, ES256 -- never ``none``), each key bound to one algorithm (so
an RSA public key can never be used as an HMAC secret), ``iss``, ``aud``,
``exp`` and ``nbf`` checked, ``kid`` only compared with configured key ids
(never a path or URL; ``jku``, ``x5u`` and ``jwk`` headers are never
followed), ``crit`` refused, duplicate JSON members refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..wire._secret import Secret

__all__ = ["ALGORITHMS", "InvalidToken", "JWTClaims", "JWTKey", "JWTValidator"]

Algorithm = Literal["HS256", "RS256", "ES256"]
#: The only algorithms ever accepted.
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("HS256", "RS256", "ES256")
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_MAX_TOKEN: Final = 8192


class InvalidToken(Exception):
    """The token is not acceptable; the message says why, never what it held."""


def _b64url(part: str) -> bytes:
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise InvalidToken("malformed base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed base64url") from None


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidToken("duplicate JSON member")
        out[key] = value
    return out


def _json_object(raw: bytes, what: str) -> dict[str, object]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidToken(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"the {what} is not a JSON object")
    return value


def _number(claims: dict[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"'{name}' is not a number")
    return float(value)


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class JWTKey:
    """One verification key, bound to one algorithm: HS256 with a secret of
    at least 32 bytes, RS256 with an RSA public key of at least 2048 bits,
    ES256 with a P-256 public key.  ``kid`` (optional) must match the
    token's ``kid`` header exactly when the token has one."""

    algorithm: Algorithm
    key: Secret[bytes] | PublicKey = field(repr=False)
    kid: str | None = None

    def __post_init__(self) -> None:
        if self.algorithm == "HS256":
            if not isinstance(self.key, Secret) or not isinstance(self.key.expose(), bytes):
                raise TypeError("an HS256 key is a Secret[bytes]")
            secret = self.key.expose()
            if len(secret) < 32:
                raise ValueError("an HS256 secret has at least 32 bytes (RFC 7518 3.2)")
            if secret.lstrip().startswith(b"-----BEGIN"):
                raise ValueError("a PEM key is not an HMAC secret")
        elif self.algorithm == "RS256":
            if not isinstance(self.key, rsa.RSAPublicKey):
                raise TypeError("an RS256 key is an RSA public key")
            if self.key.key_size < 2048:
                raise ValueError("an RS256 key has at least 2048 bits")
        elif self.algorithm == "ES256":
            if not isinstance(self.key, ec.EllipticCurvePublicKey) or not isinstance(
                self.key.curve, ec.SECP256R1
            ):
                raise TypeError("an ES256 key is a P-256 public key")
        else:
            raise ValueError(f"algorithm is one of {', '.join(ALGORITHMS)}")

    def __repr__(self) -> str:
        return f"JWTKey(algorithm={self.algorithm!r}, kid={self.kid!r})"

    @classmethod
    def from_pem(cls, pem: bytes, *, kid: str | None = None) -> JWTKey:
        """An RS256 or ES256 key from a PEM public key (the type decides)."""
        key = serialization.load_pem_public_key(pem)
        if isinstance(key, rsa.RSAPublicKey):
            return cls("RS256", key, kid)
        if isinstance(key, ec.EllipticCurvePublicKey):
            return cls("ES256", key, kid)
        raise TypeError("the PEM key is neither RSA nor EC")

    @classmethod
    def hmac(cls, secret: bytes | Secret[bytes], *, kid: str | None = None) -> JWTKey:
        """An HS256 key."""
        return cls("HS256", secret if isinstance(secret, Secret) else Secret(secret), kid)

    def verify(self, signed: bytes, signature: bytes) -> bool:
        """Is ``signature`` this key's signature of ``signed``?"""
        key = self.key
        if isinstance(key, Secret):
            expected = hmac.new(key.expose(), signed, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            else:
                # RFC 7518 3.4: R || S, 32 octets each, not DER.
                if len(signature) != 64:
                    return False
                r = int.from_bytes(signature[:32], "big")
                s = int.from_bytes(signature[32:], "big")
                key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class JWTClaims:
    """A verified token: who it names and when it expires."""

    identity: str
    expires_at: datetime
    claims: dict[str, object] = field(repr=False)


class JWTValidator:
    """Verify JWT access tokens.  ``issuer`` and ``audience`` are required
    matches; ``identity_claims`` are tried in order for the user name;
    ``leeway`` seconds of clock skew are allowed on ``exp``/``nbf``/``iat``."""

    def __init__(
        self,
        keys: Iterable[JWTKey],
        *,
        issuer: str,
        audience: str,
        identity_claims: Sequence[str] = ("email", "sub"),
        leeway: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = tuple(keys)
        if not self.keys:
            raise ValueError("at least one key")
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        if not 0 <= leeway <= 600:
            raise ValueError("leeway is 0 to 600 seconds")
        self.issuer = issuer
        self.audience = audience
        self.identity_claims = tuple(identity_claims)
        self.leeway = leeway
        self.clock = clock

    def __repr__(self) -> str:
        return f"<JWTValidator issuer={self.issuer!r} audience={self.audience!r}>"

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        """Three dot-separated parts (cheap pre-check; proves nothing)."""
        return token.count(".") == 2

    def validate(self, token: str | Secret[str]) -> JWTClaims:
        """The verified claims, or :class:`InvalidToken`."""
        value = token.expose() if isinstance(token, Secret) else token
        if not isinstance(value, str) or len(value) > _MAX_TOKEN or not value.isascii():
            raise InvalidToken("malformed token")
        parts = value.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWS compact serialization")
        header = _json_object(_b64url(parts[0]), "header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise InvalidToken("algorithm not allowed")
        payload_raw = _b64url(parts[1])
        signature = _b64url(parts[2])
        if "crit" in header:
            raise InvalidToken("critical header parameters are not supported")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ("jwt", "at+jwt")):
            raise InvalidToken("not a JWT")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("kid is not a string")
        # kid is compared with the configured ids, never used to load anything.
        candidates = [k for k in self.keys if k.algorithm == alg and (kid is None or k.kid == kid)]
        if not candidates:
            raise InvalidToken("no key for this algorithm and kid")
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not any(k.verify(signed, signature) for k in candidates):
            raise InvalidToken("bad signature")
        claims = _json_object(payload_raw, "payload")
        return self._check_claims(claims)

    def _check_claims(self, claims: dict[str, object]) -> JWTClaims:
        now = self.clock()
        exp = _number(claims, "exp")
        if exp is None:
            raise InvalidToken("no 'exp'")
        if now >= exp + self.leeway:
            raise InvalidToken("expired")
        nbf = _number(claims, "nbf")
        if nbf is not None and now < nbf - self.leeway:
            raise InvalidToken("not yet valid")
        iat = _number(claims, "iat")
        if iat is not None and iat > now + self.leeway:
            raise InvalidToken("issued in the future")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("wrong issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or self.audience not in [
            a for a in audiences if isinstance(a, str)
        ]:
            raise InvalidToken("wrong audience")
        for name in self.identity_claims:
            identity = claims.get(name)
            if isinstance(identity, str) and identity:
                break
        else:
            raise InvalidToken("no identity claim")
        try:
            expires_at = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidToken("'exp' out of range") from None
        return JWTClaims(identity=identity, expires_at=expires_at, claims=claims)
