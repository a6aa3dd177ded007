"""The HTTP transport of protokit.oauth: one HTTP/1.1 request per connection,
h11 over anyio streams.

TLS is verified by default; plain ``http`` is allowed only to loopback hosts;
the response is bounded in size and the whole exchange in time; redirects are
never followed; an optional HTTP CONNECT proxy carries the connection.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc
import h11
from anyio.streams.tls import TLSStream

from ._errors import TransientError, TransportFailure
from ._flows import HTTPRequest, HTTPResponse

__all__ = ["DEFAULT_MAX_RESPONSE", "DEFAULT_TIMEOUT", "HTTPTransport", "is_loopback"]

_log = logging.getLogger("protokit.oauth")

DEFAULT_MAX_RESPONSE = 1024 * 1024
DEFAULT_TIMEOUT = 30.0
_USER_AGENT = "protokit-oauth"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    target: str
    authority: str


def _split(url: str, *, what: str = "URL") -> _Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TransportFailure(f"{what} scheme {parts.scheme!r} is not http or https")
    if parts.username is not None or parts.password is not None:
        raise TransportFailure(f"{what} must not carry credentials")
    host = parts.hostname
    if not host:
        raise TransportFailure(f"{what} has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TransportFailure(f"{what} has a bad port") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    default = (parts.scheme, port) in (("http", 80), ("https", 443))
    shown = f"[{host}]" if ":" in host else host
    authority = shown if default else f"{shown}:{port}"
    return _Target(parts.scheme, host, port, target, authority)


class HTTPTransport:
    """Send an :class:`HTTPRequest`, get an :class:`HTTPResponse`.

    ``ssl_context`` (default: ``ssl.create_default_context(cafile=cafile)``)
    verifies ``https``; ``proxy="http://host:port"`` tunnels through an HTTP
    CONNECT proxy.  Failures worth retrying (refused or reset connections,
    timeouts) raise :class:`TransientError`; the others
    :class:`TransportFailure`.  HTTP error statuses are returned, for the
    flow parsers to read, except 3xx, which raise (no redirect is followed).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        cafile: str | None = None,
        proxy: str | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._ssl_context = ssl_context
        self._cafile = cafile
        self.proxy = _split(proxy, what="proxy URL") if proxy is not None else None
        if self.proxy is not None and self.proxy.scheme != "http":
            raise TransportFailure("only an http:// CONNECT proxy is supported")
        self.max_response_size = max_response_size
        self.timeout = timeout

    def __repr__(self) -> str:
        proxy = f"{self.proxy.host}:{self.proxy.port}" if self.proxy else None
        return f"<HTTPTransport proxy={proxy} timeout={self.timeout}>"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=self._cafile)
        return self._ssl_context

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """One request, one response, within ``timeout`` seconds in all."""
        target = _split(request.url)
        if target.scheme == "http" and not is_loopback(target.host):
            raise TransportFailure(f"plain http to {target.host} refused: use https")
        try:
            with anyio.fail_after(self.timeout):
                async with self._connect(target) as stream:
                    response = await self._exchange(stream, target, request)
        except TimeoutError:
            raise TransientError(
                "timeout", f"no complete answer from {target.host} in {self.timeout:g} s"
            ) from None
        if 300 <= response.status < 400:
            location = response.header("location")
            raise TransportFailure(
                f"HTTP {response.status} redirect to {location!r} from {target.host} not followed"
            )
        return response

    @asynccontextmanager
    async def _connect(self, target: _Target) -> AsyncIterator[anyio.abc.ByteStream]:
        hop = self.proxy or target
        try:
            tcp = await anyio.connect_tcp(hop.host, hop.port)
        except OSError as exc:
            raise TransientError(
                "connect", f"cannot connect to {hop.host}:{hop.port}: {exc.strerror or exc}"
            ) from None
        stream: anyio.abc.ByteStream = tcp
        try:
            if self.proxy is not None:
                await self._tunnel(tcp, target)
            if target.scheme == "https":
                try:
                    stream = await TLSStream.wrap(
                        tcp,
                        hostname=target.host,
                        ssl_context=self.ssl_context,
                        standard_compatible=False,
                    )
                except ssl.SSLError as exc:
                    raise TransportFailure(
                        f"TLS with {target.host} failed: {exc.reason or exc}"
                    ) from None
                except (anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                    raise TransientError(
                        "connection", f"{target.host} closed the connection during TLS"
                    ) from None
            yield stream
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def _tunnel(self, tcp: anyio.abc.ByteStream, target: _Target) -> None:
        """HTTP CONNECT (RFC 9110 section 9.3.6) to ``target`` through the proxy."""
        authority = (
            f"{target.host}:{target.port}"
            if ":" not in target.host
            else f"[{target.host}]:{target.port}"
        )
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=16 * 1024)
        data = conn.send(
            h11.Request(
                method="CONNECT",
                target=authority,
                headers=[("Host", authority), ("User-Agent", _USER_AGENT)],
            )
        )
        await self._write(tcp, data or b"")
        while True:
            event = await self._next_event(tcp, conn, "proxy")
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                break
        if not 200 <= event.status_code < 300:
            raise TransportFailure(
                f"the proxy refused CONNECT to {authority}: HTTP {event.status_code}"
            )
        trailing, closed = conn.trailing_data
        if trailing or closed:
            raise TransportFailure("the proxy sent data after its CONNECT answer")

    async def _exchange(
        self, stream: anyio.abc.ByteStream, target: _Target, request: HTTPRequest
    ) -> HTTPResponse:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)
        headers = [
            ("Host", target.authority),
            ("User-Agent", _USER_AGENT),
            ("Connection", "close"),
            *request.headers,
        ]
        if request.body or request.method in ("POST", "PUT"):
            headers.append(("Content-Length", str(len(request.body))))
        try:
            out = (
                conn.send(
                    h11.Request(method=request.method, target=target.target, headers=headers)
                )
                or b""
            )
            if request.body:
                out += conn.send(h11.Data(data=request.body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise TransportFailure(f"cannot send this request: {exc}") from None
        await self._write(stream, out)
        response: h11.Response | None = None
        body = bytearray()
        while True:
            event = await self._next_event(stream, conn, target.host)
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                response = event
                declared = dict(event.headers).get(b"content-length")
                if declared is not None and int(declared) > self.max_response_size:
                    raise TransportFailure(
                        f"the answer from {target.host} declares {int(declared)} bytes,"
                        f" over the limit of {self.max_response_size}"
                    )
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_response_size:
                    raise TransportFailure(
                        f"the answer from {target.host} exceeds {self.max_response_size} bytes"
                    )
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return HTTPResponse(
                    response.status_code,
                    tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers),
                    bytes(body),
                )

    async def _next_event(
        self, stream: anyio.abc.ByteStream, conn: h11.Connection, peer: str
    ) -> h11.Event:
        eof = False
        while True:
            state = conn.their_state
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if eof:
                    where = (
                        "before answering"
                        if state is h11.SEND_RESPONSE
                        else ("in the middle of its answer")
                    )
                    raise TransientError(
                        "connection", f"{peer} closed the connection {where}"
                    ) from None
                raise TransportFailure(f"malformed HTTP from {peer}: {exc}") from None
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                    data = b""
                eof = not data
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                raise TransientError(
                    "connection", f"{peer} closed the connection before answering"
                )
            assert isinstance(event, h11.Event)
            return event

    @staticmethod
    async def _write(stream: anyio.abc.ByteStream, data: bytes) -> None:
        try:
            await stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise TransientError("connection", f"write failed: {type(exc).__name__}") from None
