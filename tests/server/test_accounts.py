"""Accounts, passwords, SCRAM keys and development tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protokit import Secret
from protokit.sasl import (
    Challenge,
    LookupScramCredentials,
    ScramSHA256Client,
    ScramSHA256Server,
    Success,
    derive_scram_credentials,
)
from protokit.server import (
    DEFAULT_MAILBOXES,
    TOKEN_PREFIX,
    Account,
    AccountExists,
    InvalidName,
    NoSuchAccount,
    Store,
    validate_address,
)

from .conftest import Clock
from .helpers import deliver, message


def test_add_account_creates_the_default_mailboxes(store: Store, clock: Clock) -> None:
    account = store.add_account("alice@example.com", "pw")
    assert account == Account(
        id=1, address="alice@example.com", created=datetime.fromtimestamp(clock.now, UTC)
    )
    boxes = store.mailboxes(account.id)
    assert [(b.name, b.special_use) for b in boxes] == [
        ("INBOX", None),
        ("All Mail", "\\All"),
        ("Drafts", "\\Drafts"),
        ("Junk", "\\Junk"),
        ("Sent", "\\Sent"),
        ("Trash", "\\Trash"),
    ]
    assert sorted((b.name, b.special_use) for b in boxes) == sorted(DEFAULT_MAILBOXES)
    assert all(b.uidnext == 1 and b.messages == 0 and b.subscribed for b in boxes)
    # distinct UIDVALIDITYs, all from the clock or after it
    validities = [b.uidvalidity for b in boxes]
    assert len(set(validities)) == 6 and min(validities) >= int(clock.now)


def test_duplicate_address_is_refused_case_insensitively(store: Store, alice: Account) -> None:
    with pytest.raises(AccountExists, match=r"the account ALICE@example\.com exists already"):
        store.add_account("ALICE@example.com", "other")
    assert store.account("Alice@Example.com") == alice
    assert [a.address for a in store.accounts()] == ["alice@example.com"]


@pytest.mark.parametrize(
    "address",
    [
        "",
        "alice",
        "a@b@c",
        "a b@c",
        "a@b c",
        "a\r\n@b",
        "a\x00@b",
        "@b",
        "a@",
        "x" * 65 + "@b",
        "recent:alice@example.com",
        "RECENT:a@b",
        "a@" + "b" * 254,
    ],
)
def test_invalid_addresses(store: Store, address: str) -> None:
    with pytest.raises(InvalidName):
        store.add_account(address, "pw")
    assert store.accounts() == []


def test_valid_address_forms() -> None:
    for address in ("a@b", "first.last+tag@example.co.uk", "ü@exämple.de", "x" * 64 + "@b"):
        assert validate_address(address) == address


def test_empty_password_is_refused(store: Store) -> None:
    with pytest.raises(InvalidName, match="empty"):
        store.add_account("a@b.c", "")


def test_verify_password(store: Store, alice: Account) -> None:
    assert store.verify_password("alice@example.com", "alice-pw") == alice
    assert store.verify_password("alice@example.com", Secret("alice-pw")) == alice
    assert store.verify_password("ALICE@example.com", "alice-pw") == alice
    assert store.verify_password("alice@example.com", "alice-PW") is None
    assert store.verify_password("nobody@example.com", "alice-pw") is None


def test_unknown_user_takes_the_same_path(
    store: Store, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SECURITY.md: an unknown user and a wrong password do the same work."""
    import protokit.server._accounts as accounts

    calls: list[tuple[str | None, int]] = []
    real = accounts.verify_password  # type: ignore[attr-defined]

    def spy(stored: str | None, password: object, *, dummy_iterations: int) -> bool:
        calls.append((None if stored is None else stored.split("$")[1], dummy_iterations))
        return real(stored, password, dummy_iterations=dummy_iterations)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "verify_password", spy)
    store.verify_password("alice@example.com", "wrong")
    store.verify_password("nobody@example.com", "wrong")
    assert calls == [("1000", 1000), (None, 1000)]


def test_set_password_replaces_hash_and_scram_keys(store: Store, alice: Account) -> None:
    before = store.scram_credentials("alice@example.com", "SHA-256")
    store.set_password("alice@example.com", "new-pw")
    assert store.verify_password("alice@example.com", "alice-pw") is None
    assert store.verify_password("alice@example.com", "new-pw") == alice
    after = store.scram_credentials("alice@example.com", "SHA-256")
    assert after is not None and after != before
    with pytest.raises(NoSuchAccount):
        store.set_password("nobody@example.com", "x")


@pytest.mark.parametrize("hash_name", ["SHA-1", "SHA-256"])
def test_scram_credentials_match_the_password(
    store: Store, alice: Account, hash_name: str
) -> None:
    creds = store.scram_credentials("alice@example.com", hash_name)
    assert creds is not None and creds.iterations == 64
    assert creds == derive_scram_credentials(hash_name, "alice-pw", creds.salt, 64)
    assert "[REDACTED]" in repr(creds)
    assert store.scram_credentials("nobody@example.com", hash_name) is None


def test_scram_sha256_exchange_against_the_stored_keys(store: Store, alice: Account) -> None:
    client = ScramSHA256Client("alice@example.com", Secret("alice-pw"))
    server = ScramSHA256Server()
    step = server.start(client.initial_response())
    lookups = 0
    while not isinstance(step, Success):
        if isinstance(step, LookupScramCredentials):
            lookups += 1
            step = server.answer(store.scram_credentials(step.authcid, "SHA-256"))
        else:
            assert isinstance(step, Challenge), step
            step = server.receive(client.respond(step.data))
    assert lookups == 1 and step.authcid == "alice@example.com"
    assert step.data is not None
    client.respond(step.data)  # verifies the server signature (raises if wrong)


def test_scram_unsupported_hash(store: Store) -> None:
    with pytest.raises(ValueError, match="SHA-1 and SCRAM-SHA-256"):
        store.scram_credentials("a@b", "SHA-512")


def test_remove_account_removes_everything(store: Store, alice: Account, bob: Account) -> None:
    deliver(store, "alice@example.com", message("only alice"))
    deliver(store, "bob@example.com", message("bob"))
    store.issue_token("alice@example.com", 60)
    store.remove_account("ALICE@example.com")
    db = store._db.db
    assert db.execute("SELECT count(*) FROM mailboxes WHERE account_id = 1").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM messages WHERE account_id = 1").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM tokens").fetchone()[0] == 0
    # alice's body is gone, bob's stays
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 1
    assert [a.address for a in store.accounts()] == ["bob@example.com"]
    with pytest.raises(NoSuchAccount, match=r"no account alice@example\.com"):
        store.remove_account("alice@example.com")


def test_no_secret_in_reprs(store: Store, alice: Account) -> None:
    token, _ = store.issue_token("alice@example.com", 60)
    assert token.expose() not in repr(token) and "alice-pw" not in repr(store)
    assert "REDACTED" in repr(token)


# -- development tokens --------------------------------------------------------------


def test_issue_and_validate_token(store: Store, alice: Account, clock: Clock) -> None:
    token, expires = store.issue_token("alice@example.com", 600)
    value = token.expose()
    assert value.startswith(TOKEN_PREFIX) and len(value) == len(TOKEN_PREFIX) + 43
    assert expires == datetime.fromtimestamp(clock.now + 600, UTC)
    assert store.validate_token(token) == (alice, expires)
    assert store.validate_token(value) == (alice, expires)
    clock.now += 599
    assert store.validate_token(token) == (alice, expires)
    clock.now += 1
    assert store.validate_token(token) is None


def test_tokens_are_stored_hashed(store: Store, alice: Account) -> None:
    token, _ = store.issue_token("alice@example.com", 60)
    store.close()
    wal = store.path.with_name(store.path.name + "-wal")
    raw = store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"alice@example.com" in raw  # the file is readable as bytes
    assert token.expose().encode() not in raw
    assert token.expose()[len(TOKEN_PREFIX) :].encode() not in raw


def test_tokens_are_random_and_independent(store: Store, alice: Account, bob: Account) -> None:
    ta, _ = store.issue_token("alice@example.com", 60)
    tb, _ = store.issue_token("bob@example.com", 60)
    ta2, _ = store.issue_token("alice@example.com", 60)
    assert len({ta.expose(), tb.expose(), ta2.expose()}) == 3
    assert store.validate_token(tb)[0] == bob  # type: ignore[index]
    assert store.revoke_tokens("alice@example.com") == 2
    assert store.validate_token(ta) is None and store.validate_token(ta2) is None
    assert store.validate_token(tb) is not None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "pkdev_",
        "pkdev_x",
        "Bearer pkdev_x",
        TOKEN_PREFIX + "A" * 300,
        "eyJ.eyJ.sig",
        "pkdev_\x00",
    ],
)
def test_unknown_tokens(store: Store, alice: Account, token: str) -> None:
    assert store.validate_token(token) is None


def test_expired_tokens_are_purged_on_issue(store: Store, alice: Account, clock: Clock) -> None:
    store.issue_token("alice@example.com", 10)
    clock.now += 10
    store.issue_token("alice@example.com", 10)
    assert store._db.db.execute("SELECT count(*) FROM tokens").fetchone()[0] == 1


@pytest.mark.parametrize("expires_in", [0, -1, 10 * 365 * 24 * 3600 + 1])
def test_token_lifetime_bounds(store: Store, alice: Account, expires_in: int) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        store.issue_token("alice@example.com", expires_in)


def test_token_for_unknown_account(store: Store) -> None:
    with pytest.raises(NoSuchAccount):
        store.issue_token("nobody@example.com", 60)
