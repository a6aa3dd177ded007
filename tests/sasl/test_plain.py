"""PLAIN (RFC 4616): the published examples, the strict parse SECURITY.md
asks for, and client against server for every outcome."""

from __future__ import annotations

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    Challenge,
    Failure,
    PlainClient,
    PlainServer,
    SASLError,
    Success,
    VerifyPassword,
    hash_password,
    verify_password,
)
from protokit.wire import b64encode

from .exchange import load, run, traced

VECTORS = load("rfc4616-plain.json")["examples"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc4616_examples(vector: dict[str, object]) -> None:
    message = str(vector["message"]).encode()
    assert len(message) == vector["message_octets"]
    client = PlainClient(str(vector["authcid"]), str(vector["password"]), vector["authzid"])  # type: ignore[arg-type]
    # The ACAP examples send no initial response: "+ """ then the message.
    server = PlainServer()
    assert server.start(None) == Challenge(data=b"")
    assert client.respond(b"") == message
    request = server.receive(message)
    assert request == VerifyPassword(
        authcid=vector["authcid"],  # type: ignore[arg-type]
        authzid=vector["authzid"],  # type: ignore[arg-type]
        password=Secret(str(vector["password"])),
    )
    # Kurt's password is right, but he may not act as Ursel: the caller answers False.
    outcome = server.answer(vector["authorized"])
    if vector["authorized"]:
        assert outcome == Success(authcid="tim", authzid=None)
    else:
        assert outcome == Failure(reason="PLAIN: authentication failed")


def test_initial_response_is_the_message() -> None:
    client = PlainClient("tim", "tanstaaftanstaaf")
    assert client.initial_response() == b"\x00tim\x00tanstaaftanstaaf"
    assert b64encode(client.initial_response()) == b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"tim", "PLAIN: the message must contain exactly two NULs"),
        (b"tim\x00pw", "PLAIN: the message must contain exactly two NULs"),
        (b"\x00tim\x00pw\x00", "PLAIN: the message must contain exactly two NULs"),
        (b"a\x00\x00tim\x00pw", "PLAIN: the message must contain exactly two NULs"),
        (b"\x00\x00pw", "PLAIN: empty identity"),
        (b"\x00tim\x00", "PLAIN: empty password"),
        (b"", "PLAIN: the message must contain exactly two NULs"),
        (b"\x00t\xffim\x00pw", "PLAIN identity is not valid UTF-8"),
        (b"\x00tim\x00p\xc3", "PLAIN password is not valid UTF-8"),
        (b"\xed\xa0\x80\x00tim\x00pw", "PLAIN authzid is not valid UTF-8"),
    ],
)
def test_strict_parse(message: bytes, reason: str) -> None:
    server = PlainServer()
    assert server.start(message) == Failure(reason=reason)
    assert server.done


def test_fields_of_255_octets_and_more_are_accepted() -> None:
    for size in (255, 256, 1000):
        authzid, authcid, password = "z" * size, "é" * (size // 2) + "c", "p" * size
        server = PlainServer()
        message = PlainClient(authcid, password, authzid).initial_response()
        assert len(authcid.encode()) >= size
        step = server.start(message)
        assert step == VerifyPassword(authcid=authcid, authzid=authzid, password=Secret(password))


def test_utf8_identities_and_passwords() -> None:
    server = PlainServer()
    step = server.start("\x00jürgen\x00pässwörd☃".encode())
    assert step == VerifyPassword(authcid="jürgen", authzid=None, password=Secret("pässwörd☃"))
    assert server.answer(True) == Success(authcid="jürgen")


def test_authzid_is_reported_for_the_caller_to_authorise() -> None:
    server = PlainServer()
    assert server.start(b"admin\x00tim\x00pw") == VerifyPassword(
        authcid="tim", authzid="admin", password=Secret("pw")
    )
    assert server.answer(True) == Success(authcid="tim", authzid="admin")


def test_client_refuses_invalid_credentials_without_echoing_them() -> None:
    for args in (("", "pw"), ("t\x00m", "pw"), ("tim", ""), ("tim", "p\x00w-sekrit")):
        with pytest.raises(LocalProtocolError) as info:
            PlainClient(*args)
        assert "sekrit" not in str(info.value)
    with pytest.raises(LocalProtocolError):
        PlainClient("tim", "pw", "")


def test_client_refuses_a_second_or_non_empty_challenge() -> None:
    client = PlainClient("tim", "pw")
    with pytest.raises(SASLError):
        client.respond(b"hello")
    client.respond(b"")
    with pytest.raises(SASLError):
        client.respond(b"")


def _password_db(stored: dict[str, str]) -> object:
    def answer(request: object) -> object:
        assert isinstance(request, VerifyPassword)
        return verify_password(stored.get(request.authcid), request.password)

    return answer


DB = {"tim": hash_password("right", iterations=1000)}


def test_client_and_server_success() -> None:
    result = run(PlainClient("tim", Secret("right")), PlainServer(), _password_db(DB))  # type: ignore[arg-type]
    assert result.outcome == Success(authcid="tim")
    assert result.transcript == [("C", b"\x00tim\x00right")]


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    wrong = run(PlainClient("tim", "wrong"), PlainServer(), _password_db(DB))  # type: ignore[arg-type]
    unknown = run(PlainClient("nobody", "wrong"), PlainServer(), _password_db(DB))  # type: ignore[arg-type]
    assert wrong.outcome == unknown.outcome == Failure(reason="PLAIN: authentication failed")


def test_wrong_password_and_unknown_user_take_the_same_path() -> None:
    traces = []
    for user in ("tim", "nobody"):
        server = PlainServer()
        with traced() as lines:
            request = server.start(f"\x00{user}\x00wrong".encode())
            assert isinstance(request, VerifyPassword)
            server.answer(verify_password(DB.get(request.authcid), request.password))
        traces.append(lines)
    assert traces[0] == traces[1]
    assert len(traces[0]) > 10


def test_cancel() -> None:
    server = PlainServer()
    assert server.start(None) == Challenge(data=b"")
    assert server.cancel() == Failure(reason="PLAIN: cancelled by the client")
    with pytest.raises(LocalProtocolError):
        server.receive(b"\x00tim\x00pw")


def test_a_second_message_is_refused() -> None:
    server = PlainServer()
    server.start(None)
    assert isinstance(server.receive(b"\x00tim\x00pw"), VerifyPassword)
    with pytest.raises(LocalProtocolError):
        server.receive(b"\x00tim\x00pw")


def test_plaintext_flag() -> None:
    assert PlainClient.plaintext is True
    assert PlainServer.plaintext is True
