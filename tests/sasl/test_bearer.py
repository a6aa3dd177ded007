"""The bearer credential grammar (RFC 6750) and the JSON error bodies."""

from __future__ import annotations

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import SASLError, TokenResult
from protokit.sasl._bearer import decode_error, encode_error, parse_bearer, token_result


def test_parse_bearer() -> None:
    assert parse_bearer(b"Bearer abc-._~+/==", "t") == Secret("abc-._~+/==")
    assert parse_bearer(b"bearer  x", "t") == Secret("x")
    assert parse_bearer(b"", "t") is None
    assert parse_bearer(b'OAuth realm="x"', "t") is None
    for bad in (
        b"Bearer",
        b"Bearer ",
        b"Bearer a=b",
        b"Bearer a b",
        b"Bear\x00er x",
        b"Bearer \xff",
    ):
        with pytest.raises(SASLError):
            parse_bearer(bad, "t")


def test_error_bodies() -> None:
    assert encode_error({"status": "401", "scope": "s"}) == b'{"status":"401","scope":"s"}'
    assert encode_error(b"raw") == b"raw"
    with pytest.raises(LocalProtocolError):
        encode_error({"status": object()})
    assert decode_error(b'{"status":"401"}') == {"status": "401"}
    for bad in (b"[]", b"nope", b"\xff", b"[" * 5000, b'{"a":' * 5000, b" " * 20000):
        assert decode_error(bad) is None


def test_token_result() -> None:
    assert token_result(True, "t") == TokenResult(True)
    assert token_result(TokenResult(False, "x"), "t") == TokenResult(False, "x", None)
    with pytest.raises(LocalProtocolError):
        token_result(None, "t")
