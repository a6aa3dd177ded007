"""ANONYMOUS (RFC 4505): the message is optional trace information."""

from __future__ import annotations

from typing import Final, Unpack

from ..errors import LocalProtocolError
from ._base import (
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
from ._common import encode_local, utf8

__all__ = ["ANONYMOUS_IDENTITY", "AnonymousClient", "AnonymousServer"]

from ._requests import AllowAnonymous

#: The ``authcid`` of a successful ANONYMOUS exchange.
ANONYMOUS_IDENTITY: Final = "anonymous"


def _check_trace(trace: str) -> bool:
    # RFC 4505 section 3: message = [ email / token ], token = 1*255TCHAR,
    # TCHAR = any UTF-8 character except the controls (and NUL).
    return len(trace) <= 255 and not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in trace)


class AnonymousClient(ClientMechanism):
    """ANONYMOUS client: sends ``trace`` (an e-mail address or up to 255
    characters of text; empty sends nothing)."""

    name = "ANONYMOUS"

    def __init__(self, trace: str = "") -> None:
        if not _check_trace(trace):
            raise LocalProtocolError("ANONYMOUS: the trace is at most 255 characters, no controls")
        self.trace = trace
        self._answered = False

    def initial_response(self) -> bytes:
        return encode_local(self.trace, "ANONYMOUS trace")

    def respond(self, challenge: bytes) -> bytes:
        if challenge or self._answered:
            raise SASLError("ANONYMOUS: unexpected challenge")
        self._answered = True
        return self.initial_response()


class AnonymousServer(ServerMechanism):
    """ANONYMOUS server: asks :class:`AllowAnonymous`; answer ``bool``.  The
    :class:`~protokit.sasl.Success` names :data:`ANONYMOUS_IDENTITY`."""

    name = "ANONYMOUS"

    def __init__(self, **options: Unpack[ServerOptions]) -> None:
        super().__init__(**options)
        self._asked = False

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(data=b"")
        return self._parse(initial)

    def _receive(self, response: bytes) -> Step:
        if self._asked:
            raise SASLError("ANONYMOUS: unexpected response")
        return self._parse(response)

    def _parse(self, message: bytes) -> Step:
        self._asked = True
        trace = utf8(message, "ANONYMOUS trace")
        if not _check_trace(trace):
            raise SASLError("ANONYMOUS: malformed trace")
        return AllowAnonymous(trace=trace)

    def _answer(self, request: Request, result: object) -> Step:
        if not isinstance(result, bool):
            raise LocalProtocolError("ANONYMOUS: answer AllowAnonymous with a bool")
        if not result:
            return Failure(reason="ANONYMOUS: not allowed")
        return Success(authcid=ANONYMOUS_IDENTITY)
