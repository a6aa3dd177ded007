"""LOGIN: both prompt styles, a client that ignores prompt text, strict
values, and client against server for every outcome."""

from __future__ import annotations

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    Challenge,
    Failure,
    LoginClient,
    LoginServer,
    SASLError,
    Success,
    VerifyPassword,
    hash_password,
    verify_password,
)

from .exchange import run, traced

DB = {"tim": hash_password("right", iterations=1000)}


def answer(request: object) -> object:
    assert isinstance(request, VerifyPassword)
    return verify_password(DB.get(request.authcid), request.password)


@pytest.mark.parametrize(
    ("style", "prompts"),
    [("Username:", (b"Username:", b"Password:")), ("User Name", (b"User Name", b"Password"))],
)
def test_prompt_styles(style: str, prompts: tuple[bytes, bytes]) -> None:
    result = run(LoginClient("tim", "right"), LoginServer(style), answer)  # type: ignore[arg-type]
    assert result.outcome == Success(authcid="tim")
    assert result.transcript == [
        ("C", None),
        ("S", prompts[0]),
        ("C", b"tim"),
        ("S", prompts[1]),
        ("C", b"right"),
    ]


def test_client_ignores_the_prompt_text() -> None:
    client = LoginClient("tim", "right")
    assert client.initial_response() is None
    assert client.respond(b"VXNlcm5hbWU6 whatever") == b"tim"
    assert client.respond(b"") == b"right"
    with pytest.raises(SASLError):
        client.respond(b"Password:")


def test_username_as_initial_response() -> None:
    server = LoginServer()
    assert server.start(b"tim") == Challenge(data=b"Password:")
    assert server.receive(b"right") == VerifyPassword(
        authcid="tim", authzid=None, password=Secret("right")
    )
    assert server.answer(True) == Success(authcid="tim")


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        (b"", b"pw", "LOGIN: empty user name"),
        (b"tim", b"", "LOGIN: empty password"),
        (b"t\x00m", b"pw", "LOGIN: user name contains NUL, CR or LF"),
        (b"tim", b"p\r\nw", "LOGIN: password contains NUL, CR or LF"),
        (b"t\xffm", b"pw", "LOGIN user name is not valid UTF-8"),
    ],
)
def test_strict_values(username: bytes, password: bytes, reason: str) -> None:
    server = LoginServer()
    server.start(None)
    step = server.receive(username)
    if isinstance(step, Challenge):
        step = server.receive(password)
    assert step == Failure(reason=reason)


def test_wrong_password_and_unknown_user_fail_alike_on_one_path() -> None:
    outcomes, traces = [], []
    for user in ("tim", "nobody"):
        with traced() as lines:
            outcomes.append(run(LoginClient(user, "wrong"), LoginServer(), answer).outcome)
        traces.append(lines)
    assert outcomes == [Failure(reason="LOGIN: authentication failed")] * 2
    assert traces[0] == traces[1]


def test_too_many_steps() -> None:
    server = LoginServer(max_steps=1)
    server.start(None)
    assert server.receive(b"tim") == Challenge(data=b"Password:")
    assert server.receive(b"right") == Failure(reason="LOGIN: too many steps")


def test_cancel() -> None:
    server = LoginServer()
    server.start(None)
    server.receive(b"tim")
    assert server.cancel() == Failure(reason="LOGIN: cancelled by the client")


def test_client_validation() -> None:
    with pytest.raises(LocalProtocolError):
        LoginClient("", "pw")
    with pytest.raises(LocalProtocolError) as info:
        LoginClient("tim", "sek\nrit")
    assert "sek" not in str(info.value)
    with pytest.raises(ValueError):
        LoginServer("Login:")  # type: ignore[arg-type]


def test_flags() -> None:
    assert LoginClient.plaintext and LoginServer.plaintext
    assert not LoginClient.client_first and not LoginServer.client_first
