"""Build JWTs for the tests, by hand (so that malformed ones are possible)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HS_SECRET = b"0123456789abcdef0123456789abcdef"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj: object) -> str:
    return b64(json.dumps(obj).encode() if not isinstance(obj, bytes) else obj)


def sign(
    header: dict[str, object] | bytes,
    claims: dict[str, object] | bytes,
    *,
    alg: str | None = None,
    key: object = None,
) -> str:
    """``header.claims.signature``; ``alg`` (default: header's) picks how to sign."""
    h, c = part(header), part(claims)
    signed = f"{h}.{c}".encode()
    alg = alg or (header["alg"] if isinstance(header, dict) else "HS256")  # type: ignore[assignment]
    if alg == "HS256":
        sig = hmac.new(
            key if isinstance(key, bytes) else HS_SECRET, signed, hashlib.sha256
        ).digest()
    elif alg == "RS256":
        rsa_key = key if isinstance(key, rsa.RSAPrivateKey) else RSA_KEY
        sig = rsa_key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        ec_key = key if isinstance(key, ec.EllipticCurvePrivateKey) else EC_KEY
        r, s = decode_dss_signature(ec_key.sign(signed, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "ES256-DER":
        ec_key = key if isinstance(key, ec.EllipticCurvePrivateKey) else EC_KEY
        sig = ec_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    else:
        sig = b""
    return f"{h}.{c}.{b64(sig)}"
