"""HS256 JSON Web Tokens (RFC 7519) made with the standard library, for the
peers that validate bearer tokens locally (Dovecot's oauth2 passdb with
``introspection_mode = local``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

__all__ = ["b64url", "make_hs256_key", "make_jwt"]


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_hs256_key() -> bytes:
    """A fresh 256-bit HMAC key."""
    return secrets.token_bytes(32)


def make_jwt(
    key: bytes,
    subject: str,
    *,
    ttl: int = 3600,
    now: int | None = None,
    kid: str = "default",
    extra: dict[str, object] | None = None,
) -> str:
    """A signed HS256 JWT for ``subject`` valid for ``ttl`` seconds from
    ``now`` (a negative ``ttl`` makes an expired one)."""
    issued = int(time.time()) if now is None else now
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    claims: dict[str, object] = {
        "sub": subject,
        "iat": issued,
        "nbf": issued - 5,
        "exp": issued + ttl,
        **(extra or {}),
    }
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"
