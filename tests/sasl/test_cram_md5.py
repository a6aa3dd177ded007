"""CRAM-MD5 (RFC 2195): the published exchange on both sides, and client
against server for every outcome."""

from __future__ import annotations

import hmac
import re

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    Challenge,
    CramMD5Client,
    CramMD5Server,
    Failure,
    LookupPassword,
    SASLError,
    Success,
)
from protokit.wire import b64decode_strict, b64encode

from .exchange import load, run, traced

V = load("rfc2195-cram-md5.json")
CHALLENGE = V["challenge"].encode()
USERS = {"tim": Secret("tanstaaftanstaaf")}


def lookup(request: object) -> object:
    assert isinstance(request, LookupPassword)
    return USERS.get(request.authcid)


def test_rfc2195_client() -> None:
    client = CramMD5Client(V["username"], V["password"])
    assert client.initial_response() is None
    challenge = b64decode_strict(V["challenge_base64"].encode())
    assert challenge == CHALLENGE
    response = client.respond(challenge)
    assert response == V["response"].encode()
    assert b64encode(response) == V["response_base64"].encode()
    assert response.endswith(V["digest"].encode())


def test_rfc2195_server() -> None:
    server = CramMD5Server(challenge=lambda: CHALLENGE)
    assert server.start(None) == Challenge(data=CHALLENGE)
    assert server.receive(V["response"].encode()) == LookupPassword(authcid="tim")
    assert server.answer(Secret(V["password"])) == Success(authcid="tim")


def test_client_against_server() -> None:
    result = run(CramMD5Client("tim", "tanstaaftanstaaf"), CramMD5Server("mail.example"), lookup)
    assert result.outcome == Success(authcid="tim")
    challenge = result.transcript[1][1] or b""
    assert re.fullmatch(rb"<\d+\.\d+@mail\.example>", challenge)
    # Two servers never send the same challenge.
    assert CramMD5Server().start(None) != CramMD5Server().start(None)


def test_wrong_password_and_unknown_user_fail_alike_on_one_path() -> None:
    outcomes, traces = [], []
    for user in ("tim", "nobody"):
        server = CramMD5Server(challenge=lambda: CHALLENGE)
        client = CramMD5Client(user, "wrong")
        server.start(None)
        with traced() as lines:
            request = server.receive(client.respond(CHALLENGE))
            outcomes.append(server.answer(lookup(request)))
        traces.append(lines)
    assert outcomes == [Failure(reason="CRAM-MD5: authentication failed")] * 2
    assert traces[0] == traces[1]


def test_a_str_password_is_accepted_as_answer() -> None:
    server = CramMD5Server(challenge=lambda: CHALLENGE)
    server.start(None)
    server.receive(V["response"].encode())
    assert server.answer(V["password"]) == Success(authcid="tim")


@pytest.mark.parametrize(
    "response",
    [
        b"tim",
        b"tim b913a602c7eda7a495b4e6e7334d389",
        b"tim B913A602C7EDA7A495B4E6E7334D3890",
        b"tim  b913a602c7eda7a495b4e6e7334d3890x",
        b" b913a602c7eda7a495b4e6e7334d3890"[1:],
        b"t\x00m b913a602c7eda7a495b4e6e7334d3890",
        b"t\xffm b913a602c7eda7a495b4e6e7334d3890",
    ],
)
def test_malformed_responses(response: bytes) -> None:
    server = CramMD5Server(challenge=lambda: CHALLENGE)
    server.start(None)
    step = server.receive(response)
    assert isinstance(step, Failure)
    assert step.reason.startswith("CRAM-MD5")


def test_user_names_with_spaces() -> None:
    client = CramMD5Client("tim smith", "pw")
    server = CramMD5Server(challenge=lambda: CHALLENGE)
    server.start(None)
    assert server.receive(client.respond(CHALLENGE)) == LookupPassword(authcid="tim smith")
    assert server.answer(Secret("pw")) == Success(authcid="tim smith")


def test_no_initial_response_and_one_step() -> None:
    assert CramMD5Server().start(b"") == Failure(
        reason="CRAM-MD5: the mechanism has no initial response"
    )
    client = CramMD5Client("tim", "pw")
    client.respond(CHALLENGE)
    with pytest.raises(SASLError):
        client.respond(CHALLENGE)
    with pytest.raises(SASLError):
        CramMD5Client("tim", "pw").respond(b"not a msg-id")


def test_cancel_and_too_many_steps() -> None:
    server = CramMD5Server()
    server.start(None)
    assert server.cancel() == Failure(reason="CRAM-MD5: cancelled by the client")
    # One response is all CRAM-MD5 takes: the second is refused.
    server = CramMD5Server(challenge=lambda: CHALLENGE)
    server.start(None)
    server.receive(V["response"].encode())
    with pytest.raises(LocalProtocolError):
        server.receive(V["response"].encode())


def test_validation() -> None:
    with pytest.raises(LocalProtocolError):
        CramMD5Server(challenge=lambda: b"no brackets")
    with pytest.raises(LocalProtocolError):
        CramMD5Client("", "pw")
    server = CramMD5Server(challenge=lambda: CHALLENGE)
    server.start(None)
    server.receive(V["response"].encode())
    with pytest.raises(LocalProtocolError):
        server.answer(42)


def test_digest_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    server = CramMD5Server(challenge=lambda: CHALLENGE)
    server.start(None)
    server.receive(V["response"].encode())
    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert server.answer(Secret(V["password"])) == Success(authcid="tim")
    assert calls == [(V["digest"].encode(), V["digest"].encode())]
