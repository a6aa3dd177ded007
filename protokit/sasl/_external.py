"""EXTERNAL (RFC 4422 appendix A): the lower layer (a verified TLS client
certificate) authenticates; the message is the optional authzid."""

from __future__ import annotations

from typing import Unpack

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
from ._requests import VerifyExternal

__all__ = ["ExternalClient", "ExternalServer"]


class ExternalClient(ClientMechanism):
    """EXTERNAL client: sends ``authzid`` (empty: act as the certificate's identity)."""

    name = "EXTERNAL"

    def __init__(self, authzid: str | None = None) -> None:
        if authzid is not None and (not authzid or "\x00" in authzid):
            raise LocalProtocolError("EXTERNAL: the authzid must be non-empty, without NUL")
        self.authzid = authzid
        self._answered = False

    def initial_response(self) -> bytes:
        return encode_local(self.authzid or "", "EXTERNAL authzid")

    def respond(self, challenge: bytes) -> bytes:
        if challenge or self._answered:
            raise SASLError("EXTERNAL: unexpected challenge")
        self._answered = True
        return self.initial_response()


class ExternalServer(ServerMechanism):
    """EXTERNAL server: asks :class:`VerifyExternal`; answer the identity the
    verified client certificate proves, or ``None`` (no certificate, or not
    allowed to act as the authzid).  Advertise EXTERNAL only when a client
    certificate was verified."""

    name = "EXTERNAL"

    def __init__(self, **options: Unpack[ServerOptions]) -> None:
        super().__init__(**options)
        self._authzid: str | None = None
        self._asked = False

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(data=b"")
        return self._parse(initial)

    def _receive(self, response: bytes) -> Step:
        if self._asked:
            raise SASLError("EXTERNAL: unexpected response")
        return self._parse(response)

    def _parse(self, message: bytes) -> Step:
        self._asked = True
        if b"\x00" in message:
            raise SASLError("EXTERNAL: NUL in the authzid")
        self._authzid = utf8(message, "EXTERNAL authzid") or None
        return VerifyExternal(authzid=self._authzid)

    def _answer(self, request: Request, result: object) -> Step:
        if result is not None and not isinstance(result, str):
            raise LocalProtocolError("EXTERNAL: answer VerifyExternal with str or None")
        if not result:
            return Failure(reason="EXTERNAL: not authenticated by the lower layer")
        return Success(authcid=result, authzid=self._authzid)
