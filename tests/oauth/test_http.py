"""The h11 transport over loopback: the fake provider, raw scripted servers,
TLS with a test CA, a CONNECT proxy; on asyncio and trio."""

from __future__ import annotations

import ssl

import anyio
import anyio.abc
import pytest
import trustme

from protokit.oauth import (
    HTTPRequest,
    OAuthProvider,
    TransientError,
    TransportFailure,
    parse_token_response,
    refresh_request,
)
from protokit.oauth._http import HTTPTransport, is_loopback
from protokit.wire import Secret
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Provider,
    oauth_provider,
)
from tests.oauth.servers import RawServer, connect_proxy, fixed, raw_server

OK_JSON = b'{"access_token": "at", "token_type": "Bearer", "expires_in": 60}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(OK_JSON),
    OK_JSON,
)


def config(provider: Provider) -> OAuthProvider:
    return OAuthProvider(
        token_url=provider.token_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=Secret(DEFAULT_CLIENT_SECRET),
    )


def get(url: str) -> HTTPRequest:
    return HTTPRequest("GET", url, ())


@pytest.mark.parametrize("chunked", [False, True])
async def test_refresh_against_the_fake_provider(chunked: bool) -> None:
    with oauth_provider(chunked=chunked) as provider:
        grant = provider.issue()
        assert grant.refresh_token is not None
        transport = HTTPTransport(timeout=10)
        response = await transport.send(
            refresh_request(config(provider), Secret(grant.refresh_token))
        )
        assert response.status == 200
        assert response.header("content-type") == "application/json"
        assert (response.header("transfer-encoding") == "chunked") is chunked
        answer = parse_token_response(response.status, response.headers, response.body)
        assert provider.is_active(answer.access_token.expose())
        assert provider.token_requests == {"refresh_token": 1}


async def test_provider_errors_are_returned_for_the_parser() -> None:
    with oauth_provider() as provider:
        response = await HTTPTransport(timeout=10).send(
            refresh_request(config(provider), Secret("rt-unknown"))
        )
        assert response.status == 400
        assert response.body == (
            b'{"error": "invalid_grant", "error_description": "the refresh token is invalid"}'
        )


async def test_exact_request_bytes() -> None:
    async with raw_server(fixed(OK)) as server:
        provider = OAuthProvider(
            token_url=f"http://127.0.0.1:{server.port}/oauth/token?x=1",
            client_id="c",
            client_secret=Secret("s"),
        )
        await HTTPTransport(timeout=10).send(refresh_request(provider, Secret("r")))
    head, body = server.requests[0]
    assert head == (
        b"POST /oauth/token?x=1 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"User-Agent: protokit-oauth\r\n"
        b"Connection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Accept: application/json\r\n"
        b"Authorization: Basic Yzpz\r\n"
        b"Content-Length: 40\r\n\r\n" % server.port
    )
    assert body == b"grant_type=refresh_token&refresh_token=r"


async def test_close_delimited_body() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + OK_JSON
    async with raw_server(fixed(answer)) as server:
        response = await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{server.port}/"))
    assert response.body == OK_JSON


def test_plain_http_only_to_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.5.0.1") and is_loopback("::1")
    assert is_loopback("localhost") and not is_loopback("example.com")
    assert not is_loopback("10.0.0.1")


async def test_plain_http_off_loopback_is_refused_before_connecting() -> None:
    with pytest.raises(TransportFailure) as info:
        await HTTPTransport().send(get("http://mail.example.com/token"))
    assert str(info.value) == "transport: plain http to mail.example.com refused: use https"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/", "transport: URL scheme 'ftp' is not http or https"),
        ("http://u:p@127.0.0.1/", "transport: URL must not carry credentials"),
        ("http:///x", "transport: URL has no host"),
    ],
)
async def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(TransportFailure) as info:
        await HTTPTransport().send(get(url))
    assert str(info.value) == message


async def test_redirect_is_not_followed() -> None:
    answer = (
        b"HTTP/1.1 302 Found\r\nLocation: https://evil.example/token\r\nContent-Length: 0\r\n\r\n"
    )
    async with raw_server(fixed(answer)) as server:
        with pytest.raises(TransportFailure) as info:
            await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{server.port}/"))
    assert str(info.value) == (
        "transport: HTTP 302 redirect to 'https://evil.example/token' from 127.0.0.1 not followed"
    )
    assert len(server.requests) == 1


async def test_declared_oversize_response() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 100
    async with raw_server(fixed(answer)) as server:
        with pytest.raises(TransportFailure) as info:
            await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{server.port}/"))
    assert str(info.value) == (
        "transport: the answer from 127.0.0.1 declares 2000000 bytes, over the limit of 1048576"
    )


async def test_chunked_oversize_response_stops_at_the_limit() -> None:
    async def endless(stream: anyio.abc.ByteStream, server: RawServer) -> None:
        await stream.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            await stream.send(b"400\r\n" + b"y" * 1024 + b"\r\n")

    async with raw_server(endless) as server:
        with pytest.raises(TransportFailure) as info:
            await HTTPTransport(timeout=10, max_response_size=10_000).send(
                get(f"http://127.0.0.1:{server.port}/")
            )
    assert str(info.value) == "transport: the answer from 127.0.0.1 exceeds 10000 bytes"


async def test_slow_dribbling_response_times_out() -> None:
    async def dribble(stream: anyio.abc.ByteStream, server: RawServer) -> None:
        for byte in OK:
            await stream.send(bytes([byte]))
            await anyio.sleep(0.05)

    async with raw_server(dribble) as server:
        with pytest.raises(TransientError) as info:
            await HTTPTransport(timeout=0.5).send(get(f"http://127.0.0.1:{server.port}/"))
    assert str(info.value) == "timeout: no complete answer from 127.0.0.1 in 0.5 s"


async def test_close_before_answer_is_transient() -> None:
    async with raw_server(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")) as server:
        with pytest.raises(TransientError) as info:
            await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{server.port}/"))
    assert str(info.value) == (
        "connection: 127.0.0.1 closed the connection in the middle of its answer"
    )


@pytest.mark.parametrize("partial", [b"", b"HTTP/1.1 200"])
async def test_close_without_any_answer_is_transient(partial: bytes) -> None:
    async with raw_server(fixed(partial)) as server:
        with pytest.raises(TransientError) as info:
            await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{server.port}/"))
    assert str(info.value) == "connection: 127.0.0.1 closed the connection before answering"


async def test_malformed_http_is_a_failure() -> None:
    async with raw_server(fixed(b"SMTP/1.0 220 hello\r\n\r\n")) as server:
        with pytest.raises(TransportFailure, match=r"malformed HTTP from 127\.0\.0\.1"):
            await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{server.port}/"))


async def test_connection_refused_is_transient() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(TransientError) as info:
        await HTTPTransport(timeout=10).send(get(f"http://127.0.0.1:{port}/"))
    assert info.value.error == "connect"
    assert str(info.value).startswith(f"connect: cannot connect to 127.0.0.1:{port}: ")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_https_verified_with_the_given_context(ca: trustme.CA) -> None:
    async with raw_server(fixed(OK), ssl_context=server_context(ca)) as server:
        transport = HTTPTransport(ssl_context=client_context(ca), timeout=10)
        response = await transport.send(get(f"https://localhost:{server.port}/t"))
    assert response.body == OK_JSON
    assert server.requests[0][0].startswith(
        b"GET /t HTTP/1.1\r\nHost: localhost:%d\r\n" % server.port
    )


async def test_https_with_a_cafile(ca: trustme.CA, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    async with raw_server(fixed(OK), ssl_context=server_context(ca)) as server:
        transport = HTTPTransport(cafile=str(cafile), timeout=10)
        response = await transport.send(get(f"https://127.0.0.1:{server.port}/"))
    assert response.status == 200


async def test_https_unknown_ca_is_refused(ca: trustme.CA) -> None:
    async with raw_server(fixed(OK), ssl_context=server_context(ca)) as server:
        with pytest.raises(TransportFailure) as info:
            await HTTPTransport(timeout=10).send(get(f"https://localhost:{server.port}/"))
    assert str(info.value) == "transport: TLS with localhost failed: CERTIFICATE_VERIFY_FAILED"
    assert server.requests == []


async def test_https_wrong_host_name_is_refused(ca: trustme.CA) -> None:
    other = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("other.example").configure_cert(context)
    del other
    async with raw_server(fixed(OK), ssl_context=context) as server:
        with pytest.raises(TransportFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await HTTPTransport(ssl_context=client_context(ca), timeout=10).send(
                get(f"https://localhost:{server.port}/")
            )


async def test_connect_proxy_plain() -> None:
    with oauth_provider() as provider:
        grant = provider.issue()
        assert grant.refresh_token is not None
        async with connect_proxy() as proxy:
            transport = HTTPTransport(proxy=f"http://127.0.0.1:{proxy.port}", timeout=10)
            response = await transport.send(
                refresh_request(config(provider), Secret(grant.refresh_token))
            )
        assert response.status == 200
        assert proxy.targets == [f"127.0.0.1:{provider.port}"]
        assert provider.token_requests == {"refresh_token": 1}


async def test_connect_proxy_https(ca: trustme.CA) -> None:
    async with (
        raw_server(fixed(OK), ssl_context=server_context(ca)) as server,
        connect_proxy() as proxy,
    ):
        transport = HTTPTransport(
            proxy=f"http://127.0.0.1:{proxy.port}", ssl_context=client_context(ca), timeout=10
        )
        response = await transport.send(get(f"https://localhost:{server.port}/x"))
    assert response.body == OK_JSON
    assert proxy.targets == [f"localhost:{server.port}"]


async def test_connect_proxy_refusal() -> None:
    async with connect_proxy(refuse=403) as proxy:
        transport = HTTPTransport(proxy=f"http://127.0.0.1:{proxy.port}", timeout=10)
        with pytest.raises(TransportFailure) as info:
            await transport.send(get("http://127.0.0.1:9/"))
    assert str(info.value) == ("transport: the proxy refused CONNECT to 127.0.0.1:9: HTTP 403")


def test_only_http_proxies() -> None:
    with pytest.raises(TransportFailure, match="only an http:// CONNECT proxy"):
        HTTPTransport(proxy="https://127.0.0.1:3128")
    assert repr(HTTPTransport(proxy="http://127.0.0.1:3128")) == (
        "<HTTPTransport proxy=127.0.0.1:3128 timeout=30.0>"
    )
