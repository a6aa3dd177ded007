"""Token introspection for resource servers (RFC 7662): ask the provider
whether a bearer token is active, with the server authenticated as a client,
and remember positive answers briefly (never past the token's ``exp``)."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..wire._secret import Secret
from ._flows import (
    ClientAuth,
    Introspection,
    OAuthProvider,
    introspection_request,
    parse_introspection,
)
from ._http import HTTPTransport

__all__ = ["IntrospectionValidator"]

_log = logging.getLogger("protokit.oauth")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IntrospectionValidator:
    """Check bearer tokens at ``provider.introspect_url``.

    ``introspect`` returns the provider's answer; an active answer is cached
    for at most ``cache_ttl`` seconds and never past its ``exp`` (so a revoked
    token stops working within ``cache_ttl``); inactive answers and failures
    are not cached.  A failure (provider down, malformed answer) raises
    :class:`OAuthError`: the caller refuses the token (fail closed).
    """

    def __init__(
        self,
        provider: OAuthProvider,
        *,
        transport: HTTPTransport | None = None,
        cache_ttl: float = 30.0,
        cache_size: int = 10_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if provider.introspect_url is None:
            raise ValueError("the provider has no introspection endpoint")
        self.provider = provider
        self.transport = transport if transport is not None else HTTPTransport(timeout=10.0)
        self.cache_ttl = timedelta(seconds=cache_ttl)
        self.cache_size = cache_size
        self.clock = clock
        # sha256(token) -> (answer, valid until); the tokens themselves are not kept.
        self._cache: OrderedDict[bytes, tuple[Introspection, datetime]] = OrderedDict()

    @classmethod
    def for_endpoint(
        cls,
        url: str,
        client_id: str,
        client_secret: Secret[str] | None = None,
        *,
        client_auth: ClientAuth = "client_secret_basic",
        cafile: str | None = None,
        timeout: float = 10.0,
        cache_ttl: float = 30.0,
    ) -> IntrospectionValidator:
        """A validator for a resource server that only introspects: the
        endpoint's URL, the server's client credentials, the CA file (else the
        system's) that verifies the endpoint's certificate."""
        provider = OAuthProvider(
            token_url=url,
            introspect_url=url,
            client_id=client_id,
            client_secret=client_secret,
            client_auth=client_auth,
        )
        transport = HTTPTransport(cafile=cafile, timeout=timeout)
        return cls(provider, transport=transport, cache_ttl=cache_ttl)

    def __repr__(self) -> str:
        return f"<IntrospectionValidator {self.provider.introspect_url} cached={len(self._cache)}>"

    async def introspect(self, token: Secret[str]) -> Introspection:
        key = hashlib.sha256(token.expose().encode("utf-8", "surrogatepass")).digest()
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None:
            if cached[1] > now:
                self._cache.move_to_end(key)
                return cached[0]
            del self._cache[key]
        response = await self.transport.send(introspection_request(self.provider, token))
        answer = parse_introspection(response.status, response.headers, response.body)
        if answer.active and answer.expires_at is not None and answer.expires_at <= now:
            # An "active" token past its exp: believe the clock, not the flag.
            _log.info("introspection said active for a token past its exp; refused")
            return Introspection(active=False)
        if answer.active:
            until = now + self.cache_ttl
            if answer.expires_at is not None:
                until = min(until, answer.expires_at)
            self._cache[key] = (answer, until)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return answer

    def forget(self) -> None:
        """Empty the cache."""
        self._cache.clear()
