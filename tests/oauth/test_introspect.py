"""IntrospectionValidator against the fake provider (and a scripted server):
client authentication, the cache bounded by the TTL and by exp, inactive
answers never cached; and the fake provider's Dovecot-compatible forms."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from protokit.oauth import (
    HTTPRequest,
    HTTPTransport,
    Introspection,
    IntrospectionValidator,
    OAuthError,
    OAuthProvider,
)
from protokit.wire import Secret
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Provider,
    oauth_provider,
)
from tests.oauth.servers import fixed, raw_server


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def config(url: str, secret: str = DEFAULT_CLIENT_SECRET) -> OAuthProvider:
    return OAuthProvider(
        token_url=url,
        introspect_url=url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=Secret(secret),
    )


def make(provider: Provider, clock: Clock, ttl: float = 30.0) -> IntrospectionValidator:
    return IntrospectionValidator(
        config(provider.introspect_url),
        transport=HTTPTransport(timeout=5),
        cache_ttl=ttl,
        clock=clock,
    )


async def test_active_answer() -> None:
    with oauth_provider(user="alice@example.com") as provider:
        grant = provider.issue()
        token = next(iter(grant.access_tokens))
        answer = await make(provider, Clock()).introspect(Secret(token))
        assert answer.active and answer.account == "alice@example.com"
        assert (answer.scope, answer.client_id) == ("mail", DEFAULT_CLIENT_ID)
        assert answer.expires_at is not None
        assert abs((answer.expires_at - datetime.now(UTC)).total_seconds() - 3600) < 5
        assert await make(provider, Clock()).introspect(Secret("at-unknown")) == Introspection(
            active=False
        )


async def test_the_endpoint_is_authenticated() -> None:
    with oauth_provider() as provider:
        validator = IntrospectionValidator(config(provider.introspect_url, "wrong"))
        with pytest.raises(OAuthError) as info:
            await validator.introspect(Secret("x"))
        assert str(info.value) == "invalid_client: client authentication failed (HTTP 401)"


async def test_cache_bounded_by_ttl_and_exp() -> None:
    clock = Clock()
    with oauth_provider(expires_in=100) as provider:
        grant = provider.issue()
        token = Secret(next(iter(grant.access_tokens)))
        validator = make(provider, clock, ttl=30)
        await validator.introspect(token)
        await validator.introspect(token)
        assert provider.introspections == 1
        clock.now += timedelta(seconds=31)  # past the TTL: asked again
        await validator.introspect(token)
        assert provider.introspections == 2
        provider.revoke(grant)  # within the TTL the cached answer stands...
        assert (await validator.introspect(token)).active
        clock.now += timedelta(seconds=31)  # ...and not after it
        assert not (await validator.introspect(token)).active
        assert not (await validator.introspect(token)).active
        assert provider.introspections == 4  # inactive answers are not cached


async def test_never_cached_past_exp() -> None:
    clock = Clock()
    with oauth_provider(expires_in=10) as provider:
        token = Secret(next(iter(provider.issue().access_tokens)))
        validator = make(provider, clock, ttl=3600)
        await validator.introspect(token)
        clock.now += timedelta(seconds=11)
        assert not (await validator.introspect(token)).active
        # The cache entry ended at exp: asked again, and "active" past exp is refused.
        assert provider.introspections == 2
        assert repr(validator) == f"<IntrospectionValidator {provider.introspect_url} cached=0>"


async def test_active_but_past_exp_is_refused() -> None:
    body = b'{"active": true, "username": "alice", "exp": 1000}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    async with raw_server(fixed(answer)) as server:
        validator = IntrospectionValidator(config(f"http://127.0.0.1:{server.port}/i"))
        assert await validator.introspect(Secret("t")) == Introspection(active=False)


async def test_cache_size_is_bounded() -> None:
    with oauth_provider() as provider:
        grant = provider.issue()
        validator = IntrospectionValidator(
            config(provider.introspect_url), cache_size=2, cache_ttl=60
        )
        tokens = [Secret(provider.access_token(grant)) for _ in range(3)]
        for token in tokens:
            await validator.introspect(token)
        await validator.introspect(tokens[0])  # evicted: asked again
        await validator.introspect(tokens[2])  # still cached
        assert provider.introspections == 4


def test_needs_an_introspection_endpoint() -> None:
    with pytest.raises(ValueError, match="no introspection endpoint"):
        IntrospectionValidator(OAuthProvider(token_url="https://x/", client_id="c"))


# -- the fake provider's Dovecot forms (introspection_mode = auth | get | post) ---------


async def test_dovecot_introspection_forms() -> None:
    with oauth_provider(user="alice") as provider:
        token = next(iter(provider.issue().access_tokens))
        transport = HTTPTransport(timeout=5)
        url = provider.dovecot_introspect_url
        quoted = urllib.parse.quote(token)
        requests = [
            HTTPRequest("GET", url, (("Authorization", f"Bearer {token}"),)),  # auth
            HTTPRequest("GET", f"{url}?token={quoted}", ()),  # get, query
            HTTPRequest("GET", f"{url}/{quoted}", ()),  # get, appended to the path
            HTTPRequest(
                "POST",
                url,
                (("Content-Type", "application/x-www-form-urlencoded"),),
                f"token={quoted}".encode(),
            ),  # post
        ]
        for request in requests:
            response = await transport.send(request)
            assert response.status == 200
            assert response.header("content-type") == "application/json"
            answer = json.loads(response.body)
            assert (answer["active"], answer["username"], answer["email"], answer["scope"]) == (
                True,
                "alice",
                "alice@example.com",
                "mail",
            )
        response = await transport.send(HTTPRequest("GET", f"{url}?token=nope", ()))
        assert response.body == b'{"active": false}'
        assert provider.introspections == 5


async def test_for_endpoint_with_client_secret_post() -> None:
    with oauth_provider() as provider:
        token = Secret(next(iter(provider.issue().access_tokens)))
        validator = IntrospectionValidator.for_endpoint(
            provider.introspect_url,
            DEFAULT_CLIENT_ID,
            Secret(DEFAULT_CLIENT_SECRET),
            client_auth="client_secret_post",
            timeout=5,
        )
        assert (await validator.introspect(token)).active
        assert validator.transport.timeout == 5
        assert validator.provider.client_auth == "client_secret_post"
