"""XOAUTH2, as Google and Microsoft document it.

Initial response: ``user=<user> ^A auth=Bearer <token> ^A ^A``.  On a rejected
token the server sends a JSON error challenge; the client answers it with an
empty response and the server then fails the exchange.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar, Final, Unpack

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
from ._bearer import (
    check_client_value,
    decode_error,
    encode_error,
    parse_bearer,
    token_result,
)
from ._common import TokenSource, encode_local, resolve_token, utf8
from ._requests import ValidateToken

__all__ = ["XOAUTH2_DEFAULT_ERROR", "XOAuth2Client", "XOAuth2Server"]

#: The error a server sends when the caller gives none (Google's form).
XOAUTH2_DEFAULT_ERROR: Final[Mapping[str, object]] = {
    "status": "401",
    "schemes": "bearer",
    "scope": "https://mail.google.com/",
}

# key "=" value, values without control characters.
_PAIR: Final = re.compile(rb"(user|auth)=([^\x00-\x1f\x7f]*)")


class XOAuth2Client(ClientMechanism):
    """XOAUTH2 client.  ``token`` is a str, a ``Secret[str]`` or a callable
    returning either; a callable is called when the initial response is made.
    After a rejected token, :attr:`error` holds the server's JSON error."""

    name = "XOAUTH2"
    plaintext: ClassVar[bool] = True

    def __init__(self, user: str, token: TokenSource) -> None:
        check_client_value(user, "XOAUTH2: the user")
        self.user = user
        self._source = token
        self._message: bytes | None = None
        self._state = "start"
        #: The server's JSON error object, once it rejected the token.
        self.error: dict[str, object] | None = None
        #: The raw error challenge, once received.
        self.error_data: bytes | None = None

    def _build(self) -> bytes:
        if self._message is None:
            token = resolve_token(self._source)
            check_client_value(token.expose(), "XOAUTH2: the token")
            self._message = (
                b"user="
                + encode_local(self.user, "XOAUTH2 user")
                + b"\x01auth=Bearer "
                + encode_local(token.expose(), "XOAUTH2 token")
                + b"\x01\x01"
            )
        return self._message

    def initial_response(self) -> bytes:
        message = self._build()
        self._state = "sent"
        return message

    def respond(self, challenge: bytes) -> bytes:
        if not challenge and self._state in ("start", "sent"):
            # An empty first challenge asks for the initial response (the
            # protocol could not send it with the command).
            self._state = "answered"
            return self._build()
        if challenge and self._state in ("sent", "answered"):
            self._state = "error"
            self.error_data = challenge
            self.error = decode_error(challenge)
            return b""
        raise SASLError("XOAUTH2: unexpected challenge")

    def finish(self, data: bytes | None = None) -> None:
        if self._state == "error":
            raise SASLError("XOAUTH2: success reported after the token was rejected")
        super().finish(data)


class XOAuth2Server(ServerMechanism):
    """XOAUTH2 server: parses strictly, asks :class:`ValidateToken`.

    On an invalid token it sends the JSON error challenge (``error``, or the
    :class:`TokenResult`'s, or :data:`XOAUTH2_DEFAULT_ERROR`) and fails after
    the client's reply, which must be empty.
    """

    name = "XOAUTH2"
    plaintext: ClassVar[bool] = True

    def __init__(
        self,
        *,
        error: Mapping[str, object] | bytes | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
        self._error = encode_error(XOAUTH2_DEFAULT_ERROR if error is None else error)
        self._user: str | None = None
        self._state = "start"

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            self._state = "waiting"
            return Challenge(data=b"")
        return self._parse(initial)

    def _receive(self, response: bytes) -> Step:
        if self._state == "waiting":
            return self._parse(response)
        if self._state == "error":
            if response:
                raise SASLError("XOAUTH2: expected an empty response after the error challenge")
            return Failure(reason="XOAUTH2: invalid token")
        raise SASLError("XOAUTH2: unexpected response")

    def _parse(self, message: bytes) -> Step:
        self._state = "parsed"
        if not message.endswith(b"\x01\x01"):
            raise SASLError("XOAUTH2: the message must end with two 0x01")
        fields: dict[bytes, bytes] = {}
        for part in message[:-2].split(b"\x01"):
            m = _PAIR.fullmatch(part)
            if m is None:
                raise SASLError("XOAUTH2: malformed key/value pair")
            if m.group(1) in fields:
                raise SASLError("XOAUTH2: repeated key")
            fields[m.group(1)] = m.group(2)
        if b"user" not in fields or b"auth" not in fields:
            raise SASLError("XOAUTH2: user and auth are required")
        if not fields[b"user"]:
            raise SASLError("XOAUTH2: empty user")
        user = utf8(fields[b"user"], "XOAUTH2 user")
        token = parse_bearer(fields[b"auth"], "XOAUTH2")
        if token is None:
            raise SASLError("XOAUTH2: the auth value must be a bearer token")
        self._user = user
        return ValidateToken(user=user, token=token)

    def _answer(self, request: Request, result: object) -> Step:
        outcome = token_result(result, "XOAUTH2")
        assert self._user is not None
        if outcome.valid:
            identity = outcome.identity or self._user
            return Success(
                authcid=identity, authzid=None if identity == self._user else self._user
            )
        self._state = "error"
        body = self._error if outcome.error is None else encode_error(outcome.error)
        return Challenge(data=body)
