"""Requests carry secrets only as Secret, and say what they are in repr."""

from __future__ import annotations

from protokit import Secret
from protokit.sasl import (
    AllowAnonymous,
    LookupPassword,
    TokenResult,
    ValidateToken,
    VerifyExternal,
    VerifyPassword,
)


def test_reprs_redact_secrets() -> None:
    request = VerifyPassword(authcid="tim", authzid=None, password=Secret("hunter2"))
    assert repr(request) == (
        "VerifyPassword(authcid='tim', authzid=None, password=Secret('[REDACTED]'))"
    )
    token = ValidateToken(user="u", token=Secret("ya29.tok"), host="h", port=993)
    assert "ya29" not in repr(token) and "ya29" not in str(token)
    assert repr(LookupPassword(authcid="tim")) == "LookupPassword(authcid='tim')"
    assert repr(VerifyExternal(authzid=None)) == "VerifyExternal(authzid=None)"
    assert repr(AllowAnonymous(trace="x")) == "AllowAnonymous(trace='x')"


def test_token_result_positional_and_defaults() -> None:
    assert TokenResult(True) == TokenResult(valid=True, identity=None, error=None)
    assert TokenResult(False, "id", {"status": "401"}).error == {"status": "401"}


def test_requests_compare_secrets_by_value() -> None:
    a = VerifyPassword(authcid="t", authzid=None, password=Secret("p"))
    assert a == VerifyPassword(authcid="t", authzid=None, password=Secret("p"))
    assert a != VerifyPassword(authcid="t", authzid=None, password=Secret("q"))
