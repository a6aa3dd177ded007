"""The mechanism contract in _base.py: step bookkeeping, the bound on steps,
cancel, success data sent as a challenge, and errors for misuse."""

from __future__ import annotations

from typing import Unpack

import pytest

from protokit import LocalProtocolError
from protokit.sasl import (
    MAX_STEPS,
    Challenge,
    ClientMechanism,
    Failure,
    Request,
    SASLError,
    ServerMechanism,
    ServerOptions,
    Step,
    Success,
)


class Echo(ServerMechanism):
    """Challenges forever until the client says "done" or "proof"."""

    name = "X-ECHO"

    def __init__(self, **options: Unpack[ServerOptions]) -> None:
        super().__init__(**options)

    def _start(self, initial: bytes | None) -> Step:
        return Challenge(data=b"more")

    def _receive(self, response: bytes) -> Step:
        if response == b"done":
            return Success(authcid="me")
        if response == b"proof":
            return Success(authcid="me", authzid="you", data=b"v=1")
        if response == b"ask":
            return Request()
        if response == b"bad":
            raise SASLError("X-ECHO: bad")
        return Challenge(data=b"more")


class Client(ClientMechanism):
    name = "X-CLIENT"

    def initial_response(self) -> None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        return b""


def test_max_steps_default_and_bound() -> None:
    assert MAX_STEPS == 10
    server = Echo()
    server.start(None)
    for _ in range(10):
        assert server.receive(b"again") == Challenge(data=b"more")
    assert server.receive(b"again") == Failure(reason="X-ECHO: too many steps")
    assert server.done
    with pytest.raises(LocalProtocolError):
        server.receive(b"again")
    small = Echo(max_steps=2)
    small.start(None)
    small.receive(b"1")
    small.receive(b"2")
    assert small.receive(b"done") == Failure(reason="X-ECHO: too many steps")
    with pytest.raises(ValueError):
        Echo(max_steps=0)


def test_order_is_enforced() -> None:
    server = Echo()
    with pytest.raises(LocalProtocolError, match="call start"):
        server.receive(b"x")
    with pytest.raises(LocalProtocolError, match="no request is pending"):
        server.answer(True)
    server.start(None)
    with pytest.raises(LocalProtocolError, match="already started"):
        server.start(None)
    assert server.receive(b"ask") == Request()
    with pytest.raises(LocalProtocolError, match="answer the pending request"):
        server.receive(b"x")
    with pytest.raises(LocalProtocolError, match="asks no questions"):
        server.answer(True)


def test_malformed_input_is_a_failure_naming_the_rule() -> None:
    server = Echo()
    server.start(None)
    assert server.receive(b"bad") == Failure(reason="X-ECHO: bad")
    assert server.done


def test_cancel() -> None:
    server = Echo()
    server.start(None)
    assert server.cancel() == Failure(reason="X-ECHO: cancelled by the client")
    assert server.done
    with pytest.raises(LocalProtocolError):
        server.receive(b"done")


def test_success_data_with_success_or_as_challenge() -> None:
    server = Echo()
    server.start(None)
    assert server.receive(b"proof") == Success(authcid="me", authzid="you", data=b"v=1")
    server = Echo(success_data_as_challenge=True)
    server.start(None)
    assert server.receive(b"proof") == Challenge(data=b"v=1")
    assert not server.done
    final = server.receive(b"")
    assert (final, server.done) == (Success(authcid="me", authzid="you"), True)
    server = Echo(success_data_as_challenge=True)
    server.start(None)
    server.receive(b"proof")
    assert server.receive(b"x") == Failure(reason="X-ECHO: expected an empty response")
    # Success without data is unaffected.
    server = Echo(success_data_as_challenge=True)
    server.start(None)
    assert server.receive(b"done") == Success(authcid="me")


def test_client_finish_and_repr() -> None:
    client = Client()
    client.finish()
    client.finish(b"")
    with pytest.raises(SASLError, match="unexpected additional data"):
        client.finish(b"data")
    assert repr(client) == "<Client X-CLIENT>"
    server = Echo()
    assert repr(server) == "<Echo X-ECHO done=False>"


def test_nothing_after_the_outcome() -> None:
    server = Echo()
    server.start(None)
    assert server.receive(b"done") == Success(authcid="me")
    with pytest.raises(LocalProtocolError, match="the exchange is over"):
        server.receive(b"done")
    with pytest.raises(LocalProtocolError, match="already started"):
        server.start(None)
    with pytest.raises(LocalProtocolError, match="no request is pending"):
        server.answer(True)
