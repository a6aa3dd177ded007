"""XOAUTH2, as Google and Microsoft document it.

Initial response: ``user=<user> ^A auth=Bearer <token> ^A ^A``.  On a rejected
token the server sends a JSON error challenge; the client answers it with an
empty response and the server then fails the exchange.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Unpack

from ._base import (
    SASLError,
    ServerOptions,
    Step,
)
from ._bearer import (
    BearerClient,
    BearerServer,
    check_client_value,
    encode_error,
    parse_bearer,
)
from ._common import TokenSource, encode_local, utf8
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


class XOAuth2Client(BearerClient):
    """XOAUTH2 client.  ``token`` is a str, a ``Secret[str]`` or a callable
    returning either; a callable is called when the initial response is made.
    After a rejected token, :attr:`error` holds the server's JSON error."""

    name = "XOAUTH2"
    _error_answer = b""

    def __init__(self, user: str, token: TokenSource) -> None:
        check_client_value(user, "XOAUTH2: the user")
        super().__init__(token)
        self.user = user

    def _compose(self, token: str) -> bytes:
        return (
            b"user="
            + encode_local(self.user, "XOAUTH2 user")
            + b"\x01auth=Bearer "
            + encode_local(token, "XOAUTH2 token")
            + b"\x01\x01"
        )


class XOAuth2Server(BearerServer):
    """XOAUTH2 server: parses strictly, asks :class:`ValidateToken`.

    On an invalid token it sends the JSON error challenge (``error``, or the
    :class:`TokenResult`'s, or :data:`XOAUTH2_DEFAULT_ERROR`) and fails after
    the client's reply, which must be empty.
    """

    name = "XOAUTH2"
    _error_answer = b""
    _error_answer_text = "an empty response"

    def __init__(
        self,
        *,
        error: Mapping[str, object] | bytes | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(
            error=encode_error(XOAUTH2_DEFAULT_ERROR if error is None else error), **options
        )

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
