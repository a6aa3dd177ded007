"""The contract every SASL mechanism follows (RFC 4422), sans-IO.

A mechanism sees decoded bytes only: base64 and the per-protocol framing
("+ ", "334 ", "=", "*") belong to the protocol codecs and
:mod:`protokit.wire`.

Client side: :meth:`ClientMechanism.initial_response` once, then
:meth:`ClientMechanism.respond` for each challenge, then
:meth:`ClientMechanism.finish` when the protocol reports success (a mechanism
that must verify the server, as SCRAM does, raises there if it has not).

Server side: :meth:`ServerMechanism.start` with the initial response (``None``
when absent), then :meth:`ServerMechanism.receive` with each client response.
Each returns a *step*: a :class:`Challenge` to send, a :class:`Request` the
caller must answer with :meth:`ServerMechanism.answer` (a mechanism never does
I/O and never owns a user database), or the outcome, :class:`Success` or
:class:`Failure`.  A cancelled exchange ("*") is the protocol's to detect; it
calls :meth:`ServerMechanism.cancel`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypedDict

from ..errors import LocalProtocolError, RemoteProtocolError
from ..wire._secret import Secret

__all__ = [
    "MAX_STEPS",
    "AuthenticationFailed",
    "Challenge",
    "ClientMechanism",
    "Failure",
    "Request",
    "SASLError",
    "ServerMechanism",
    "ServerOptions",
    "Step",
    "Success",
]

#: Default bound on challenge/response round trips in one exchange (DESIGN.md).
MAX_STEPS = 10


class SASLError(RemoteProtocolError):
    """The peer's SASL message is malformed or out of order."""


class AuthenticationFailed(RemoteProtocolError):
    """Client side: the server's answer proves it is not who it claims (a bad
    SCRAM server signature, a missing one), or it rejected us."""


# -- steps a server mechanism returns ------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """Send ``data`` to the client as a challenge (the codec base64s it)."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """Base of the questions a server mechanism asks its caller.

    Each subclass (see the mechanism modules) says what
    :meth:`ServerMechanism.answer` expects back.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Success:
    """Authenticated.

    ``authcid`` is the authenticated identity, ``authzid`` the identity the
    client asked to act as (``None`` when it asked for none; the caller decides
    whether ``authcid`` may act as it), ``data`` the additional data with
    success, if the mechanism has any.
    """

    authcid: str
    authzid: str | None = None
    data: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Not authenticated.  ``reason`` is for logs; it never names a secret and
    never says whether the user exists."""

    reason: str


Step = Challenge | Request | Success | Failure


# -- the two sides -------------------------------------------------------------


class ClientMechanism(abc.ABC):
    """One client-side exchange.  Use a new instance for every attempt."""

    #: The IANA mechanism name, e.g. "SCRAM-SHA-256".  Set on every concrete
    #: class; the generic SCRAM classes set it per instance.
    name: str
    #: True where the mechanism reveals a reusable secret (PLAIN, LOGIN, and the
    #: bearer-token mechanisms XOAUTH2 and OAUTHBEARER, which RFC 7628 puts
    #: under TLS): send it only under TLS unless the user explicitly allows
    #: otherwise.
    plaintext: ClassVar[bool] = False
    #: True where the client speaks first (has an initial response).
    client_first: ClassVar[bool] = True

    @abc.abstractmethod
    def initial_response(self) -> bytes | None:
        """The initial response, or ``None`` where the mechanism has none."""

    @abc.abstractmethod
    def respond(self, challenge: bytes) -> bytes:
        """Answer one server challenge.

        Raises :class:`SASLError` for a malformed or unexpected challenge and
        :class:`AuthenticationFailed` when the challenge proves the server
        false (e.g. a SCRAM server signature that does not verify).
        """

    def finish(self, data: bytes | None = None) -> None:
        """The protocol reported success (with ``data`` where it carries any).

        Raises :class:`AuthenticationFailed` if the mechanism required proof
        from the server that it has not received and verified.
        """
        if data:
            raise SASLError(f"{self.name}: unexpected additional data with success")

    def __repr__(self) -> str:
        # Credentials live on subclasses as Secret; show only the name.
        return f"<{type(self).__name__} {self.name}>"


class ServerOptions(TypedDict, total=False):
    """Keyword options every server mechanism takes (see :class:`ServerMechanism`)."""

    max_steps: int
    success_data_as_challenge: bool


class ServerMechanism(abc.ABC):
    """One server-side exchange.  Use a new instance for every attempt.

    ``max_steps`` bounds the client responses one exchange may take.
    ``success_data_as_challenge``: for protocols that cannot carry additional
    data with success (SMTP, POP3, IMAP4rev1), a :class:`Success` with ``data``
    is returned as a :class:`Challenge` carrying that data; the client must
    answer it with an empty response, and :meth:`receive` then returns the
    :class:`Success` (without data).  Any other answer is a :class:`Failure`.
    """

    name: str
    plaintext: ClassVar[bool] = False
    client_first: ClassVar[bool] = True

    def __init__(
        self, *, max_steps: int = MAX_STEPS, success_data_as_challenge: bool = False
    ) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.max_steps = max_steps
        self.success_data_as_challenge = success_data_as_challenge
        self._steps = 0
        self._done = False
        self._started = False
        self._pending: Request | None = None
        self._final: Success | None = None

    @property
    def done(self) -> bool:
        return self._done

    def start(self, initial: bytes | None) -> Step:
        """Begin with the client's initial response (``None`` when absent)."""
        if self._started:
            raise LocalProtocolError(f"{self.name}: the exchange has already started")
        self._started = True
        return self._advance(lambda: self._start(initial))

    def receive(self, response: bytes) -> Step:
        """Take the client's response to the last challenge."""
        if not self._started:
            raise LocalProtocolError(f"{self.name}: call start() first")
        if self._pending is not None:
            raise LocalProtocolError(f"{self.name}: answer the pending request first")
        if self._done:
            raise LocalProtocolError(f"{self.name}: the exchange is over")
        self._steps += 1
        if self._steps > self.max_steps:
            self._done = True
            return Failure(reason=f"{self.name}: too many steps")
        final = self._final
        if final is not None:
            # The client's answer to the success data sent as a challenge.
            self._done = True
            if response:
                return Failure(reason=f"{self.name}: expected an empty response")
            return final
        return self._advance(lambda: self._receive(response))

    def answer(self, result: object) -> Step:
        """Answer the pending :class:`Request` (see its class for the type)."""
        request = self._pending
        if request is None:
            raise LocalProtocolError(f"{self.name}: no request is pending")
        self._pending = None
        return self._advance(lambda: self._answer(request, result))

    def cancel(self) -> Failure:
        """The client cancelled ("*")."""
        self._done = True
        self._pending = None
        return Failure(reason=f"{self.name}: cancelled by the client")

    def _advance(self, fn: Callable[[], Step]) -> Step:
        if self._done:
            raise LocalProtocolError(f"{self.name}: the exchange is over")
        try:
            step: Step = fn()
        except RemoteProtocolError as exc:
            # A malformed message ends the exchange as a failure; the message
            # names the rule broken, never the data.
            self._done = True
            return Failure(reason=exc.message)
        if isinstance(step, Request):
            self._pending = step
        elif (
            isinstance(step, Success) and step.data is not None and self.success_data_as_challenge
        ):
            self._final = Success(authcid=step.authcid, authzid=step.authzid)
            return Challenge(data=step.data)
        elif isinstance(step, (Success, Failure)):
            self._done = True
        return step

    @abc.abstractmethod
    def _start(self, initial: bytes | None) -> Step: ...

    @abc.abstractmethod
    def _receive(self, response: bytes) -> Step: ...

    def _answer(self, request: Request, result: object) -> Step:
        raise LocalProtocolError(f"{self.name}: asks no questions")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} done={self._done}>"


def _secret(value: str | Secret[str]) -> Secret[str]:
    return value if isinstance(value, Secret) else Secret(value)
