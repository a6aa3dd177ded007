"""TokenValidator: development tokens from the store, JWTs against
configured keys, the user a client names, and logs without tokens."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from protokit import Secret
from protokit.sasl import TokenResult
from protokit.server import Account, JWTKey, JWTValidator, Store, TokenValidator

from .conftest import Clock
from .jwt_helpers import HS_SECRET, sign


def jwt_validator(clock: Clock) -> JWTValidator:
    return JWTValidator([JWTKey.hmac(HS_SECRET)], issuer="iss", audience="aud", clock=clock)


def claims(clock: Clock, sub: str = "alice@example.com", ttl: int = 300) -> dict[str, object]:
    return {"iss": "iss", "aud": "aud", "sub": sub, "exp": int(clock.now) + ttl}


def test_development_token(store: Store, alice: Account, clock: Clock) -> None:
    token, expires = store.issue_token("alice@example.com", 120)
    check = TokenValidator(store).check(token)
    assert (check.valid, check.identity, check.expires_at, check.reason) == (
        True,
        "alice@example.com",
        expires,
        None,
    )
    assert check.result() == TokenResult(valid=True, identity="alice@example.com")
    assert TokenValidator(store).check(token, "ALICE@example.com").valid
    wrong = TokenValidator(store).check(token, "bob@example.com")
    assert (wrong.valid, wrong.reason) == (False, "the token belongs to another user")
    assert wrong.result() == TokenResult(valid=False)
    clock.now += 120
    assert TokenValidator(store).check(token).reason == "unknown or expired development token"


def test_jwt_for_an_existing_account(store: Store, alice: Account, clock: Clock) -> None:
    v = TokenValidator(store, jwt_validator(clock))
    check = v.check(Secret(sign({"alg": "HS256"}, claims(clock))), "alice@example.com")
    assert check.valid and check.identity == "alice@example.com"
    assert check.expires_at == datetime.fromtimestamp(int(clock.now) + 300, UTC)
    unknown = v.check(sign({"alg": "HS256"}, claims(clock, sub="nobody@example.com")))
    assert (unknown.valid, unknown.reason) == (False, "JWT for an unknown account")
    expired = v.check(sign({"alg": "HS256"}, claims(clock, ttl=-61)))
    assert (expired.valid, expired.reason) == (False, "JWT refused: expired")


def test_jwt_without_a_configured_validator(store: Store, alice: Account, clock: Clock) -> None:
    check = TokenValidator(store).check(sign({"alg": "HS256"}, claims(clock)))
    assert (check.valid, check.reason) == (False, "not a token this server knows")


@pytest.mark.parametrize("token", ["", "password", "pkdev_nope", "a.b.c"])
def test_garbage(store: Store, alice: Account, clock: Clock, token: str) -> None:
    assert not TokenValidator(store, jwt_validator(clock)).check(token).valid


def test_refusals_are_logged_without_the_token(
    store: Store, alice: Account, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="protokit")
    bad = sign({"alg": "HS256"}, claims(clock, ttl=-100))
    TokenValidator(store, jwt_validator(clock)).check(bad)
    TokenValidator(store).check("pkdev_secretish")
    text = caplog.text
    assert "JWT refused: expired" in text and "unknown or expired development token" in text
    assert bad not in text and bad.split(".")[2] not in text and "secretish" not in text
