"""One pump for every protocol (STYLE.md item 11): read, ``receive_data``,
pull events until NEED_DATA, write ``data_to_send``.

The pump owns the byte stream.  Reads happen only inside :meth:`Pump.next_event`,
under a lock, so no second task ever reads; writes are shielded from
cancellation so a command is never left half on the wire (a cancelled write
marks the pump broken instead); every wait has a timeout.
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from .._sentinel import NEED_DATA, NeedData
from ._errors import (
    ConnectionClosed,
    OperationTimeout,
    TLSError,
    TransportError,
    map_exceptions,
)

__all__ = ["Pump", "SansIOConnection", "Timeouts"]

E_co = TypeVar("E_co", covariant=True)
E = TypeVar("E")


class SansIOConnection(Protocol[E_co]):
    """What every protokit connection offers (DESIGN.md's contract)."""

    def receive_data(self, data: bytes) -> None: ...

    def next_event(self) -> E_co | NeedData: ...

    def data_to_send(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-operation timeouts in seconds (``math.inf``: none)."""

    connect: float = 30.0
    #: waiting for the next bytes from the peer while an answer is due
    read: float = 60.0
    #: writing a buffer to the peer
    write: float = 60.0
    #: the TLS handshake
    tls: float = 30.0


class Pump(Generic[E]):
    """Drives a sans-IO connection over an anyio byte stream."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        conn: SansIOConnection[E],
        *,
        timeouts: Timeouts | None = None,
        read_size: int = 65536,
    ) -> None:
        self.stream = stream
        self.conn = conn
        self.timeouts = timeouts or Timeouts()
        self.read_size = read_size
        self._read_lock = anyio.Lock(fast_acquire=True)
        self._write_lock = anyio.Lock(fast_acquire=True)
        self._broken: str | None = None
        self._eof = False

    @property
    def tls_active(self) -> bool:
        return isinstance(self.stream, TLSStream)

    def extra(self, attribute: Any, default: Any = None) -> Any:
        return self.stream.extra(attribute, default)

    def _check(self) -> None:
        if self._broken is not None:
            raise TransportError(f"the connection is unusable: {self._broken}")

    async def flush(self) -> None:
        """Write whatever the connection has queued, whole or not at all.

        The write is shielded from cancellation: a command is either on the
        wire entirely or the connection is closed.
        """
        self._check()
        async with self._write_lock:
            data = self.conn.data_to_send()
            if not data:
                return
            with anyio.CancelScope(shield=True):
                try:
                    with anyio.fail_after(_finite(self.timeouts.write)):
                        with map_exceptions("write"):
                            await self.stream.send(data)
                except TimeoutError:
                    self._broken = "a write timed out"
                    await self._abort()
                    raise OperationTimeout("writing to the peer timed out") from None
                except TransportError as exc:
                    self._broken = str(exc)
                    raise

    async def next_event(self, timeout: float | None = None) -> E:
        """Flush, then return the next event, reading as needed."""
        self._check()
        async with self._read_lock:
            while True:
                event = self.conn.next_event()
                if event is not NEED_DATA:
                    return event
                await self.flush()
                if self._eof:
                    raise ConnectionClosed("the peer closed the connection")
                await self._read(self.timeouts.read if timeout is None else timeout)

    async def _read(self, timeout: float) -> None:
        try:
            with anyio.fail_after(_finite(timeout)):
                with map_exceptions("read"):
                    try:
                        data = await self.stream.receive(self.read_size)
                    except anyio.EndOfStream:
                        data = b""
        except TimeoutError:
            raise OperationTimeout(f"no data from the peer within {timeout:g} s") from None
        except anyio.get_cancelled_exc_class():
            # A read interrupted mid-reply leaves the protocol state unknown.
            self._broken = "a read was cancelled"
            raise
        if not data:
            self._eof = True
        self.conn.receive_data(data)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        *,
        server_hostname: str | None = None,
        server_side: bool = False,
        pending: bytes = b"",
    ) -> None:
        """Wrap the stream in TLS in place (STARTTLS / STLS).

        The caller has checked with its connection that nothing was buffered
        past the command or reply that started TLS (``pending`` must be empty:
        bytes received in plaintext are never read after the upgrade).  Holds
        the read lock, so no other task reads during the switch.
        """
        self._check()
        if pending:
            raise TLSError("plaintext data followed the TLS upgrade: refusing it")
        async with self._read_lock, self._write_lock:
            try:
                with anyio.fail_after(_finite(self.timeouts.tls)):
                    with map_exceptions("read", "TLS handshake"):
                        self.stream = await TLSStream.wrap(
                            self.stream,
                            server_side=server_side,
                            hostname=server_hostname,
                            ssl_context=ssl_context,
                            standard_compatible=False,
                        )
            except TimeoutError:
                self._broken = "the TLS handshake timed out"
                raise OperationTimeout("the TLS handshake timed out") from None
            except TransportError as exc:
                self._broken = str(exc)
                raise

    def peer_certificate_der(self) -> bytes | None:
        """The peer's certificate (DER) once TLS is up, else ``None``."""
        der: bytes | None = self.stream.extra(TLSAttribute.peer_certificate_binary, None)
        return der

    async def aclose(self) -> None:
        """Close the stream (a TLS close_notify is attempted, briefly)."""
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(2):
                try:
                    await self.stream.aclose()
                except (OSError, anyio.BrokenResourceError, ssl.SSLError):
                    pass
            await self._abort()

    async def _abort(self) -> None:
        try:
            await anyio.aclose_forcefully(self.stream)
        except (OSError, anyio.BrokenResourceError, ssl.SSLError):
            pass


def _finite(t: float) -> float | None:
    return None if math.isinf(t) else t
