"""Transport errors, and the one place where anyio's and ssl's exceptions
become protokit's (as httpcore's ``map_exceptions`` does)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = [
    "ConnectError",
    "ConnectionClosed",
    "OperationTimeout",
    "ReadError",
    "TLSError",
    "TransportError",
    "WriteError",
    "map_exceptions",
]


class TransportError(Exception):
    """The connection failed below the protocol: socket, TLS, or timeout."""


class ConnectError(TransportError):
    """Could not connect (refused, unreachable, name not resolved)."""


class ReadError(TransportError):
    """Reading from the connection failed."""


class WriteError(TransportError):
    """Writing to the connection failed."""


class ConnectionClosed(ReadError):
    """The peer closed the connection where the protocol did not allow it."""


class OperationTimeout(TransportError, TimeoutError):
    """An operation did not finish within its timeout."""


class TLSError(TransportError):
    """The TLS handshake or the TLS layer failed.  The message names the
    likely cause, e.g. a STARTTLS client pointed at an implicit-TLS port."""


_KIND = {"connect": ConnectError, "read": ReadError, "write": WriteError}


@contextmanager
def map_exceptions(kind: str, what: str = "") -> Iterator[None]:
    """Turn anyio, ssl and OS errors raised inside into :class:`TransportError`.

    ``kind`` is "connect", "read" or "write"; ``what`` says what was under way.
    Protocol errors and cancellation pass through untouched.
    """
    cls = _KIND[kind]
    suffix = f" ({what})" if what else ""
    try:
        yield
    except TransportError:
        raise
    except anyio.EndOfStream:
        raise ConnectionClosed(f"the peer closed the connection{suffix}") from None
    except ssl.SSLError as exc:
        raise TLSError(f"TLS failed{suffix}: {exc.reason or exc}") from exc
    except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise cls(f"the connection is broken{suffix}") from exc
    except OSError as exc:
        # includes ConnectionRefusedError, ConnectionResetError, socket.gaierror
        raise cls(f"{kind} failed{suffix}: {exc.strerror or exc}") from exc
