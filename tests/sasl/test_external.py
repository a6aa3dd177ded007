"""EXTERNAL: the lower layer authenticates; the caller answers who."""

from __future__ import annotations

import pytest

from protokit import LocalProtocolError
from protokit.sasl import (
    Challenge,
    ExternalClient,
    ExternalServer,
    Failure,
    SASLError,
    Success,
    VerifyExternal,
)

from .exchange import run


def test_client_against_server() -> None:
    result = run(ExternalClient(), ExternalServer(), lambda r: "cn=client.example")
    assert result.outcome == Success(authcid="cn=client.example")
    assert result.transcript == [("C", b"")]
    result = run(ExternalClient("bob"), ExternalServer(), lambda r: "cn=client.example")
    assert result.outcome == Success(authcid="cn=client.example", authzid="bob")


def test_no_verified_certificate_fails() -> None:
    result = run(ExternalClient("bob"), ExternalServer(), lambda r: None)
    assert result.outcome == Failure(reason="EXTERNAL: not authenticated by the lower layer")


def test_request_and_no_initial_response() -> None:
    server = ExternalServer()
    assert server.start(None) == Challenge(data=b"")
    assert server.receive(b"bob") == VerifyExternal(authzid="bob")
    server = ExternalServer()
    assert server.start(b"") == VerifyExternal(authzid=None)
    result = run(ExternalClient("bob"), ExternalServer(), lambda r: "x", use_initial=False)
    assert result.outcome == Success(authcid="x", authzid="bob")


@pytest.mark.parametrize("message", [b"b\x00b", b"\xff"])
def test_strict_parse(message: bytes) -> None:
    assert isinstance(ExternalServer().start(message), Failure)


def test_validation_and_state() -> None:
    with pytest.raises(LocalProtocolError):
        ExternalClient("")
    client = ExternalClient()
    with pytest.raises(SASLError):
        client.respond(b"x")
    server = ExternalServer()
    server.start(b"")
    with pytest.raises(LocalProtocolError):
        server.answer(42)
    server = ExternalServer(max_steps=1)
    server.start(None)
    assert server.cancel() == Failure(reason="EXTERNAL: cancelled by the client")
