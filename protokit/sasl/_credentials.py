"""What a server stores instead of passwords: salted PBKDF2 hashes for
PLAIN/LOGIN, and SCRAM keys (RFC 5802 section 3), derived with hashlib."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from ..wire._secret import Secret
from ._common import encode_local, secret
from ._saslprep import SASLprepError, saslprep

__all__ = [
    "PASSWORD_HASH_ITERATIONS",
    "ScramCredentials",
    "derive_scram_credentials",
    "hash_password",
    "scram_hash",
    "verify_password",
]

#: PBKDF2-HMAC-SHA256 iterations for :func:`hash_password` (OWASP, 2023).
PASSWORD_HASH_ITERATIONS: Final = 600_000
_MAX_STORED_ITERATIONS: Final = 10_000_000

# "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>"
_STORED: Final = re.compile(
    r"pbkdf2-sha256\$([1-9][0-9]{0,7})\$([0-9a-f]{16,128})\$([0-9a-f]{64})"
)

# SCRAM hash names: IANA spelling -> hashlib name.
_SCRAM_HASHES: Final = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


def scram_hash(hash_name: str) -> tuple[str, str]:
    """("SHA-256", "sha256") for "SHA-256", "sha256", "SHA256", ..."""
    key = hash_name.upper().replace("_", "-")
    if key.startswith("SHA") and not key.startswith("SHA-"):
        key = "SHA-" + key[3:]
    if key not in _SCRAM_HASHES:
        raise ValueError("SCRAM hash is SHA-1, SHA-256 or SHA-512")
    return key, _SCRAM_HASHES[key]


def prepare_password(password: Secret[str]) -> bytes:
    """SASLprep the password (RFC 5802 section 2.2).  A password SASLprep
    refuses is used as UTF-8 unchanged, as PostgreSQL does, so such a
    password still works between two protokit peers."""
    try:
        prepared = saslprep(password.expose())
    except SASLprepError:
        prepared = password.expose()
    return encode_local(prepared, "password")


def _as_secret_bytes(value: bytes | Secret[bytes]) -> Secret[bytes]:
    if isinstance(value, Secret):
        if not isinstance(value.expose(), bytes):
            raise TypeError("SCRAM keys are bytes")
        return value
    if not isinstance(value, bytes):
        raise TypeError("SCRAM keys are bytes")
    return Secret(value)


class ScramCredentials:
    """What a SCRAM server stores for one user: salt, iteration count,
    StoredKey and ServerKey.  The keys are held as :class:`Secret` and never
    shown by ``repr``."""

    __slots__ = ("iterations", "salt", "server_key", "stored_key")

    def __init__(
        self,
        salt: bytes,
        iterations: int,
        stored_key: bytes | Secret[bytes],
        server_key: bytes | Secret[bytes],
    ) -> None:
        if not isinstance(salt, bytes) or not salt:
            raise ValueError("the salt is non-empty bytes")
        if not isinstance(iterations, int) or iterations < 1:
            raise ValueError("the iteration count is a positive int")
        self.salt = salt
        self.iterations = iterations
        self.stored_key = _as_secret_bytes(stored_key)
        self.server_key = _as_secret_bytes(server_key)
        if len(self.stored_key) != len(self.server_key):
            raise ValueError("StoredKey and ServerKey have the same length")

    def __repr__(self) -> str:
        return (
            f"ScramCredentials(salt={self.salt!r}, iterations={self.iterations}, "
            "stored_key=[REDACTED], server_key=[REDACTED])"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScramCredentials):
            return NotImplemented
        return (
            self.salt == other.salt
            and self.iterations == other.iterations
            and self.stored_key == other.stored_key
            and self.server_key == other.server_key
        )

    __hash__ = None  # type: ignore[assignment]


def salted_password(
    hashlib_name: str, password: Secret[str], salt: bytes, iterations: int
) -> bytes:
    """SaltedPassword := Hi(Normalize(password), salt, i)   (RFC 5802 section 3)"""
    return hashlib.pbkdf2_hmac(hashlib_name, prepare_password(password), salt, iterations)


def keys_from_salted(hashlib_name: str, salted: bytes) -> tuple[bytes, bytes, bytes]:
    """(ClientKey, StoredKey, ServerKey) from SaltedPassword."""
    client_key = hmac.new(salted, b"Client Key", hashlib_name).digest()
    stored_key = hashlib.new(hashlib_name, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib_name).digest()
    return client_key, stored_key, server_key


def derive_scram_credentials(
    hash_name: str,
    password: str | Secret[str],
    salt: bytes | None = None,
    iterations: int = 4096,
) -> ScramCredentials:
    """The :class:`ScramCredentials` to store for ``password`` (a fresh
    16-byte salt unless one is given)."""
    _, hname = scram_hash(hash_name)
    if salt is None:
        salt = secrets.token_bytes(16)
    if iterations < 1:
        raise ValueError("the iteration count is a positive int")
    _, stored_key, server_key = keys_from_salted(
        hname, salted_password(hname, secret(password), salt, iterations)
    )
    return ScramCredentials(salt, iterations, stored_key, server_key)


def hash_password(
    password: str | Secret[str], *, iterations: int = PASSWORD_HASH_ITERATIONS
) -> str:
    """A salted PBKDF2-HMAC-SHA256 hash in a self-describing string:
    ``pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>``."""
    if not 1 <= iterations <= _MAX_STORED_ITERATIONS:
        raise ValueError("iterations out of range")
    salt = secrets.token_bytes(16)
    pw = encode_local(secret(password).expose(), "password")
    digest = hashlib.pbkdf2_hmac("sha256", pw, salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


# Checked against when the user is unknown, so that the work is the same.
_DUMMY: Final = "pbkdf2-sha256${}${}${}".format(PASSWORD_HASH_ITERATIONS, "00" * 16, "00" * 32)


def verify_password(
    stored: str | None,
    password: str | Secret[str],
    *,
    dummy_iterations: int = PASSWORD_HASH_ITERATIONS,
) -> bool:
    """Check ``password`` against a :func:`hash_password` string, in constant
    time.  ``stored=None`` (unknown user) does the same work against a dummy
    hash of ``dummy_iterations`` (set it to what your users' hashes use) and
    returns ``False``.  A malformed ``stored`` raises ``ValueError``."""
    dummy = _DUMMY.replace(f"${PASSWORD_HASH_ITERATIONS}$", f"${dummy_iterations}$", 1)
    m = _STORED.fullmatch(stored if stored is not None else dummy)
    if m is None:
        raise ValueError("not a pbkdf2-sha256 password hash")
    iterations, salt, expected = int(m.group(1)), bytes.fromhex(m.group(2)), m.group(3)
    if iterations > _MAX_STORED_ITERATIONS:
        raise ValueError("stored iteration count out of range")
    pw = encode_local(secret(password).expose(), "password")
    digest = hashlib.pbkdf2_hmac("sha256", pw, salt, iterations).hex()
    return hmac.compare_digest(digest, expected) and stored is not None
