"""XOAUTH2: Google's published example, the error flow (JSON challenge, empty
reply, failure), fresh tokens from callables, and the strict server parse."""

from __future__ import annotations

import json

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    XOAUTH2_DEFAULT_ERROR,
    Challenge,
    Failure,
    SASLError,
    Success,
    TokenResult,
    ValidateToken,
    XOAuth2Client,
    XOAuth2Server,
)
from protokit.wire import b64decode_strict, b64encode

from .exchange import load, run

G = load("google-xoauth2.json")
GOOD = "ya29.good-token"


def validate(request: object) -> object:
    assert isinstance(request, ValidateToken)
    return TokenResult(valid=request.token == Secret(GOOD))


def test_google_initial_response() -> None:
    client = XOAuth2Client(G["user"], G["token"])
    message = client.initial_response()
    assert message == G["initial_response"].encode()
    assert b64encode(message) == G["initial_response_base64"].encode()
    server = XOAuth2Server()
    assert server.start(message) == ValidateToken(user=G["user"], token=Secret(G["token"]))
    assert server.answer(TokenResult(True)) == Success(authcid=G["user"])


def test_google_error_response() -> None:
    raw = b64decode_strict(G["error_base64"].encode())
    server = XOAuth2Server(error=raw)
    client = XOAuth2Client(G["user"], G["token"])
    server.start(client.initial_response())
    challenge = server.answer(TokenResult(False))
    assert challenge == Challenge(data=raw)
    assert isinstance(challenge, Challenge)
    assert b64encode(challenge.data) == G["error_base64"].encode()
    # The client answers the JSON error with an empty response.
    assert client.respond(raw) == b""
    assert client.error == G["error"]
    assert client.error_data == raw
    assert server.receive(b"") == Failure(reason="XOAUTH2: invalid token")


def test_default_error_challenge_bytes() -> None:
    result = run(XOAuth2Client("u@example.com", "bad"), XOAuth2Server(), validate)
    assert result.outcome == Failure(reason="XOAUTH2: invalid token")
    assert result.transcript == [
        ("C", b"user=u@example.com\x01auth=Bearer bad\x01\x01"),
        ("S", b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'),
        ("C", b""),
    ]
    assert json.loads(result.transcript[1][1] or b"") == dict(XOAUTH2_DEFAULT_ERROR)


def test_error_from_the_token_result() -> None:
    server = XOAuth2Server()
    server.start(b"user=u\x01auth=Bearer t\x01\x01")
    step = server.answer(TokenResult(False, None, {"status": "400"}))
    assert step == Challenge(data=b'{"status":"400"}')


@pytest.mark.parametrize("reply", [b"\x01", b" ", b"{}", b"user=u\x01auth=Bearer t\x01\x01"])
def test_only_an_empty_reply_after_the_error(reply: bytes) -> None:
    server = XOAuth2Server()
    server.start(b"user=u\x01auth=Bearer t\x01\x01")
    server.answer(False)
    assert server.receive(reply) == Failure(
        reason="XOAUTH2: expected an empty response after the error challenge"
    )


def test_success_and_identity() -> None:
    assert run(XOAuth2Client("u", GOOD), XOAuth2Server(), validate).outcome == Success(authcid="u")
    server = XOAuth2Server()
    server.start(b"user=alias@example.com\x01auth=Bearer t\x01\x01")
    assert server.answer(TokenResult(True, "owner@example.com")) == Success(
        authcid="owner@example.com", authzid="alias@example.com"
    )


def test_token_callable_is_called_when_the_initial_response_is_made() -> None:
    calls: list[int] = []

    def fresh() -> Secret[str]:
        calls.append(1)
        return Secret(f"token{len(calls)}")

    client = XOAuth2Client("u", fresh)
    assert calls == []
    assert client.initial_response() == b"user=u\x01auth=Bearer token1\x01\x01"
    # The same exchange reuses it; a new exchange gets a fresh one.
    assert client.initial_response() == b"user=u\x01auth=Bearer token1\x01\x01"
    assert XOAuth2Client("u", fresh).initial_response() == b"user=u\x01auth=Bearer token2\x01\x01"


def test_no_initial_response_path() -> None:
    result = run(XOAuth2Client("u", GOOD), XOAuth2Server(), validate, use_initial=False)
    assert result.outcome == Success(authcid="u")
    assert result.transcript[:2] == [("C", None), ("S", b"")]


@pytest.mark.parametrize(
    "message",
    [
        b"user=u\x01auth=Bearer t\x01",
        b"user=u\x01auth=Bearer t",
        b"auth=Bearer t\x01\x01",
        b"user=u\x01\x01",
        b"user=\x01auth=Bearer t\x01\x01",
        b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
        b"user=u\x01auth=Bearer t\x01host=x\x01\x01",
        b"user=u\x01auth=Basic dTpw\x01\x01",
        b"user=u\x01auth=Bearer\x01\x01",
        b"user=u\x01auth=Bearer t t\x01\x01",
        b"user=u\x01auth=Bearer t\x00\x01\x01",
        b"user=\xff\x01auth=Bearer t\x01\x01",
        b"",
    ],
)
def test_strict_parse(message: bytes) -> None:
    step = XOAuth2Server().start(message)
    assert isinstance(step, Failure)
    assert step.reason.startswith("XOAUTH2")


def test_scheme_is_case_insensitive_and_key_order_free() -> None:
    server = XOAuth2Server()
    assert server.start(b"auth=bEARER t\x01user=u\x01\x01") == ValidateToken(
        user="u", token=Secret("t")
    )


def test_client_rejects_a_second_challenge_and_success_after_error() -> None:
    client = XOAuth2Client("u", "t")
    client.initial_response()
    client.respond(b'{"status":"401"}')
    with pytest.raises(SASLError):
        client.respond(b'{"status":"401"}')
    with pytest.raises(SASLError):
        client.finish()


def test_client_error_is_none_for_non_json() -> None:
    client = XOAuth2Client("u", "t")
    client.initial_response()
    assert client.respond(b"[" * 100000) == b""
    assert client.error is None


def test_client_validation_never_echoes_the_token() -> None:
    with pytest.raises(LocalProtocolError):
        XOAuth2Client("u\x01", "t")
    client = XOAuth2Client("u", "sekrit\x01")
    with pytest.raises(LocalProtocolError) as info:
        client.initial_response()
    assert "sekrit" not in str(info.value)


def test_too_many_steps_and_cancel() -> None:
    server = XOAuth2Server(max_steps=1)
    server.start(None)
    server.receive(b"user=u\x01auth=Bearer t\x01\x01")
    server.answer(False)
    assert server.receive(b"") == Failure(reason="XOAUTH2: too many steps")
    server = XOAuth2Server()
    server.start(b"user=u\x01auth=Bearer t\x01\x01")
    server.answer(False)
    assert server.cancel() == Failure(reason="XOAUTH2: cancelled by the client")


def test_answer_type_is_checked() -> None:
    server = XOAuth2Server()
    server.start(b"user=u\x01auth=Bearer t\x01\x01")
    with pytest.raises(LocalProtocolError):
        server.answer("yes")
