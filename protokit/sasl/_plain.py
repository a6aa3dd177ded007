"""PLAIN (RFC 4616): one message, ``[authzid] NUL authcid NUL password``."""

from __future__ import annotations

from typing import ClassVar, Unpack

from ..errors import LocalProtocolError
from ..wire._secret import Secret
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
from ._common import encode_local, secret, utf8
from ._requests import VerifyPassword

__all__ = ["PlainClient", "PlainServer"]


class PlainClient(ClientMechanism):
    """PLAIN client: sends the identity and password in the clear (TLS only)."""

    name = "PLAIN"
    plaintext: ClassVar[bool] = True

    def __init__(
        self, authcid: str, password: str | Secret[str], authzid: str | None = None
    ) -> None:
        self._password = secret(password)
        # RFC 4616 section 2: authcid and password are 1*SAFE (no NUL),
        # authzid is optional but never empty when present.
        if not authcid or "\x00" in authcid:
            raise LocalProtocolError("PLAIN: the identity must be non-empty and contain no NUL")
        if not len(self._password) or "\x00" in self._password.expose():
            raise LocalProtocolError("PLAIN: the password must be non-empty and contain no NUL")
        if authzid is not None and (not authzid or "\x00" in authzid):
            raise LocalProtocolError("PLAIN: the authzid must be non-empty and contain no NUL")
        self.authcid = authcid
        self.authzid = authzid
        self._answered = False

    def _message(self) -> bytes:
        return b"\x00".join(
            (
                encode_local(self.authzid or "", "PLAIN authzid"),
                encode_local(self.authcid, "PLAIN identity"),
                encode_local(self._password.expose(), "PLAIN password"),
            )
        )

    def initial_response(self) -> bytes:
        return self._message()

    def respond(self, challenge: bytes) -> bytes:
        # Only the empty challenge of a server that got no initial response.
        if challenge or self._answered:
            raise SASLError("PLAIN: unexpected challenge")
        self._answered = True
        return self._message()


class PlainServer(ServerMechanism):
    """PLAIN server: parses strictly, then asks :class:`VerifyPassword`.

    Answer ``True`` only when the password verifies *and* ``authcid`` may act
    as ``authzid``; the :class:`~protokit.sasl.Success` carries both.
    """

    name = "PLAIN"
    plaintext: ClassVar[bool] = True

    def __init__(self, **options: Unpack[ServerOptions]) -> None:
        super().__init__(**options)
        self._ids: tuple[str, str | None] | None = None

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(data=b"")
        return self._parse(initial)

    def _receive(self, response: bytes) -> Step:
        if self._ids is not None:
            raise SASLError("PLAIN: unexpected response")
        return self._parse(response)

    def _parse(self, message: bytes) -> Step:
        # message = [authzid] UTF8NUL authcid UTF8NUL passwd   (RFC 4616 section 2)
        if message.count(b"\x00") != 2:
            raise SASLError("PLAIN: the message must contain exactly two NULs")
        raw_authzid, raw_authcid, raw_password = message.split(b"\x00")
        if not raw_authcid:
            raise SASLError("PLAIN: empty identity")
        if not raw_password:
            raise SASLError("PLAIN: empty password")
        authzid = utf8(raw_authzid, "PLAIN authzid") or None
        authcid = utf8(raw_authcid, "PLAIN identity")
        password = Secret(utf8(raw_password, "PLAIN password"))
        self._ids = (authcid, authzid)
        return VerifyPassword(authcid=authcid, authzid=authzid, password=password)

    def _answer(self, request: Request, result: object) -> Step:
        if not isinstance(result, bool):
            raise LocalProtocolError("PLAIN: answer VerifyPassword with a bool")
        assert self._ids is not None
        authcid, authzid = self._ids
        if not result:
            return Failure(reason="PLAIN: authentication failed")
        return Success(authcid=authcid, authzid=authzid)
