"""OAUTHBEARER (RFC 7628): the section 4 examples, the strict GS2 and
key/value parse, and the error flow where only 0x01 is accepted."""

from __future__ import annotations

import json

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    Challenge,
    Failure,
    OAuthBearerClient,
    OAuthBearerServer,
    SASLError,
    Success,
    TokenResult,
    ValidateToken,
)
from protokit.wire import CANCEL, b64decode_strict, b64encode, parse_response

from .exchange import load, run

V = load("rfc7628-oauthbearer.json")


@pytest.mark.parametrize("vector", V["success"], ids=lambda v: v["section"])
def test_section_4_1_success(vector: dict[str, object]) -> None:
    client = OAuthBearerClient(
        str(vector["authzid"]),
        str(vector["token"]),
        str(vector["host"]),
        int(vector["port"]),  # type: ignore[call-overload]
    )
    message = client.initial_response()
    assert message == str(vector["initial_response"]).encode()
    assert b64encode(message) == str(vector["initial_response_base64"]).encode()
    server = OAuthBearerServer(host="server.example.com", port=vector["port"])  # type: ignore[arg-type]
    assert server.start(message) == ValidateToken(
        user="user@example.com",
        token=Secret(str(vector["token"])),
        host="server.example.com",
        port=vector["port"],  # type: ignore[arg-type]
    )
    assert server.answer(TokenResult(True)) == Success(authcid="user@example.com")
    client.finish()


def test_section_4_2_oauth10a_is_parsed_and_refused() -> None:
    message = b64decode_strict(V["oauth10a"]["initial_response_base64"].encode())
    server = OAuthBearerServer()
    # Well-formed, but not a bearer credential: the error challenge, not a crash.
    assert server.start(message) == Challenge(data=b'{"status":"invalid_token"}')
    assert server.receive(b"\x01") == Failure(reason="OAUTHBEARER: invalid token")


@pytest.mark.parametrize("vector", V["failure"], ids=lambda v: v["section"])
def test_section_4_3_failure(vector: dict[str, object]) -> None:
    message = b64decode_strict(str(vector["initial_response_base64"]).encode())
    assert message == str(vector["initial_response"]).encode()
    server = OAuthBearerServer(error=vector["error"])  # type: ignore[arg-type]
    # An empty auth value is how a client asks for the scope: no token to validate.
    challenge = server.start(message)
    assert isinstance(challenge, Challenge)
    assert b64encode(challenge.data) == str(vector["error_base64"]).encode()
    client = OAuthBearerClient("user@example.com", "whatever")
    client.initial_response()
    reply = client.respond(challenge.data)
    assert client.error == vector["error"]
    assert reply == b"\x01"
    wire_reply = parse_response(str(vector["client_reply_base64"]).encode())
    if wire_reply is CANCEL:
        assert server.cancel() == Failure(reason="OAUTHBEARER: cancelled by the client")
    else:
        assert wire_reply == reply == str(vector["client_reply"]).encode()
        assert server.receive(reply) == Failure(reason="OAUTHBEARER: invalid token")


def _failed_server() -> OAuthBearerServer:
    server = OAuthBearerServer()
    server.start(b"n,,\x01auth=Bearer t\x01\x01")
    assert server.answer(TokenResult(False)) == Challenge(data=b'{"status":"invalid_token"}')
    return server


@pytest.mark.parametrize(
    "reply", [b"", b"\x01\x01", b"x", b"\x00", b"n,,\x01auth=Bearer t\x01\x01"]
)
def test_only_0x01_is_accepted_after_the_error(reply: bytes) -> None:
    assert _failed_server().receive(reply) == Failure(
        reason="OAUTHBEARER: expected a single 0x01 after the error challenge"
    )


def test_error_from_the_token_result() -> None:
    server = OAuthBearerServer()
    server.start(b"n,a=u,\x01auth=Bearer t\x01\x01")
    body = {"status": "insufficient_scope", "scope": "mail"}
    step = server.answer(TokenResult(False, error=body))
    assert isinstance(step, Challenge)
    assert json.loads(step.data) == body


def test_authzid_escaping_round_trip() -> None:
    client = OAuthBearerClient("a,b=c", "t")
    assert client.initial_response() == b"n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01"
    server = OAuthBearerServer()
    assert server.start(client.initial_response()) == ValidateToken(
        user="a,b=c", token=Secret("t")
    )


def test_no_authzid_needs_an_identity_from_the_token() -> None:
    server = OAuthBearerServer()
    assert server.start(b"n,,\x01auth=Bearer t\x01\x01") == ValidateToken(
        user=None, token=Secret("t")
    )
    assert server.answer(TokenResult(True)) == Failure(
        reason="OAUTHBEARER: the token names no identity"
    )
    server = OAuthBearerServer()
    server.start(b"y,,\x01auth=Bearer t\x01\x01")
    assert server.answer(TokenResult(True, "owner")) == Success(authcid="owner")


def test_unknown_keys_are_ignored() -> None:
    server = OAuthBearerServer()
    assert server.start(b"n,a=u,\x01mthd=POST\x01auth=Bearer t\x01qs=\x01\x01") == ValidateToken(
        user="u", token=Secret("t")
    )


@pytest.mark.parametrize(
    "message",
    [
        # GS2 header
        b"F,n,,\x01auth=Bearer t\x01\x01",
        b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
        b"x,,\x01auth=Bearer t\x01\x01",
        b"n,\x01auth=Bearer t\x01\x01",
        b"n,a=,\x01auth=Bearer t\x01\x01",
        b"n,a=u=2Dv,\x01auth=Bearer t\x01\x01",
        b"n,a=u=,\x01auth=Bearer t\x01\x01",
        b"n,b=u,\x01auth=Bearer t\x01\x01",
        b"n,a=\xff,\x01auth=Bearer t\x01\x01",
        b"n,a=u\x00,\x01auth=Bearer t\x01\x01",
        # key/value pairs
        b"n,,auth=Bearer t\x01\x01",
        b"n,,\x01auth=Bearer t\x01",
        b"n,,\x01auth=Bearer t",
        b"n,,\x01\x01",
        b"n,,\x01host=h\x01\x01",
        b"n,,\x01auth=Bearer t\x01auth=Bearer t\x01\x01",
        b"n,,\x01au th=x\x01auth=Bearer t\x01\x01",
        b"n,,\x01=x\x01auth=Bearer t\x01\x01",
        b"n,,\x01auth1=x\x01auth=Bearer t\x01\x01",
        b"n,,\x01auth\x01\x01",
        b"n,,\x01auth=Bearer t\x00\x01\x01",
        b"n,,\x01auth=Bearer t\xc3\xa9\x01\x01",
        b"n,,\x01auth=Bearer t t\x01\x01",
        b"n,,\x01auth=Bearer \x01\x01",
        b"n,,\x01port=0143\x01auth=Bearer t\x01\x01",
        b"n,,\x01port=0\x01auth=Bearer t\x01\x01",
        b"n,,\x01port=65536\x01auth=Bearer t\x01\x01",
        b"n,,\x01host=a/b\x01auth=Bearer t\x01\x01",
        b"n,,\x01auth=Bearer t\x01\x01\x01",
        b"\x01",
        b"",
    ],
)
def test_strict_parse(message: bytes) -> None:
    step = OAuthBearerServer().start(message)
    assert isinstance(step, Failure), step
    assert step.reason.startswith("OAUTHBEARER")


def test_host_and_port_must_match_the_server() -> None:
    for message in (
        b"n,,\x01host=evil.example\x01port=143\x01auth=Bearer t\x01\x01",
        b"n,,\x01host=server.example.com\x01port=993\x01auth=Bearer t\x01\x01",
        b"n,,\x01auth=Bearer t\x01\x01",
    ):
        server = OAuthBearerServer(host="server.example.com", port=143)
        assert server.start(message) == Challenge(data=b'{"status":"invalid_token"}')
    server = OAuthBearerServer(host="Server.Example.COM", port=143)
    step = server.start(b"n,,\x01host=server.example.com\x01port=143\x01auth=Bearer t\x01\x01")
    assert isinstance(step, ValidateToken)


def test_client_against_server() -> None:
    def validate(request: object) -> object:
        assert isinstance(request, ValidateToken)
        return TokenResult(request.token == Secret("good"))

    ok = run(OAuthBearerClient("u", "good", "h", 993), OAuthBearerServer(), validate)
    assert ok.outcome == Success(authcid="u")
    bad = run(OAuthBearerClient("u", lambda: "bad"), OAuthBearerServer(), validate)
    assert bad.outcome == Failure(reason="OAUTHBEARER: invalid token")
    assert bad.transcript == [
        ("C", b"n,a=u,\x01auth=Bearer bad\x01\x01"),
        ("S", b'{"status":"invalid_token"}'),
        ("C", b"\x01"),
    ]
    no_ir = run(OAuthBearerClient("u", "good"), OAuthBearerServer(), validate, use_initial=False)
    assert no_ir.outcome == Success(authcid="u")


def test_too_many_steps() -> None:
    server = OAuthBearerServer(max_steps=1)
    server.start(None)
    server.receive(b"n,,\x01auth=Bearer t\x01\x01")
    server.answer(False)
    assert server.receive(b"\x01") == Failure(reason="OAUTHBEARER: too many steps")


def test_client_validation_and_unexpected_challenges() -> None:
    with pytest.raises(LocalProtocolError):
        OAuthBearerClient("u", "t", port=0)
    with pytest.raises(LocalProtocolError):
        OAuthBearerClient("u", "t", host="a b")
    with pytest.raises(LocalProtocolError):
        OAuthBearerClient("u\x01", "t")
    client = OAuthBearerClient(None, "t")
    assert client.initial_response() == b"n,,\x01auth=Bearer t\x01\x01"
    client.respond(b"{}")
    with pytest.raises(SASLError):
        client.respond(b"{}")
    with pytest.raises(SASLError):
        client.finish()
