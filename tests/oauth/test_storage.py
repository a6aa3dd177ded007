"""Encrypted token files: the password check, permissions, atomic writes,
tampering and the file name of any account name."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from protokit.oauth import (
    AccountLocked,
    AuthorizationNeeded,
    StorageError,
    StoredTokens,
    TokenStorage,
)
from protokit.wire import Secret

PASSWORD = Secret("local pässword")
TOKENS = StoredTokens(
    refresh_token=Secret("rt-very-secret"),
    access_token=Secret("at-also-secret"),
    expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    scope="mail",
)


def storage(path: Path) -> TokenStorage:
    return TokenStorage(path / "tokens", scrypt_n=2**10)


def test_round_trip_and_password_check(tmp_path: Path) -> None:
    store = storage(tmp_path)
    store.create("alice@example.com", PASSWORD, TOKENS)
    assert store.load("alice@example.com") == TOKENS
    fresh = storage(tmp_path)  # as after a restart: nothing in memory
    with pytest.raises(AccountLocked) as info:
        fresh.load("alice@example.com")
    assert str(info.value) == "account alice@example.com is locked: log in locally first"
    assert fresh.unlock("alice@example.com", Secret("wrong")) is False
    assert not fresh.is_unlocked("alice@example.com")
    assert fresh.unlock("alice@example.com", PASSWORD) is True
    assert fresh.load("alice@example.com") == TOKENS


def test_save_keeps_the_key_and_salt(tmp_path: Path) -> None:
    store = storage(tmp_path)
    store.create("a", PASSWORD, TOKENS)
    salt = json.loads(store.path("a").read_bytes())["salt"]
    rotated = StoredTokens(refresh_token=Secret("rt-2"))
    store.save("a", rotated)
    document = json.loads(store.path("a").read_bytes())
    assert document["salt"] == salt
    fresh = storage(tmp_path)
    assert fresh.unlock("a", PASSWORD)
    assert fresh.load("a") == rotated


def test_file_mode_format_and_no_plaintext(tmp_path: Path) -> None:
    store = storage(tmp_path)
    store.create("alice", PASSWORD, TOKENS)
    path = store.path("alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    raw = path.read_bytes()
    for secret in (b"rt-very-secret", b"at-also-secret", "pässword".encode()):
        assert secret not in raw
    document = json.loads(raw)
    assert sorted(document) == ["ciphertext", "kdf", "n", "nonce", "p", "r", "salt", "version"]
    assert (document["version"], document["kdf"], document["n"]) == (1, "scrypt", 2**10)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_file_copied_to_another_account_does_not_decrypt(tmp_path: Path) -> None:
    store = storage(tmp_path)
    store.create("alice", PASSWORD, TOKENS)
    store.path("mallory").write_bytes(store.path("alice").read_bytes())
    assert storage(tmp_path).unlock("mallory", PASSWORD) is False


def test_missing_account_needs_authorization(tmp_path: Path) -> None:
    with pytest.raises(AuthorizationNeeded) as info:
        storage(tmp_path).unlock("bob", PASSWORD)
    assert str(info.value) == (
        "account bob: no tokens are stored for it; run: protokit proxy authorize bob"
    )
    assert info.value.command == "protokit proxy authorize bob"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "is corrupt"),
        (b'{"version": 2, "kdf": "scrypt"}', "has an unknown format"),
        (
            b'{"version": 1, "kdf": "scrypt", "n": 3, "r": 8, "p": 1}',
            "has bad scrypt parameters",
        ),
        (
            b'{"version": 1, "kdf": "scrypt", "n": 4194304, "r": 8, "p": 1}',
            "has bad scrypt parameters",
        ),
        (b"x" * 70000, "is too large"),
    ],
)
def test_corrupt_files(tmp_path: Path, content: bytes, message: str) -> None:
    store = storage(tmp_path)
    store.create("a", PASSWORD, TOKENS)
    store.path("a").write_bytes(content)
    with pytest.raises(StorageError) as info:
        store.unlock("a", PASSWORD)
    assert str(info.value) == f"the token file of a {message}"


def test_tampered_ciphertext_fails_the_tag(tmp_path: Path) -> None:
    store = storage(tmp_path)
    store.create("a", PASSWORD, TOKENS)
    document = json.loads(store.path("a").read_bytes())
    document["ciphertext"] = "AAAA" + document["ciphertext"][4:]
    store.path("a").write_text(json.dumps(document))
    assert storage(tmp_path).unlock("a", PASSWORD) is False
    with pytest.raises(StorageError, match="changed under another password"):
        store.load("a")


@pytest.mark.parametrize("account", ["../../etc/passwd", "a/b", "..", "x\x00y", "ü@例え.jp"])
def test_account_names_never_escape_the_directory(tmp_path: Path, account: str) -> None:
    store = storage(tmp_path)
    path = store.path(account)
    assert path.parent == tmp_path / "tokens"
    assert path.name.startswith("account-") and "/" not in path.name
    store.create(account, PASSWORD, TOKENS)
    assert storage(tmp_path).unlock(account, PASSWORD)


def test_reprs_show_no_secret(tmp_path: Path) -> None:
    text = repr(TOKENS)
    assert "rt-very-secret" not in text and "at-also-secret" not in text
    assert text.count("[REDACTED]") == 2
    assert repr(storage(tmp_path)) == f"<TokenStorage {str(tmp_path / 'tokens')!r}>"


def test_default_scrypt_cost(tmp_path: Path) -> None:
    store = TokenStorage(tmp_path)
    store.create("a", PASSWORD, TOKENS)
    assert json.loads(store.path("a").read_bytes())["n"] == 2**15
    assert TokenStorage(tmp_path).unlock("a", PASSWORD)


def test_delete_and_lock(tmp_path: Path) -> None:
    store = storage(tmp_path)
    store.create("a", PASSWORD, TOKENS)
    store.lock("a")
    with pytest.raises(AccountLocked):
        store.save("a", TOKENS)
    store.delete("a")
    assert not store.exists("a")
