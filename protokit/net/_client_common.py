"""What the SMTP, POP3 and IMAP clients share: the channel binding of the
TLS peer, the SASL client mechanism for a chosen name, and the plumbing of
their ``connect_*`` functions (the stream, the greeting timeout, closing the
client when a step after the greeting fails)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, TypeVar

import anyio.abc

from ..sasl import (
    ClientMechanism,
    CramMD5Client,
    LoginClient,
    OAuthBearerClient,
    PlainClient,
    ScramClient,
    TokenSource,
    XOAuth2Client,
    tls_server_end_point,
)
from ..sasl._channel_binding import ChannelBindingError
from ..wire._secret import Secret
from ._errors import OperationTimeout
from ._pump import Pump, Timeouts
from ._tls import TLSMode, client_ssl_context, greeting_timeout, open_stream

__all__ = ["ChannelBinding", "ClosedOnError", "Dialled", "dial", "sasl_client"]

C = TypeVar("C")
E = TypeVar("E")


class ChannelBinding(Generic[E]):
    """The ``channel_binding`` property of a client over a :class:`Pump`."""

    _pump: Pump[E]

    @property
    def channel_binding(self) -> bytes | None:
        """tls-server-end-point data for SCRAM-PLUS, once TLS is up."""
        der = self._pump.peer_certificate_der()
        if der is None:
            return None
        try:
            return tls_server_end_point(der)
        except ChannelBindingError:
            return None


def sasl_client(
    name: str,
    user: str,
    *,
    password: str | Secret[str] | None,
    token: TokenSource | None,
    authzid: str | None,
    channel_binding: bytes | None,
) -> ClientMechanism:
    """The client mechanism ``name`` (what ``choose_mechanism`` picked, so the
    credential it needs is there)."""
    if name == "XOAUTH2":
        assert token is not None
        return XOAuth2Client(user, token)
    if name == "OAUTHBEARER":
        assert token is not None
        return OAuthBearerClient(authzid or user, token)
    assert password is not None
    if name.startswith("SCRAM-"):
        plus = name.endswith("-PLUS")
        return ScramClient(
            name.removeprefix("SCRAM-").removesuffix("-PLUS"),
            user,
            password,
            plus=plus,
            channel_binding=channel_binding if plus else None,
            authzid=authzid,
        )
    if name == "CRAM-MD5":
        return CramMD5Client(user, password)
    if name == "PLAIN":
        return PlainClient(user, password, authzid)
    return LoginClient(user, password)


@dataclass(frozen=True)
class Dialled:
    """A stream a ``connect_*`` function opened, and what it opened it with."""

    stream: anyio.abc.ByteStream
    host: str
    port: int
    tls: TLSMode
    #: The name the certificate is checked against.
    hostname: str
    #: The context for implicit TLS or STARTTLS (``None`` in PLAIN mode
    #: unless the caller gave one).
    ssl_context: ssl.SSLContext | None
    timeouts: Timeouts

    async def greeted(self, wrapping: Awaitable[C]) -> C:
        """The client ``wrapping`` (a ``wrap_*_stream`` call on :attr:`stream`)
        makes; its read timeout is reported as the greeting's."""
        try:
            return await wrapping
        except OperationTimeout:
            raise greeting_timeout(self.host, self.port, self.timeouts.read, self.tls) from None


async def dial(
    host: str,
    port: int,
    *,
    tls: TLSMode,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeouts: Timeouts | None,
) -> Dialled:
    """Open the stream (TLS at once in IMPLICIT mode), with a default client
    context unless PLAIN."""
    t = timeouts or Timeouts()
    hostname = server_hostname or host
    ctx = ssl_context
    if tls is not TLSMode.PLAIN and ctx is None:
        ctx = client_ssl_context()
    stream = await open_stream(
        host, port, tls=tls, ssl_context=ctx, server_hostname=hostname, timeouts=t
    )
    return Dialled(stream, host, port, tls, hostname, ctx, t)


class _Closable(Protocol):
    async def aclose(self) -> None: ...


class ClosedOnError:
    """``async with ClosedOnError(client):`` closes ``client`` when the block
    raises (anything, cancellation included), then lets the exception go on."""

    def __init__(self, client: _Closable) -> None:
        self._client = client

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            await self._client.aclose()
