"""What the SMTP, POP3 and IMAP servers' sessions share: the frame of a
session's run (:class:`ServerSession`), the listener limits with the
protocol's overload reply, the last line said outside the protocol's flow,
the wait for the next command bounded by the session's bearer token, and
the answers to the SASL requests a backend gives."""

from __future__ import annotations

import abc
import logging
import math
import ssl
import time
from dataclasses import replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import anyio

from ..errors import ProtocolError
from ..sasl import Request, TokenResult, ValidateToken, VerifyPassword
from ..wire._secret import Secret
from ._errors import TransportError
from ._pump import Pump
from ._server import ServerLimits

__all__ = [
    "AuthBackend",
    "ServerSession",
    "finite",
    "idle_wait",
    "limits_with",
    "sasl_answer",
    "say_last",
]

E = TypeVar("E")


class AuthBackend(Protocol):
    """The authentication half of the POP3, IMAP and SMTP backends."""

    async def verify_password(self, username: str, password: Secret[str]) -> bool: ...

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult: ...

    async def sasl_request(self, mechanism: str, request: Request) -> object: ...

    async def authorize(self, authcid: str, authzid: str) -> bool: ...


def limits_with(limits: ServerLimits | None, overload_reply: bytes) -> ServerLimits:
    """``limits`` (default: the defaults), saying ``overload_reply`` to a
    client over ``max_connections`` unless they give their own."""
    lim = limits or ServerLimits()
    if not lim.overload_reply:
        lim = replace(lim, overload_reply=overload_reply)
    return lim


async def say_last(pump: Pump[Any], data: bytes, peer: str, log: logging.Logger) -> None:
    """Best effort, bounded: a last line outside the protocol's flow."""
    with anyio.move_on_after(1):
        try:
            await pump.stream.send(data)
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            log.debug("connection from %s: the last line could not be sent", peer)


def idle_wait(idle_timeout: float, token_expires: float | None) -> tuple[float, bool]:
    """How long to wait for the next command: ``idle_timeout``, or less when
    the bearer token (expiring at ``token_expires``, wall clock) runs out
    first; and whether it is the token's expiry that ends the wait."""
    if token_expires is not None:
        left = max(0.0, token_expires - time.time())
        if left <= idle_timeout:
            return left, True
    return idle_timeout, False


def finite(t: float) -> float | None:
    """``t`` for ``anyio.move_on_after``: ``None`` for no limit."""
    return None if math.isinf(t) else t


async def sasl_answer(
    backend: AuthBackend, mechanism: str, request: Request
) -> tuple[object, float | None]:
    """The backend's answer to a SASL request, and when the bearer token it
    validated expires (wall clock; ``None`` if not a valid token that
    expires): a password is checked, then the authorization identity; a
    token is validated; anything else goes to ``sasl_request``."""
    if isinstance(request, VerifyPassword):
        ok = await backend.verify_password(request.authcid, request.password)
        if ok and request.authzid is not None and request.authzid != request.authcid:
            ok = await backend.authorize(request.authcid, request.authzid)
        return ok, None
    if isinstance(request, ValidateToken):
        result = await backend.validate_token(request.user, request.token)
        expires = result.expires_at if result.valid else None
        return result, None if expires is None else expires.timestamp()
    return await backend.sasl_request(mechanism, request), None


class ServerSession(abc.ABC, Generic[E]):
    """The frame of one client's session: the greeting out, :meth:`_loop`;
    on shutdown (cancellation) :meth:`_shutting_down` says the last line; a
    protocol error's closing reply (queued by the connection) is sent; a
    broken transport goes to :meth:`_ended`; then :meth:`_release` and the
    stream closed, shielded."""

    __slots__ = ()

    #: The protocol's logger.
    log: ClassVar[logging.Logger]
    pump: Pump[E]
    peer: str

    @abc.abstractmethod
    async def _loop(self) -> None:
        """The protocol's session: read commands and answer them."""

    async def _shutting_down(self) -> None:
        """The last words on shutdown (shielded)."""

    async def _ended(self, exc: TransportError) -> None:
        """The transport broke (or timed out)."""
        self.log.info("connection from %s ended: %s", self.peer, exc)

    async def _release(self) -> None:
        """Let go of what the session holds (shielded)."""

    async def _say(self, data: bytes) -> None:
        """Best effort, bounded: a last line outside the protocol's flow."""
        await say_last(self.pump, data, self.peer, self.log)

    async def run(self) -> None:
        log = self.log
        log.info("connection from %s", self.peer)
        try:
            await self.pump.flush()
            await self._loop()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._shutting_down()
            raise
        except ProtocolError as exc:
            # The connection queued its closing reply; send it, then close.
            log.info("connection from %s closed: %s", self.peer, exc)
            try:
                await self.pump.flush()
            except TransportError:
                pass
        except TransportError as exc:
            await self._ended(exc)
        finally:
            with anyio.CancelScope(shield=True):
                await self._release()
                await self.pump.aclose()
