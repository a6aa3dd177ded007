"""Accounts and development tokens: addresses, salted password hashes,
SCRAM-SHA-1/256 keys, bearer tokens stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Final

from ..sasl import (
    PASSWORD_HASH_ITERATIONS,
    ScramCredentials,
    derive_scram_credentials,
    hash_password,
    verify_password,
)
from ..wire._secret import Secret
from ._db import Database
from ._types import (
    DEFAULT_MAILBOXES,
    Account,
    AccountExists,
    ChangeKind,
    InvalidName,
    NoSuchAccount,
)

__all__ = ["TOKEN_PREFIX", "AccountsMixin", "validate_address"]

# A pragmatic addr-spec: one "@", no whitespace or control characters, the
# RFC 5321 4.5.3.1 length limits (64 local-part, 255 domain, 254 path).
_ADDRESS: Final = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,253}")
#: Development tokens look like this, so a log reader (or a JWT check) tells them apart.
TOKEN_PREFIX: Final = "pkdev_"  # noqa: S105 (a marker, not a secret)
_MAX_TOKEN_LIFETIME: Final = 10 * 365 * 24 * 3600
_SCRAM_HASHES: Final = {"SHA-1": "scram_sha1", "SHA-256": "scram_sha256"}


def validate_address(address: str) -> str:
    """``address`` if the store accepts it as an account name, else
    :class:`InvalidName`.  ``recent:`` is refused as a prefix: it is POP3's
    recent-mode marker."""
    if not isinstance(address, str):
        raise TypeError("an address is a str")
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise InvalidName("not a valid address (local-part@domain, no spaces)")
    if address.casefold().startswith("recent:"):
        raise InvalidName("an address cannot start with 'recent:' (POP3's recent mode)")
    return address


def _secret(value: str | Secret[str]) -> Secret[str]:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise TypeError("a password is a str")
    return Secret(value)


def _encode_scram(c: ScramCredentials) -> str:
    return "$".join(
        (str(c.iterations), c.salt.hex(), c.stored_key.expose().hex(), c.server_key.expose().hex())
    )


def _decode_scram(text: str) -> ScramCredentials:
    iterations, salt, stored, server = text.split("$")
    return ScramCredentials(
        bytes.fromhex(salt), int(iterations), bytes.fromhex(stored), bytes.fromhex(server)
    )


def _token_digest(token: str) -> bytes:
    # Tokens carry 256 random bits, so one SHA-256 is enough (no salt, no
    # stretching): the digest alone cannot be turned back into a token.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _account(row: tuple[int, str, int]) -> Account:
    return Account(id=row[0], address=row[1], created=datetime.fromtimestamp(row[2], UTC))


class AccountsMixin:
    """Account and token operations of :class:`~protokit.server.Store`."""

    _db: Database
    _password_iterations: int
    _scram_iterations: int

    def _credentials(self, password: str | Secret[str]) -> tuple[str, str, str]:
        pw = _secret(password)
        if not pw.expose():
            raise InvalidName("the password is empty")
        return (
            hash_password(pw, iterations=self._password_iterations),
            _encode_scram(
                derive_scram_credentials("SHA-1", pw, iterations=self._scram_iterations)
            ),
            _encode_scram(
                derive_scram_credentials("SHA-256", pw, iterations=self._scram_iterations)
            ),
        )

    def add_account(self, address: str, password: str | Secret[str]) -> Account:
        """Create an account with its default mailboxes (INBOX, Sent, Drafts,
        Trash, Junk, All Mail).  Raises :class:`AccountExists`."""
        validate_address(address)
        hashed, sha1, sha256 = self._credentials(password)  # slow: outside the lock
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM accounts WHERE address = ?", (address,)).fetchone():
                raise AccountExists(f"the account {address} exists already")
            now = self._db.now()
            account_id = db.execute(
                "INSERT INTO accounts (address, password_hash, scram_sha1, scram_sha256, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (address, hashed, sha1, sha256, now),
            ).lastrowid
            assert account_id is not None
            for name, special in DEFAULT_MAILBOXES:
                db.execute(
                    "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity)"
                    " VALUES (?, ?, ?, ?)",
                    (account_id, name, special, self._next_uidvalidity()),
                )
            self._db.emit(account_id, None, ChangeKind.MAILBOXES)
        return Account(id=account_id, address=address, created=datetime.fromtimestamp(now, UTC))

    def _next_uidvalidity(self) -> int:
        """A UIDVALIDITY never handed out before in this store (RFC 3501
        2.3.1.1: a recreated mailbox must not reuse one): the clock, or one
        more than the last, whichever is larger; within 32 bits."""
        db = self._db.db
        row = db.execute("SELECT value FROM counters WHERE name = 'uidvalidity'").fetchone()
        last = int(row[0]) if row else 0
        value = max(self._db.now(), last + 1)
        if value > 0xFFFFFFFF:
            raise OverflowError("UIDVALIDITY space exhausted")
        db.execute(
            "INSERT INTO counters (name, value) VALUES ('uidvalidity', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (value,),
        )
        return value

    def remove_account(self, address: str) -> None:
        """Delete the account, its mailboxes, messages and tokens."""
        with self._db.transaction() as db:
            account = self.account(address)
            if account is None:
                raise NoSuchAccount(f"no account {address}")
            db.execute("DELETE FROM accounts WHERE id = ?", (account.id,))
            db.execute("DELETE FROM bodies WHERE id NOT IN (SELECT body_id FROM messages)")
            self._db.emit(account.id, None, ChangeKind.MAILBOXES)

    def set_password(self, address: str, password: str | Secret[str]) -> None:
        """Replace the password hash and SCRAM keys."""
        hashed, sha1, sha256 = self._credentials(password)
        with self._db.transaction() as db:
            cur = db.execute(
                "UPDATE accounts SET password_hash = ?, scram_sha1 = ?, scram_sha256 = ?"
                " WHERE address = ?",
                (hashed, sha1, sha256, address),
            )
            if cur.rowcount != 1:
                raise NoSuchAccount(f"no account {address}")

    def accounts(self) -> list[Account]:
        """Every account, by address."""
        with self._db.snapshot() as db:
            rows = db.execute(
                "SELECT id, address, created FROM accounts ORDER BY address COLLATE NOCASE"
            ).fetchall()
        return [_account(r) for r in rows]

    def account(self, address: str) -> Account | None:
        """The account of ``address`` (compared case-insensitively), or None."""
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT id, address, created FROM accounts WHERE address = ?", (address,)
            ).fetchone()
        return _account(row) if row else None

    def require_account(self, address: str) -> Account:
        """The account of ``address``, or :class:`NoSuchAccount`."""
        account = self.account(address)
        if account is None:
            raise NoSuchAccount(f"no account {address}")
        return account

    def verify_password(self, address: str, password: str | Secret[str]) -> Account | None:
        """The account if ``password`` is right, else None.  An unknown
        address does the same hashing work (SECURITY.md: one code path)."""
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT id, address, created, password_hash FROM accounts WHERE address = ?",
                (address,),
            ).fetchone()
        ok = verify_password(
            row[3] if row else None,
            _secret(password),
            dummy_iterations=self._password_iterations,
        )
        return _account(row[:3]) if ok and row else None

    def scram_credentials(self, address: str, hash_name: str) -> ScramCredentials | None:
        """The stored SCRAM keys for ``hash_name`` ("SHA-1" or "SHA-256"), or None."""
        column = _SCRAM_HASHES.get(hash_name.upper())
        if column is None:
            raise ValueError("the store keeps SCRAM-SHA-1 and SCRAM-SHA-256 keys")
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT scram_sha1, scram_sha256 FROM accounts WHERE address = ?", (address,)
            ).fetchone()
        if row is None:
            return None
        return _decode_scram(row[0] if column == "scram_sha1" else row[1])

    # -- development bearer tokens ---------------------------------------------

    def issue_token(self, address: str, expires_in: int = 3600) -> tuple[Secret[str], datetime]:
        """A new random bearer token for ``address`` and its expiry.  Only its
        SHA-256 digest is stored: the token is shown once."""
        if not isinstance(expires_in, int) or not 1 <= expires_in <= _MAX_TOKEN_LIFETIME:
            raise ValueError(f"expires_in is 1 to {_MAX_TOKEN_LIFETIME} seconds")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db.transaction() as db:
            account = self.require_account(address)
            now = self._db.now()
            db.execute(
                "INSERT INTO tokens (account_id, digest, created, expires) VALUES (?, ?, ?, ?)",
                (account.id, _token_digest(token), now, now + expires_in),
            )
            db.execute("DELETE FROM tokens WHERE expires <= ?", (now,))
        return Secret(token), datetime.fromtimestamp(now + expires_in, UTC)

    def validate_token(self, token: str | Secret[str]) -> tuple[Account, datetime] | None:
        """(account, expiry) for a live development token, else None."""
        value = _secret(token).expose()
        if not value.startswith(TOKEN_PREFIX) or len(value) > 200:
            return None
        with self._db.snapshot() as db:
            row = db.execute(
                "SELECT a.id, a.address, a.created, t.expires FROM tokens t"
                " JOIN accounts a ON a.id = t.account_id WHERE t.digest = ?",
                (_token_digest(value),),
            ).fetchone()
        if row is None or row[3] <= self._db.now():
            return None
        return _account(row[:3]), datetime.fromtimestamp(row[3], UTC)

    def revoke_tokens(self, address: str) -> int:
        """Forget every token of ``address``; returns how many there were."""
        with self._db.transaction() as db:
            account = self.require_account(address)
            return db.execute("DELETE FROM tokens WHERE account_id = ?", (account.id,)).rowcount


DEFAULT_PASSWORD_ITERATIONS: Final = PASSWORD_HASH_ITERATIONS
