"""ANONYMOUS (RFC 4505): trace information, and the caller's permission."""

from __future__ import annotations

import pytest

from protokit import LocalProtocolError
from protokit.sasl import (
    ANONYMOUS_IDENTITY,
    AllowAnonymous,
    AnonymousClient,
    AnonymousServer,
    Challenge,
    Failure,
    SASLError,
    Success,
)

from .exchange import run


def test_client_against_server() -> None:
    result = run(AnonymousClient("sirhc@example.com"), AnonymousServer(), lambda r: True)
    assert result.outcome == Success(authcid=ANONYMOUS_IDENTITY)
    assert result.requests == [AllowAnonymous(trace="sirhc@example.com")]
    assert result.transcript == [("C", b"sirhc@example.com")]
    refused = run(AnonymousClient(), AnonymousServer(), lambda r: False)
    assert refused.outcome == Failure(reason="ANONYMOUS: not allowed")


def test_trace_limits() -> None:
    assert AnonymousServer().start(("é" * 255).encode()) == AllowAnonymous(trace="é" * 255)
    for message in (("x" * 256).encode(), b"a\nb", b"\xff", b"a\x00"):
        assert isinstance(AnonymousServer().start(message), Failure)
    with pytest.raises(LocalProtocolError):
        AnonymousClient("x" * 256)


def test_no_initial_response_and_state() -> None:
    server = AnonymousServer()
    assert server.start(None) == Challenge(data=b"")
    assert server.receive(b"") == AllowAnonymous(trace="")
    with pytest.raises(LocalProtocolError):
        server.answer("yes")
    client = AnonymousClient("t")
    assert client.respond(b"") == b"t"
    with pytest.raises(SASLError):
        client.respond(b"")
