from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.errors import RemoteProtocolError
from protokit.wire import (
    CANCEL,
    InvalidBase64Error,
    b64decode_strict,
    b64encode,
    format_initial_response,
    format_response,
    parse_challenge,
    parse_initial_response,
    parse_response,
)


def test_absent_and_empty_initial_response_differ() -> None:
    assert parse_initial_response(None) is None
    assert parse_initial_response(b"=") == b""
    assert format_initial_response(None) is None
    assert format_initial_response(b"") == b"="
    assert (
        parse_initial_response(b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm") == b"\x00tim\x00tanstaaftanstaaf"
    )


def test_an_empty_token_is_not_an_empty_response() -> None:
    with pytest.raises(InvalidBase64Error, match="send '='"):
        parse_initial_response(b"")


def test_cancel() -> None:
    assert parse_response(b"*") is CANCEL
    assert repr(CANCEL) == "CANCEL"
    assert format_response(CANCEL) == b"*"
    assert parse_response(b"") == b""
    assert format_response(b"") == b""


@pytest.mark.parametrize(
    "bad",
    [
        b"dGVzdA",  # missing padding
        b"dGVzdA=",  # short padding
        b"dGVz dA==",  # space
        b"dGVzdA==\r",  # trailing CR
        b"dGVzd===",  # too much padding
        b"dGVzdA=a",  # data after padding
        b"dGVzdB==",  # non-zero unused bits: not canonical
        b"d\xffVz",  # outside the alphabet
        b"dG-z",  # url-safe alphabet is not SASL's
        b"*abc",
    ],
)
def test_strict_base64_refuses(bad: bytes) -> None:
    with pytest.raises(InvalidBase64Error) as info:
        b64decode_strict(bad)
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(InvalidBase64Error):
        parse_response(bad)


def test_challenge_with_no_text_is_empty() -> None:
    assert parse_challenge(b"") == b""
    assert parse_challenge(b" ") == b""
    assert parse_challenge(b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+") == (
        b"<1896.697170952@postoffice.reston.mci.net>"
    )


@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    enc = b64encode(data)
    assert b"\n" not in enc
    assert b64decode_strict(enc) == data
    assert parse_response(format_response(data)) == data
    assert parse_initial_response(format_initial_response(data)) == data


@given(st.binary(max_size=64))
def test_arbitrary_input_raises_only_our_error(data: bytes) -> None:
    try:
        b64decode_strict(data)
    except InvalidBase64Error:
        pass
