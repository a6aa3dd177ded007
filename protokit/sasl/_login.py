"""LOGIN (draft-murchison-sasl-login): the server prompts for the user name,
then the password.  Clients ignore the prompt text: servers send
"Username:" as well as "User Name"."""

from __future__ import annotations

from typing import ClassVar, Final, Literal, Unpack

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

__all__ = ["LoginClient", "LoginServer"]

_PROMPTS: Final = {
    "Username:": (b"Username:", b"Password:"),
    "User Name": (b"User Name", b"Password"),
}


def _check_value(value: bytes, what: str) -> str:
    if not value:
        raise SASLError(f"LOGIN: empty {what}")
    if b"\x00" in value or b"\r" in value or b"\n" in value:
        raise SASLError(f"LOGIN: {what} contains NUL, CR or LF")
    return utf8(value, f"LOGIN {what}")


class LoginClient(ClientMechanism):
    """LOGIN client: answers the first challenge with the user name and the
    second with the password, whatever the prompts say."""

    name = "LOGIN"
    plaintext: ClassVar[bool] = True
    client_first: ClassVar[bool] = False

    def __init__(self, username: str, password: str | Secret[str]) -> None:
        self._password = secret(password)
        for value, what in ((username, "user name"), (self._password.expose(), "password")):
            if not value or any(c in value for c in "\x00\r\n"):
                raise LocalProtocolError(f"LOGIN: the {what} must be non-empty, without NUL/CR/LF")
        self.username = username
        self._answers = 0

    def initial_response(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        self._answers += 1
        if self._answers == 1:
            return encode_local(self.username, "LOGIN user name")
        if self._answers == 2:
            return encode_local(self._password.expose(), "LOGIN password")
        raise SASLError("LOGIN: unexpected third challenge")


class LoginServer(ServerMechanism):
    """LOGIN server.  ``prompt_style`` picks the prompts: "Username:" then
    "Password:" (the common form), or "User Name" then "Password" (the draft).
    A user name sent as an initial response is accepted (the draft allows it).
    Answer :class:`VerifyPassword` with ``bool``.
    """

    name = "LOGIN"
    plaintext: ClassVar[bool] = True
    client_first: ClassVar[bool] = False

    def __init__(
        self,
        prompt_style: Literal["Username:", "User Name"] = "Username:",
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
        if prompt_style not in _PROMPTS:
            raise ValueError("prompt_style is 'Username:' or 'User Name'")
        self._prompts = _PROMPTS[prompt_style]
        self._username: str | None = None
        self._asked = False

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(data=self._prompts[0])
        self._username = _check_value(initial, "user name")
        return Challenge(data=self._prompts[1])

    def _receive(self, response: bytes) -> Step:
        if self._asked:
            raise SASLError("LOGIN: unexpected response")
        if self._username is None:
            self._username = _check_value(response, "user name")
            return Challenge(data=self._prompts[1])
        password = Secret(_check_value(response, "password"))
        self._asked = True
        return VerifyPassword(authcid=self._username, authzid=None, password=password)

    def _answer(self, request: Request, result: object) -> Step:
        if not isinstance(result, bool):
            raise LocalProtocolError("LOGIN: answer VerifyPassword with a bool")
        assert self._username is not None
        if not result:
            return Failure(reason="LOGIN: authentication failed")
        return Success(authcid=self._username)
