"""TLS for the bindings: the modes, verified-by-default contexts, opening a
client stream in a given mode with errors that name the likely mistake."""

from __future__ import annotations

import enum
import ssl

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from ._errors import OperationTimeout, TLSError, map_exceptions
from ._pump import Timeouts

__all__ = [
    "TLSMode",
    "client_ssl_context",
    "greeting_timeout",
    "open_stream",
    "server_ssl_context",
]


class TLSMode(enum.Enum):
    """How a connection gets TLS."""

    #: No TLS at all (loopback development, or a trusted network).
    PLAIN = "plain"
    #: Plaintext first, then STARTTLS/STLS (ports 25/587, 143, 110).
    STARTTLS = "starttls"
    #: TLS from the first byte (ports 465, 993, 995).
    IMPLICIT = "implicit"


def client_ssl_context(
    *, verify: bool = True, cafile: str | None = None, cadata: str | None = None
) -> ssl.SSLContext:
    """A client context: certificates and host names verified, TLS 1.2 or later.

    ``verify=False`` turns verification off, loudly: for development servers
    with self-signed certificates only.
    """
    ctx = ssl.create_default_context(cafile=cafile, cadata=cadata)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_ssl_context(
    certfile: str, keyfile: str | None = None, *, client_cafile: str | None = None
) -> ssl.SSLContext:
    """A server context from a certificate chain and key (PEM files).

    With ``client_cafile`` clients may present certificates (for SASL
    EXTERNAL); they are verified when presented, not required.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    if client_cafile is not None:
        ctx.load_verify_locations(client_cafile)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


async def open_stream(
    host: str,
    port: int,
    *,
    tls: TLSMode,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    timeouts: Timeouts | None = None,
) -> anyio.abc.ByteStream:
    """Connect over TCP, and for :attr:`TLSMode.IMPLICIT` complete the TLS
    handshake, within the timeouts.  Errors name the host, port and mode."""
    t = timeouts or Timeouts()
    where = f"{host}:{port}"
    try:
        with anyio.fail_after(t.connect), map_exceptions("connect", f"connecting to {where}"):
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
    except TimeoutError:
        raise OperationTimeout(f"connecting to {where} timed out after {t.connect:g} s") from None
    if tls is not TLSMode.IMPLICIT:
        return stream
    ctx = ssl_context or client_ssl_context()
    try:
        with anyio.fail_after(t.tls):
            try:
                return await TLSStream.wrap(
                    stream,
                    hostname=server_hostname or host,
                    ssl_context=ctx,
                    standard_compatible=False,
                )
            except ssl.SSLError as exc:
                if exc.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
                    raise TLSError(
                        f"{where} answered in plaintext, not TLS: it looks like a plain or "
                        f"STARTTLS port; connect with tls=TLSMode.STARTTLS"
                    ) from exc
                raise TLSError(f"TLS with {where} failed: {exc.reason or exc}") from exc
            except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
                raise TLSError(f"{where} closed the connection during the TLS handshake") from exc
    except TimeoutError:
        await anyio.aclose_forcefully(stream)
        raise OperationTimeout(f"the TLS handshake with {where} timed out") from None
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise


def greeting_timeout(host: str, port: int, seconds: float, mode: TLSMode) -> OperationTimeout:
    """The error for a server that sent no greeting: on a plaintext connection
    the usual cause is an implicit-TLS port waiting for our TLS hello."""
    hint = ""
    if mode is not TLSMode.IMPLICIT:
        hint = (
            ": if this is an implicit-TLS port (465, 993, 995), connect with tls=TLSMode.IMPLICIT"
        )
    return OperationTimeout(f"{host}:{port} sent no greeting within {seconds:g} s{hint}")
