"""What a server stores: PBKDF2 password hashes (constant time, equal work
for unknown users) and SCRAM keys."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from protokit import Secret
from protokit.sasl import (
    PASSWORD_HASH_ITERATIONS,
    ScramCredentials,
    derive_scram_credentials,
    hash_password,
    verify_password,
)

from .exchange import load, traced


def test_hash_format_and_verify() -> None:
    stored = hash_password("pencil", iterations=1000)
    kind, iterations, salt, digest = stored.split("$")
    assert (kind, iterations, len(salt), len(digest)) == ("pbkdf2-sha256", "1000", 32, 64)
    expected = hashlib.pbkdf2_hmac("sha256", b"pencil", bytes.fromhex(salt), 1000).hex()
    assert digest == expected
    assert verify_password(stored, "pencil") is True
    assert verify_password(stored, Secret("pencil")) is True
    assert verify_password(stored, "Pencil") is False
    assert hash_password("pencil", iterations=1000) != stored  # fresh salt


def test_default_iterations() -> None:
    assert PASSWORD_HASH_ITERATIONS == 600_000
    assert hash_password("x").split("$")[1] == "600000"


def test_unknown_user_does_the_same_work_and_fails() -> None:
    stored = hash_password("pencil")  # default iterations, as the dummy has
    with traced() as known:
        assert verify_password(stored, "wrong") is False
    with traced() as unknown:
        assert verify_password(None, "wrong") is False
    assert known == unknown


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    stored = hash_password("pencil", iterations=1000)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_password(stored, "pencil")
    assert calls == [(stored.split("$")[3], stored.split("$")[3])]


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "pencil",
        "pbkdf2-sha256$0$" + "00" * 16 + "$" + "00" * 32,
        "md5$1$aa$bb",
        "pbkdf2-sha256$99999999$" + "00" * 16 + "$" + "00" * 32,
    ],
)
def test_malformed_stored_hash(stored: str) -> None:
    with pytest.raises(ValueError, match=r"pbkdf2-sha256|out of range"):
        verify_password(stored, "pencil")


def test_scram_keys_match_rfc5802() -> None:
    # RFC 5802 section 5: the exchange verifies with these keys (test_scram);
    # here the derivation itself, against the RFC 5802 section 3 formulas.
    v = load("scram.json")["exchanges"][0]
    salt = base64.b64decode(v["salt_base64"])
    creds = derive_scram_credentials("SHA-1", "pencil", salt, 4096)
    salted = hashlib.pbkdf2_hmac("sha1", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", "sha1").digest()
    assert creds.stored_key.expose() == hashlib.sha1(client_key).digest()
    assert creds.server_key.expose() == hmac.new(salted, b"Server Key", "sha1").digest()
    assert (creds.salt, creds.iterations) == (salt, 4096)


def test_scram_credentials_value_semantics() -> None:
    a = derive_scram_credentials("SHA-256", "pencil", b"s" * 16)
    b = ScramCredentials(b"s" * 16, 4096, a.stored_key.expose(), a.server_key)
    assert a == b
    assert a != derive_scram_credentials("SHA-256", "pencil", b"t" * 16)
    assert len(derive_scram_credentials("SHA-256", "pencil").salt) == 16
    assert "[REDACTED]" in repr(a) and a.server_key.expose().hex() not in repr(a)
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(ValueError):
        ScramCredentials(b"", 1, b"k", b"k")
    with pytest.raises(ValueError):
        ScramCredentials(b"s", 0, b"k", b"k")
    with pytest.raises(ValueError):
        ScramCredentials(b"s", 1, b"k", b"kk")
    with pytest.raises(TypeError):
        ScramCredentials(b"s", 1, "k", b"k")  # type: ignore[arg-type]


def test_dummy_iterations_follow_the_deployment() -> None:
    stored = hash_password("pencil", iterations=1000)
    with traced() as known:
        assert verify_password(stored, "wrong", dummy_iterations=1000) is False
    with traced() as unknown:
        assert verify_password(None, "wrong", dummy_iterations=1000) is False
    assert known == unknown
    with pytest.raises(ValueError):
        verify_password(None, "wrong", dummy_iterations=0)
