"""Tokens at rest: one file per account, encrypted with AES-256-GCM under a
key derived from the account's local password with scrypt (RFC 7914).

Decrypting is the password check: a wrong password fails the GCM tag.  Files
are written atomically and durably (temporary file, fsync, rename, fsync of
the directory) with mode 0600.  The file format::

    {"version": 1, "kdf": "scrypt", "n": 32768, "r": 8, "p": 1,
     "salt": b64, "nonce": b64, "ciphertext": b64}

The account name and the format version are the GCM associated data, so a
file copied over another account's does not decrypt.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..wire._secret import Secret
from ._errors import AuthorizationNeeded

__all__ = ["AccountLocked", "StorageError", "StoredTokens", "TokenStorage"]

_VERSION = 1
#: scrypt cost (2**15, r=8: about 32 MiB and 0.1 s here), stored per file.
DEFAULT_SCRYPT_N = 2**15
_MAX_FILE = 64 * 1024


class StorageError(Exception):
    """A token file is unreadable or corrupt (never says what it held)."""


class AccountLocked(Exception):
    """The account's key is not in memory: :meth:`TokenStorage.unlock` it
    (the user's local login does) before its tokens can be read or saved."""

    def __init__(self, account: str) -> None:
        self.account = account
        super().__init__(f"account {account} is locked: log in locally first")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTokens:
    """What is kept for an account: the refresh token and the last access token."""

    refresh_token: Secret[str] | None
    access_token: Secret[str] | None = None
    expires_at: datetime | None = None
    scope: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "refresh_token": self.refresh_token.expose() if self.refresh_token else None,
                "access_token": self.access_token.expose() if self.access_token else None,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "scope": self.scope,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> StoredTokens:
        obj = json.loads(data)
        refresh, access, expires = obj["refresh_token"], obj["access_token"], obj["expires_at"]
        return cls(
            refresh_token=Secret(refresh) if refresh else None,
            access_token=Secret(access) if access else None,
            expires_at=datetime.fromisoformat(expires) if expires else None,
            scope=obj["scope"],
        )


@dataclass(slots=True)
class _Unlocked:
    key: Secret[bytes]
    salt: bytes
    n: int


class TokenStorage:
    """Encrypted token files in ``directory`` (created 0700 if missing).

    Blocking (scrypt, fsync): call it from a worker thread in async code, as
    :class:`TokenManager` does.  Thread-safe.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> None:
        self.directory = Path(directory)
        self.scrypt_n = scrypt_n
        self._keys: dict[str, _Unlocked] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenStorage {str(self.directory)!r}>"

    def path(self, account: str) -> Path:
        """The account's file: its name percent-encoded (never a path)."""
        if not account or len(account) > 255:
            raise ValueError("an account name has 1 to 255 characters")
        return self.directory / ("account-" + urllib.parse.quote(account, safe="@.-_") + ".tokens")

    def exists(self, account: str) -> bool:
        return self.path(account).is_file()

    def is_unlocked(self, account: str) -> bool:
        with self._lock:
            return account in self._keys

    def create(self, account: str, password: Secret[str], tokens: StoredTokens) -> None:
        """Store ``tokens`` under a new salt and a key from ``password``
        (replacing any previous file) and keep the account unlocked."""
        salt = secrets.token_bytes(16)
        unlocked = _Unlocked(_derive(password, salt, self.scrypt_n), salt, self.scrypt_n)
        self._write(account, unlocked, tokens)
        with self._lock:
            self._keys[account] = unlocked

    def unlock(self, account: str, password: Secret[str]) -> bool:
        """Whether ``password`` decrypts the account's tokens; on success the
        key stays in memory for :meth:`load` and :meth:`save`.  Raises
        :class:`AuthorizationNeeded` when the account has no token file."""
        header = self._read_header(account)
        salt, n = header["salt"], header["n"]
        assert isinstance(salt, bytes) and isinstance(n, int)
        unlocked = _Unlocked(_derive(password, salt, n), salt, n)
        try:
            _decrypt(account, unlocked.key, header)
        except InvalidTag:
            return False
        with self._lock:
            self._keys[account] = unlocked
        return True

    def lock(self, account: str) -> None:
        """Forget the account's key."""
        with self._lock:
            self._keys.pop(account, None)

    def load(self, account: str) -> StoredTokens:
        """The account's tokens (it must be unlocked)."""
        unlocked = self._unlocked(account)
        header = self._read_header(account)
        try:
            data = _decrypt(account, unlocked.key, header)
        except InvalidTag:
            raise StorageError(
                f"the token file of {account} changed under another password"
            ) from None
        try:
            return StoredTokens.from_json(data)
        except (ValueError, KeyError, TypeError):
            raise StorageError(f"the token file of {account} is corrupt") from None

    def save(self, account: str, tokens: StoredTokens) -> None:
        """Replace the account's tokens, durably, before returning."""
        self._write(account, self._unlocked(account), tokens)

    def delete(self, account: str) -> None:
        self.lock(account)
        self.path(account).unlink(missing_ok=True)

    # -- internals ---------------------------------------------------------------

    def _unlocked(self, account: str) -> _Unlocked:
        with self._lock:
            unlocked = self._keys.get(account)
        if unlocked is None:
            raise AccountLocked(account)
        return unlocked

    def _read_header(self, account: str) -> dict[str, object]:
        path = self.path(account)
        try:
            with path.open("rb") as f:
                raw = f.read(_MAX_FILE + 1)
        except FileNotFoundError:
            raise AuthorizationNeeded(account, "no tokens are stored for it") from None
        if len(raw) > _MAX_FILE:
            raise StorageError(f"the token file of {account} is too large")
        try:
            obj = json.loads(raw)
            if obj["version"] != _VERSION or obj["kdf"] != "scrypt":
                raise StorageError(f"the token file of {account} has an unknown format")
            n, r, p = obj["n"], obj["r"], obj["p"]
            if not (
                isinstance(n, int) and 2 <= n <= 2**20 and n & (n - 1) == 0 and r == 8 and p == 1
            ):
                raise StorageError(f"the token file of {account} has bad scrypt parameters")
            return {
                "n": n,
                "salt": base64.b64decode(obj["salt"], validate=True),
                "nonce": base64.b64decode(obj["nonce"], validate=True),
                "ciphertext": base64.b64decode(obj["ciphertext"], validate=True),
            }
        except (ValueError, KeyError, TypeError):
            raise StorageError(f"the token file of {account} is corrupt") from None

    def _write(self, account: str, unlocked: _Unlocked, tokens: StoredTokens) -> None:
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(unlocked.key.expose()).encrypt(nonce, tokens.to_json(), _aad(account))
        document = json.dumps(
            {
                "version": _VERSION,
                "kdf": "scrypt",
                "n": unlocked.n,
                "r": 8,
                "p": 1,
                "salt": base64.b64encode(unlocked.salt).decode(),
                "nonce": base64.b64encode(nonce).decode(),
                "ciphertext": base64.b64encode(ciphertext).decode(),
            }
        ).encode()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path(account)
        temporary = target.with_name(target.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(document)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _aad(account: str) -> bytes:
    return f"protokit-oauth-tokens/{_VERSION}/{account}".encode()


def _derive(password: Secret[str], salt: bytes, n: int) -> Secret[bytes]:
    kdf = Scrypt(salt=salt, length=32, n=n, r=8, p=1)
    return Secret(kdf.derive(password.expose().encode("utf-8")))


def _decrypt(account: str, key: Secret[bytes], header: dict[str, object]) -> bytes:
    nonce, ciphertext = header["nonce"], header["ciphertext"]
    assert isinstance(nonce, bytes) and isinstance(ciphertext, bytes)
    if len(nonce) != 12:
        raise InvalidTag
    return AESGCM(key.expose()).decrypt(nonce, ciphertext, _aad(account))
