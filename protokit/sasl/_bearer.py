"""What XOAUTH2 and OAUTHBEARER share: the bearer credential grammar, the JSON
error challenge, the caller's :class:`TokenResult`, and the client and server
exchanges around them (:class:`BearerClient`, :class:`BearerServer`)."""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Mapping
from typing import ClassVar, Final, Unpack

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
from ._common import TokenSource, resolve_token
from ._requests import TokenResult

__all__ = [
    "BearerClient",
    "BearerServer",
    "decode_error",
    "encode_error",
    "parse_bearer",
    "token_result",
]

# RFC 6750 section 2.1:
#   credentials = "Bearer" 1*SP b64token
#   b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
# The scheme is case-insensitive (RFC 7628 section 4).  The token is bounded
# by the protocol's AUTH line limit; the repetition here is bounded too.
_BEARER: Final = re.compile(rb"([Bb][Ee][Aa][Rr][Ee][Rr]) +([A-Za-z0-9\-._~+/]{1,65536}=*)")
_SCHEME: Final = re.compile(rb"[!-~]+")

#: The longest error challenge a client keeps.
MAX_ERROR: Final = 16384


def parse_bearer(value: bytes, what: str) -> Secret[str] | None:
    """The token of an ``auth`` value; ``None`` when it is empty or another
    scheme (the server answers with its error challenge, RFC 7628 section 4.3).
    A malformed Bearer credential raises :class:`SASLError`."""
    if not value:
        return None
    scheme = value.split(b" ", 1)[0]
    if not _SCHEME.fullmatch(scheme):
        raise SASLError(f"{what}: malformed auth value")
    if scheme.lower() != b"bearer":
        return None
    m = _BEARER.fullmatch(value)
    if m is None:
        raise SASLError(f"{what}: malformed bearer token")
    return Secret(m.group(2).decode("ascii"))


def encode_error(error: Mapping[str, object] | bytes) -> bytes:
    """The JSON body of an error challenge (``bytes`` are sent verbatim)."""
    if isinstance(error, bytes):
        return error
    try:
        return json.dumps(dict(error), separators=(",", ":"), ensure_ascii=True).encode("ascii")
    except (TypeError, ValueError):
        raise LocalProtocolError("the token error must be JSON-serialisable") from None


def decode_error(data: bytes) -> dict[str, object] | None:
    """Client side: the server's JSON error object, or ``None`` if it is not one."""
    if len(data) > MAX_ERROR:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def token_result(result: object, what: str) -> TokenResult:
    """Normalise the caller's answer to :class:`ValidateToken`."""
    if isinstance(result, bool):
        return TokenResult(valid=result)
    if not isinstance(result, TokenResult):
        raise LocalProtocolError(f"{what}: answer ValidateToken with a TokenResult or bool")
    return result


def check_client_value(value: str, what: str) -> None:
    """Refuse control characters in a value a client puts in a kv message."""
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise LocalProtocolError(f"{what} must be non-empty, without control characters")


class BearerClient(ClientMechanism):
    """The client exchange of a bearer mechanism: the message (built by
    :meth:`_compose` once, when first needed) as the initial response or as
    the answer to an empty first challenge; a non-empty challenge is the
    server's JSON error, kept in :attr:`error` / :attr:`error_data` and
    answered with :attr:`_error_answer`."""

    plaintext: ClassVar[bool] = True
    #: What the client answers the error challenge with.
    _error_answer: ClassVar[bytes]

    def __init__(self, token: TokenSource) -> None:
        self._source = token
        self._message: bytes | None = None
        self._state = "start"
        #: The server's JSON error object, once it rejected the token.
        self.error: dict[str, object] | None = None
        #: The raw error challenge, once received.
        self.error_data: bytes | None = None

    @abc.abstractmethod
    def _compose(self, token: str) -> bytes:
        """The message carrying ``token`` (already checked)."""

    def _build(self) -> bytes:
        if self._message is None:
            token = resolve_token(self._source)
            check_client_value(token.expose(), f"{self.name}: the token")
            self._message = self._compose(token.expose())
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
            return self._error_answer
        raise SASLError(f"{self.name}: unexpected challenge")

    def finish(self, data: bytes | None = None) -> None:
        if self._state == "error":
            raise SASLError(f"{self.name}: success reported after the token was rejected")
        super().finish(data)


class BearerServer(ServerMechanism):
    """The server exchange of a bearer mechanism: :meth:`_parse` the message
    (asked for with an empty challenge when there was no initial response);
    on a rejected token the JSON error challenge (``self._error`` or the
    :class:`TokenResult`'s), then the client's :attr:`_error_answer` and
    failure."""

    plaintext: ClassVar[bool] = True
    #: The only reply accepted after the error challenge, and how it is named.
    _error_answer: ClassVar[bytes]
    _error_answer_text: ClassVar[str]

    def __init__(self, *, error: bytes, **options: Unpack[ServerOptions]) -> None:
        super().__init__(**options)
        self._error = error
        self._user: str | None = None
        self._state = "start"

    @abc.abstractmethod
    def _parse(self, message: bytes) -> Step:
        """The step for the client's message (the mechanism's format)."""

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            self._state = "waiting"
            return Challenge(data=b"")
        return self._parse(initial)

    def _receive(self, response: bytes) -> Step:
        if self._state == "waiting":
            return self._parse(response)
        if self._state == "error":
            if response != self._error_answer:
                raise SASLError(
                    f"{self.name}: expected {self._error_answer_text} after the error challenge"
                )
            return Failure(reason=f"{self.name}: invalid token")
        raise SASLError(f"{self.name}: unexpected response")

    def _answer(self, request: Request, result: object) -> Step:
        outcome = token_result(result, self.name)
        if outcome.valid:
            identity = outcome.identity or self._user
            if not identity:
                return Failure(reason=f"{self.name}: the token names no identity")
            return Success(
                authcid=identity, authzid=None if identity == self._user else self._user
            )
        self._state = "error"
        body = self._error if outcome.error is None else encode_error(outcome.error)
        return Challenge(data=body)
